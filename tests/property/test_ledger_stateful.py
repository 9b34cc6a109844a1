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

import itertools
import shutil
import tempfile
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
from ledger_reference_model import (
    ACCOUNT_FLAG_CHOICES,
    ASSETS,
    BAL_CREDIT,
    BAL_DEBIT,
    CLOSE_CREDIT,
    CLOSE_DEBIT,
    CMNED,
    DMNEC,
    HUGE_AMOUNTS,
    LINKED,
    PENDING,
    POST,
    TIMEOUT_SECONDS_MAX,
    UNKNOWN_ACCOUNT_ID,
    UNKNOWN_TRANSFER_ID,
    VOID,
    Model,
    amounts,
    timeouts,
)

from clearline.core.clock import ManualClock
from clearline.ledger import (
    AMOUNT_MAX,
    Account,
    EventResult,
    Ledger,
    Transfer,
)
from clearline.ledger.results import CreateTransferResult as TR


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
