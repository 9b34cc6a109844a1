"""The payment lifecycle: validate → tier limits → risk decision → ledger → log.

Guarantees:
- A payment moves money at most once: its id is its ledger transfer's id, and every later step
  (capture, void, review approval or rejection: `holds`) uses an id derived from it, so a
  retried step is the same ledger transfer and the ledger's idempotency turns it into `exists`.
  A payment id derived from an idempotency key (`payment_id_for`) makes a retried request the
  same payment.
- approve → a posted transfer (or, with manual capture, a pending one: an authorization hold);
  review → a pending transfer that holds the funds until an analyst approves (post) or rejects
  (void) it, or its timeout passes and the ledger releases it (status `expired`: `expiry`);
  decline → nothing moves and the decision with its reasons is recorded.
- The ledger's answer is final: a refused transfer (insufficient funds, closed account) records
  the payment as `failed` with the ledger's result code; nothing moved.
- Limits are checked and reserved before the decision within one event-loop step (`limits`), so
  concurrent payments of one customer cannot both slip under a daily limit.
- Who sent each payment is in its record (`initiated_by`, the API key's id); the payment's
  transfer is its entry in the verifiable log.
- The service is asyncio-native: ledger writes and platform records are group-committed by their
  writers, so concurrent requests share durable commits.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from clearline.core.clock import Clock
from clearline.core.errors import InvalidInput, NotFound
from clearline.core.ids import format_id, key_derived_id, new_id
from clearline.core.vocabulary import CHANNELS, PAYMENT_TYPES
from clearline.customers import AccountInfo, Customer, Directory
from clearline.kyc import ReferenceRates
from clearline.ledger import BATCH_EVENTS_MAX, Account, Ledger, Transfer, TransferFlags
from clearline.ledger.results import EventResult
from clearline.payments import model as m
from clearline.payments.concurrency import PaymentLocks, TransferBatcher
from clearline.payments.expiry import Expiry
from clearline.payments.holds import Holds
from clearline.payments.limits import DailySpend
from clearline.payments.model import Payment
from clearline.payments.records import PaymentRecords
from clearline.payments.recovery import facts_word, recover
from clearline.payments.risk_gate import RiskGate, remember_account
from clearline.risk.decide import Decision
from clearline.risk.features import AccountProfile, PaymentEvent
from clearline.trail import Actor, AuditTrail

DAY_NS = 86_400 * 1_000_000_000
REVIEW_TIMEOUT_S = 24 * 3600
AUTHORIZATION_TIMEOUT_S = 7 * 24 * 3600
OWNER_KIND = {
    "person": "person",
    "merchant": "merchant",
    "enterprise": "enterprise",
    "agent": "agent",
}

AlsoWrite = Callable[[Payment], Callable[[sqlite3.Connection], None]]
"""Given the new payment (on the event loop, before its record is queued), the write to make in
the same commit as its record (the request's idempotent response). Work that needs no database
(rendering, encrypting) belongs in the outer call, so the writer thread runs only SQL."""


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
    return key_derived_id("payment", principal, idempotency_key)


def device_number(device: str | None) -> int | None:
    """The risk features' number for a device id from outside (stable across processes)."""
    if device is None:
        return None
    return int.from_bytes(hashlib.sha256(device.encode()).digest()[:8], "big") >> 1


class PaymentService:
    """Payments of one platform: creation, the steps of holds (`holds`), their expiry
    (`expiry`), queries, and operator transfers between known accounts."""

    def __init__(
        self,
        ledger: Ledger,
        records: PaymentRecords,
        directory: Directory,
        gate: RiskGate,
        trail: AuditTrail,
        *,
        clock: Clock,
        rates: ReferenceRates | None = None,
        review_timeout_s: int = REVIEW_TIMEOUT_S,
        authorization_timeout_s: int = AUTHORIZATION_TIMEOUT_S,
    ) -> None:
        self.ledger, self.records, self.directory, self.gate = ledger, records, directory, gate
        self.trail, self.clock = trail, clock
        self.review_timeout_s = review_timeout_s
        self.authorization_timeout_s = authorization_timeout_s
        self.spend = DailySpend(rates or ReferenceRates())
        self.locks = PaymentLocks()
        self.transfers = TransferBatcher(ledger)
        self.decisions = {"approve": 0, "review": 0, "decline": 0}
        self.expiry = Expiry(ledger, records, self.locks, self.spend, clock)
        self.holds = Holds(ledger, records, self.locks, self.spend, trail, self.payment, clock)
        directory.on_account.append(self._remember)
        self.recovered = recover(records, ledger, directory.accounts, review_timeout_s)
        self.spend.load(records, clock.now_ns())  # after recovery, which rebuilds records

    def _remember(self, info: AccountInfo, customer: Customer) -> None:
        """Tell the risk features what is known about an account (KYC tier, kind, age)."""
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

    # -- payments ---------------------------------------------------------------------------

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
        source = self.directory.account(request.source_account_id)
        destination = self.directory.account(request.destination_account_id)
        if customer_scope is not None and source.customer_id != customer_scope:
            raise NotFound(  # another customer's account does not exist for this caller
                f"no account {format_id(source.id)}", code="account_not_found"
            )
        if source.kind != "wallet" or source.customer_id is None:
            raise InvalidInput(
                "payments are made from a customer's wallet", code="source_not_wallet"
            )
        if source.id == destination.id:
            raise InvalidInput("source and destination are the same account", code="same_account")
        if request.asset != source.asset or request.asset != destination.asset:
            raise InvalidInput(
                f"the payment is in {request.asset} but the accounts hold {source.asset} and "
                f"{destination.asset}; convert first (FX) or pay from an account in "
                f"{request.asset}",
                code="asset_mismatch",
            )
        return source, destination, self.directory.customers[source.customer_id]

    async def create_payment(
        self,
        request: PaymentRequest,
        *,
        actor: Actor,
        payment_id: int | None = None,
        customer_scope: int | None = None,
        also: AlsoWrite | None = None,
    ) -> Payment:
        """Run one payment through limits, risk and the ledger; record it (with `also` in the
        same commit: the caller then guarantees no payment exists under `payment_id`, as an
        idempotency key whose record was found absent does)."""
        parties = self.validate(request, customer_scope)
        if payment_id is None or also is not None:
            return await self._create(payment_id or new_id(), request, parties, actor, also)
        async with self.locks.hold(payment_id):
            existing = self.records.find(payment_id)
            if existing is not None:
                return existing
            return await self._create(payment_id, request, parties, actor, None)

    async def _create(
        self,
        identifier: int,
        request: PaymentRequest,
        parties: tuple[AccountInfo, AccountInfo, Customer],
        actor: Actor,
        also: AlsoWrite | None,
    ) -> Payment:
        source, destination, customer = parties
        now = self.clock.now_ns()
        reserved = self.spend.reserve(customer, request.amount, request.asset, now)
        try:
            decision = self.gate.decide(self._event(identifier, request, parties, now))
            self.decisions[decision.action] += 1
            status, refusal, expires_ns, captured = await self._move(
                identifier, request, source, destination, decision, now
            )
        except BaseException:
            self.spend.release(customer.id, reserved, now)
            raise
        if status in ("declined", "failed"):
            self.spend.release(customer.id, reserved, now)
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
            details=_details(request),
            created_ns=now,
            updated_ns=now,
            initiated_by=actor.key_id,
        )
        await self.records.insert(payment, None if also is None else also(payment))
        return payment

    def _event(
        self,
        identifier: int,
        request: PaymentRequest,
        parties: tuple[AccountInfo, AccountInfo, Customer],
        now: int,
    ) -> PaymentEvent:
        source, destination, customer = parties
        payee = (
            self.directory.customers.get(destination.customer_id)
            if destination.customer_id
            else None
        )
        return PaymentEvent(
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
            or (payee.country if payee else customer.country),
            transaction_id=identifier & ((1 << 63) - 1),
            payer_available=self.ledger.peek_spendable(source.id),
        )

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
            user_data_32=facts_word(
                request.payment_type, request.channel, request.capture, decision.action
            ),
        )
        result = await self.transfers.submit(transfer)
        name = str(result.result.value)
        if name not in ("ok", "exists"):
            return "failed", name, None, 0
        if not hold:
            return "completed", None, None, request.amount
        status = "in_review" if decision.action == "review" else "authorized"
        return status, None, now + timeout * 1_000_000_000, 0

    # -- queries ----------------------------------------------------------------------------

    def find_payment(self, payment_id: int) -> Payment | None:
        return self.records.find(payment_id)

    async def payment(self, payment_id: int, customer_scope: int | None = None) -> Payment:
        """A payment its caller may see (paid or received by `customer_scope`, when given),
        with a hold whose time ran out shown as expired."""
        found = self.records.find(payment_id)
        if found is None or (
            customer_scope is not None
            and customer_scope not in (found.customer_id, found.destination_customer_id)
        ):
            raise NotFound(f"no payment {format_id(payment_id)}", code="payment_not_found")
        if found.status in m.OPEN_HOLD_STATUSES and (found.expires_ns or 0) <= self.clock.now_ns():
            await self.expiry.sync([found])
            found = self.records.find(payment_id) or found
        return found

    def list_payments(
        self,
        after_seq: int,
        limit: int,
        *,
        customer_scope: int | None = None,
        status: str | None = None,
        action: str | None = None,
    ) -> list[Payment]:
        return self.records.page(
            after_seq, limit, customer_scope=customer_scope, status=status, action=action
        )

    # -- accounts and operator transfers ----------------------------------------------------

    async def balances(self, account_id: int) -> Account:
        self.directory.account(account_id)
        found = await asyncio.to_thread(self.ledger.lookup_accounts, [account_id])
        return found[0]

    async def statement(
        self, account_id: int, after_timestamp: int, limit: int
    ) -> list[tuple[Transfer, int | None]]:
        """The account's transfers after `after_timestamp`, oldest first, each with the posted
        balance (credits − debits) right after it (None for an account without balance
        history: the omnibus accounts)."""
        info = self.directory.account(account_id)
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

    async def create_transfers(
        self, transfers: Sequence[Transfer], *, actor: Actor, atomic: bool = False
    ) -> list[EventResult]:
        """Operator transfers between known accounts, one ledger batch (at most 8,190); the
        batch is an audit event (`transfers.create`) once the ledger answered."""
        if not transfers:
            raise InvalidInput("the batch is empty", code="batch_empty")
        if len(transfers) > BATCH_EVENTS_MAX:
            raise InvalidInput(
                f"a batch holds at most {BATCH_EVENTS_MAX} transfers, got {len(transfers)}: "
                "split it",
                code="batch_too_large",
            )
        accounts = self.directory.accounts
        for index, transfer in enumerate(transfers):
            for side in (transfer.debit_account_id, transfer.credit_account_id):
                if side not in accounts:
                    raise NotFound(
                        f"transfers[{index}] names unknown account {format_id(side)}; nothing "
                        "was moved",
                        code="account_not_found",
                    )
        if atomic:
            last = len(transfers) - 1
            transfers = [
                t if index == last else replace(t, flags=t.flags | TransferFlags.LINKED)
                for index, t in enumerate(transfers)
            ]
        results = await self.ledger.create_transfers_async(list(transfers))
        ok = sum(1 for result in results if result.ok)
        await self.trail.record(
            actor,
            "transfers.create",
            "transfer_batch",
            format_id(transfers[0].id),
            {"transfers": len(transfers), "ok": ok, "atomic": atomic},
        )
        return results


def _details(request: PaymentRequest) -> dict[str, object]:
    return {
        name: value
        for name, value in (
            ("device_id", request.device_id),
            ("merchant_category", request.merchant_category),
            ("destination_country", request.destination_country),
        )
        if value is not None
    }
