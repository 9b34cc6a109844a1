"""Attestations in the log: each is one kind 4 leaf in commit order with the transfers, written
the same by the row hook and the event hook, inline or by the hashing worker, and by backfill; its
bytes are rebuilt from the ledger's own row, so a changed row (or a changed export) fails the
audit; a store from before attestations still reads."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from clearline.chain import merkle
from clearline.chain.audit import (
    EVENTS_FILE,
    AuditFailure,
    build_export,
    export_log,
    frame,
    node_signers,
    read_export,
    unframe,
    verify_export,
    verify_export_files,
)
from clearline.chain.encoding import decode, encode
from clearline.chain.log import ChainLog, SealingHook
from clearline.chain.notes import parse_note
from clearline.core.clock import ManualClock
from clearline.ledger import (
    Account,
    Attestation,
    Ledger,
    LedgerEvent,
    LedgerEventKind,
    Transfer,
)
from clearline.ledger.store import DATABASE_FILE

ORIGIN = "clearline.example/node-a"


def digest(n: int) -> bytes:
    return hashlib.sha256(f"operator action {n}".encode()).digest()


def work(ledger: Ledger, clock: ManualClock, attestations: int = 3) -> None:
    """Accounts, transfers and attestations interleaved over several groups."""
    ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in (1, 2)])
    for batch in range(4):
        ledger.create_transfers(
            [Transfer(id=10 * batch + k + 1, debit_account_id=1, credit_account_id=2, amount=k + 1)
             for k in range(batch + 1)]
        )  # fmt: skip
        ledger.create_attestations(
            [Attestation(id=100 * batch + k + 1, code=1 + k, digest=digest(100 * batch + k))
             for k in range(attestations)]
        )  # fmt: skip
        clock.advance(seconds=1)


def plain(path: Path, clock: ManualClock, hasher: bool = False) -> Ledger:
    hook = SealingHook.open(path, ORIGIN, ml_dsa=False, clock=clock, hasher=hasher)
    return Ledger.open(path, clock=clock, hooks=[hook], sealed=False)


def rows(path: Path, clock: ManualClock, hasher: bool = False) -> Ledger:
    hook = SealingHook.open(path, ORIGIN, ml_dsa=False, clock=clock, hasher=hasher)
    return Ledger.open(path, clock=clock, raw_hooks=[hook.seal_rows], sealed=False)


def log_of(path: Path) -> tuple[list[bytes], list[bytes]]:
    """The leaves and every checkpoint's root."""
    with ChainLog(path) as log:
        roots = [log.checkpoint(int(n.split("\n")[1])).root for n in log.checkpoint_notes()]
        return log.leaves(), roots


def test_each_attestation_is_one_leaf_in_commit_order(tmp_path: Path) -> None:
    clock = ManualClock()
    with rows(tmp_path, clock) as ledger:
        work(ledger, clock)
        stored = ledger.lookup_attestations([k + 1 for k in range(3)])
    leaves, _ = log_of(tmp_path)
    events = [decode(leaf) for leaf in leaves]
    kinds = [event.kind for event in events]
    assert kinds.count(LedgerEventKind.ATTESTATION_CREATED) == 12
    assert (
        kinds[2:6] == [LedgerEventKind.TRANSFER_CREATED] + [LedgerEventKind.ATTESTATION_CREATED] * 3
    )
    assert [event.attestation for event in events[3:6]] == stored
    assert [event.timestamp for event in events] == sorted(e.timestamp for e in events)
    connection = sqlite3.connect(tmp_path / DATABASE_FILE)
    (held,) = connection.execute("SELECT COUNT(*) FROM chain_events").fetchone()
    connection.close()
    assert held == 2  # the accounts: attestations are rebuilt from the ledger's rows


