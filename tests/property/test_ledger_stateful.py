"""Random interleavings against a real ledger, checked step by step against a reference model.

The model below is written independently of the engine: plain dicts of balances, pending amounts
and two-phase statuses, and the rules of docs/ledger.md applied in the engine's documented order.
It predicts every result code and timestamp, so a refusal that changed anything, an `ok` that
should have been refused, or a balance the ledger got wrong shows up at the step that caused it.
After every step: the model's balances equal the ledger's, per asset Σ debits = Σ credits (posted
and pending), limit flags hold, the stored transfers equal the model's, and closing and reopening
(a rule of its own) yields identical state.
"""

from __future__ import annotations

import copy
import itertools
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from clearline.core.clock import NANOSECONDS_PER_SECOND, ManualClock
from clearline.ledger import (
    AMOUNT_MAX,
    Account,
    AccountFlags,
    EventResult,
    Ledger,
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


class LedgerMachine(RuleBasedStateMachine):
    """A real ledger on a temporary directory with a manual clock, and the model beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="clearline-stateful-"))
        self.clock = ManualClock()
        self.ledger = Ledger.open(self.directory, clock=self.clock)
        self.model = Model()
        self.ids = itertools.count(1)
        self.chains: list[list[Transfer]] = []  # committed linked chains, as submitted
        self.singles: list[Transfer] = []  # committed unlinked transfers, as submitted

    def teardown(self) -> None:
        try:
            self.ledger.close()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers

    def account_ids(self) -> list[int]:
        return sorted(self.model.accounts)

    def submit_accounts(self, batch: list[Account]) -> None:
        self.model.begin_group(self.clock.now_ns())
        expected = []
        for index, event in enumerate(batch):
            expected.append((index, *self.model.create_account(event)))
        assert triples(self.ledger.create_accounts(batch)) == expected

    def submit_transfers(self, batch: list[Transfer]) -> list[tuple[int, str, int]]:
        self.model.begin_group(self.clock.now_ns())
        expected = self.model.run_batch(batch)
        assert triples(self.ledger.create_transfers(batch)) == expected, batch
        self.remember(batch, expected)
        return expected

    def remember(self, batch: list[Transfer], results: list[tuple[int, str, int]]) -> None:
        """Keep committed events as submitted, for replays later."""
        chain: list[Transfer] = []
        for index, code, _ in results:
            event = batch[index]
            if event.flags & LINKED:
                chain.append(event)
                continue
            if chain:
                chain.append(event)
                if code == TR.OK:
                    self.chains.append(chain)
                chain = []
            elif code == TR.OK:
                self.singles.append(event)

    def draw_account(self, data: st.DataObject) -> int:
        if data.draw(st.integers(0, 19)) == 0:
            return UNKNOWN_ACCOUNT_ID
        return data.draw(st.sampled_from(self.account_ids()))

    def draw_pair(self, data: st.DataObject) -> tuple[int, int]:
        """Debit and credit account: mostly two open accounts of one asset, sometimes not."""
        if data.draw(st.integers(0, 9)) == 0:
            return self.draw_account(data), self.draw_account(data)
        debit = data.draw(st.sampled_from(self.account_ids()))
        asset = self.model.accounts[debit].asset
        peers = [
            a.id
            for a in self.model.accounts.values()
            if a.asset == asset and a.id != debit and not a.closed
        ]
        return debit, data.draw(st.sampled_from(peers)) if peers else self.draw_account(data)

    def draw_amount(self, data: st.DataObject) -> int:
        roll = data.draw(st.integers(0, 39))
        if roll == 0:
            return data.draw(st.sampled_from(HUGE_AMOUNTS))
        if roll == 1:
            return 0  # amount_must_not_be_zero (a whole-amount post, for resolving events)
        return data.draw(amounts)

    def draw_event(self, data: st.DataObject, batch: list[Transfer], linked: bool) -> Transfer:
        kind = data.draw(
            st.sampled_from(
                [
                    "plain",
                    "plain",
                    "pending",
                    "pending",
                    "resolve",
                    "resolve",
                    "balancing",
                    "closing",
                    "replay",
                ]
            )
        )
        if kind == "replay" and self.singles and not linked:
            original = data.draw(st.sampled_from(self.singles))
            if original.flags & (BAL_DEBIT | BAL_CREDIT | POST | VOID) or data.draw(st.booleans()):
                return original
            changed = original.amount - 1 if original.amount > 1 else original.amount + 1
            return replace(original, amount=changed)  # exists_with_different_amount
        if kind == "resolve":
            return self.draw_resolve(data, batch, linked)
        flags = LINKED if linked else 0
        timeout = 0
        if kind == "pending":
            flags |= PENDING
            if data.draw(st.integers(0, 2)):
                timeout = data.draw(timeouts)
        elif kind == "balancing":
            flags |= data.draw(st.sampled_from([BAL_DEBIT, BAL_CREDIT, BAL_DEBIT | BAL_CREDIT]))
            flags |= data.draw(st.sampled_from([0, PENDING]))
        elif kind == "closing":
            flags |= data.draw(
                st.sampled_from([CLOSE_DEBIT, CLOSE_CREDIT, CLOSE_DEBIT | CLOSE_CREDIT])
            )
            flags |= PENDING if data.draw(st.integers(0, 4)) else 0  # 0: must be pending
            if flags & PENDING and data.draw(st.booleans()):
                timeout = data.draw(timeouts)
        debit, credit = self.draw_pair(data)
        return Transfer(
            id=next(self.ids),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=self.draw_amount(data),
            timeout=timeout,
            flags=flags,
        )

    def draw_resolve(self, data: st.DataObject, batch: list[Transfer], linked: bool) -> Transfer:
        open_ids = [i for i, p in self.model.pendings.items() if p.status == "pending"]
        roll = data.draw(st.integers(0, 19))
        if roll < 12 and open_ids:
            pending_id = data.draw(st.sampled_from(open_ids))
        elif roll < 16 and self.model.pendings:
            pending_id = data.draw(st.sampled_from(list(self.model.pendings)))  # any status
        elif roll < 18 and any(t.flags & PENDING for t in batch):
            pending_id = data.draw(st.sampled_from([t.id for t in batch if t.flags & PENDING]))
        elif roll < 19 and self.model.transfers:
            pending_id = data.draw(st.sampled_from(list(self.model.transfers)))
        else:
            pending_id = UNKNOWN_TRANSFER_ID
        post = data.draw(st.booleans())
        pending = self.model.pendings.get(pending_id)
        amount = 0
        shape = data.draw(st.sampled_from(["zero", "zero", "exact", "other"]))
        if shape == "exact" and pending is not None:
            amount = pending.amount
        elif shape == "other":
            amount = data.draw(amounts)
        debit = credit = 0
        if pending is not None and data.draw(st.booleans()):
            debit, credit = pending.debit, pending.credit
            if data.draw(st.integers(0, 9)) == 0:
                debit = self.draw_account(data)  # probably pending_transfer_has_different_…
        return Transfer(
            id=next(self.ids),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            pending_id=pending_id,
            code=0,
            flags=(POST if post else VOID) | (LINKED if linked else 0),
        )

    # -- rules

    @initialize()
    def two_accounts_per_asset(self) -> None:
        self.submit_accounts(
            [Account(id=next(self.ids), asset=asset, code=1) for asset in ASSETS for _ in (1, 2)]
        )

    @rule(data=st.data())
    def create_accounts(self, data: st.DataObject) -> None:
        batch = []
        for _ in range(data.draw(st.integers(1, 3))):
            existing = self.account_ids()
            if data.draw(st.integers(0, 4)) == 0:
                stored = self.model.accounts[data.draw(st.sampled_from(existing))]
                asset = stored.asset if data.draw(st.booleans()) else "EUR"
                batch.append(Account(id=stored.id, asset=asset, code=1, flags=stored.flags))
                continue
            flags = data.draw(st.sampled_from(ACCOUNT_FLAG_CHOICES))
            if data.draw(st.integers(0, 19)) == 0:
                flags = DMNEC | CMNED  # flags_are_mutually_exclusive
            batch.append(
                Account(
                    id=next(self.ids),
                    asset=data.draw(st.sampled_from(ASSETS)),
                    code=1,
                    flags=flags,
                )
            )
        self.submit_accounts(batch)

    @rule(data=st.data())
    def create_transfers(self, data: st.DataObject) -> None:
        batch: list[Transfer] = []
        for _ in range(data.draw(st.integers(1, 3))):
            if data.draw(st.integers(0, 3)) == 0:
                length = data.draw(st.integers(2, 3))
                for position in range(length):
                    batch.append(self.draw_event(data, batch, linked=position < length - 1))
            else:
                batch.append(self.draw_event(data, batch, linked=False))
        if data.draw(st.integers(0, 49)) == 0:
            last = batch[-1]
            batch[-1] = replace(last, flags=last.flags | LINKED)  # linked_event_chain_open
        self.submit_transfers(batch)

    @precondition(lambda self: self.chains)
    @rule(data=st.data())
    def replay_linked_chain(self, data: st.DataObject) -> None:
        chain = data.draw(st.sampled_from(self.chains))
        if data.draw(st.booleans()):
            results = self.submit_transfers(list(chain))
            assert {code for _, code, _ in results} == {TR.EXISTS}
            return
        # A new event linked in front of a replayed chain: part new, part old fails whole.
        fresh = Transfer(
            id=next(self.ids),
            debit_account_id=chain[0].debit_account_id or self.account_ids()[0],
            credit_account_id=chain[0].credit_account_id or self.account_ids()[1],
            amount=1,
            flags=LINKED,
        )
        self.submit_transfers([fresh, *chain])

    @rule(seconds=st.integers(0, TIMEOUT_SECONDS_MAX + 2))
    def advance_clock_and_tick(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)
        self.model.begin_group(self.clock.now_ns())
        self.ledger.tick()

    @rule()
    def close_and_reopen(self) -> None:
        account_ids, transfer_ids = self.account_ids(), sorted(self.model.transfers)
        accounts = self.ledger.lookup_accounts(account_ids)
        transfers = self.ledger.lookup_transfers(transfer_ids)
        counts = self.ledger.counts()
        self.ledger.close()
        self.ledger = Ledger.open(self.directory, clock=self.clock)
        assert self.ledger.lookup_accounts(account_ids) == accounts
        assert self.ledger.lookup_transfers(transfer_ids) == transfers
        assert self.ledger.counts() == counts

    # -- invariants

    @invariant()
    def ledger_matches_model(self) -> None:
        account_ids = self.account_ids()
        accounts = self.ledger.lookup_accounts(account_ids)
        assert accounts == [self.model.accounts[i].as_account() for i in account_ids]
        transfer_ids = sorted(self.model.transfers)
        assert self.ledger.lookup_transfers(transfer_ids) == [
            self.model.transfers[i] for i in transfer_ids
        ]
        counts = self.ledger.counts()
        assert counts["accounts"] == len(self.model.accounts)
        assert counts["transfers"] == len(self.model.transfers)
        assert counts["pending_transfers"] == len(self.model.pendings)

    @invariant()
    def debits_equal_credits_and_limits_hold(self) -> None:
        accounts = self.ledger.lookup_accounts(self.account_ids())
        for asset in ASSETS:
            mine = [a for a in accounts if a.asset.spec == asset]
            assert sum(a.debits_posted for a in mine) == sum(a.credits_posted for a in mine)
            assert sum(a.debits_pending for a in mine) == sum(a.credits_pending for a in mine)
        for account in accounts:
            debits = account.debits_pending + account.debits_posted
            credits = account.credits_pending + account.credits_posted
            if account.flags & DMNEC:
                assert debits <= account.credits_posted
            if account.flags & CMNED:
                assert credits <= account.debits_posted
            assert max(debits, credits) <= AMOUNT_MAX


def replace(transfer: Transfer, **changes: int) -> Transfer:
    fields = {name: getattr(transfer, name) for name in Transfer.__slots__}
    fields.update(changes)
    return Transfer(**fields)


def triples(results: list[EventResult]) -> list[tuple[int, str, int]]:
    return [(r.index, r.result, r.timestamp) for r in results]


def test_ledger_against_the_model() -> None:
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=100,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


@pytest.mark.slow
def test_ledger_against_the_model_long_runs() -> None:
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=200,
            stateful_step_count=100,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
