"""The reference model of the ledger for the stateful test: plain dicts of balances, pending
amounts and two-phase statuses, and the rules of docs/ledger.md applied in the engine's documented
order, written independently of the engine."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from hypothesis import strategies as st

from clearline.core.clock import NANOSECONDS_PER_SECOND
from clearline.ledger import (
    AMOUNT_MAX,
    Account,
    AccountFlags,
    Transfer,
    TransferFlags,
)
from clearline.ledger.results import CreateAccountResult as AR
from clearline.ledger.results import CreateTransferResult as TR

ASSETS = ("USD", "EUR")
UNKNOWN_ACCOUNT_ID = 999_999
UNKNOWN_TRANSFER_ID = 888_888
HUGE_AMOUNTS = (AMOUNT_MAX, AMOUNT_MAX // 2 + 1, 1 << 62)
TIMEOUT_SECONDS_MAX = 5

DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
HISTORY = int(AccountFlags.HISTORY)
CLOSED = int(AccountFlags.CLOSED)
ACCOUNT_FLAG_CHOICES = (0, 0, DMNEC, CMNED, HISTORY, DMNEC | HISTORY, CMNED | HISTORY, CLOSED)

LINKED = int(TransferFlags.LINKED)
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING_TRANSFER)
VOID = int(TransferFlags.VOID_PENDING_TRANSFER)
BAL_DEBIT = int(TransferFlags.BALANCING_DEBIT)
BAL_CREDIT = int(TransferFlags.BALANCING_CREDIT)
CLOSE_DEBIT = int(TransferFlags.CLOSING_DEBIT)
CLOSE_CREDIT = int(TransferFlags.CLOSING_CREDIT)


# -- the reference model --------------------------------------------------------------------------


@dataclass
class ModelAccount:
    id: int
    asset: str
    flags: int
    timestamp: int
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    closing: int = 0  # closing transfers holding the account closed (pending or posted)

    @property
    def closed(self) -> bool:
        return bool(self.flags & CLOSED) or self.closing > 0

    def as_account(self) -> Account:
        return Account(
            id=self.id,
            asset=self.asset,
            code=1,
            flags=self.flags | (CLOSED if self.closed else 0),
            debits_pending=self.debits_pending,
            debits_posted=self.debits_posted,
            credits_pending=self.credits_pending,
            credits_posted=self.credits_posted,
            timestamp=self.timestamp,
        )


@dataclass
class ModelPending:
    id: int
    debit: int
    credit: int
    amount: int
    code: int
    flags: int
    expires_at: int  # 0: never
    status: str = "pending"  # posted | voided | expired


@dataclass
class Model:
    """Everything the ledger should hold; copied whole to undo a failed linked chain."""

    accounts: dict[int, ModelAccount] = field(default_factory=dict)
    transfers: dict[int, Transfer] = field(default_factory=dict)  # as stored
    pendings: dict[int, ModelPending] = field(default_factory=dict)
    next_timestamp: int = 0

    # -- groups and expiry

    def begin_group(self, now: int) -> None:
        """What the writer does first in every group: fix the time, expire what is due."""
        self.next_timestamp = max(self.next_timestamp, now)
        due = sorted(
            (p.expires_at, p.id)
            for p in self.pendings.values()
            if p.status == "pending" and p.expires_at and p.expires_at <= self.next_timestamp
        )
        for _, pending_id in due:
            pending = self.pendings[pending_id]
            self.take_timestamp()
            self.release(pending)
            pending.status = "expired"
            self.reopen(pending)

    def take_timestamp(self) -> int:
        self.next_timestamp += 1
        return self.next_timestamp - 1

    def release(self, pending: ModelPending) -> None:
        self.accounts[pending.debit].debits_pending -= pending.amount
        self.accounts[pending.credit].credits_pending -= pending.amount

    def reopen(self, pending: ModelPending) -> None:
        if pending.flags & CLOSE_DEBIT:
            self.accounts[pending.debit].closing -= 1
        if pending.flags & CLOSE_CREDIT:
            self.accounts[pending.credit].closing -= 1

    # -- accounts

    def create_account(self, event: Account) -> tuple[str, int]:
        if event.flags & DMNEC and event.flags & CMNED:
            return AR.FLAGS_ARE_MUTUALLY_EXCLUSIVE, 0
        existing = self.accounts.get(event.id)
        if existing is not None:
            if event.flags & ~LINKED != existing.flags:
                return AR.EXISTS_WITH_DIFFERENT_FLAGS, existing.timestamp
            if event.asset.spec != existing.asset:
                return AR.EXISTS_WITH_DIFFERENT_ASSET, existing.timestamp
            return AR.EXISTS, existing.timestamp
        timestamp = self.take_timestamp()
        self.accounts[event.id] = ModelAccount(
            event.id, event.asset.spec, event.flags & ~LINKED, timestamp
        )
        return AR.OK, timestamp

    # -- transfers

    def create_transfer(self, event: Transfer) -> tuple[str, int]:
        stored = self.transfers.get(event.id)
        if stored is not None:
            return replay_result(event, stored), stored.timestamp
        if event.flags & (POST | VOID):
            return self.post_or_void(event)
        return self.move(event)

    def move(self, event: Transfer) -> tuple[str, int]:
        flags, amount = event.flags, event.amount
        pending = bool(flags & PENDING)
        if event.debit_account_id == event.credit_account_id:
            return TR.ACCOUNTS_MUST_BE_DIFFERENT, 0
        if flags & (CLOSE_DEBIT | CLOSE_CREDIT) and not pending:
            return TR.CLOSING_TRANSFER_MUST_BE_PENDING, 0
        if amount == 0:
            return TR.AMOUNT_MUST_NOT_BE_ZERO, 0
        debit = self.accounts.get(event.debit_account_id)
        if debit is None:
            return TR.DEBIT_ACCOUNT_NOT_FOUND, 0
        credit = self.accounts.get(event.credit_account_id)
        if credit is None:
            return TR.CREDIT_ACCOUNT_NOT_FOUND, 0
        if debit.asset != credit.asset:
            return TR.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET, 0
        if debit.closed:
            return TR.DEBIT_ACCOUNT_ALREADY_CLOSED, 0
        if credit.closed:
            return TR.CREDIT_ACCOUNT_ALREADY_CLOSED, 0
        if flags & BAL_DEBIT:
            room = debit.credits_posted - debit.debits_posted - debit.debits_pending
            amount = min(amount, max(room, 0))
        if flags & BAL_CREDIT:
            room = credit.debits_posted - credit.credits_posted - credit.credits_pending
            amount = min(amount, max(room, 0))
        if pending and debit.debits_pending + amount > AMOUNT_MAX:
            return TR.OVERFLOWS_DEBITS_PENDING, 0
        if pending and credit.credits_pending + amount > AMOUNT_MAX:
            return TR.OVERFLOWS_CREDITS_PENDING, 0
        if not pending and debit.debits_posted + amount > AMOUNT_MAX:
            return TR.OVERFLOWS_DEBITS_POSTED, 0
        if not pending and credit.credits_posted + amount > AMOUNT_MAX:
            return TR.OVERFLOWS_CREDITS_POSTED, 0
        debits = debit.debits_pending + debit.debits_posted + amount
        credits = credit.credits_pending + credit.credits_posted + amount
        if debits > AMOUNT_MAX:
            return TR.OVERFLOWS_DEBITS, 0
        if credits > AMOUNT_MAX:
            return TR.OVERFLOWS_CREDITS, 0
        if debit.flags & DMNEC and debits > debit.credits_posted:
            return TR.EXCEEDS_CREDITS, 0
        if credit.flags & CMNED and credits > credit.debits_posted:
            return TR.EXCEEDS_DEBITS, 0
        timestamp = self.take_timestamp()
        if pending:
            debit.debits_pending += amount
            credit.credits_pending += amount
            expires_at = timestamp + event.timeout * NANOSECONDS_PER_SECOND if event.timeout else 0
            self.pendings[event.id] = ModelPending(
                event.id, debit.id, credit.id, amount, event.code, flags, expires_at
            )
            debit.closing += bool(flags & CLOSE_DEBIT)
            credit.closing += bool(flags & CLOSE_CREDIT)
        else:
            debit.debits_posted += amount
            credit.credits_posted += amount
        self.store(event, debit.id, credit.id, amount, event.code, timestamp)
        return TR.OK, timestamp

    def post_or_void(self, event: Transfer) -> tuple[str, int]:
        pending = self.pendings.get(event.pending_id)
        if pending is None:
            if event.pending_id in self.transfers:
                return TR.PENDING_TRANSFER_NOT_PENDING, 0
            return TR.PENDING_TRANSFER_NOT_FOUND, 0
        if event.debit_account_id and event.debit_account_id != pending.debit:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID, 0
        if event.credit_account_id and event.credit_account_id != pending.credit:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID, 0
        post = bool(event.flags & POST)
        amount = event.amount
        if post and amount > pending.amount:
            return TR.EXCEEDS_PENDING_TRANSFER_AMOUNT, 0
        if not post and amount and amount != pending.amount:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT, 0
        if not post or amount == 0:
            amount = pending.amount
        already = {
            "posted": TR.PENDING_TRANSFER_ALREADY_POSTED,
            "voided": TR.PENDING_TRANSFER_ALREADY_VOIDED,
            "expired": TR.PENDING_TRANSFER_EXPIRED,
        }
        if pending.status in already:
            return already[pending.status], 0
        debit, credit = self.accounts[pending.debit], self.accounts[pending.credit]
        if post and debit.debits_posted + amount > AMOUNT_MAX:
            return TR.OVERFLOWS_DEBITS_POSTED, 0
        if post and credit.credits_posted + amount > AMOUNT_MAX:
            return TR.OVERFLOWS_CREDITS_POSTED, 0
        timestamp = self.take_timestamp()
        self.release(pending)
        if post:
            debit.debits_posted += amount
            credit.credits_posted += amount
            pending.status = "posted"  # a posted closing transfer keeps its account closed
        else:
            pending.status = "voided"
            self.reopen(pending)
        self.store(event, debit.id, credit.id, amount, event.code or pending.code, timestamp)
        return TR.OK, timestamp

    def store(
        self, event: Transfer, debit: int, credit: int, amount: int, code: int, timestamp: int
    ) -> None:
        self.transfers[event.id] = Transfer(
            id=event.id,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            pending_id=event.pending_id,
            timeout=event.timeout,
            code=code,
            flags=event.flags,
            timestamp=timestamp,
        )

    # -- batches

    def run_batch(self, events: list[Transfer]) -> list[tuple[int, str, int]]:
        results: list[tuple[int, str, int]] = []
        index = 0
        while index < len(events):
            if not events[index].flags & LINKED:
                results.append((index, *self.create_transfer(events[index])))
                index += 1
                continue
            end = index
            while end < len(events) and events[end].flags & LINKED:
                end += 1
            if end == len(events):
                results.extend(
                    (i, TR.LINKED_EVENT_CHAIN_OPEN, 0) for i in range(index, len(events))
                )
                break
            results.extend(self.run_chain(events, index, end))
            index = end + 1
        return results

    def run_chain(
        self, events: list[Transfer], first: int, last: int
    ) -> list[tuple[int, str, int]]:
        saved = copy.deepcopy(self)
        decided: list[tuple[str, int]] = []
        failed_at = -1
        for position in range(first, last + 1):
            code, timestamp = self.create_transfer(events[position])
            decided.append((code, timestamp))
            if code not in (TR.OK, TR.EXISTS):
                failed_at = position
                break
        codes = {code for code, _ in decided}
        if failed_at < 0 and codes == {TR.OK, TR.EXISTS}:
            failed_at = first + [code for code, _ in decided].index(TR.EXISTS)
        if failed_at < 0:
            return [(first + i, code, ts) for i, (code, ts) in enumerate(decided)]
        self.__dict__.update(saved.__dict__)
        own = decided[failed_at - first][0]
        return [
            (p, own if p == failed_at else TR.LINKED_EVENT_FAILED, 0)
            for p in range(first, last + 1)
        ]


def replay_result(event: Transfer, stored: Transfer) -> str:
    """An event whose id is taken: `exists` if it asks for what is stored (rules of
    docs/ledger.md: resolving events may leave accounts, amount and code zero; a balancing
    event may ask for more than was moved)."""
    resolves = event.flags & (POST | VOID)
    balancing = event.flags & (BAL_DEBIT | BAL_CREDIT)
    if event.flags != stored.flags:
        return TR.EXISTS_WITH_DIFFERENT_FLAGS
    if (event.debit_account_id or not resolves) and (
        event.debit_account_id != stored.debit_account_id
    ):
        return TR.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
    if (event.credit_account_id or not resolves) and (
        event.credit_account_id != stored.credit_account_id
    ):
        return TR.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
    if (event.amount or not resolves) and not balancing and event.amount != stored.amount:
        return TR.EXISTS_WITH_DIFFERENT_AMOUNT
    if balancing and event.amount < stored.amount:
        return TR.EXISTS_WITH_DIFFERENT_AMOUNT
    if event.pending_id != stored.pending_id:
        return TR.EXISTS_WITH_DIFFERENT_PENDING_ID
    if event.timeout != stored.timeout:
        return TR.EXISTS_WITH_DIFFERENT_TIMEOUT
    if (event.code or not resolves) and event.code != stored.code:
        return TR.EXISTS_WITH_DIFFERENT_CODE
    return TR.EXISTS


# -- the machine ----------------------------------------------------------------------------------

amounts = st.integers(1, 120)
timeouts = st.integers(1, TIMEOUT_SECONDS_MAX)
