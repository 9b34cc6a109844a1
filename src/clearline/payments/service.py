"""The payment lifecycle: validate → tier limits → risk decision → ledger → log.

Guarantees:
- A payment moves money at most once: its id is its ledger transfer's id, and every later step
  (capture, void, review approval or rejection) uses an id derived from it, so a retried step is
  the same ledger transfer and the ledger's idempotency turns it into `exists`. A payment id
  derived from an idempotency key (`payment_id_for`) makes a retried request the same payment.
- approve → a posted transfer (or, with manual capture, a pending one: an authorization hold);
  review → a pending transfer that holds the funds until an analyst approves (post) or rejects
  (void) it, or its timeout passes and the ledger releases it (status `expired`); decline → nothing
  moves and the decision with its reasons is recorded.
- The ledger's answer is final: a refused transfer (insufficient funds, closed account) records the
  payment as `failed` with the ledger's result code; nothing moved.
- Limits are checked and reserved before the decision within one event-loop step, so concurrent
  payments of one customer cannot both slip under a daily limit.
- The service is asyncio-native: ledger writes and platform records are group-committed by their
  writers, so concurrent requests share durable commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from clearline.core.assets import asset as asset_of
from clearline.core.clock import Clock, SystemClock
from clearline.core.errors import InvalidInput
from clearline.core.ids import new_id
from clearline.core.money import Money
from clearline.core.vocabulary import CHANNELS, PAYMENT_TYPES
from clearline.kyc import Limits, ReferenceRates, check_payment, limits_for
from clearline.kyc.limits import TIERS
from clearline.ledger import (
    BATCH_EVENTS_MAX,
    Account,
    AccountFlags,
    Ledger,
    Transfer,
    TransferFlags,
)
from clearline.ledger.results import EventResult
from clearline.payments import model as m
from clearline.payments.model import (
    AccountInfo,
    Conflict,
    Customer,
    NotFound,
    Payment,
    PaymentRefused,
    derive_id,
)
from clearline.payments.risk_gate import RiskGate, open_gate, remember_account, save_state
from clearline.payments.store import PlatformStore, next_seq
from clearline.risk.decide import Decision
from clearline.risk.features import AccountProfile, PaymentEvent

log = logging.getLogger(__name__)

DAY_NS = 86_400 * 1_000_000_000
REVIEW_TIMEOUT_S = 24 * 3600
AUTHORIZATION_TIMEOUT_S = 7 * 24 * 3600
OWNER_KIND = {
    "person": "person",
    "merchant": "merchant",
    "enterprise": "enterprise",
    "agent": "agent",
}


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """A validated payment request (amount in minor units of `asset`)."""

    source_account_id: int
    destination_account_id: int
    amount: int
    asset: str
    payment_type: str = "p2p"
    channel: str = "api"
    capture: str = "automatic"
    device_id: str | None = None
    merchant_category: str | None = None
    destination_country: str | None = None
    reference: str | None = None


def payment_id_for(principal: str, idempotency_key: str) -> int:
    """The payment id a request with this idempotency key always gets."""
    digest = hashlib.sha256(f"payment\x00{principal}\x00{idempotency_key}".encode()).digest()
    value = int.from_bytes(digest[:16], "big")
    return value if 0 < value < (1 << 128) - 1 else 1


def device_number(device: str | None) -> int | None:
    """The risk features' number for a device id from outside (stable across processes)."""
    if device is None:
        return None
    return int.from_bytes(hashlib.sha256(device.encode()).digest()[:8], "big") >> 1


def _result_name(result: EventResult) -> str:
    return str(result.result.value)


