"""Hashing a group's leaves and tree nodes on another core, off the ledger writer's path.

Why: SHA-256 through `hashlib` costs about 0.7 µs a call, mostly per-call overhead, and a group of
8,190 transfers needs about 16,000 calls (a leaf hash and about one node hash per leaf): some
15 ms on the writer thread, a quarter of a group's time at batch 8,190. Python threads cannot
share that work (hashlib keeps the GIL for inputs this small), so a worker process does it while
the writer decides and commits the next group.

Guarantees:
- One worker process, `python -m clearline.chain.hash_worker` (`hash_worker.py`), started on the
  first submit with `subprocess`, never `multiprocessing`: the child's `__main__` is our module,
  so it never imports or re-runs the user's program (a script without a main guard runs once),
  and nothing is forked from a process that has threads. It is found on `sys.path` first at the
  directory this `clearline` package was imported from, with `-P`, so the user's working
  directory cannot shadow it.
- It talks over its standard input and output (the frames in `hash_worker`): a sender thread
  writes requests, so a submit never waits for the worker to read, and a receiver thread reads
  results as they come, so the worker never waits for the ledger to collect them.
- Groups are processed in submission order; `submit(…, reset=(size, frontier))` first sets the
  worker's state (after a reload, or the first group), and the worker refuses a group that does
  not start where its state ends, so results can never be applied out of order.
- The worker never outlives the ledger's process (it exits when its input pipe closes, and polls
  for its parent's death; see `hash_worker`), and holds none of the parent's standard streams.
  It runs in a process group of its own, so Ctrl-C in a terminal interrupts the ledger's program
  (which may go on, or close the ledger) without killing the worker under it, even mid-start.
- Failure is typed and bounded: a worker that dies (or cannot start) fails every group in flight
  with `HashWorkerDied`, a refusal fails that group with `HashWorkerRefused`, and a wait longer
  than `RESULT_TIMEOUT_SECONDS` kills the worker and raises `HashWorkerUnresponsive`; nothing
  waits forever. After any failure the hasher starts a fresh worker on the next submit.
- `close` stops the worker cleanly: unsent requests are dropped, its input pipe is closed, it
  exits by itself (killed after `SHUTDOWN_TIMEOUT_SECONDS`) and both threads end.
- The caller owns durability: results are only data. `discard` forgets work whose leaves were
  rolled back.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import IO

import clearline
from clearline.chain import hash_worker
from clearline.chain.hash_worker import GroupRequest, HashedGroup
from clearline.core.errors import ClearlineError

__all__ = [
    "HashWorkerDied",
    "HashWorkerError",
    "HashWorkerRefused",
    "HashWorkerUnresponsive",
    "HashedGroup",
    "Hasher",
]

WORKER_MODULE = "clearline.chain.hash_worker"
RESULT_TIMEOUT_SECONDS = 60.0
"""The longest `drain` waits for one group (about 15 ms of work) before it gives up on the
worker: generous, for a machine paging or starved of CPU."""
SHUTDOWN_TIMEOUT_SECONDS = 5.0
PIPE_BYTES = 1 << 20
"""Pipe buffers asked for (Linux's default ceiling): a group's result (about 280 KB at 8,190
leaves) fits, so the worker goes on without waiting for the receiver thread."""


class HashWorkerError(ClearlineError):
    """The hashing worker did not hash a group; the leaves are stored, so the caller hashes them
    inline."""

    code = "hash_worker_error"


class HashWorkerDied(HashWorkerError):
    """The worker process ended, or could not be started, with groups in flight."""

    code = "hash_worker_died"


class HashWorkerRefused(HashWorkerError):
    """The worker refused a group (it does not start where the worker's tree ends)."""

    code = "hash_worker_refused"


class HashWorkerUnresponsive(HashWorkerError):
    """No result within `RESULT_TIMEOUT_SECONDS`; the worker was killed."""

    code = "hash_worker_unresponsive"


def worker_command() -> list[str]:
    """The command that starts the worker with this process's interpreter."""
    if not sys.executable:
        raise HashWorkerDied("no Python interpreter to start the hashing worker with")
    return [sys.executable, "-P", "-m", WORKER_MODULE, str(os.getpid())]


def _worker_environment() -> dict[str, str]:
    """This environment with the directory `clearline` was imported from first on PYTHONPATH."""
    package_root = str(Path(clearline.__file__).resolve().parent.parent)
    inherited = os.environ.get("PYTHONPATH")
    path = package_root if not inherited else package_root + os.pathsep + inherited
    return {**os.environ, "PYTHONPATH": path}


def _widen_pipe(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, AttributeError):  # only a hint (Linux, up to its limit)
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class _Worker:
    """One running worker process and the two threads that feed and read it."""

    def __init__(self) -> None:
        try:
            self.process = subprocess.Popen(
                worker_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_worker_environment(),
                process_group=0,  # a terminal's Ctrl-C is for the ledger's process, not this one
            )
        except OSError as error:
            raise HashWorkerDied(f"cannot start the hashing worker: {error}") from error
        assert self.process.stdin is not None and self.process.stdout is not None
        self._input, self._output = self.process.stdin, self.process.stdout
        _widen_pipe(self._input)
        _widen_pipe(self._output)
        self._outbox: queue.SimpleQueue[list[bytes] | None] = queue.SimpleQueue()
        self._awaiting: deque[Future[HashedGroup]] = deque()
        self._lock = threading.Lock()  # `_awaiting` and `_failure`
        self._failure: HashWorkerError | None = None
        self._closing = False
        self._sender = threading.Thread(target=self._send, name="hasher-send", daemon=True)
        self._receiver = threading.Thread(target=self._receive, name="hasher-receive", daemon=True)
        self._sender.start()
        self._receiver.start()

    def submit(self, frame: list[bytes]) -> Future[HashedGroup]:
        future: Future[HashedGroup] = Future()
        future.set_running_or_notify_cancel()  # results come in order; none is skipped
        with self._lock:
            if self._failure is not None:
                future.set_exception(self._failure)
                return future
            self._awaiting.append(future)
        self._outbox.put(frame)
        return future

    def _send(self) -> None:
        while (frame := self._outbox.get()) is not None:
            if self._closing:
                continue  # drop what was not sent: the caller discarded it
            try:
                self._input.writelines(frame)
                self._input.flush()
            except (OSError, ValueError):  # the worker is gone; the receiver reports it
                break
        with contextlib.suppress(OSError, ValueError):
            self._input.close()  # end of input: the worker exits

    def _receive(self) -> None:
        try:
            while (frame := hash_worker.read_frame(self._output)) is not None:
                kind, payload = frame
                with self._lock:
                    future = self._awaiting.popleft()
                if kind == hash_worker.RESULT:
                    future.set_result(hash_worker.decode_result(payload))
                else:
                    future.set_exception(HashWorkerRefused(payload.decode("utf-8", "replace")))
        except (OSError, ValueError, EOFError, IndexError) as error:
            self._fail(HashWorkerDied(f"the hashing worker's output broke off: {error}"))
            return
        self._fail(self._died())

    def _died(self) -> HashWorkerDied:
        try:
            status = self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return HashWorkerDied("the hashing worker closed its output but did not exit")
        return HashWorkerDied(f"the hashing worker exited with status {status}")

    def _fail(self, error: HashWorkerError) -> None:
        """Fail every group in flight and any submitted later."""
        with self._lock:
            self._failure = self._failure or error
            failed, self._awaiting = list(self._awaiting), deque()
        for future in failed:
            future.set_exception(self._failure)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()

    def close(self) -> None:
        """Drop unsent requests, end the worker's input, wait for it to exit (or kill it)."""
        self._closing = True
        self._outbox.put(None)
        self._sender.join(SHUTDOWN_TIMEOUT_SECONDS)
        try:
            self.process.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            self.process.wait()
        self._receiver.join(SHUTDOWN_TIMEOUT_SECONDS)
        self._output.close()
        self._fail(HashWorkerDied("the hasher was closed"))


class Hasher:
    """The parent's handle on the worker: submit groups, collect results in order."""

    def __init__(self) -> None:
        self._worker: _Worker | None = None
        self._pending: deque[Future[HashedGroup]] = deque()

    def submit(
        self,
        first_index: int,
        reset: tuple[int, list[bytes]] | None,
        rows: bytes,
        inserts: Sequence[tuple[int, bytes]],
    ) -> None:
        frame = hash_worker.request_parts(GroupRequest(first_index, reset, rows, list(inserts)))
        if self._worker is None:
            self._worker = _Worker()
        self._pending.append(self._worker.submit(frame))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    @property
    def worker_pid(self) -> int | None:
        """The running worker's process id (None before the first submit or after a failure)."""
        return self._worker.process.pid if self._worker is not None else None

    def ready(self) -> list[HashedGroup]:
        """The results finished so far, oldest first (stops at the first unfinished one)."""
        done = []
        while self._pending and self._pending[0].done():
            done.append(self._take())
        return done

    def drain(self) -> list[HashedGroup]:
        """Every result, waiting for those in flight (at most `RESULT_TIMEOUT_SECONDS` each)."""
        return [self._take() for _ in range(len(self._pending))]

    def _take(self) -> HashedGroup:
        future = self._pending.popleft()
        try:
            return future.result(timeout=RESULT_TIMEOUT_SECONDS)
        except FutureTimeout:
            if self._worker is not None:
                self._worker.kill()
            self.close()
            raise HashWorkerUnresponsive(
                f"no hashing result within {RESULT_TIMEOUT_SECONDS} s; the worker was killed"
            ) from None
        except BaseException:
            self.close()
            raise

    def discard(self) -> None:
        """Forget the work in flight (its leaves were rolled back); the next submit resets."""
        self._pending.clear()

    def close(self) -> None:
        self.discard()
        if self._worker is not None:
            worker, self._worker = self._worker, None
            worker.close()
