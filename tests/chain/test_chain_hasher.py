"""Hashing in a worker process: the same tree as inline hashing, tiles written by a later
transaction, and the tree rebuilt from the stored leaves after an aborted group, a dead worker or
a crash that left the tree behind the leaves."""

from __future__ import annotations

import os
import random
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path

import pytest

from clearline.chain import hash_worker, hasher, merkle, tiles
from clearline.chain.audit import export_log, verify_export
from clearline.chain.log import (
    HASHER_GROUP_LEAVES_MIN,
    HASHER_IN_FLIGHT_MAX,
    ChainLog,
    SealingHook,
)
from clearline.chain.merkle import NodeId
from clearline.chain.notes import parse_checkpoint, parse_note
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, Transfer, TransferFlags
from clearline.ledger.events import HookTransaction, LedgerEvent
from clearline.ledger.store import TRANSFER_ROW

ORIGIN = "clearline.example/node-h"
GROUP = HASHER_GROUP_LEAVES_MIN + 3


def _rows(rng: random.Random, first_timestamp: int, count: int) -> list[bytes]:
    return [
        TRANSFER_ROW.pack(
            first_timestamp + k,
            rng.randbytes(16),
            *(rng.randbytes(16) for _ in range(2)),
            7,
            rng.randbytes(16),
            rng.randbytes(16),
            0,
            0,
            0,
            1,
            0,
            0,
            0,
        )
        for k in range(count)
    ]


def test_the_worker_function_extends_the_tree_like_inline_hashing() -> None:
    rng = random.Random(5)
    size, frontier = 0, []
    state: hash_worker.TreeState | None = None
    reset: hash_worker.TreeState | None = (0, [])
    for count in (1, 17, 300, 16, 5):
        rows = _rows(rng, size + 1, count)
        inserts = [(0, merkle.leaf_hash(b"first")), (count // 2 + 1, merkle.leaf_hash(b"middle"))]
        request = hash_worker.GroupRequest(size, reset, b"".join(rows), inserts)
        result = hash_worker.hash_group(state, request)
        hashes = tiles.transfer_leaf_hashes(rows)
        for offset, leaf_hash in inserts:
            hashes.insert(offset, leaf_hash)
        new_frontier, completed = tiles.append_leaves(size, frontier, hashes)
        assert result.first_index == size and result.size == size + len(hashes)
        assert result.frontier == new_frontier
        assert result.completed == {t: b"".join(h) for t, h in completed.items()}
        assert hash_worker.decode_result(hash_worker.encode_result(result)[5:]) == result
        assert hash_worker.decode_request(hash_worker.encode_request(request)[5:]) == request
        size, frontier = result.size, new_frontier
        state, reset = (result.size, result.frontier), None  # the worker keeps its state
    with pytest.raises(hash_worker.GroupRefused, match="not at leaf"):
        hash_worker.hash_group(state, hash_worker.GroupRequest(size + 1, None, b"", []))


def test_the_worker_process_answers_refuses_and_exits_when_closed() -> None:
    rng = random.Random(6)
    rows = b"".join(_rows(rng, 1, 40))
    worker = hasher.Hasher()
    try:
        worker.submit(0, (0, []), rows, [])
        worker.submit(40, None, rows, [(3, merkle.leaf_hash(b"event"))])
        first, second = worker.drain()
        assert (first.size, second.first_index, second.size) == (40, 40, 81)
        process_id = worker.worker_pid
        worker.submit(7, None, rows, [])  # not where the worker's tree ends
        with pytest.raises(hasher.HashWorkerRefused, match="not at leaf 7") as refused:
            worker.drain()
        assert refused.value.code == "hash_worker_refused"
        assert worker.worker_pid is None and not _running(process_id or 0)  # stopped cleanly
        worker.submit(0, (0, []), rows, [])  # a fresh worker
        assert worker.drain()[0].size == 40
        process_id = worker.worker_pid
    finally:
        worker.close()
    assert worker.worker_pid is None and not _running(process_id or 0)


def test_a_killed_worker_fails_its_groups_with_a_typed_error_not_a_hang() -> None:
    rows = b"".join(_rows(random.Random(7), 1, 40))
    worker = hasher.Hasher()
    try:
        worker.submit(0, (0, []), rows, [])
        assert worker.drain()[0].size == 40
        assert worker.worker_pid is not None
        os.kill(worker.worker_pid, signal.SIGKILL)
        worker.submit(40, None, rows, [])
        with pytest.raises(hasher.HashWorkerDied, match=r"status -9|broke off") as died:
            worker.drain()
        assert died.value.code == "hash_worker_died" and worker.in_flight == 0
    finally:
        worker.close()


def transfers(first_id: int, count: int, *, pending_every: int = 0) -> list[Transfer]:
    return [
        Transfer(
            id=first_id + n,
            debit_account_id=1 + n % 3,
            credit_account_id=1 + (n + 1) % 3,
            amount=n + 1,
            code=1,
            flags=TransferFlags.PENDING if pending_every and n % pending_every == 0 else 0,
            timeout=1 if pending_every and n % pending_every == 0 else 0,
        )
        for n in range(count)
    ]


class Failing:
    """A raw hook after the sealer that can abort the next group."""

    def __init__(self) -> None:
        self.fail = False

    def __call__(
        self, transaction: HookTransaction, rows: Sequence[bytes], events: Sequence[LedgerEvent]
    ) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("abort this group")


def check_log(path: Path, leaves: int) -> None:
    with ChainLog(path) as log:
        assert log.size() == leaves
        hashes = log.read_nodes([NodeId(0, i) for i in range(leaves)])
        assert hashes == [merkle.leaf_hash(leaf) for leaf in log.leaves()]
        for note in log.checkpoint_notes():
            checkpoint = parse_checkpoint(parse_note(note).text)
            assert checkpoint.root == merkle.root_hash(hashes[: checkpoint.size])
    export_log(path, path.parent / (path.name + "-export"))
    assert verify_export(path.parent / (path.name + "-export")).events == leaves


def run(path: Path, hook: SealingHook, failing: Failing, clock: ManualClock) -> int:
    """Groups big enough for the worker, one aborted, expiries among transfers; returns leaves."""
    ledger = Ledger.open(path, clock=clock, raw_hooks=[hook.seal_rows, failing], sealed=False)
    try:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2, 3)])
        next_id = 10
        for group in range(5):
            if group == 2:
                failing.fail = True
                with pytest.raises(RuntimeError, match="abort"):
                    ledger.create_transfers(transfers(next_id, GROUP))
            ledger.create_transfers(transfers(next_id, GROUP, pending_every=100))
            next_id += GROUP
            clock.advance(nanoseconds=150_000_000)  # some groups sign, some do not
        clock.advance(seconds=2)
        ledger.create_transfers(transfers(next_id, GROUP))  # the holds expire in this group
    finally:
        ledger.close()
        hook.seal_pending_in(path)
        hook.close()
    return 3 + 6 * GROUP + len(range(0, GROUP, 100)) * 5


