"""Commit hooks: they see a group's events in timestamp order inside the group's transaction, what
they write is durable with the group, and a hook that raises aborts the whole group (nothing
written, in-memory state rolled back) while the ledger keeps working."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from clearline.core.clock import ManualClock
from clearline.ledger import (
    Account,
    AccountFlags,
    Ledger,
    LedgerEvent,
    LedgerEventKind,
    Transfer,
    TransferFlags,
)
from clearline.ledger.events import HookTransaction
from clearline.ledger.store import DATABASE_FILE

PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING_TRANSFER
WAIT_SECONDS_MAX = 10.0


class HookFailed(RuntimeError):
    """What the failing hook raises."""


class Recorder:
    """A commit hook that records every group's events, writes an audit row per event into its own
    table, can be told to fail the next group, and can hold the writer inside a commit."""

    def __init__(self) -> None:
        self.groups: list[list[LedgerEvent]] = []
        self.fail_next = False
        self.hold_next = False
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        transaction.execute(
            "CREATE TABLE IF NOT EXISTS audit(timestamp INTEGER PRIMARY KEY, kind TEXT NOT NULL)"
        )
        transaction.executemany(
            "INSERT INTO audit(timestamp, kind) VALUES(?, ?)",
            [(event.timestamp, event.kind.value) for event in events],
        )
        if self.hold_next:
            self.hold_next = False
            self.holding.set()
            assert self.release.wait(WAIT_SECONDS_MAX)
        elif self.fail_next:
            self.fail_next = False
            raise HookFailed("the audit hook refused the group")
        self.groups.append(list(events))


def open_with_hook(path: Path, clock: ManualClock, hook: Recorder) -> Ledger:
    return Ledger.open(path, clock=clock, hooks=[hook])


def audit_rows(path: Path) -> list[tuple[int, str]]:
    """The hook's table, read from the closed data directory."""
    connection = sqlite3.connect(path / DATABASE_FILE)
    try:
        return list(connection.execute("SELECT timestamp, kind FROM audit ORDER BY timestamp"))
    finally:
        connection.close()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS_MAX
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the writer"
        time.sleep(0.001)


def usd(account_id: int, flags: int = 0) -> Account:
    return Account(id=account_id, asset="USD", code=1, flags=flags)


def test_hook_sees_events_in_timestamp_order(tmp_path: Path) -> None:
    clock, hook = ManualClock(), Recorder()
    ledger = open_with_hook(tmp_path, clock, hook)
    ledger.create_accounts([usd(1), usd(2)])
    ledger.create_transfers(
        [
            Transfer(id=10, debit_account_id=1, credit_account_id=2, amount=5),
            Transfer(
                id=11, debit_account_id=1, credit_account_id=2, amount=7, flags=PENDING, timeout=5
            ),
        ]
    )
    clock.advance(seconds=6)
    # The expiry is decided at the start of this group, before the group's own transfer.
    ledger.create_transfers([Transfer(id=12, debit_account_id=2, credit_account_id=1, amount=1)])
    ledger.tick()  # nothing due: an empty group runs no hook
    kinds = [[event.kind for event in group] for group in hook.groups]
    assert kinds == [
        [LedgerEventKind.ACCOUNT_CREATED] * 2,
        [LedgerEventKind.TRANSFER_CREATED] * 2,
        [LedgerEventKind.PENDING_EXPIRED, LedgerEventKind.TRANSFER_CREATED],
    ]
    everything = [event for group in hook.groups for event in group]
    timestamps = [event.timestamp for event in everything]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(timestamps)
    accounts = ledger.lookup_accounts([1, 2])
    assert [event.account.id for event in everything[:2] if event.account] == [1, 2]
    assert [event.timestamp for event in everything[:2]] == [a.timestamp for a in accounts]
    created = [event.transfer for event in everything if event.transfer is not None]
    assert created == ledger.lookup_transfers([10, 11, 12])
    assert everything[4].pending_id == 11
    ledger.close()
    assert audit_rows(tmp_path) == [(event.timestamp, event.kind.value) for event in everything]


def test_hook_writes_are_visible_after_reopen(tmp_path: Path) -> None:
    clock, hook = ManualClock(), Recorder()
    ledger = open_with_hook(tmp_path, clock, hook)
    ledger.create_accounts([usd(1), usd(2)])
    ledger.close()
    ledger = open_with_hook(tmp_path, clock, hook)
    ledger.create_transfers([Transfer(id=10, debit_account_id=1, credit_account_id=2, amount=5)])
    ledger.close()
    assert [kind for _, kind in audit_rows(tmp_path)] == [
        "account_created",
        "account_created",
        "transfer_created",
    ]


