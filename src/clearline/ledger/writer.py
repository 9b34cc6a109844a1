"""The ledger's single writer: one thread that owns the store and the live state.

Guarantees:
- Requests from any number of threads (or async tasks) are queued and run one at a time on the
  writer thread. Consecutive write requests (accounts, transfers, attestations) are
  group-committed: decided together and made durable in one SQLite transaction (at most
  GROUP_EVENTS_MAX events, waiting at most `group_wait_seconds` for more). Each caller's future
  is resolved only after that transaction has committed, or with the error that aborted it.
- Reads (`read`) run on the writer thread between groups, so they see exactly the committed state.
- A group that the store refuses (a replayed id hitting a unique index) is rolled back in the
  database and in memory and decided again with the store checked (`Engine.begin_group(True)`).
- An unexpected error on the writer thread breaks the writer: the group in flight and everything
  queued fail with `LedgerBroken`, and every later request is refused, because the live state can
  no longer be trusted. Nothing after the last acknowledged commit was written.
- `close()` drains the queue, checkpoints balances, lets the sealer sign the uncovered tail, and
  releases the store and the sealer.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from clearline.core.clock import Clock
from clearline.core.errors import InvalidInput, InvariantViolation
from clearline.ledger import store as st
from clearline.ledger.engine import Engine
from clearline.ledger.events import CommitHook, LedgerEventKind, RowsHook, Sealer
from clearline.ledger.types import BATCH_EVENTS_MAX

GROUP_EVENTS_MAX = BATCH_EVENTS_MAX
"""Most events decided and committed together (a single larger call is never split)."""
GROUP_WAIT_MS_MAX = 50
CHECKPOINT_INTERVAL_COMMITS = 256
"""Balances are checkpointed to the accounts table every this many commits, and on close."""
EXPIRY_POLL_SECONDS_MAX = 1.0
WRITE_KINDS = frozenset(("accounts", "transfers", "attestations"))
"""Request kinds that are group-committed; the others ("call", "seal", "stop") run alone."""

T = TypeVar("T")


class _Recheck(Exception):
    """The fast path refused an event whose id is known: decide the group again, checked."""


class LedgerClosed(InvalidInput):
    code = "ledger_closed"


class LedgerBroken(InvariantViolation):
    """The writer met an unexpected error; the ledger refuses further calls until reopened."""

    code = "ledger_broken"


@dataclass
class Request:
    kind: str  # one of WRITE_KINDS, or "call" | "seal" | "stop"
    events: Sequence[Any] = ()
    call: Callable[[], Any] | None = None
    future: Future[Any] = field(default_factory=Future)


@dataclass
class LedgerStats:
    """Counters since open: commits, events committed, and commit latency."""

    commits: int = 0
    events: int = 0
    groups_retried: int = 0
    commit_seconds_total: float = 0.0
    largest_group: int = 0


def in_transaction(store: st.Store, call: Callable[[], object]) -> None:
    """Run `call` inside a transaction of `store`: committed if it returns, rolled back if not."""
    store.begin()
    try:
        call()
        store.commit()
    except BaseException:
        store.rollback()
        raise


class Writer:
    """The writer thread and its queue. `Ledger` builds one after recovering the store."""

    def __init__(
        self,
        store: st.Store,
        clock: Clock,
        engine: Engine,
        *,
        group_wait_seconds: float,
        hooks: Iterable[CommitHook],
        raw_hooks: Iterable[RowsHook],
        sealer: Sealer | None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._engine = engine
        self._group_wait_seconds = group_wait_seconds
        self._hooks: list[CommitHook] = list(hooks)
        self._raw_hooks: list[RowsHook] = list(raw_hooks)
        self._sealer = sealer
        self.stats = LedgerStats()
        self._commits_since_checkpoint = 0
        self.queue: queue.SimpleQueue[Request] = queue.SimpleQueue()
        self._held: Request | None = None
        self._broken: LedgerBroken | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name="clearline-ledger-writer", daemon=True
        )
        self._thread.start()

    # -- the callers' side ----------------------------------------------------------------------

    def submit(self, request: Request) -> Future[Any]:
        if self._closed:
            raise LedgerClosed("the ledger is closed; open it again")
        if self._broken is not None:
            raise self._broken
        self.queue.put(request)
        if self._broken is not None and not self._thread.is_alive():
            self._break(self._broken, [])  # the writer died between the check and the put
        return request.future

    def read(self, call: Callable[[], T]) -> T:
        result: T = self.submit(Request("call", call=call)).result()
        return result

    def close(self) -> None:
        """Finish queued work, checkpoint balances, release the store. Safe to call twice."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self.queue.put(Request("stop"))
        self._thread.join()
        try:
            if self._broken is None:  # a broken writer's live state is not checkpointed
                self._checkpoint()
                self.seal_tail(force=True)
            else:
                self._store.rollback()
        finally:
            try:
                self._store.close()
            finally:
                if self._sealer is not None:
                    self._sealer.close()

    # -- the writer thread ----------------------------------------------------------------------

    def _next(self) -> Request:
        if self._held is not None:
            request, self._held = self._held, None
            return request
        while True:
            heap = self._engine.expiry_heap
            seal_due_ns = self._sealer.seal_due_ns() if self._sealer is not None else None
            dues = [due for due in (heap[0][0] if heap else None, seal_due_ns) if due is not None]
            if not dues:
                return self.queue.get()
            due_seconds = (min(dues) - self._clock.now_ns()) / 1e9
            try:
                return self.queue.get(timeout=min(max(due_seconds, 0.001), EXPIRY_POLL_SECONDS_MAX))
            except queue.Empty:
                now_ns = self._clock.now_ns()
                if heap and heap[0][0] <= now_ns:
                    return Request("transfers", [])
                if seal_due_ns is not None and seal_due_ns <= now_ns:
                    return Request("seal")

    def _run(self) -> None:
        group: list[Request] = []
        try:
            while True:
                request = self._next()
                if request.kind == "stop":
                    request.future.set_result(None)
                    return
                group = [request]
                if request.kind == "call":
                    self._run_call(request)
                    continue
                if request.kind == "seal":
                    self.seal_tail(force=False)
                    request.future.set_result(None)
                    continue
                group = self._gather(request)
                self._commit(group)
                group = []
        except BaseException as error:  # a bug: the live state can no longer be trusted
            self._break(error, group)

    def _break(self, error: BaseException, group: list[Request]) -> None:
        """Fail the group in flight and everything queued, and refuse every later call."""
        self._broken = LedgerBroken(
            f"the ledger's writer stopped on an unexpected error ({error!r}); nothing after the "
            "last acknowledged commit was written; close and reopen the ledger"
        )
        self._broken.__cause__ = error
        waiting = [*group, *([self._held] if self._held else [])]
        self._held = None
        while True:
            try:
                waiting.append(self.queue.get_nowait())
            except queue.Empty:
                break
        for request in waiting:
            if not request.future.done():
                if request.kind == "stop":
                    request.future.set_result(None)
                else:
                    request.future.set_exception(self._broken)

    def _run_call(self, request: Request) -> None:
        assert request.call is not None
        try:
            request.future.set_result(request.call())
        except BaseException as error:
            request.future.set_exception(error)

    def _gather(self, first: Request) -> list[Request]:
        group = [first]
        events = len(first.events)
        deadline = time.monotonic() + self._group_wait_seconds
        while events < GROUP_EVENTS_MAX:
            try:
                remaining = deadline - time.monotonic()
                request = (
                    self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                )
            except queue.Empty:
                break
            if request.kind not in WRITE_KINDS or events + len(request.events) > GROUP_EVENTS_MAX:
                self._held = request
                break
            group.append(request)
            events += len(request.events)
        return group

    def _commit(self, group: list[Request]) -> None:
        engine, store = self._engine, self._store
        started = time.perf_counter()
        for check_store in (False, True):
            engine.begin_group(check_store)
            try:
                results = [
                    engine.run_transfers(r.events)
                    if r.kind == "transfers"
                    else engine.run_accounts(r.events)
                    if r.kind == "accounts"
                    else engine.run_attestations(r.events)
                    for r in group
                ]
                if engine.refused_ids and engine.known_among(engine.refused_ids):
                    raise _Recheck
                store.begin()
                store.insert_transfers(engine.out.transfers)
                self._write(engine)
                store.commit()
            except (sqlite3.IntegrityError, _Recheck) as error:
                self._abandon()
                if check_store:
                    self._fail(group, InvariantViolation(f"ledger store rejected a group: {error}"))
                    return
                self.stats.groups_retried += 1
                continue
            except BaseException as error:
                self._abandon()
                self._fail(group, error)
                return
            engine.commit_group()
            self._record_commit(group, started)
            for request, request_results in zip(group, results, strict=True):
                request.future.set_result(request_results)
            return

    def _abandon(self) -> None:
        """Roll the group back in the database and in memory."""
        self._store.rollback()
        self._engine.rollback_group()

    def _write(self, engine: Engine) -> None:
        out, store = engine.out, self._store
        if out.accounts:
            store.insert_accounts(out.accounts)
        if engine.attestation_rows:
            store.insert_attestations(engine.attestation_rows)
        if out.pending_new:
            store.insert_pending(out.pending_new)
        if out.pending_resolved:
            store.resolve_pending(out.pending_resolved)
        if out.refs:
            store.insert_refs(out.refs)
        if out.marks:
            store.insert_marks(out.marks)
        if out.history:
            store.insert_history(out.history)
        if out.events:
            for hook in self._hooks:
                hook(store, out.events)
        if self._raw_hooks and (out.transfers or out.events):
            others = out.events
            if self._hooks:  # the transfers' events were built for `hooks`; raw hooks skip them
                others = [e for e in others if e.kind is not LedgerEventKind.TRANSFER_CREATED]
            for raw_hook in self._raw_hooks:
                raw_hook(store, out.transfers, others)

    def seal_tail(self, *, force: bool) -> None:
        """Let the sealer sign the log's uncovered tail (when due, or whatever the interval)."""
        sealer = self._sealer
        if sealer is not None:
            in_transaction(self._store, lambda: sealer.seal_tail(self._store, force))

    def _fail(self, group: list[Request], error: BaseException) -> None:
        for request in group:
            request.future.set_exception(error)

    def _record_commit(self, group: list[Request], started: float) -> None:
        stats = self.stats
        size = sum(len(request.events) for request in group)
        stats.commits += 1
        stats.events += size
        stats.largest_group = max(stats.largest_group, size)
        stats.commit_seconds_total += time.perf_counter() - started
        self._commits_since_checkpoint += 1
        if self._commits_since_checkpoint >= CHECKPOINT_INTERVAL_COMMITS:
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Write the live balances of every account changed since the last checkpoint."""
        engine = self._engine
        changed = [
            account
            for account in engine.accounts.values()
            if account.transfer_count != account.checkpoint_count
        ]
        seen = set(changed)
        changed.extend(account for account in engine.dirty if account not in seen)
        self._commits_since_checkpoint = 0
        if not changed:
            return
        as_of = engine.last_timestamp
        rows = [
            (
                a.debits_pending,
                a.debits_posted,
                a.credits_pending,
                a.credits_posted,
                as_of,
                a.timestamp,
            )
            for a in changed
        ]
        in_transaction(self._store, lambda: self._store.write_balances(rows))
        engine.dirty = set()
        for account in changed:
            account.checkpoint_count = account.transfer_count
