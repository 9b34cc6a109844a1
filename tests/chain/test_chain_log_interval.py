"""Checkpoints at most one per interval: groups inside the interval append leaves and tree state
without signing, the next checkpoint covers them, `seal_pending` covers what is left after close,
an aborted unsigned group leaves nothing behind, and the export of such a log verifies."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from clearline.chain import merkle
from clearline.chain.audit import export_log, verify_export
from clearline.chain.log import CHECKPOINT_INTERVAL_MS_MAX, ChainLog, SealingHook
from clearline.chain.merkle import NodeId
from clearline.chain.notes import GENESIS_PREVIOUS, checkpoint_hash, parse_checkpoint, parse_note
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, Transfer
from clearline.ledger.events import HookTransaction, LedgerEvent
from clearline.ledger.store import DATABASE_FILE, TRANSFER_ROW

ORIGIN = "clearline.example/node-a"
MS = 1_000_000


def rows(first: int, count: int) -> list[bytes]:
    zero = bytes(16)
    return [
        TRANSFER_ROW.pack(t, t.to_bytes(16, "big"), zero, zero, t, zero, zero, 0, 0, 0, 1, 0, 0, 0)
        for t in range(first, first + count)
    ]


def checkpoints(path: Path) -> list[tuple[int, int]]:
    """(size, time_ns) of every checkpoint, checking each links to the one before."""
    previous, found = GENESIS_PREVIOUS, []
    with ChainLog(path) as log:
        hashes = log.read_nodes([NodeId(0, index) for index in range(log.size())])
        for note in log.checkpoint_notes():
            text = parse_note(note).text
            checkpoint = parse_checkpoint(text)
            assert checkpoint.previous_hash == previous
            assert checkpoint.root == merkle.root_hash(hashes[: checkpoint.size])
            previous = checkpoint_hash(text)
            found.append((checkpoint.size, checkpoint.time_ns))
    return found


def seal(connection: sqlite3.Connection, hook: SealingHook, first: int, count: int) -> None:
    connection.execute("BEGIN")
    hook.seal_rows(connection, rows(first, count), [])
    connection.execute("COMMIT")


def test_groups_inside_the_interval_are_covered_by_the_next_checkpoint(tmp_path: Path) -> None:
    clock = ManualClock()
    start = clock.now_ns()
    hook = SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, clock=clock, checkpoint_interval_ms=200)
    connection = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    seal(connection, hook, 1, 5)  # the first group always signs
    for first in (6, 9, 12):  # 3 groups 50 ms apart: inside the interval
        clock.advance(nanoseconds=50 * MS)
        seal(connection, hook, first, 3)
    with ChainLog(tmp_path) as log:
        assert log.size() == 14  # leaves appended and tree state stored without a checkpoint
    assert checkpoints(tmp_path) == [(5, start)]
    clock.advance(nanoseconds=49 * MS)  # 199 ms since the checkpoint
    seal(connection, hook, 15, 1)
    assert checkpoints(tmp_path) == [(5, start)]
    clock.advance(nanoseconds=1 * MS)  # 200 ms: due
    seal(connection, hook, 16, 2)
    assert checkpoints(tmp_path) == [(5, start), (17, start + 200 * MS)]
    with ChainLog(tmp_path) as log:
        assert log.leaf_index(9) == 8 and log.leaf_index(17) == 16


def test_seal_pending_covers_the_tail_after_close(tmp_path: Path) -> None:
    clock = ManualClock()
    hook = SealingHook.open(
        tmp_path, ORIGIN, ml_dsa=False, clock=clock, checkpoint_interval_ms=1_000
    )
    ledger = Ledger.open(tmp_path, clock=clock, raw_hooks=[hook.seal_rows], sealed=False)
    ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in (1, 2)])
    for k in range(4):
        ledger.create_transfers([Transfer(id=10 + k, debit_account_id=1, credit_account_id=2,
                                          amount=k + 1)])  # fmt: skip
    ledger.close()  # the ledger holds its database exclusively while open
    assert checkpoints(tmp_path) == [(2, clock.now_ns())]
    assert hook.seal_pending_in(tmp_path)
    assert [size for size, _ in checkpoints(tmp_path)] == [2, 6]
    assert not hook.seal_pending_in(tmp_path)  # nothing left to cover
    ledger = Ledger.open(tmp_path, clock=clock, raw_hooks=[hook.seal_rows], sealed=False)
    ledger.create_transfers([Transfer(id=20, debit_account_id=1, credit_account_id=2, amount=1)])
    ledger.close()
    assert [size for size, _ in checkpoints(tmp_path)] == [2, 6]  # still inside the interval
    assert hook.seal_pending_in(tmp_path)
    assert [size for size, _ in checkpoints(tmp_path)] == [2, 6, 7]
    export_log(tmp_path, tmp_path / "export")
    report = verify_export(tmp_path / "export")
    assert (report.events, report.checkpoints) == (7, 3)


def test_seal_pending_without_a_clock_takes_the_last_ledger_timestamp(tmp_path: Path) -> None:
    hook = SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, checkpoint_interval_ms=200)
    connection = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    seal(connection, hook, 1, 4)
    seal(connection, hook, 5, 4)  # ledger timestamps 1 ns apart: inside the interval
    connection.close()
    assert checkpoints(tmp_path) == [(4, 4)]
    assert hook.seal_pending_in(tmp_path)
    assert checkpoints(tmp_path) == [(4, 4), (8, 8)]


def test_an_aborted_unsigned_group_leaves_nothing_behind(tmp_path: Path) -> None:
    clock = ManualClock()
    hook = SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, clock=clock, checkpoint_interval_ms=200)
    connection = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    seal(connection, hook, 1, 3)
    connection.execute("BEGIN")
    hook.seal_rows(connection, rows(4, 5), [])  # unsigned, then rolled back
    connection.execute("ROLLBACK")
    clock.advance(nanoseconds=300 * MS)
    seal(connection, hook, 4, 2)
    assert [size for size, _ in checkpoints(tmp_path)] == [3, 5]
    # A new hook (a restart) reloads the last checkpoint's time from the database.
    restarted = SealingHook.open(
        tmp_path, ORIGIN, ml_dsa=False, clock=clock, checkpoint_interval_ms=200
    )
    seal(connection, restarted, 6, 1)
    assert [size for size, _ in checkpoints(tmp_path)] == [3, 5]
    clock.advance(nanoseconds=200 * MS)
    seal(connection, restarted, 7, 1)
    assert [size for size, _ in checkpoints(tmp_path)] == [3, 5, 7]


def test_the_plain_hook_form_honours_the_interval(tmp_path: Path) -> None:
    clock = ManualClock()
    hook = SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, clock=clock, checkpoint_interval_ms=200)
    seen: list[LedgerEvent] = []

    def record(transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        seen.extend(events)

    ledger = Ledger.open(tmp_path, clock=clock, hooks=[hook, record], sealed=False)
    ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in (1, 2)])
    ledger.create_transfers([Transfer(id=5, debit_account_id=1, credit_account_id=2, amount=1)])
    clock.advance(nanoseconds=250 * MS)
    ledger.create_transfers([Transfer(id=6, debit_account_id=1, credit_account_id=2, amount=1)])
    ledger.close()
    assert [size for size, _ in checkpoints(tmp_path)] == [2, 4]
    assert len(seen) == 4


@pytest.mark.parametrize("interval_ms", [-1, CHECKPOINT_INTERVAL_MS_MAX + 1])
def test_an_interval_out_of_range_is_refused(tmp_path: Path, interval_ms: int) -> None:
    with pytest.raises(ValueError, match="checkpoint_interval_ms"):
        SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, checkpoint_interval_ms=interval_ms)
