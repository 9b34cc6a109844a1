"""Inclusion proofs looked up by ledger timestamp and by transfer id: the proof verifies against
the checkpoint's root for every transfer and every checkpoint that holds it, and anything not in
the tree asked for is refused with `leaf_not_found`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clearline.chain import merkle
from clearline.chain.encoding import encode
from clearline.chain.log import ChainLog, LeafNotFound, SealingHook, transfer_inclusion_proof
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, LedgerEvent, Transfer
from clearline.ledger.events import HookTransaction

ORIGIN = "clearline.example/node-a"
TRANSFER_IDS = [100 * batch + k + 1 for batch in range(4) for k in range(batch + 1)]


def fill(path: Path) -> list[LedgerEvent]:
    seen: list[LedgerEvent] = []

    def record(transaction: HookTransaction, events: object) -> None:
        seen.extend(events)  # type: ignore[call-overload]

    clock = ManualClock()
    hook = SealingHook.open(path, ORIGIN, ml_dsa=False, clock=clock)
    ledger = Ledger.open(path, clock=clock, hooks=[hook, record], sealed=False)
    ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in (1, 2, 3)])
    for batch in range(4):
        ledger.create_transfers(
            [
                Transfer(id=100 * batch + k + 1, debit_account_id=1, credit_account_id=2 + k % 2,
                         amount=batch + k + 1)
                for k in range(batch + 1)
            ]
        )  # fmt: skip
    ledger.close()
    return seen


def sizes(log: ChainLog) -> list[int]:
    return [log.checkpoint(int(note.split("\n")[1])).size for note in log.checkpoint_notes()]


def test_every_transfer_proves_at_every_checkpoint_that_holds_it(tmp_path: Path) -> None:
    events = fill(tmp_path)
    by_id = {e.transfer.id: e for e in events if e.transfer is not None}
    with ChainLog(tmp_path) as log:
        for transfer_id in TRANSFER_IDS:
            timestamp = log.transfer_timestamp(transfer_id)
            assert timestamp == by_id[transfer_id].timestamp
            for size in sizes(log):
                index = log.leaf_index(timestamp)
                assert index is not None
                if index >= size:
                    with pytest.raises(LeafNotFound):
                        log.inclusion_proof_for_timestamp(timestamp, size)
                    continue
                found = log.inclusion_proof_for_timestamp(timestamp, size)
                assert (found.leaf_index, found.tree_size) == (index, size)
                assert found.leaf_hash == merkle.leaf_hash(encode(by_id[transfer_id]))
                root = log.checkpoint(size).root
                merkle.verify_inclusion(index, size, found.leaf_hash, found.proof, root)
        assert log.transfer_timestamp(999) is None


def test_a_ledger_and_a_replica_of_its_log_prove_a_transfer_by_id(tmp_path: Path) -> None:
    node, replica = tmp_path / "node", tmp_path / "replica"
    node.mkdir()
    fill(node)
    shutil.copytree(node, replica)  # an open ledger holds its own database exclusively
    ledger = Ledger.open(node, clock=ManualClock(), sealed=False)
    try:
        with ChainLog(replica) as log:
            size = log.size()
            for transfer_id in TRANSFER_IDS:
                found = transfer_inclusion_proof(ledger, log, transfer_id, size)
                root = log.checkpoint(size).root
                merkle.verify_inclusion(found.leaf_index, size, found.leaf_hash, found.proof, root)
            with pytest.raises(LeafNotFound) as refused:
                transfer_inclusion_proof(ledger, log, 999, size)
            assert refused.value.code == "leaf_not_found"
    finally:
        ledger.close()


def test_timestamps_and_sizes_outside_the_log_are_refused(tmp_path: Path) -> None:
    fill(tmp_path)
    with ChainLog(tmp_path) as log:
        last = log.leaves()[-1]
        timestamp = int.from_bytes(last[2:10], "big")
        for bad_timestamp, size in ((timestamp + 1, log.size()), (0, log.size())):
            with pytest.raises(LeafNotFound, match="no leaf"):
                log.inclusion_proof_for_timestamp(bad_timestamp, size)
        for bad_size in (0, log.size() + 1, log.size() - 1):
            with pytest.raises(LeafNotFound, match="not in a tree"):
                log.inclusion_proof_for_timestamp(timestamp, bad_size)