class TransferBatcher:
    """Coalesces the single transfers that concurrent payments submit during one event-loop
    turn into one ledger request: one hand-off to the ledger's writer thread instead of one per
    payment. Results are the ledger's own, per transfer; nothing is linked, so each transfer
    succeeds or fails on its own exactly as if submitted alone."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._pending: list[tuple[Transfer, asyncio.Future[EventResult]]] = []
        self._tasks: set[asyncio.Future[list[EventResult]]] = set()

    async def submit(self, transfer: Transfer) -> EventResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EventResult] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((transfer, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), BATCH_EVENTS_MAX):
            chunk = pending[start : start + BATCH_EVENTS_MAX]
            batch = [transfer for transfer, _ in chunk]
            task = asyncio.get_running_loop().create_task(self.ledger.create_transfers_async(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(functools.partial(_settle, chunk=chunk))


def _settle(
    done: asyncio.Future[list[EventResult]],
    chunk: list[tuple[Transfer, asyncio.Future[EventResult]]],
) -> None:
    error = done.exception()
    for index, (_, future) in enumerate(chunk):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(done.result()[index])


class PaymentService:
    """The platform on one data directory: customers, accounts, payments, reviews, proofs."""

    def __init__(
        self,
        data_directory: Path,
        ledger: Ledger,
        store: PlatformStore,
        gate: RiskGate,
        *,
        clock: Clock,
        rates: ReferenceRates | None = None,
        review_timeout_s: int = REVIEW_TIMEOUT_S,
        authorization_timeout_s: int = AUTHORIZATION_TIMEOUT_S,
    ) -> None:
        self.data_directory = Path(data_directory)
        self.ledger, self.store, self.gate, self.clock = ledger, store, gate, clock
        self.rates = rates or ReferenceRates()
        self.review_timeout_s = review_timeout_s
        self.authorization_timeout_s = authorization_timeout_s
        self.customers: dict[int, Customer] = {}
        self.accounts: dict[int, AccountInfo] = {}
        self.omnibus: dict[str, int] = {}
        self._spent: dict[tuple[int, int], Decimal] = {}  # (customer, day) → USD paid or held
        self._spent_day = 0
        self._locks: dict[int, list[Any]] = {}  # payment id → [lock, holders and waiters]
        self.decisions = {"approve": 0, "review": 0, "decline": 0}
        self.transfers = TransferBatcher(ledger)
        self.recovered = 0
        self._load()

    @classmethod
    def open(
        cls,
        data_directory: Path,
        *,
        clock: Clock | None = None,
        model_directory: Path | None = None,
        ledger: Ledger | None = None,
        review_timeout_s: int = REVIEW_TIMEOUT_S,
        authorization_timeout_s: int = AUTHORIZATION_TIMEOUT_S,
    ) -> PaymentService:
        """Open (creating on first run) the platform in `data_directory`: the sealed ledger,
        the platform records and the risk gate."""
        directory = Path(data_directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        chosen_clock = clock or SystemClock()
        own_ledger = ledger or open_sealed_ledger(directory, chosen_clock)
        store = PlatformStore(directory)
        try:
            gate = open_gate(directory, model_directory)
            return cls(
                directory,
                own_ledger,
                store,
                gate,
                clock=chosen_clock,
                review_timeout_s=review_timeout_s,
                authorization_timeout_s=authorization_timeout_s,
            )
        except BaseException:
            store.close()
            if ledger is None:
                own_ledger.close()
            raise

    def reload_risk(self, model_directory: Path | None = None) -> None:
        """Reopen the risk gate from the data directory: the model in `model_directory`
        (default DATA/models/current), the rules, and the feature state saved there (a freshly
        trained model's warm state). The state held until now is replaced, not saved."""
        self.gate = open_gate(self.data_directory, model_directory)

    def close(self) -> None:
        save_state(self.gate, self.data_directory)
        self.store.close()
        self.ledger.close()

    # -- loading ------------------------------------------------------------------------------

    def _load(self) -> None:
        for row in self.store.read(
            "SELECT id, name, kind, tier, country, per_payment_limit_usd, per_day_limit_usd,"
            " created_ns FROM customers"
        ):
            customer = Customer(int(row[0], 16), *row[1:])
            self.customers[customer.id] = customer
        for row in self.store.read(
            "SELECT id, customer_id, asset, kind, created_ns FROM accounts ORDER BY seq"
        ):
            info = AccountInfo(
                int(row[0], 16), int(row[1], 16) if row[1] else None, row[2], row[3], row[4]
            )
            self.accounts[info.id] = info
            if info.kind == "omnibus":
                self.omnibus[info.asset] = info.id
        self.recovered = self._recover()  # before today's spend, which counts what it rebuilds
        day = self.clock.now_ns() // DAY_NS
        for customer_id, amount, asset_spec in self.store.read(
            "SELECT customer_id, amount, asset FROM payments WHERE created_ns >= ?"
            " AND status IN ('completed','authorized','in_review','captured')",
            (day * DAY_NS,),
        ):
            key = (int(customer_id, 16), day)
            self._spent[key] = self._spent.get(key, Decimal(0)) + self.rates.to_usd(
                amount, asset_spec
            )

    def _recover(self) -> int:
        """Rebuild the records of payments whose transfer committed while their record did not
        (the process died between the two commits); how many. Such transfers are among the
        ledger's newest: at most the payments in flight at the crash."""
        newest = self.store.read_one("SELECT MAX(created_ns) FROM payments")[0] or 0
        cutoff = newest - RECOVERY_WINDOW_NS
        candidates = [
            t
            for t in self.ledger.latest_transfers()
            if t.timestamp >= cutoff
            and t.code == m.CODE_PAYMENT
            and t.pending_id == 0
            and t.user_data_128 == t.id
            and t.debit_account_id in self.accounts
            and t.credit_account_id in self.accounts
        ]
        if not candidates:
            return 0
        known = {
            int(row[0], 16)
            for row in self.store.read(
                f"SELECT id FROM payments WHERE id IN ({','.join('?' * len(candidates))})",
                [m.format_id(t.id) for t in candidates],
            )
        }
        missing = [t for t in candidates if t.id not in known]
        for transfer in missing:
            payment = recovered_payment(transfer, self.accounts, self.review_timeout_s)
            self.store.write_sync(functools.partial(insert_payment, payment=payment))
            log.warning("recovered the record of payment %032x from the ledger", transfer.id)
        return len(missing)

    # -- customers ----------------------------------------------------------------------------

    async def create_customer(
        self,
        name: str,
        kind: str = "person",
        tier: int = 1,
        country: str = "US",
        limits: Limits | None = None,
        customer_id: int | None = None,
    ) -> Customer:
        if kind not in m.CUSTOMER_KINDS:
            raise InvalidInput(
                f"kind must be one of {', '.join(m.CUSTOMER_KINDS)}", code="invalid_kind"
            )
        if tier not in TIERS:
            raise InvalidInput(f"tier must be one of {list(TIERS)}", code="invalid_tier")
        if not (len(country) == 2 and country.isascii() and country.isalpha()):
            raise InvalidInput(
                "country must be an ISO 3166 alpha-2 code like 'KE'", code="invalid_country"
            )
        identifier = customer_id or new_id()
        existing = self.customers.get(identifier)
        if existing is not None:
            return existing
        customer = Customer(
            identifier,
            name,
            kind,
            tier,
            country.upper(),
            None
            if limits is None or limits.per_payment_usd is None
            else str(limits.per_payment_usd),
            None if limits is None or limits.per_day_usd is None else str(limits.per_day_usd),
            self.clock.now_ns(),
        )

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO customers VALUES(?,?,?,?,?,?,?,?,?)",
                (
                    m.format_id(customer.id),
                    customer.name,
                    customer.kind,
                    customer.tier,
                    customer.country,
                    customer.per_payment_limit_usd,
                    customer.per_day_limit_usd,
                    customer.created_ns,
                    next_seq(connection, "customers"),
                ),
            )

        await self.store.write_async(write)
        self.customers[customer.id] = customer
        return customer

    async def update_customer(
        self, customer_id: int, *, tier: int | None = None, limits: Limits | None = None
    ) -> Customer:
        customer = self.customer(customer_id)
        if tier is not None and tier not in TIERS:
            raise InvalidInput(f"tier must be one of {list(TIERS)}", code="invalid_tier")
        new_tier = customer.tier if tier is None else tier
        per_payment = customer.per_payment_limit_usd
        per_day = customer.per_day_limit_usd
        if limits is not None:
            per_payment = None if limits.per_payment_usd is None else str(limits.per_payment_usd)
            per_day = None if limits.per_day_usd is None else str(limits.per_day_usd)

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE customers SET tier=?, per_payment_limit_usd=?, per_day_limit_usd=?"
                " WHERE id=?",
                (new_tier, per_payment, per_day, m.format_id(customer_id)),
            )

        await self.store.write_async(write)
        customer.tier, customer.per_payment_limit_usd, customer.per_day_limit_usd = (
            new_tier,
            per_payment,
            per_day,
        )
        for info in self.accounts.values():
            if info.customer_id == customer_id:
                self._remember(info)
        return customer

    def customer(self, customer_id: int) -> Customer:
        found = self.customers.get(customer_id)
        if found is None:
            raise NotFound(f"no customer {m.format_id(customer_id)}", code="customer_not_found")
        return found

    def list_customers(self, after_seq: int, limit: int) -> list[tuple[int, Customer]]:
        rows = self.store.read(
            "SELECT id, seq FROM customers WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
        )
        return [(seq, self.customers[int(identifier, 16)]) for identifier, seq in rows]

    # -- accounts -----------------------------------------------------------------------------

    async def create_account(
        self,
        customer_id: int | None,
        asset_spec: str,
        kind: str = "wallet",
        account_id: int | None = None,
    ) -> AccountInfo:
        """A ledger account with its platform record. With `account_id`, a retry (even after a
        crash between the ledger and the record) finds or completes the same account."""
        if account_id is not None and account_id in self.accounts:
            return self.accounts[account_id]
        if kind not in m.ACCOUNT_KINDS:
            raise InvalidInput(
                f"kind must be one of {', '.join(m.ACCOUNT_KINDS)}", code="invalid_kind"
            )
        spec = asset_of(asset_spec).spec
        if kind == "omnibus":
            if spec in self.omnibus:
                return self.accounts[self.omnibus[spec]]
            customer_id = None
        else:
            if customer_id is None:
                raise InvalidInput("a wallet needs a customer_id", code="customer_id_missing")
            self.customer(customer_id)
        await self._ensure_omnibus(spec) if kind == "wallet" else None
        identifier = account_id or new_id()
        # Wallets keep balance history (statements with running balances). The omnibus
        # account is on one side of every funding transfer; history there would double the
        # history rows a funding batch writes (in a py-spy profile of bench.api's batch scenario,
        # writing history took 13% of the server's samples, over a third of the writer's).
        flags = AccountFlags.NONE
        if kind == "wallet":
            flags = AccountFlags.HISTORY | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        results = await self.ledger.create_accounts_async(
            [Account(id=identifier, asset=asset_of(spec), code=m.ACCOUNT_CODE[kind], flags=flags)]
        )
        if not results[0].ok and not (
            account_id is not None and _result_name(results[0]) == "exists"
        ):
            raise PaymentRefused(
                f"the ledger refused the account: {_result_name(results[0])}",
                code=_result_name(results[0]),
            )
        info = AccountInfo(identifier, customer_id, spec, kind, self.clock.now_ns())

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO accounts VALUES(?,?,?,?,?,?)",
                (
                    m.format_id(identifier),
                    None if customer_id is None else m.format_id(customer_id),
                    spec,
                    kind,
                    info.created_ns,
                    next_seq(connection, "accounts"),
                ),
            )

        await self.store.write_async(write)
        self.accounts[identifier] = info
        if kind == "omnibus":
            self.omnibus[spec] = identifier
        else:
            self._remember(info)
        return info

    async def _ensure_omnibus(self, spec: str) -> int:
        if spec not in self.omnibus:
            await self.create_account(None, spec, "omnibus")
        return self.omnibus[spec]

    def _remember(self, info: AccountInfo) -> None:
        if info.customer_id is None:
            return
        customer = self.customers[info.customer_id]
        remember_account(
            self.gate,
            info.id,
            AccountProfile(
                kyc_tier=customer.tier if customer.kind == "person" else 0,
                tenure_days=max(0.0, (self.gate.state.context.reference_ns - info.created_ns))
                / DAY_NS,
                owner_kind=OWNER_KIND.get(customer.kind, "person"),
            ),
        )

    def account(self, account_id: int) -> AccountInfo:
        found = self.accounts.get(account_id)
        if found is None:
            raise NotFound(f"no account {m.format_id(account_id)}", code="account_not_found")
        return found

    def list_accounts(
        self, customer_id: int | None, after_seq: int, limit: int
    ) -> list[tuple[int, AccountInfo]]:
        if customer_id is None:
            rows = self.store.read(
                "SELECT id, seq FROM accounts WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        else:
            rows = self.store.read(
                "SELECT id, seq FROM accounts WHERE customer_id = ? AND seq > ? ORDER BY seq"
                " LIMIT ?",
                (m.format_id(customer_id), after_seq, limit),
            )
        return [(seq, self.accounts[int(identifier, 16)]) for identifier, seq in rows]

    async def balances(self, account_id: int) -> Account:
        self.account(account_id)
        found = await asyncio.to_thread(self.ledger.lookup_accounts, [account_id])
        return found[0]

    async def statement(
        self, account_id: int, after_timestamp: int, limit: int
    ) -> list[tuple[Transfer, int | None]]:
        """The account's transfers after `after_timestamp`, oldest first, each with the posted
        balance (credits − debits) right after it (None for an account without balance
        history: the omnibus accounts)."""
        info = self.account(account_id)
        transfers = await asyncio.to_thread(
            self.ledger.get_account_transfers,
            account_id,
            timestamp_min=after_timestamp + 1 if after_timestamp else 0,
            limit=limit,
        )
        out: list[tuple[Transfer, int | None]] = []
        for transfer in transfers:
            if info.kind != "wallet":
                out.append((transfer, None))
                continue
            balance = await asyncio.to_thread(
                self.ledger.balance_at, account_id, transfer.timestamp
            )
            posted = 0 if balance is None else balance.credits_posted - balance.debits_posted
            out.append((transfer, posted))
        return out

    # -- transfers ----------------------------------------------------------------------------

    async def create_transfers(
        self, transfers: Sequence[Transfer], *, atomic: bool = False
    ) -> list[EventResult]:
        """Operator transfers between known accounts, one ledger batch (at most 8,190)."""
        if not transfers:
            raise InvalidInput("the batch is empty", code="batch_empty")
        if len(transfers) > BATCH_EVENTS_MAX:
            raise InvalidInput(
                f"a batch holds at most {BATCH_EVENTS_MAX} transfers, got {len(transfers)}: "
                "split it",
                code="batch_too_large",
            )
        for index, transfer in enumerate(transfers):
            for side in (transfer.debit_account_id, transfer.credit_account_id):
                if side not in self.accounts:
                    raise NotFound(
                        f"transfers[{index}] names unknown account {m.format_id(side)}; nothing "
                        "was moved",
                        code="account_not_found",
                    )
        if atomic:
            last = len(transfers) - 1
            transfers = [
                t
                if index == last
                else Transfer(**{**_fields(t), "flags": t.flags | TransferFlags.LINKED})
                for index, t in enumerate(transfers)
            ]
        return await self.ledger.create_transfers_async(list(transfers))

    # -- payments -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lock(self, payment_id: int) -> AsyncIterator[None]:
        """Serialize the steps of one payment; the lock is dropped when nobody holds or awaits
        it, so the table does not grow with the number of payments."""
        entry = self._locks.get(payment_id)
        if entry is None:
            entry = self._locks[payment_id] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[payment_id]

    def validate(
        self, request: PaymentRequest, customer_scope: int | None
    ) -> tuple[AccountInfo, AccountInfo, Customer]:
        """Check a request against what exists; `customer_scope` limits the payer."""
        if request.payment_type not in PAYMENT_TYPES:
            raise InvalidInput(
                f"payment_type must be one of {', '.join(PAYMENT_TYPES)}",
                code="invalid_payment_type",
            )
        if request.channel not in CHANNELS:
            raise InvalidInput(
                f"channel must be one of {', '.join(CHANNELS)}", code="invalid_channel"
            )
        if request.capture not in m.CAPTURE_MODES:
            raise InvalidInput("capture must be automatic or manual", code="invalid_capture")
        if request.amount <= 0:
            raise InvalidInput("amount must be more than zero", code="amount_not_positive")
        source = self.account(request.source_account_id)
        destination = self.account(request.destination_account_id)
        if source.kind != "wallet" or source.customer_id is None:
            raise InvalidInput(
                "payments are made from a customer's wallet", code="source_not_wallet"
            )
        if customer_scope is not None and source.customer_id != customer_scope:
            raise NotFound(
                f"no account {m.format_id(source.id)}", code="account_not_found"
            )  # another customer's account does not exist for this caller
        if source.id == destination.id:
            raise InvalidInput("source and destination are the same account", code="same_account")
        if request.asset != source.asset or request.asset != destination.asset:
            raise InvalidInput(
                f"the payment is in {request.asset} but the accounts hold {source.asset} and "
                f"{destination.asset}; convert first (FX) or pay from an account in "
                f"{request.asset}",
                code="asset_mismatch",
            )
        return source, destination, self.customers[source.customer_id]

    async def create_payment(
        self,
        request: PaymentRequest,
        *,
        payment_id: int | None = None,
        customer_scope: int | None = None,
        idempotency: tuple[str, str, str] | None = None,
        response: Any = None,
    ) -> Payment:
        """Run one payment through limits, risk and the ledger; record it.

        `idempotency` = (principal, key, fingerprint) stores the response (rendered by
        `response(payment)`) in the same commit as the payment."""
        source, destination, customer = self.validate(request, customer_scope)
        if payment_id is None or idempotency is not None:
            # A fresh id: nothing exists under it. Or an id derived from an idempotency key whose
            # record the caller found absent: the payment and that record commit together, so
            # no payment exists under it either, and concurrent uses of one key are refused.
            return await self._create_payment(
                payment_id or new_id(),
                request,
                source,
                destination,
                customer,
                idempotency,
                response,
            )
        identifier = payment_id
        async with self._lock(identifier):
            existing = self.find_payment(identifier)
            if existing is not None:
                return existing
            return await self._create_payment(
                identifier, request, source, destination, customer, idempotency, response
            )

    async def _create_payment(
        self,
        identifier: int,
        request: PaymentRequest,
        source: AccountInfo,
        destination: AccountInfo,
        customer: Customer,
        idempotency: tuple[str, str, str] | None,
        response: Any,
    ) -> Payment:
        now = self.clock.now_ns()
        day = now // DAY_NS
        amount_usd = self.rates.to_usd(request.amount, request.asset)
        limits = limits_for(
            customer.tier,
            None
            if customer.per_payment_limit_usd is None and customer.per_day_limit_usd is None
            else Limits(
                _decimal_or_none(customer.per_payment_limit_usd),
                _decimal_or_none(customer.per_day_limit_usd),
            ),
        )
        key = (customer.id, day)
        if day != self._spent_day:  # a new day: yesterday's totals no longer limit anything
            self._spent = {k: v for k, v in self._spent.items() if k[1] >= day - 1}
            self._spent_day = day
        check_payment(limits, customer.tier, amount_usd, self._spent.get(key, Decimal(0)))
        self._spent[key] = self._spent.get(key, Decimal(0)) + amount_usd  # reserved
        destination_customer = (
            self.customers.get(destination.customer_id) if destination.customer_id else None
        )
        try:
            decision = self.gate.decide(
                PaymentEvent(
                    timestamp_ns=now,
                    from_account_id=source.id,
                    to_account_id=destination.id,
                    amount_paid=request.amount,
                    asset_paid=request.asset,
                    amount_received=request.amount,
                    asset_received=request.asset,
                    channel=request.channel,
                    payment_type=request.payment_type,
                    merchant_category=request.merchant_category,
                    device_id=device_number(request.device_id),
                    from_country=customer.country,
                    to_country=request.destination_country
                    or (destination_customer.country if destination_customer else customer.country),
                    transaction_id=identifier & ((1 << 63) - 1),
                    payer_available=self.ledger.peek_spendable(source.id),
                )
            )
            self.decisions[decision.action] += 1
            status, refusal, expires_ns, captured = await self._move(
                identifier, request, source, destination, decision, now
            )
        except BaseException:
            self._spent[key] -= amount_usd
            raise
        if status in ("declined", "failed"):
            self._spent[key] -= amount_usd
        payment = Payment(
            id=identifier,
            customer_id=customer.id,
            source_account_id=source.id,
            destination_account_id=destination.id,
            destination_customer_id=destination.customer_id,
            amount=request.amount,
            asset=request.asset,
            payment_type=request.payment_type,
            channel=request.channel,
            capture=request.capture,
            status=status,
            action=decision.action,
            score=decision.score,
            model_version=decision.model_version,
            rules_version=decision.rules_version,
            reasons=list(decision.reasons),
            refusal=refusal,
            captured=captured,
            refunded=0,
            expires_ns=expires_ns,
            reference=request.reference,
            details={
                k: v
                for k, v in (
                    ("device_id", request.device_id),
                    ("merchant_category", request.merchant_category),
                    ("destination_country", request.destination_country),
                )
                if v is not None
            },
            created_ns=now,
            updated_ns=now,
        )
        await self._insert(payment, idempotency, response)
        return payment

    async def _move(
        self,
        identifier: int,
        request: PaymentRequest,
        source: AccountInfo,
        destination: AccountInfo,
        decision: Decision,
        now: int,
    ) -> tuple[str, str | None, int | None, int]:
        """Move the money the decision allows: (status, refusal, hold expiry, settled amount)."""
        if decision.action == "decline":
            return "declined", None, None, 0
        hold = decision.action == "review" or request.capture == "manual"
        timeout = (
            self.review_timeout_s if decision.action == "review" else self.authorization_timeout_s
        )
        transfer = Transfer(
            id=identifier,
            debit_account_id=source.id,
            credit_account_id=destination.id,
            amount=request.amount,
            code=m.CODE_PAYMENT,
            flags=TransferFlags.PENDING if hold else 0,
            timeout=timeout if hold else 0,
            user_data_128=identifier,
            user_data_32=facts_word(request, decision.action),
        )
        result = await self.transfers.submit(transfer)
        name = _result_name(result)
        if name not in ("ok", "exists"):
            return "failed", name, None, 0
        if not hold:
            return "completed", None, None, request.amount
        status = "in_review" if decision.action == "review" else "authorized"
        return status, None, now + timeout * 1_000_000_000, 0

    async def _insert(
        self, payment: Payment, idempotency: tuple[str, str, str] | None, response: Any
    ) -> None:
        body = None if idempotency is None or response is None else response(payment)

        def write(connection: sqlite3.Connection) -> int:
            seq = insert_payment(connection, payment)
            if idempotency is not None and body is not None:
                principal, key, fingerprint = idempotency
                connection.execute(
                    "INSERT OR IGNORE INTO idempotency VALUES(?,?,?,?,?,?)",
                    (principal, key, fingerprint, 201, body, payment.created_ns),
                )
            return seq

        payment.seq = await self.store.write_async(write)

    def find_payment(self, payment_id: int) -> Payment | None:
        row = self.store.read_one(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?", (m.format_id(payment_id),)
        )
        return None if row is None else _payment(row)

    async def payment(self, payment_id: int, customer_scope: int | None = None) -> Payment:
        found = self.find_payment(payment_id)
        if found is None or (
            customer_scope is not None
            and customer_scope not in (found.customer_id, found.destination_customer_id)
        ):
            raise NotFound(f"no payment {m.format_id(payment_id)}", code="payment_not_found")
        if found.status in m.OPEN_HOLD_STATUSES and (found.expires_ns or 0) <= self.clock.now_ns():
            await self.sync_expired([found])
            found = self.find_payment(payment_id) or found
        return found

    def list_payments(
        self,
        after_seq: int,
        limit: int,
        *,
        customer_scope: int | None = None,
        status: str | None = None,
    ) -> list[Payment]:
        where: list[str] = ["seq > ?"]
        params: list[object] = [after_seq]
        if customer_scope is not None:
            where.append("(customer_id = ? OR destination_customer_id = ?)")
            params += [m.format_id(customer_scope)] * 2
        if status is not None:
            where.append("status = ?")
            params.append(status)
        rows = self.store.read(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE {' AND '.join(where)}"
            " ORDER BY seq LIMIT ?",
            [*params, limit],
        )
        return [_payment(row) for row in rows]

    def list_payments_by_action(self, after_seq: int, limit: int, action: str) -> list[Payment]:
        rows = self.store.read(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE seq > ? AND action = ?"
            " ORDER BY seq LIMIT ?",
            (after_seq, action, limit),
        )
        return [_payment(row) for row in rows]

    async def _update(self, payment: Payment, **changes: Any) -> Payment:
        changes["updated_ns"] = self.clock.now_ns()
        columns = ", ".join(f"{name} = ?" for name in changes)

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                f"UPDATE payments SET {columns} WHERE id = ?",
                [*changes.values(), m.format_id(payment.id)],
            )

        await self.store.write_async(write)
        for name, value in changes.items():
            setattr(payment, name, value)
        return payment

    async def _step(self, payment: Payment, label: str, flags: int, amount: int) -> str:
        """Post or void the payment's hold; the ledger's result name."""
        (result,) = await self.ledger.create_transfers_async(
            [
                Transfer(
                    id=derive_id(payment.id, label),
                    debit_account_id=payment.source_account_id,
                    credit_account_id=payment.destination_account_id,
                    amount=amount,
                    pending_id=payment.id,
                    code=m.CODE_PAYMENT,  # the ledger wants a hold's steps to keep its code
                    flags=flags,
                    user_data_128=payment.id,
                )
            ]
        )
        return _result_name(result)

    async def _resolve_hold(
        self, payment_id: int, wanted: tuple[str, ...], customer_scope: int | None
    ) -> Payment:
        payment = await self.payment(payment_id, customer_scope)
        if payment.status not in wanted:
            raise Conflict(
                f"payment {m.format_id(payment_id)} is {payment.status}; this needs "
                f"{' or '.join(wanted)}",
                code="payment_state_conflict",
            )
        return payment

    async def capture(
        self, payment_id: int, amount: int | None = None, customer_scope: int | None = None
    ) -> Payment:
        async with self._lock(payment_id):
            payment = await self._resolve_hold(payment_id, ("authorized",), customer_scope)
            if amount is not None and not 0 < amount <= payment.amount:
                raise InvalidInput(
                    "capture amount must be more than zero and at most the authorized amount",
                    code="invalid_capture_amount",
                )
            name = await self._step(
                payment, "capture", TransferFlags.POST_PENDING_TRANSFER, amount or 0
            )
            return await self._after_step(payment, name, "captured", amount or payment.amount)

    async def void(self, payment_id: int, customer_scope: int | None = None) -> Payment:
        async with self._lock(payment_id):
            payment = await self._resolve_hold(payment_id, ("authorized",), customer_scope)
            name = await self._step(payment, "void", TransferFlags.VOID_PENDING_TRANSFER, 0)
            return await self._after_step(payment, name, "voided", 0)

    async def approve_review(self, payment_id: int) -> Payment:
        async with self._lock(payment_id):
            payment = await self._resolve_hold(payment_id, ("in_review",), None)
            if payment.capture == "manual":  # the review hold becomes the authorization
                return await self._update(payment, status="authorized")
            name = await self._step(
                payment, "review-approve", TransferFlags.POST_PENDING_TRANSFER, 0
            )
            return await self._after_step(payment, name, "completed", payment.amount)

    async def reject_review(self, payment_id: int) -> Payment:
        async with self._lock(payment_id):
            payment = await self._resolve_hold(payment_id, ("in_review",), None)
            name = await self._step(
                payment, "review-reject", TransferFlags.VOID_PENDING_TRANSFER, 0
            )
            return await self._after_step(payment, name, "rejected", 0)

    async def _after_step(self, payment: Payment, name: str, status: str, settled: int) -> Payment:
        if name in ("ok", "exists"):
            if status in ("voided", "rejected"):
                self._release(payment)
            return await self._update(payment, status=status, captured=settled, expires_ns=None)
        if name == "pending_transfer_expired":
            self._release(payment)
            await self._update(payment, status="expired", expires_ns=None)
            raise Conflict(
                f"payment {m.format_id(payment.id)}'s hold expired before this step",
                code="hold_expired",
            )
        raise PaymentRefused(f"the ledger refused the step: {name}", code=name)

    def _release(self, payment: Payment) -> None:
        day = payment.created_ns // DAY_NS
        key = (payment.customer_id, day)
        if key in self._spent:
            self._spent[key] -= self.rates.to_usd(payment.amount, payment.asset)

    async def refund(
        self,
        payment_id: int,
        amount: int | None,
        refund_id: int,
        customer_scope: int | None = None,
    ) -> tuple[Payment, int, int]:
        """Refund settled money back to the payer: (payment, refund id, amount)."""
        async with self._lock(payment_id):
            payment = await self.payment(payment_id, customer_scope)
            if customer_scope is not None and customer_scope != payment.destination_customer_id:
                raise NotFound(f"no payment {m.format_id(payment_id)}", code="payment_not_found")
            if payment.status not in ("completed", "captured"):
                raise Conflict(
                    f"payment {m.format_id(payment_id)} is {payment.status}; only completed or "
                    "captured payments can be refunded",
                    code="payment_state_conflict",
                )
            remaining = payment.captured - payment.refunded
            wanted = remaining if amount is None else amount
            if not 0 < wanted <= remaining:
                raise InvalidInput(
                    f"refund amount must be more than zero and at most the unrefunded "
                    f"{Money.of(remaining, payment.asset).format()} {payment.asset}",
                    code="invalid_refund_amount",
                )
            (result,) = await self.ledger.create_transfers_async(
                [
                    Transfer(
                        id=refund_id,
                        debit_account_id=payment.destination_account_id,
                        credit_account_id=payment.source_account_id,
                        amount=wanted,
                        code=m.CODE_REFUND,
                        user_data_128=payment.id,
                    )
                ]
            )
            name = _result_name(result)
            if name not in ("ok", "exists"):
                raise PaymentRefused(f"the ledger refused the refund: {name}", code=name)
            refunded = payment.refunded + wanted
            now = self.clock.now_ns()

            def write(connection: sqlite3.Connection) -> None:
                connection.execute(
                    "INSERT OR IGNORE INTO refunds VALUES(?,?,?,?,?)",
                    (
                        m.format_id(refund_id),
                        m.format_id(payment.id),
                        wanted,
                        now,
                        next_seq(connection, "refunds"),
                    ),
                )

            await self.store.write_async(write)
            status = "refunded" if refunded == payment.captured else payment.status
            await self._update(payment, refunded=refunded, status=status)
            return payment, refund_id, wanted

    def refunds(self, payment_id: int) -> list[tuple[int, int, int]]:
        return [
            (int(identifier, 16), amount, created)
            for identifier, amount, created in self.store.read(
                "SELECT id, amount, created_ns FROM refunds WHERE payment_id = ? ORDER BY seq",
                (m.format_id(payment_id),),
            )
        ]

    async def sync_expired(self, payments: Sequence[Payment] | None = None) -> int:
        """Mark holds the ledger has expired as `expired`; how many changed."""
        if payments is None:
            payments = [
                _payment(row)
                for row in self.store.read(
                    f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE status IN"
                    " ('in_review','authorized') AND expires_ns <= ?",
                    (self.clock.now_ns(),),
                )
            ]
        if not payments:
            return 0
        await asyncio.to_thread(self.ledger.tick)
        statuses = await asyncio.to_thread(
            self.ledger.pending_statuses, [payment.id for payment in payments]
        )
        changed = 0
        for payment, status in zip(payments, statuses, strict=True):
            if status == "expired":
                async with self._lock(payment.id):
                    current = self.find_payment(payment.id)
                    if current is not None and current.status in m.OPEN_HOLD_STATUSES:
                        self._release(current)
                        await self._update(current, status="expired", expires_ns=None)
                        changed += 1
        return changed

    async def run_expiry(self, every_s: float = 1.0) -> None:
        """Background task: keep payment statuses in step with the ledger's expiries."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.sync_expired()
            except Exception:  # keep serving; the next round retries
                log.exception("expiry sync failed")


def insert_payment(connection: sqlite3.Connection, payment: Payment) -> int:
    """Insert a payment's record (inside a platform write); its sequence number."""
    seq = next_seq(connection, "payments")
    connection.execute(
        "INSERT INTO payments VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            m.format_id(payment.id),
            seq,
            m.format_id(payment.customer_id),
            m.format_id(payment.source_account_id),
            m.format_id(payment.destination_account_id),
            None
            if payment.destination_customer_id is None
            else m.format_id(payment.destination_customer_id),
            payment.amount,
            payment.asset,
            payment.payment_type,
            payment.channel,
            payment.capture,
            payment.status,
            payment.action,
            payment.score,
            payment.model_version,
            payment.rules_version,
            json.dumps(payment.reasons),
            payment.refusal,
            payment.captured,
            payment.refunded,
            payment.expires_ns,
            payment.reference,
            json.dumps(payment.details),
            payment.created_ns,
            payment.updated_ns,
        ),
    )
    return seq