@pytest.mark.parametrize("hasher", [False, True])
def test_the_row_hook_and_the_event_hook_write_the_same_log(tmp_path: Path, hasher: bool) -> None:
    """With the worker (`hasher=True`), a group of 1,500 attestations and 8 transfers is hashed
    in the other process, the attestations' leaf hashes placed among the transfer rows."""
    logs = []
    for name, opener in (("events", plain), ("rows", rows)):
        clock = ManualClock()
        with opener(tmp_path / name, clock, hasher=hasher) as ledger:
            work(ledger, clock)
            ledger.create_attestations(
                [Attestation(id=10_000 + n, code=1, digest=digest(n)) for n in range(1_500)]
            )
            clock.advance(seconds=1)
            work_more = [Transfer(id=900 + k, debit_account_id=2, credit_account_id=1, amount=1)
                         for k in range(8)]  # fmt: skip
            ledger.create_transfers(work_more)
        logs.append(log_of(tmp_path / name))
    (leaves, roots), (row_leaves, row_roots) = logs
    assert row_leaves == leaves and len(leaves) == 2 + 10 + 12 + 1_500 + 8
    assert row_roots[-1] == roots[-1] == merkle.root_hash([merkle.leaf_hash(x) for x in leaves])
    if not hasher:  # the worker lets checkpoints trail the leaves, so their sizes may differ
        assert row_roots == roots


def test_backfill_seals_attestations_made_while_unsealed(tmp_path: Path) -> None:
    clock = ManualClock()
    with Ledger.open(tmp_path / "sealed", clock=clock) as ledger:  # the default sealer
        work(ledger, clock)
    clock = ManualClock()
    with Ledger.open(tmp_path / "late", clock=clock, sealed=False) as ledger:
        work(ledger, clock)
    Ledger.open(tmp_path / "late", clock=clock).close()  # attach appends what the log lacks
    assert log_of(tmp_path / "late")[0] == log_of(tmp_path / "sealed")[0]


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    clock = ManualClock()
    with Ledger.open(tmp_path / "node", clock=clock) as ledger:  # the default sealer
        work(ledger, clock)
    export_log(tmp_path / "node", tmp_path / "export")
    return tmp_path


def test_an_export_of_transfers_and_attestations_verifies(exported: Path) -> None:
    report = verify_export(exported / "export")
    assert (report.events, report.transfers, report.attestations) == (24, 10, 12)


def tamper_row(node: Path) -> None:
    connection = sqlite3.connect(node / DATABASE_FILE)
    with connection:
        connection.execute(
            "UPDATE attestations SET digest = ? WHERE id = ?",
            (digest(999), (202).to_bytes(16, "big")),
        )
    connection.close()


def test_a_changed_attestation_row_fails_the_audit(exported: Path) -> None:
    tamper_row(exported / "node")
    export_log(exported / "node", exported / "again")
    with pytest.raises(AuditFailure) as caught:
        verify_export(exported / "again")
    assert caught.value.code == "checkpoint_root_mismatch"


def test_a_changed_attestation_in_an_export_fails_the_audit(exported: Path) -> None:
    files = read_export(exported / "export")
    leaves = unframe(files[EVENTS_FILE], EVENTS_FILE)
    index = next(
        i
        for i, leaf in enumerate(leaves)
        if decode(leaf).kind is LedgerEventKind.ATTESTATION_CREATED
    )
    event = decode(leaves[index])
    assert event.attestation is not None
    forged = Attestation(event.attestation.id, event.attestation.code, digest(999), event.timestamp)
    leaves[index] = encode(LedgerEvent(event.kind, event.timestamp, attestation=forged))
    with pytest.raises(AuditFailure) as outsider:
        verify_export_files({**files, EVENTS_FILE: frame(leaves)})
    assert outsider.value.code == "export_file_hash_mismatch"
    notes = [record.decode() for record in unframe(files["checkpoints.bin"], "checkpoints")]
    name = origin(notes)
    insider = build_export(name, leaves, notes, node_signers(exported / "node", name))
    with pytest.raises(AuditFailure) as resigned:
        verify_export_files(insider)
    assert resigned.value.code == "checkpoint_root_mismatch"


def origin(notes: list[str]) -> str:
    return parse_note(notes[0]).text.split("\n")[0]


def test_a_store_from_before_attestations_still_reads(tmp_path: Path) -> None:
    clock = ManualClock()
    with rows(tmp_path, clock) as ledger:
        ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in (1, 2)])
        ledger.create_transfers([Transfer(id=1, debit_account_id=1, credit_account_id=2, amount=1)])
    before = log_of(tmp_path)
    connection = sqlite3.connect(tmp_path / DATABASE_FILE)
    with connection:
        connection.execute("DROP TABLE attestations")
    connection.close()
    assert log_of(tmp_path) == before
    with ChainLog(tmp_path) as log:
        assert log.attestation_timestamp(1) is None
