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
- Sealed by default: `Ledger.open(directory)` loads the sealer named by `DEFAULT_SEALER` (the
  `chain` room's verifiable log) with `importlib`, so this room never imports `chain`. The sealer
  is brought up to the ledger at open, runs inside every group's transaction, and signs the
  uncovered tail when it is due while idle, on `tick()` and on `close()` (see `events.Sealer`).
  `sealed=False` opens without it; so does passing `hooks` or `raw_hooks` without `sealed=True`.
"""

from __future__ import annotations

import asyncio
import importlib
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
from clearline.ledger.events import (
    CommitHook,
    LedgerEventKind,
    RowsHook,
    Sealer,
    SealerFactory,
)
from clearline.ledger.queries import Queries
from clearline.ledger.results import EventResult
from clearline.ledger.types import (
    BATCH_EVENTS_MAX,
    QUERY_LIMIT_MAX,
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
DEFAULT_SEALER = "clearline.chain.node:open_sealer"
"""`module:function` of the `SealerFactory` that `Ledger.open` seals with unless `sealed=False`."""

T = TypeVar("T")


class _Recheck(Exception):
    """The fast path refused an event whose id is known: decide the group again, checked."""


class BatchTooLarge(InvalidInput):
    code = "batch_too_large"


class LedgerClosed(InvalidInput):
    code = "ledger_closed"


class SealerUnavailable(InvariantViolation):
    """The default sealer cannot be loaded (the `chain` room is missing or broken)."""

    code = "sealer_unavailable"


def load_sealer_factory(name: str = DEFAULT_SEALER) -> SealerFactory:
    """The sealer factory `module:function` names, imported now."""
    module_name, _, attribute = name.partition(":")
    try:
        factory: SealerFactory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise SealerUnavailable(f"cannot load the ledger's sealer {name!r}: {error}") from error
    return factory


class LedgerBroken(InvariantViolation):
    """The writer met an unexpected error; the ledger refuses further calls until reopened."""

    code = "ledger_broken"


@dataclass
class _Request:
    kind: str  # "accounts" | "transfers" | "call" | "seal" | "stop"
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
        sealer: Sealer | None = None,
    ) -> None:
        if not 0 <= group_wait_ms <= GROUP_WAIT_MS_MAX:
            raise InvalidInput(f"group_wait_ms must be within 0..{GROUP_WAIT_MS_MAX}")
        self._store = store
        self._clock = clock
        self._group_wait_seconds = group_wait_ms / 1000
        self._hooks: list[CommitHook] = list(hooks)
        self._raw_hooks: list[RowsHook] = list(raw_hooks)
        self._sealer = sealer
        recovered = recover(store)
        if sealer is not None:
            self._in_transaction(lambda: sealer.attach(store, recovered.last_timestamp))
            self._raw_hooks.append(sealer.seal_rows)
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
        sealed: bool | None = None,
    ) -> Ledger:
        """Open (creating if needed) the ledger in data directory `path`. `hooks` run before
        `raw_hooks`, each inside every group's transaction (see `events.py`). The ledger seals every
        event with the sealer `DEFAULT_SEALER` names (its hook runs after `raw_hooks`) when
        `sealed` is True, or None (the default) and no `hooks` or `raw_hooks` are given: a caller
        with hooks of its own (its own sealing hook, say) decides with `sealed=True`."""
        text = str(path)
        if text.startswith(("postgres://", "postgresql://")):
            raise st.StoreError(
                "this build of Clearline stores the ledger in SQLite only; pass a data directory"
            )
        clock = clock or SystemClock()
        hooks, raw_hooks = list(hooks), list(raw_hooks)
        if sealed is None:
            sealed = not (hooks or raw_hooks)
        factory = load_sealer_factory() if sealed else None
        store = st.SqliteStore(Path(path))
        sealer = None
        try:
            sealer = factory(Path(path), clock) if factory else None
            return cls(
                store,
                clock,
                group_wait_ms=group_wait_ms,
                hooks=hooks,
                raw_hooks=raw_hooks,
                sealer=sealer,
            )
        except BaseException:
            if sealer is not None:
                sealer.close()
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
        """Commit an empty group now: expires every pending transfer that is due by the clock;
        then, when sealed, signs the log's uncovered tail if its checkpoint is due."""
        self._submit(_Request("transfers", [])).result()
        if self._sealer is not None:
            self._submit(_Request("seal")).result()

    # -- reads ----------------------------------------------------------------------------------

    def lookup_accounts(self, ids: Sequence[int]) -> list[Account]:
        """The accounts found among `ids`, in the order asked, with live balances."""
        wanted = [check_uint(account_id, U128_MAX, "id") for account_id in ids]
        return self._read(lambda: self._queries.lookup_accounts(wanted))

    def peek_spendable(self, account_id: int) -> int | None:
        """Credits posted less debits posted and pending of `account_id` as the writer holds them
        right now, read without waiting for it: no queue, no thread hand-off, a dictionary
        lookup. It may include a group being committed at this moment (not yet durable, and it
        could still roll back), so it is an estimate: the risk room's `payer_available` reads it;
        whether money may move is decided by the engine alone. None when there is no such
        account."""
        state = self._engine.accounts.get(account_id)
        if state is None:
            return None
        return state.credits_posted - state.debits_posted - state.debits_pending

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]:
        """The transfers found among `ids`, in the order asked."""
        wanted = [check_uint(transfer_id, U128_MAX, "id") for transfer_id in ids]
        return self._read(lambda: self._queries.lookup_transfers(wanted))

    def latest_transfers(self, limit: int = QUERY_LIMIT_MAX) -> list[Transfer]:
        """The ledger's newest `limit` transfers (1..8,190), newest first: what a client that
        crashed mid-flight reconciles against."""
        if type(limit) is not int or not 0 < limit <= QUERY_LIMIT_MAX:
            raise InvalidInput(f"limit must be within 1..{QUERY_LIMIT_MAX}", code="limit_invalid")
        return self._read(lambda: self._queries.latest_transfers(limit))

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

    def pending_statuses(self, ids: Sequence[int]) -> list[str | None]:
        """The two-phase status of each pending transfer in `ids`: "pending", "posted", "voided"
        or "expired"; None where `ids` names no pending transfer."""
        wanted = [check_uint(transfer_id, U128_MAX, "id") for transfer_id in ids]
        names = {
            st.PENDING_STATUS_PENDING: "pending",
            st.PENDING_STATUS_POSTED: "posted",
            st.PENDING_STATUS_VOIDED: "voided",
            st.PENDING_STATUS_EXPIRED: "expired",
        }

        def status(transfer_id: int) -> str | None:
            pending = self._engine.pendings.get(transfer_id)
            if pending is not None:
                return names[pending.status]
            rows = self._store.transfers_by_id([transfer_id.to_bytes(16, "big")])
            if not rows:
                return None
            found = self._store.pending_at([rows[0][0]])
            return names[found[0][2]] if found else None  # resolved ones leave memory

        def statuses() -> list[str | None]:
            return [status(transfer_id) for transfer_id in wanted]

        return self._read(statuses)

    def read_store(self, call: Callable[[Any], T]) -> T:
        """Run `call(connection)` on the writer thread between groups and return its result.
        An open ledger holds its SQLite database exclusively, so this is how the rooms that share
        the database (the `chain` log's reader) read it while the ledger runs. Read only: `call`
        must not write."""
        store = self._store
        connection = getattr(store, "connection", None)
        if connection is None:
            raise st.StoreError("this store has no SQL connection to read through")
        return self._read(lambda: call(connection))

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
                self._seal_tail(force=True)
            else:
                self._store.rollback()
        finally:
            try:
                self._store.close()
            finally:
                if self._sealer is not None:
                    self._sealer.close()

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
            seal_due_ns = self._sealer.seal_due_ns() if self._sealer is not None else None
            dues = [due for due in (heap[0][0] if heap else None, seal_due_ns) if due is not None]
            if not dues:
                return self._queue.get()
            due_seconds = (min(dues) - self._clock.now_ns()) / 1e9
            try:
                return self._queue.get(
                    timeout=min(max(due_seconds, 0.001), EXPIRY_POLL_SECONDS_MAX)
                )
            except queue.Empty:
                now_ns = self._clock.now_ns()
                if heap and heap[0][0] <= now_ns:
                    return _Request("transfers", [])
                if seal_due_ns is not None and seal_due_ns <= now_ns:
                    return _Request("seal")

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
                if request.kind == "seal":
                    self._seal_tail(force=False)
                    request.future.set_result(None)
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

    def _seal_tail(self, *, force: bool) -> None:
        """Let the sealer sign the log's uncovered tail (when due, or whatever the interval)."""
        sealer = self._sealer
        if sealer is not None:
            self._in_transaction(lambda: sealer.seal_tail(self._store, force))

    def _in_transaction(self, call: Callable[[], object]) -> None:
        self._store.begin()
        try:
            call()
            self._store.commit()
        except BaseException:
            self._store.rollback()
            raise

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