def test_worker_hashing_gives_the_same_log_as_inline_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed_by_worker: list[int] = []
    take = hasher.Hasher._take

    def counted(self: hasher.Hasher) -> hasher.HashedGroup:
        group = take(self)
        hashed_by_worker.append(group.size - group.first_index)
        return group

    monkeypatch.setattr(hasher.Hasher, "_take", counted)
    logs = {}
    for name, with_worker in (("inline", False), ("worker", True)):
        path = tmp_path / name
        clock = ManualClock()
        hook = SealingHook.open(
            path, ORIGIN, ml_dsa=False, clock=clock, checkpoint_interval_ms=200, hasher=with_worker
        )
        leaves = run(path, hook, Failing(), clock)
        check_log(path, leaves)
        with ChainLog(path) as log:
            logs[name] = (log.leaves(), log.read_nodes([NodeId(0, i) for i in range(leaves)]))
    assert logs["inline"] == logs["worker"]
    assert hashed_by_worker, "no group was hashed by the worker: it fell back inline"


def test_a_dead_worker_is_replaced_by_inline_hashing(tmp_path: Path) -> None:
    clock = ManualClock()
    hook = SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, clock=clock, hasher=True)
    ledger = Ledger.open(tmp_path, clock=clock, raw_hooks=[hook.seal_rows], sealed=False)
    try:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2, 3)])
        ledger.create_transfers(transfers(10, GROUP))
        assert hook._hasher is not None and hook._hasher.worker_pid is not None
        os.kill(hook._hasher.worker_pid, signal.SIGKILL)
        ledger.create_transfers(transfers(10 + GROUP, GROUP))
        ledger.create_transfers(transfers(10 + 2 * GROUP, GROUP))
    finally:
        ledger.close()
        hook.seal_pending_in(tmp_path)
        hook.close()
    check_log(tmp_path, 3 + 3 * GROUP)


