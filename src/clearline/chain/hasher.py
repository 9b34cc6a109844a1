"""Hashing a group's leaves and tree nodes on another core, off the ledger writer's path.

Why: SHA-256 through `hashlib` costs about 0.7 µs a call, mostly per-call overhead, and a group of
8,190 transfers needs about 16,000 calls (a leaf hash and about one node hash per leaf): some
15 ms on the writer thread, a quarter of a group's time at batch 8,190. Python threads cannot
share that work (hashlib keeps the GIL for inputs this small), so a worker process does it while
the writer decides and commits the next group.

Guarantees:
- One worker process (spawned, not forked: the ledger has threads) keeps the tree state it
  extends: `submit` hands it the group's packed transfer rows and the leaf hashes of its other
  events by offset, in log order, and gets back the new frontier and, per tier, the hashes of the
  nodes completed, exactly what `tiles.append_leaves` returns inline (a test checks it).
- Groups are processed in submission order; `submit(…, reset=(size, frontier))` first sets the
  worker's state (after a reload, or the first group), and the worker refuses a group that does
  not start where its state ends, so results can never be applied out of order.
- The worker never outlives the ledger's process: it exits within `PARENT_POLL_SECONDS` of its
  parent's death (even a SIGKILL, which runs no cleanup), and it holds no copy of the parent's
  standard streams (they point to /dev/null), so a process reading the parent's output sees it end
  when the parent does.
- The caller owns durability: results are only data. `discard` forgets work whose leaves were
  rolled back; any worker failure surfaces as an exception from `ready`/`drain`, after which the
  hasher starts a fresh worker on the next submit.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from clearline.chain import tiles

ROW_BYTES = 132
"""`store.TRANSFER_ROW.size` (checked in `tiles`)."""
PARENT_POLL_SECONDS = 0.2


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)  # the ledger's process is gone: nothing here is worth finishing


def _worker_start(parent_pid: int) -> None:
    """Runs first in the worker: detach from the parent's streams, die with the parent."""
    null = os.open(os.devnull, os.O_RDWR)
    for stream in (0, 1, 2):
        os.dup2(null, stream)
    os.close(null)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


@dataclass(frozen=True, slots=True)
class HashedGroup:
    """A group's hashing result: the leaves [first_index, size), the frontier after them, and per
    tier the concatenated hashes of the nodes completed at that tier's level, left to right."""

    first_index: int
    size: int
    frontier: list[bytes]
    completed: dict[int, bytes]


_state: tuple[int, list[bytes]] | None = None
"""The worker's tree state: size and frontier (in the worker process only)."""


def hash_group(
    first_index: int,
    reset: tuple[int, list[bytes]] | None,
    rows: bytes,
    inserts: Sequence[tuple[int, bytes]],
) -> HashedGroup:
    """Runs in the worker: hash the leaves of packed `rows` with `inserts` (offset in the group,
    leaf hash) placed among them, extend the tree state, return what changed."""
    global _state
    if reset is not None:
        _state = reset
    if _state is None or _state[0] != first_index:
        raise RuntimeError(f"hasher state is not at leaf {first_index}")
    size, frontier = _state
    hashes = tiles.transfer_leaf_hashes(
        [rows[start : start + ROW_BYTES] for start in range(0, len(rows), ROW_BYTES)]
    )
    for offset, leaf_hash in inserts:  # ascending offsets in the merged group
        hashes.insert(offset, leaf_hash)
    new_frontier, completed = tiles.append_leaves(size, frontier, hashes)
    _state = (size + len(hashes), new_frontier)
    return HashedGroup(
        first_index,
        size + len(hashes),
        new_frontier,
        {tier: b"".join(level) for tier, level in completed.items()},
    )


class Hasher:
    """The parent's handle on the worker: submit groups, collect results in order."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[Future[HashedGroup]] = deque()

    def submit(
        self,
        first_index: int,
        reset: tuple[int, list[bytes]] | None,
        rows: bytes,
        inserts: Sequence[tuple[int, bytes]],
    ) -> None:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=context,
                initializer=_worker_start,
                initargs=(os.getpid(),),
            )
        try:
            future = self._pool.submit(hash_group, first_index, reset, rows, list(inserts))
        except BaseException:
            self.close()
            raise
        self._pending.append(future)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def ready(self) -> list[HashedGroup]:
        """The results finished so far, oldest first (stops at the first unfinished one)."""
        done = []
        while self._pending and self._pending[0].done():
            done.append(self._take())
        return done

    def drain(self) -> list[HashedGroup]:
        """Every result, waiting for those in flight."""
        return [self._take() for _ in range(len(self._pending))]

    def _take(self) -> HashedGroup:
        future = self._pending.popleft()
        try:
            return future.result()
        except BaseException:
            self.discard()
            self._stop()
            raise

    def discard(self) -> None:
        """Forget the work in flight (its leaves were rolled back); the next submit resets."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self.discard()
        self._stop()
