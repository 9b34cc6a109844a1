"""The sealed log inside the ledger: leaves match events, checkpoints are signed and linked, proofs
read from the database verify at every past size, and an aborted group leaves no trace."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from clearline.chain import merkle
from clearline.chain.encoding import decode
from clearline.chain.log import ChainLog, LogNotFound, SealingHook
from clearline.chain.notes import GENESIS_PREVIOUS, checkpoint_hash, open_note, parse_checkpoint
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, LedgerEvent, Transfer, TransferFlags
from clearline.ledger.events import HookTransaction

ORIGIN = "clearline.example/node-a"


class Recorder:
    def __init__(self) -> None:
        self.events: list[LedgerEvent] = []
        self.fail_next = False

    def __call__(self, transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("refused")
        self.events.extend(events)


def run_ledger(path: Path, hook: SealingHook, recorder: Recorder) -> None:
    clock = ManualClock()
    ledger = Ledger.open(path, clock=clock, hooks=[hook, recorder], sealed=False)
    ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in range(1, 6)])
    for batch in range(6):
        ledger.create_transfers(
            [
                Transfer(
                    id=100 * batch + k + 1,
                    debit_account_id=1 + k % 5,
                    credit_account_id=1 + (k + 1) % 5,
                    amount=batch + k + 1,
                )
                for k in range(batch + 1)
            ]
        )
    ledger.create_transfers(
        [
            Transfer(
                id=900,
                debit_account_id=1,
                credit_account_id=2,
                amount=3,
                flags=TransferFlags.PENDING,
                timeout=1,
            )
        ]
    )
    recorder.fail_next = True
    with pytest.raises(RuntimeError):
        ledger.create_transfers(
            [Transfer(id=901, debit_account_id=1, credit_account_id=2, amount=1)]
        )
    clock.advance(seconds=2)
    ledger.create_transfers([Transfer(id=902, debit_account_id=2, credit_account_id=1, amount=1)])
    ledger.close()
    # Reopen: the hook continues from the stored frontier.
    ledger = Ledger.open(path, clock=clock, hooks=[hook, recorder], sealed=False)
    ledger.create_accounts([Account(id=6, asset="JPY", code=1)])
    ledger.close()


def test_log_seals_every_event_and_proves_every_past_size(tmp_path: Path) -> None:
    hook, recorder = SealingHook.open(tmp_path, ORIGIN), Recorder()
    run_ledger(tmp_path, hook, recorder)
    verifiers = [signer.verifier for signer in hook.signers]
    with ChainLog(tmp_path) as log:
        leaves = log.leaves()
        assert [decode(data) for data in leaves] == recorder.events
        assert all(event.transfer is None or event.transfer.id != 901 for event in recorder.events)
        assert log.leaf_index(recorder.events[3].timestamp) == 3
        hashes = [merkle.leaf_hash(data) for data in leaves]
        previous, sizes = GENESIS_PREVIOUS, []
        for note in log.checkpoint_notes():
            opened = open_note(note, verifiers)
            assert len(opened.signatures) == 2
            checkpoint = parse_checkpoint(opened.text)
            assert checkpoint.origin == ORIGIN and checkpoint.previous_hash == previous
            assert checkpoint.root == merkle.root_hash(hashes[: checkpoint.size])
            previous = checkpoint_hash(opened.text)
            sizes.append(checkpoint.size)
        assert sizes == sorted(set(sizes)) and sizes[-1] == len(leaves) == log.size()
        assert len(sizes) == 10  # accounts, 6 transfer batches, pending, expiry+transfer, reopen
        for size in sizes:
            root = log.checkpoint(size).root
            for index in range(size):
                proof = log.inclusion_proof(index, size)
                merkle.verify_inclusion(index, size, hashes[index], proof, root)
            for size1 in sizes[: sizes.index(size)]:
                proof = log.consistency_proof(size1, size)
                merkle.verify_consistency(size1, size, log.checkpoint(size1).root, root, proof)


def test_ledger_without_hook_writes_no_chain_tables(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path, clock=ManualClock(), sealed=False)
    ledger.create_accounts([Account(id=1, asset="USD", code=1)])
    ledger.close()
    with pytest.raises(LogNotFound, match="never sealed") as refused:
        ChainLog(tmp_path)
    assert refused.value.code == "log_not_found"
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert not {name for name in tables if name.startswith("chain_")}


def test_chain_log_refuses_a_directory_without_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(LogNotFound, match="holds no ledger"):
        ChainLog(tmp_path)