RECOVERY_WINDOW_NS = 60 * 1_000_000_000
"""How far before the newest payment record recovery looks for transfers without a record."""

ACTIONS = ("approve", "review", "decline")


def facts_word(request: PaymentRequest, action: str) -> int:
    """What a payment's record needs that its transfer does not say, in the transfer's
    `user_data_32`: payment type (bits 0–7), channel (8–15), manual capture (16), action
    (17–18). Recovery reads it back."""
    return (
        PAYMENT_TYPES.index(request.payment_type)
        | CHANNELS.index(request.channel) << 8
        | (request.capture == "manual") << 16
        | ACTIONS.index(action) << 17
    )


def recovered_payment(
    transfer: Transfer, accounts: dict[int, AccountInfo], review_timeout_s: int
) -> Payment:
    """A payment's record rebuilt from its ledger transfer after a crash. The decision's score
    and reasons were in the lost record; the record says so."""
    word = transfer.user_data_32
    action = ACTIONS[(word >> 17) & 3]
    hold = bool(transfer.flags & TransferFlags.PENDING)
    source, destination = accounts[transfer.debit_account_id], accounts[transfer.credit_account_id]
    status = ("in_review" if action == "review" else "authorized") if hold else "completed"
    assert source.customer_id is not None
    return Payment(
        id=transfer.id,
        customer_id=source.customer_id,
        source_account_id=source.id,
        destination_account_id=destination.id,
        destination_customer_id=destination.customer_id,
        amount=transfer.amount,
        asset=source.asset,
        payment_type=PAYMENT_TYPES[word & 0xFF],
        channel=CHANNELS[(word >> 8) & 0xFF],
        capture="manual" if word >> 16 & 1 else "automatic",
        status=status,
        action=action,
        score=0.0,
        model_version="unknown",
        rules_version="unknown",
        reasons=["recovered from the ledger after a crash: the decision's reasons were lost"],
        refusal=None,
        captured=0 if hold else transfer.amount,
        refunded=0,
        expires_ns=transfer.timestamp + transfer.timeout * 1_000_000_000 if hold else None,
        reference=None,
        details={"recovered": True},
        created_ns=transfer.timestamp,
        updated_ns=transfer.timestamp,
    )


