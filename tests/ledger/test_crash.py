"""Crash safety: a writer under load is killed with SIGKILL at random moments, again and again on
the same data directory. After every kill the ledger must open (which verifies every invariant),
hold every acknowledged transfer and attestation, hold each batch whole or not at all (so no linked
chain is half applied), and its balances must equal the sum of the stored transfers. At the end
the sealed log, exported, verifies and counts every stored attestation."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clearline.chain.audit import export_log, verify_export
from clearline.core.clock import ManualClock
from clearline.ledger import Ledger, TransferFlags
from clearline.ledger.store import DATABASE_FILE, PENDING_STATUS_PENDING, TRANSFER_BODY

WRITER = Path(__file__).with_name("crash_writer.py")
ACCOUNT_IDS = list(range(1, 9))
KILLS = 22
KILLS_SLOW = 40
SEED = 20_260_101
KILL_DELAY_SECONDS_MAX = 0.5
READY_TIMEOUT_SECONDS = 30.0
PENDING = int(TransferFlags.PENDING)
POST = int(TransferFlags.POST_PENDING_TRANSFER)
VOID = int(TransferFlags.VOID_PENDING_TRANSFER)


def amount_of(transfer_id: int) -> int:
    """The writer's rule (crash_writer.amount_of)."""
    return transfer_id % 1000 + 1


def digest_of(attestation_id: int) -> bytes:
    """The writer's rule (crash_writer.digest_of)."""
    return hashlib.sha256(str(attestation_id).encode()).digest()


@dataclass
class History:
    """What the writers said, across all runs."""

    acknowledged: set[int] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)
    chains: list[list[int]] = field(default_factory=list)
    in_flight_committed: int = 0
    in_flight_lost: int = 0
    batches_acknowledged: int = 0
    attested: set[int] = field(default_factory=set)


