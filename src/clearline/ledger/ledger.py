"""`Ledger`: the public face of the ledger room, and its single writer.

Guarantees:
- One writer thread owns the store and the live state. Calls from any number of threads (or async
  tasks) are queued; consecutive write calls are group-committed: decided together and made durable
  in one SQLite transaction (at most GROUP_EVENTS_MAX events, waiting at most `group_wait_ms` for
  more). Each caller gets its own results only after that transaction has committed.
- Each call returns one result per event, in order. A call is all-or-nothing only where `linked`
  says so; otherwise each event stands alone. Nothing of a refused event is written.
- Reads run on the writer thread between groups, so they see exactly the committed state.
- `Ledger.open` replays and verifies the whole store (see `verify.py`) and refuses a corrupt one.
- `close()` drains the queue, checkpoints balances and releases the database.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from clearline.core.clock import Clock, SystemClock
from clearline.core.errors import InvalidInput, InvariantViolation
from clearline.ledger import store as st
from clearline.ledger.engine import Engine
from clearline.ledger.events import CommitHook, LedgerEventKind, RowsHook
from clearline.ledger.queries import Queries
from clearline.ledger.results import EventResult
from clearline.ledger.types import (
    BATCH_EVENTS_MAX,
    U128_MAX,
    Account,
    AccountBalance,
    AccountFilter,
    QueryFilter,
    Transfer,
    check_uint,
)
from clearline.ledger.verify import recover

GROUP_EVENTS_MAX = BATCH_EVENTS_MAX
"""Most events decided and committed together (a single larger call is never split)."""
GROUP_WAIT_MS_MAX = 50
CHECKPOINT_INTERVAL_COMMITS = 256
"""Balances are checkpointed to the accounts table every this many commits, and on close."""
EXPIRY_POLL_SECONDS_MAX = 1.0

T = TypeVar("T")


class _Recheck(Exception):
    """The fast path refused an event whose id is known: decide the group again, checked."""


class BatchTooLarge(InvalidInput):
    code = "batch_too_large"


class LedgerClosed(InvalidInput):
    code = "ledger_closed"


class LedgerBroken(InvariantViolation):
    """The writer met an unexpected error; the ledger refuses further calls until reopened."""

    code = "ledger_broken"


@dataclass
class _Request:
    kind: str  # "accounts" | "transfers" | "call" | "stop"
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


def _check_batch(batch: Any, record_type: type, what: str) -> list[Any]:
    if not isinstance(batch, list | tuple):
        raise TypeError(
            f"{what} takes a list of {record_type.__name__}, not {type(batch).__name__}"
        )
    if len(batch) > BATCH_EVENTS_MAX:
        raise BatchTooLarge(
            f"{what}: {len(batch)} events exceed the limit of {BATCH_EVENTS_MAX} per batch; "
            f"split the batch"
        )
    if set(map(type, batch)) <= {record_type}:  # one C-level pass for the common case
        return list(batch)
    wrong = [index for index, item in enumerate(batch) if type(item) is not record_type]
    if wrong:
        raise TypeError(
            f"{what}: events at positions {wrong[:20]} are not {record_type.__name__} records; "
            f"nothing was written"
        )
    return list(batch)


class Ledger:
    """An exact double-entry ledger on one data directory (SQLite, WAL)."""

    def __init__(
        self,
        store: st.Store,
        clock: Clock,
        *,
        group_wait_ms: float = 0.0,
        hooks: Iterable[CommitHook] = (),
        raw_hooks: Iterable[RowsHook] = (),
    ) -> None:
        if not 0 <= group_wait_ms <= GROUP_WAIT_MS_MAX:
            raise InvalidInput(f"group_wait_ms must be within 0..{GROUP_WAIT_MS_MAX}")
        self._store = store
        self._clock = clock
        self._group_wait_seconds = group_wait_ms / 1000
        self._hooks: list[CommitHook] = list(hooks)
        self._raw_hooks: list[RowsHook] = list(raw_hooks)
        recovered = recover(store)
        self._engine = Engine(store, clock, recovered.last_timestamp)
        self._engine.accounts = recovered.accounts
        self._engine.pendings = recovered.pendings
        self._engine.heap_rebuild()
        self._engine.emit_events = bool(self._hooks or self._raw_hooks)
        self._engine.emit_transfer_events = bool(self._hooks)
        self.transfer_count_at_open = recovered.transfer_count
        self._queries = Queries(self._engine, store)
        self.stats = LedgerStats()
        self._commits_since_checkpoint = 0
        self._queue: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._held: _Request | None = None
        self._broken: LedgerBroken | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        self._writer = threading.Thread(
            target=self._run, name="clearline-ledger-writer", daemon=True
        )
        self._writer.start()

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        clock: Clock | None = None,
        group_wait_ms: float = 0.0,
        hooks: Iterable[CommitHook] = (),
        raw_hooks: Iterable[RowsHook] = (),
    ) -> Ledger:
        """Open (creating if needed) the ledger in data directory `path`. `hooks` run before
        `raw_hooks`, each inside every group's transaction (see `events.py`)."""
        text = str(path)
        if text.startswith(("postgres://", "postgresql://")):
            raise st.StoreError(
                "this build of Clearline stores the ledger in SQLite only; pass a data directory"
            )
        store = st.SqliteStore(Path(path))
        try:
            return cls(
                store,
                clock or SystemClock(),
                group_wait_ms=group_wait_ms,
                hooks=hooks,
                raw_hooks=raw_hooks,
            )
        except BaseException:
            store.close()
            raise

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------------

    def create_accounts(self, batch: Sequence[Account]) -> list[EventResult]:
        """Create accounts; one result per event, in order, after the batch is durable."""
        events = _check_batch(batch, Account, "create_accounts")
        return self._submit(_Request("accounts", events)).result() if events else []

    def create_transfers(self, batch: Sequence[Transfer]) -> list[EventResult]:
        """Create transfers; one result per event, in order, after the batch is durable."""
        events = _check_batch(batch, Transfer, "create_transfers")
        return self._submit(_Request("transfers", events)).result() if events else []

    async def create_accounts_async(self, batch: Sequence[Account]) -> list[EventResult]:
        events = _check_batch(batch, Account, "create_accounts")
        if not events:
            return []
        return await asyncio.wrap_future(self._submit(_Request("accounts", events)))

    async def create_transfers_async(self, batch: Sequence[Transfer]) -> list[EventResult]:
        events = _check_batch(batch, Transfer, "create_transfers")
        if not events:
            return []
        return await asyncio.wrap_future(self._submit(_Request("transfers", events)))

    def tick(self) -> None:
        """Commit an empty group now: expires every pending transfer that is due by the clock."""
        self._submit(_Request("transfers", [])).result()

    # -- reads ----------------------------------------------------------------------------------

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]:
        """The accounts found among `ids`, in the order asked, with live balances."""
        wanted = [check_uint(account_id, U128_MAX, "id") for account_id in ids]
        return self._read(lambda: self._queries.lookup_accounts(wanted))

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]:
        """The transfers found among `ids`, in the order asked."""
        wanted = [check_uint(transfer_id, U128_MAX, "id") for transfer_id in ids]
        return self._read(lambda: self._queries.lookup_transfers(wanted))

    def get_account_transfers(
        self, account_id: int | AccountFilter, **options: Any
    ) -> list[Transfer]:
        """An account's transfers by time range, side, limit and order (see AccountFilter)."""
        query = (
            account_id
            if isinstance(account_id, AccountFilter)
            else AccountFilter(account_id, **options)
        )
        return self._read(lambda: self._queries.account_transfers(query))

    def get_account_balances(
        self, account_id: int | AccountFilter, **options: Any
    ) -> list[AccountBalance]:
        """Balance history of an account with the `history` flag (empty otherwise)."""
        query = (
            account_id
            if isinstance(account_id, AccountFilter)
            else AccountFilter(account_id, **options)
        )
        return self._read(lambda: self._queries.account_balances(query))

    def balance_at(self, account_id: int, timestamp: int) -> AccountBalance | None:
        """The balances of a `history` account as of `timestamp` (None before its first change)."""
        rows = self.get_account_balances(
            AccountFilter(account_id, timestamp_max=timestamp, limit=1, reversed=True)
        )
        return rows[0] if rows else None

    def query_accounts(self, query: QueryFilter) -> list[Account]:
        """Accounts whose user_data fields (and code, when given) match, oldest first."""
        return self._read(lambda: self._queries.query_accounts(query))

    def query_transfers(self, query: QueryFilter) -> list[Transfer]:
        """Transfers whose user_data fields (and code, when given) match, oldest first."""
        return self._read(lambda: self._queries.query_transfers(query))

    def counts(self) -> dict[str, int]:
        """Row counts of the store's tables."""
        return self._read(self._store.counts)

    def close(self) -> None:
        """Finish queued work, checkpoint balances, release the store. Safe to call twice."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        stop = _Request("stop")
        self._queue.put(stop)
        self._writer.join()
        try:
            if self._broken is None:  # a broken writer's live state is not checkpointed
                self._checkpoint()
            else:
                self._store.rollback()
        finally:
            self._store.close()

    # -- the writer -----------------------------------------------------------------------------

    def _submit(self, request: _Request) -> Future[Any]:
        if self._closed:
            raise LedgerClosed("the ledger is closed; open it again")
        if self._broken is not None:
            raise self._broken
        self._queue.put(request)
        if self._broken is not None and not self._writer.is_alive():
            self._break(self._broken, [])  # the writer died between the check and the put
        return request.future

    def _read(self, call: Callable[[], T]) -> T:
        result: T = self._submit(_Request("call", call=call)).result()
        return result

    def _next(self) -> _Request:
        if self._held is not None:
            request, self._held = self._held, None
            return request
        while True:
            heap = self._engine.expiry_heap
            if not heap:
                return self._queue.get()
            due_seconds = (heap[0][0] - self._clock.now_ns()) / 1e9
            try:
                return self._queue.get(
                    timeout=min(max(due_seconds, 0.001), EXPIRY_POLL_SECONDS_MAX)
                )
            except queue.Empty:
                if heap and heap[0][0] <= self._clock.now_ns():
                    return _Request("transfers", [])

    def _run(self) -> None:
        group: list[_Request] = []
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
                group = self._gather(request)
                self._commit(group)
                group = []
        except BaseException as error:  # a bug: the live state can no longer be trusted
            self._break(error, group)

    def _break(self, error: BaseException, group: list[_Request]) -> None:
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
                waiting.append(self._queue.get_nowait())
            except queue.Empty:
                break
        for request in waiting:
            if not request.future.done():
                if request.kind == "stop":
                    request.future.set_result(None)
                else:
                    request.future.set_exception(self._broken)

    def _run_call(self, request: _Request) -> None:
        assert request.call is not None
        try:
            request.future.set_result(request.call())
        except BaseException as error:
            request.future.set_exception(error)

    def _gather(self, first: _Request) -> list[_Request]:
        group = [first]
        events = len(first.events)
        deadline = time.monotonic() + self._group_wait_seconds
        while events < GROUP_EVENTS_MAX:
            try:
                remaining = deadline - time.monotonic()
                request = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if request.kind not in ("accounts", "transfers") or (
                events + len(request.events) > GROUP_EVENTS_MAX
            ):
                self._held = request
                break
            group.append(request)
            events += len(request.events)
        return group

    def _commit(self, group: list[_Request]) -> None:
        engine, store = self._engine, self._store
        started = time.perf_counter()
        for check_store in (False, True):
            engine.begin_group(check_store)
            try:
                results = [
                    engine.run_accounts(r.events)
                    if r.kind == "accounts"
                    else engine.run_transfers(r.events)
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

    def _fail(self, group: list[_Request], error: BaseException) -> None:
        for request in group:
            request.future.set_exception(error)

    def _record_commit(self, group: list[_Request], started: float) -> None:
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
        self._store.begin()
        try:
            self._store.write_balances(rows)
            self._store.commit()
        except BaseException:
            self._store.rollback()
            raise
        engine.dirty = set()
        for account in changed:
            account.checkpoint_count = account.transfer_count