def test_a_crash_with_the_tree_behind_the_leaves_is_caught_up_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, crashed = tmp_path / "node", tmp_path / "crashed"
    monkeypatch.setattr(hasher.Hasher, "ready", lambda self: [])  # results never written
    clock = ManualClock()
    ledger = Ledger.open(node, clock=clock)  # the default sealer, with its worker
    try:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2, 3)])
        for group in range(3):
            ledger.create_transfers(transfers(10 + group * GROUP, GROUP))
        shutil.copytree(node, crashed)  # between commits: what a crash would leave
    finally:
        ledger.close()
    monkeypatch.undo()
    with ChainLog(crashed) as log:
        assert log.size() < 3 + 3 * GROUP  # the tree trails the leaves
    Ledger.open(crashed, clock=ManualClock(1 << 62)).close()
    check_log(crashed, 3 + 3 * GROUP)
    check_log(node, 3 + 3 * GROUP)


def test_the_writer_waits_for_the_worker_beyond_the_in_flight_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hasher.Hasher, "ready", lambda self: [])  # as if the worker never kept up
    clock = ManualClock()
    hook = SealingHook.open(tmp_path, ORIGIN, ml_dsa=False, clock=clock, hasher=True)
    ledger = Ledger.open(tmp_path, clock=clock, raw_hooks=[hook.seal_rows], sealed=False)
    in_flight = []
    try:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2, 3)])
        for group in range(2 * HASHER_IN_FLIGHT_MAX + 1):
            ledger.create_transfers(transfers(10 + group * GROUP, GROUP))
            assert hook._hasher is not None
            in_flight.append(hook._hasher.in_flight)
    finally:
        ledger.close()
        hook.seal_pending_in(tmp_path)
        hook.close()
    assert max(in_flight) == HASHER_IN_FLIGHT_MAX and in_flight.count(1) == 3
    check_log(tmp_path, 3 + (2 * HASHER_IN_FLIGHT_MAX + 1) * GROUP)


KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, Transfer
ledger = Ledger.open(Path(sys.argv[1]), clock=ManualClock())
ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
ledger.create_transfers([
    Transfer(id=10 + n, debit_account_id=1, credit_account_id=2, amount=1, code=1)
    for n in range(2_000)
])
print(" ".join(str(child) for child in os.popen(f"pgrep -P {os.getpid()}").read().split()))
sys.stdout.flush()
time.sleep(60)
"""


def test_the_worker_dies_with_a_killed_ledger_process(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path / "node")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    children = [int(pid) for pid in process.stdout.readline().split()]
    assert children, "the ledger process started no worker"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.stdout.read() == ""  # EOF: no child holds the parent's stdout
    deadline = time.monotonic() + 10
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if os.path.exists(f"/proc/{pid}") and _running(pid)]
    assert not alive, f"workers outlived their ledger: {alive}"


INTERRUPTED_WRITER = """
import os, signal, sys
from pathlib import Path
from clearline.chain import hasher
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, Transfer
hashed = []
take = hasher.Hasher._take
def counted(self):
    try:
        group = take(self)
    except Exception as error:
        hashed.append(type(error).__name__)
        raise
    hashed.append(group.size)
    return group
hasher.Hasher._take = counted
with Ledger.open(Path(sys.argv[1]), clock=ManualClock()) as ledger:
    ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
    for first in (10, 10_000):
        ledger.create_transfers([
            Transfer(id=first + n, debit_account_id=1, credit_account_id=2, amount=1, code=1)
            for n in range(2_000)
        ])
        if first == 10:
            try:
                os.killpg(os.getpgid(0), signal.SIGINT)  # Ctrl-C: the whole foreground group
                signal.pause()
            except KeyboardInterrupt:
                print("interrupted")
print(hashed)
"""


def test_ctrl_c_interrupts_the_ledger_program_not_its_worker(tmp_path: Path) -> None:
    import subprocess
    import sys

    finished = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_WRITER, str(tmp_path / "node")],
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == ["interrupted", "[2002, 4002]"], finished.stdout


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