PAYMENT_COLUMNS = (
    "id, customer_id, source_account_id, destination_account_id, destination_customer_id,"
    " amount, asset, payment_type, channel, capture, status, action, score, model_version,"
    " rules_version, reasons, refusal, captured, refunded, expires_ns, reference, details,"
    " created_ns, updated_ns, seq"
)


def _payment(row: Sequence[Any]) -> Payment:
    return Payment(
        id=int(row[0], 16),
        customer_id=int(row[1], 16),
        source_account_id=int(row[2], 16),
        destination_account_id=int(row[3], 16),
        destination_customer_id=int(row[4], 16) if row[4] else None,
        amount=row[5],
        asset=row[6],
        payment_type=row[7],
        channel=row[8],
        capture=row[9],
        status=row[10],
        action=row[11],
        score=row[12],
        model_version=row[13],
        rules_version=row[14] or "",
        reasons=json.loads(row[15]),
        refusal=row[16],
        captured=row[17],
        refunded=row[18],
        expires_ns=row[19],
        reference=row[20],
        details=json.loads(row[21] or "{}"),
        created_ns=row[22],
        updated_ns=row[23],
        seq=row[24],
    )


def _decimal_or_none(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _fields(transfer: Transfer) -> dict[str, Any]:
    return {name: getattr(transfer, name) for name in Transfer.__slots__}


def open_sealed_ledger(directory: Path, clock: Clock) -> Ledger:
    """The data directory's ledger; `Ledger.open` seals every committed group into the log."""
    return Ledger.open(directory, clock=clock)
