"""The fast sealing path: tiles and the batch append agree with the reference Merkle functions,
the row hook writes the same log as the event hook, and the in-memory frontier survives aborted
groups (the database stays the truth)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as strategies

from clearline.chain import merkle, tiles
from clearline.chain.encoding import encode
from clearline.chain.log import ChainLog, SealingHook
from clearline.chain.merkle import NodeId
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, LedgerEvent, Transfer, TransferFlags
from clearline.ledger.events import CommitHook, HookTransaction, LedgerEventKind, RowsHook
from clearline.ledger.records import decode_row, record_to_transfer
from clearline.ledger.store import DATABASE_FILE, TRANSFER_ROW

ORIGIN = "clearline.example/node-a"


def leaf(n: int) -> bytes:
    return merkle.leaf_hash(n.to_bytes(4, "big"))


@settings(max_examples=60, deadline=None)
@given(strategies.lists(strategies.integers(0, 70), min_size=1, max_size=8))
def test_append_leaves_matches_the_reference_append(groups: list[int]) -> None:
    frontier, size = merkle.Frontier(), 0
    for count in groups:
        hashes = [leaf(size + k) for k in range(count)]
        new_frontier, completed = tiles.append_leaves(size, list(frontier.hashes), hashes)
        expected, nodes = merkle.append_many(frontier, hashes)
        assert tuple(new_frontier) == expected.hashes
        for tier, tier_hashes in completed.items():
            level = tier * tiles.TILE_HEIGHT
            wanted = [value for (lvl, _), value in nodes if lvl == level]
            assert tier_hashes == wanted
        assert all(
            level % tiles.TILE_HEIGHT or level // tiles.TILE_HEIGHT in completed
            for (level, _), _ in nodes
        )
        frontier, size = expected, size + count


def test_transfer_leaf_from_a_packed_row_is_the_canonical_encoding() -> None:
    row = TRANSFER_ROW.pack(
        77, (5).to_bytes(16, "big"), bytes(15) + b"\x01", bytes(15) + b"\x02", 300,
        bytes(15) + b"\x09", bytes(15) + b"\x07", 8, 9, 10, 11, 12, 70, 71,
    )  # fmt: skip
    timestamp, transfer_id, record, _, _ = decode_row(row)
    event = LedgerEvent(
        LedgerEventKind.TRANSFER_CREATED,
        timestamp,
        transfer=record_to_transfer(record, transfer_id),
    )
    assert tiles.transfer_leaf_input(row) == b"\x00" + encode(event)
    assert tiles.transfer_leaf_hashes([row]) == [merkle.leaf_hash(encode(event))]


class FailNext:
    def __init__(self) -> None:
        self.fail = False

    def __call__(self, transaction: HookTransaction, *group: Any) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("refused after the seal")


def run(path: Path, fast: bool) -> list[LedgerEvent]:
    """A ledger with accounts, many groups (some crossing tile edges), two-phase, an expiry and
    a group aborted after the sealing hook ran; returns every committed event."""
    seen: list[LedgerEvent] = []
    clock, failing = ManualClock(), FailNext()
    hook = SealingHook.open(path, ORIGIN, ml_dsa=False, clock=clock)

    def record(transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        if not failing.fail:
            seen.extend(events)

    hooks: list[CommitHook] = [record] if fast else [hook, failing, record]
    raw: list[RowsHook] = [hook.seal_rows, failing] if fast else []
    ledger = Ledger.open(path, clock=clock, hooks=hooks, raw_hooks=raw, sealed=False)
    ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in range(1, 6)])
    rng, next_id = random.Random(3), 1
    for count in (1, 15, 16, 17, 255, 3, 300):
        batch = [
            Transfer(id=next_id + k, debit_account_id=1 + k % 5, credit_account_id=1 + (k + 1) % 5,
                     amount=rng.randrange(1, 100), code=1)
            for k in range(count)
        ]  # fmt: skip
        next_id += count
        failing.fail = count == 3  # this group is sealed, then aborted
        if failing.fail:
            with pytest.raises(RuntimeError):
                ledger.create_transfers(batch)
        else:
            ledger.create_transfers(batch)
    pending = Transfer(id=9_000, debit_account_id=1, credit_account_id=2, amount=3, code=1,
                       flags=TransferFlags.PENDING, timeout=1)  # fmt: skip
    ledger.create_transfers([pending])
    clock.advance(seconds=2)
    ledger.create_accounts([Account(id=6, asset="USD", code=1)])  # expiry and account: kept rows
    ledger.close()
    return seen


@pytest.mark.parametrize("fast", [True, False])
def test_both_hook_forms_seal_every_event_and_prove_every_size(tmp_path: Path, fast: bool) -> None:
    events = run(tmp_path, fast)
    with ChainLog(tmp_path) as log:
        leaves = log.leaves()
        assert leaves == [encode(event) for event in events]
        assert log.leaves(20, 40) == leaves[20:40]
        assert [log.leaf_index(event.timestamp) for event in events] == list(range(len(events)))
        assert log.leaf_index(events[-1].timestamp + 1) is None
        hashes = [merkle.leaf_hash(data) for data in leaves]
        assert log.read_nodes([NodeId(0, i) for i in range(len(hashes))]) == hashes
        sizes = [int(note.split("\n")[1]) for note in log.checkpoint_notes()]
        assert sizes[-1] == len(leaves) == log.size()
        for size in sizes:
            root = log.checkpoint(size).root
            assert root == merkle.root_hash(hashes[:size])
            for index in range(0, size, 7):
                proof = log.inclusion_proof(index, size)
                merkle.verify_inclusion(index, size, hashes[index], proof, root)
            for size1 in sizes[: sizes.index(size)]:
                proof = log.consistency_proof(size1, size)
                merkle.verify_consistency(size1, size, log.checkpoint(size1).root, root, proof)


def test_both_hook_forms_write_the_same_tree(tmp_path: Path) -> None:
    (tmp_path / "fast").mkdir()
    (tmp_path / "plain").mkdir()
    run(tmp_path / "fast", True)
    run(tmp_path / "plain", False)
    with ChainLog(tmp_path / "fast") as fast, ChainLog(tmp_path / "plain") as plain:
        assert fast.leaves() == plain.leaves()
        assert fast.checkpoint(fast.size()).root == plain.checkpoint(plain.size()).root


def test_in_memory_frontier_is_reloaded_after_a_rollback(tmp_path: Path) -> None:
    hook = SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, clock=ManualClock())
    connection = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    zero = bytes(16)

    def rows(first: int, count: int) -> list[bytes]:
        return [
            TRANSFER_ROW.pack(t, t.to_bytes(16, "big"), zero, zero, t, zero, zero, 0, 0, 0, 1, 0,
                              0, 0)
            for t in range(first, first + count)
        ]  # fmt: skip

    for first, count, keep in ((1, 20, True), (21, 13, False), (21, 5, True), (26, 40, True)):
        connection.execute("BEGIN")
        hook.seal_rows(connection, rows(first, count), [])
        connection.execute("COMMIT" if keep else "ROLLBACK")
    # A second hook on the same database (another writer) appends; the first must notice.
    other = SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, clock=ManualClock())
    connection.execute("BEGIN")
    other.seal_rows(connection, rows(66, 9), [])
    connection.execute("COMMIT")
    connection.execute("BEGIN")
    hook.seal_rows(connection, rows(75, 3), [])
    connection.execute("COMMIT")
    expected = [tiles.transfer_leaf_hashes(rows(1, 77))[i] for i in range(77)]
    with ChainLog(tmp_path) as log:
        assert log.size() == 77
        assert log.checkpoint(77).root == merkle.root_hash(expected)
        assert log.read_nodes([NodeId(0, i) for i in range(77)]) == expected
        assert log.leaf_index(21) == 20 and log.leaf_index(66) == 65