class Writer:
    """A crash_writer.py process and the lines it printed."""

    def __init__(self, data_dir: Path, run: int) -> None:
        self.lines: list[str] = []
        self.ready = threading.Event()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, str(WRITER), str(data_dir), str(run), str(SEED + run)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith('{"ready"'):
                self.ready.set()

    def kill(self) -> tuple[list[dict[str, Any]], str]:
        """SIGKILL it; return its complete messages and its stderr."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.reader.join()
        assert self.process.stderr is not None
        stderr = self.process.stderr.read()
        self.process.stdout.close()  # type: ignore[union-attr]
        self.process.stderr.close()
        assert self.process.returncode == -signal.SIGKILL, (
            f"the writer ended by itself ({self.process.returncode}):\n{stderr}"
        )
        messages = []
        for line in self.lines:
            if line.endswith("\n"):  # a line cut by the kill was never fully said
                messages.append(json.loads(line))
        return messages, stderr


def read_store(data_dir: Path) -> tuple[set[int], dict[int, list[int]]]:
    """Straight from the closed store: every transfer id, and balances summed from the transfer
    log and the two-phase states."""
    connection = sqlite3.connect(data_dir / DATABASE_FILE)
    try:
        statuses = dict(connection.execute("SELECT timestamp, status FROM pending_transfers"))
        ids: set[int] = set()
        balances: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for timestamp, id_blob, body in connection.execute(
            "SELECT timestamp, id, body FROM transfers"
        ):
            ids.add(int.from_bytes(id_blob, "big"))
            fields = TRANSFER_BODY.unpack(body)
            debit, credit = int.from_bytes(fields[0], "big"), int.from_bytes(fields[1], "big")
            amount, flags = fields[2], fields[9]
            if flags & PENDING:
                if statuses[timestamp] == PENDING_STATUS_PENDING:
                    balances[debit][0] += amount
                    balances[credit][2] += amount
            elif not flags & VOID:  # plain, or a post (which carries the posted amount)
                balances[debit][1] += amount
                balances[credit][3] += amount
        return ids, dict(balances)
    finally:
        connection.close()


def check_after_kill(data_dir: Path, messages: list[dict[str, Any]], history: History) -> None:
    intents = {m["intent"]: m for m in messages if "intent" in m}
    acks = {m["ack"]: m for m in messages if "ack" in m}
    acknowledged_now: list[int] = []
    for number, ack in acks.items():
        acknowledged_now.extend(ack["ok"])
        history.refused.update(ack["refused"])
        history.chains.extend(intents[number]["chains"])
        history.batches_acknowledged += 1
    history.acknowledged.update(acknowledged_now)
    in_flight = [intent for number, intent in intents.items() if number not in acks]
    assert len(in_flight) <= 1

    ledger = Ledger.open(data_dir, clock=ManualClock())  # verifies every invariant on the way
    try:
        found = ledger.lookup_transfers(acknowledged_now)
        assert [t.id for t in found] == acknowledged_now, "acknowledged transfers lost"
        for transfer in found:
            source = transfer.pending_id if transfer.flags & (POST | VOID) else transfer.id
            assert transfer.amount == amount_of(source), transfer
        for intent in in_flight:
            present = {t.id for t in ledger.lookup_transfers(intent["ok"])}
            assert present in (set(), set(intent["ok"])), "a batch was half applied"
            if present:
                history.in_flight_committed += 1
                history.chains.extend(intent["chains"])
            else:
                history.in_flight_lost += 1
            history.refused.update(intent["failing"])
        accounts = ledger.lookup_accounts(ACCOUNT_IDS)
        check_attestations(ledger, messages, history)
    finally:
        ledger.close()
    # Everything acknowledged by any run so far, checked against the raw store.
    stored_ids, summed = read_store(data_dir)
    missing = history.acknowledged - stored_ids
    assert not missing, f"acknowledged transfers lost: {sorted(missing)[:10]}"
    assert not history.refused & stored_ids, "a refused transfer or failed chain was stored"
    for chain in history.chains:
        assert {i in stored_ids for i in chain} == {True}, f"chain {chain} half applied"
    live = {
        a.id: [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
        for a in accounts
    }
    assert live == {i: summed.get(i, [0, 0, 0, 0]) for i in live}
    assert set(summed) <= set(live)  # no transfer before its accounts exist
    totals = [sum(balances[k] for balances in live.values()) for k in range(4)]
    assert totals[0] == totals[2] and totals[1] == totals[3]


def check_attestations(ledger: Ledger, messages: list[dict[str, Any]], history: History) -> None:
    """Every acknowledged attestation is stored with its digest; an unacknowledged batch is
    stored whole or not at all."""
    intents = {m["attest_intent"]: m["ids"] for m in messages if "attest_intent" in m}
    acked = {m["attest_ack"] for m in messages if "attest_ack" in m}
    for number, ids in intents.items():
        found = ledger.lookup_attestations(ids)
        if number in acked:
            assert [a.id for a in found] == ids, "acknowledged attestations lost"
        else:
            assert len(found) in (0, len(ids)), "an attestation batch was half applied"
        assert all(a.digest == digest_of(a.id) for a in found)
        history.attested.update(a.id for a in found)
    stored = ledger.lookup_attestations(sorted(history.attested))
    assert len(stored) == len(history.attested), "an attestation vanished after a later kill"


def run_kills(data_dir: Path, kills: int) -> History:
    chooser = random.Random(SEED)
    history = History()
    for run in range(1, kills + 1):
        writer = Writer(data_dir, run)
        if chooser.random() < 0.15:
            time.sleep(chooser.uniform(0, 0.3))  # sometimes during start-up and recovery
        else:
            if not writer.ready.wait(READY_TIMEOUT_SECONDS):
                writer.process.kill()
                writer.process.wait()
                raise AssertionError(f"writer run {run} never became ready")
            time.sleep(chooser.uniform(0, KILL_DELAY_SECONDS_MAX))
        messages, _ = writer.kill()
        check_after_kill(data_dir, messages, history)
    return history


def test_sigkill_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    history = run_kills(tmp_path, KILLS)
    assert history.batches_acknowledged > KILLS, "the writers barely wrote anything"
    assert len(history.acknowledged) > 1_000
    assert history.chains, "no linked chain was ever committed"
    assert len(history.attested) > 100, "the writers barely attested anything"
    export_log(tmp_path, tmp_path / "export")
    report = verify_export(tmp_path / "export")  # the log survived every kill, leaf for leaf
    assert report.attestations == len(history.attested)


@pytest.mark.slow
def test_sigkill_under_load_many_times(tmp_path: Path) -> None:
    history = run_kills(tmp_path, KILLS_SLOW)
    # Over this many kills some land while a batch is in flight.
    assert history.in_flight_committed + history.in_flight_lost > 0