def test_failing_hook_aborts_the_group_and_the_ledger_keeps_working(tmp_path: Path) -> None:
    clock, hook = ManualClock(), Recorder()
    ledger = open_with_hook(tmp_path, clock, hook)
    spender = usd(1, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    ledger.create_accounts([spender, usd(2)])
    ledger.create_transfers(
        [
            Transfer(id=10, debit_account_id=2, credit_account_id=1, amount=100),
            Transfer(id=11, debit_account_id=1, credit_account_id=2, amount=30, flags=PENDING),
        ]
    )
    before = ledger.lookup_accounts([1, 2])
    counts_before = ledger.counts()

    hook.fail_next = True
    with pytest.raises(HookFailed):
        ledger.create_transfers(
            [
                Transfer(id=20, debit_account_id=1, credit_account_id=2, amount=70),
                Transfer(
                    id=21,
                    pending_id=11,
                    debit_account_id=0,
                    credit_account_id=0,
                    amount=0,
                    flags=POST,
                ),
            ]
        )
    assert ledger.lookup_transfers([20, 21]) == []
    assert ledger.lookup_accounts([1, 2]) == before
    assert ledger.counts() == counts_before
    # Live state was rolled back: the full 70 is still available, and the pending is still open.
    results = ledger.create_transfers(
        [
            Transfer(id=30, debit_account_id=1, credit_account_id=2, amount=70),
            Transfer(
                id=31, pending_id=11, debit_account_id=0, credit_account_id=0, amount=0, flags=POST
            ),
        ]
    )
    assert [result.result for result in results] == ["ok", "ok"]
    (account,) = ledger.lookup_accounts([1])
    assert (account.debits_posted, account.debits_pending, account.credits_posted) == (100, 0, 100)
    ledger.close()
    assert all(timestamp != 0 for timestamp, _ in audit_rows(tmp_path))
    assert {kind for _, kind in audit_rows(tmp_path)} == {"account_created", "transfer_created"}
    assert len(audit_rows(tmp_path)) == 6  # 2 accounts, 10, 11, 30, 31: the failed group left none
    reopened = open_with_hook(tmp_path, clock, hook)
    assert reopened.lookup_accounts([1]) == [account]
    reopened.close()


def test_failing_hook_rolls_back_an_expiry_which_happens_again_later(tmp_path: Path) -> None:
    clock, hook = ManualClock(), Recorder()
    ledger = open_with_hook(tmp_path, clock, hook)
    ledger.create_accounts([usd(1), usd(2)])
    ledger.create_transfers(
        [
            Transfer(
                id=10, debit_account_id=1, credit_account_id=2, amount=9, flags=PENDING, timeout=1
            )
        ]
    )
    clock.advance(seconds=2)
    hook.fail_next = True
    with pytest.raises(HookFailed):
        ledger.create_transfers(
            [Transfer(id=11, debit_account_id=1, credit_account_id=2, amount=1)]
        )
    # Right after the failure the pending may expire again in a group the writer starts by itself;
    # either way it expires exactly once, and the failed group's transfer is absent.
    ledger.tick()
    (account,) = ledger.lookup_accounts([1])
    assert (account.debits_pending, account.debits_posted) == (0, 0)
    assert ledger.lookup_transfers([11]) == []
    expiries = [event for group in hook.groups for event in group if event.pending_id == 10]
    assert len(expiries) == 1 and expiries[0].kind == LedgerEventKind.PENDING_EXPIRED
    ledger.close()


def test_failing_hook_fails_every_caller_of_its_group(tmp_path: Path) -> None:
    """Three callers share the aborted group (including new accounts and transfers on them); all
    get the error, nothing is written, and the store still verifies on reopen."""
    clock, hook = ManualClock(), Recorder()
    ledger = open_with_hook(tmp_path, clock, hook)
    ledger.create_accounts([usd(1), usd(2)])
    with ThreadPoolExecutor(4) as pool:
        hook.hold_next = True
        held = pool.submit(ledger.create_accounts, [usd(3)])
        assert hook.holding.wait(WAIT_SECONDS_MAX)
        calls: list[Future[object]] = [
            pool.submit(ledger.create_accounts, [usd(account_id) for account_id in range(4, 9)]),
            pool.submit(
                ledger.create_transfers,
                [
                    Transfer(id=100 + n, debit_account_id=n, credit_account_id=n + 1, amount=7)
                    for n in range(4, 8)
                ],
            ),
            pool.submit(
                ledger.create_transfers,
                [Transfer(id=200, debit_account_id=1, credit_account_id=2, amount=3)],
            ),
        ]
        wait_until(lambda: ledger._writer.queue.qsize() == len(calls))
        hook.fail_next = True
        hook.release.set()
        assert [result.result for result in held.result()] == ["ok"]  # type: ignore[attr-defined]
        for call in calls:
            with pytest.raises(HookFailed):
                call.result()
    assert ledger.lookup_accounts(list(range(4, 9))) == []
    assert ledger.lookup_transfers([104, 105, 106, 107, 200]) == []
    # The same accounts and transfers again, now committed (their timestamps are reused).
    assert all(r.ok for r in ledger.create_accounts([usd(n) for n in range(4, 9)]))
    results = ledger.create_transfers(
        [
            Transfer(id=300 + n, debit_account_id=n, credit_account_id=n + 1, amount=2)
            for n in range(4, 8)
        ]
    )
    assert all(r.result == "ok" for r in results)
    expected = ledger.lookup_accounts(list(range(1, 9)))
    ledger.close()
    reopened = open_with_hook(
        tmp_path, clock, hook
    )  # verifies checkpointed balances against the log
    assert reopened.lookup_accounts(list(range(1, 9))) == expected
    reopened.close()
