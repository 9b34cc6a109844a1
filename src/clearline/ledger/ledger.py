"""`Ledger`: the public face of the ledger room.

Guarantees:
- One writer thread owns the store and the live state (`writer.py`): calls from any number of
  threads (or async tasks) are queued; consecutive write calls are group-committed, decided
  together and made durable in one SQLite transaction (at most GROUP_EVENTS_MAX events, waiting at
  most `group_wait_ms` for more). Each caller gets its own results only after that transaction
  has committed.
- Each call returns one result per event, in order. A call is all-or-nothing only where `linked`
  says so; otherwise each event stands alone. Nothing of a refused event is written. A batch that
  is not a list of the call's records, or is longer than BATCH_EVENTS_MAX, raises before anything
  is queued.
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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from clearline.core.clock import Clock, SystemClock
from clearline.core.errors import InvalidInput, InvariantViolation
from clearline.ledger import store as st
from clearline.ledger.engine import Engine
from clearline.ledger.events import CommitHook, RowsHook, Sealer, SealerFactory
from clearline.ledger.queries import Queries
from clearline.ledger.results import EventResult
from clearline.ledger.types import (
    BATCH_EVENTS_MAX,
    QUERY_LIMIT_MAX,
    U128_MAX,
    Account,
    AccountBalance,
    AccountFilter,
    Attestation,
    QueryFilter,
    Transfer,
    check_uint,
)
from clearline.ledger.verify import recover
from clearline.ledger.writer import (
    GROUP_EVENTS_MAX,
    GROUP_WAIT_MS_MAX,
    LedgerBroken,
    LedgerClosed,
    LedgerStats,
    Request,
    Writer,
    in_transaction,
)

__all__ = [
    "DEFAULT_SEALER",
    "GROUP_EVENTS_MAX",
    "BatchTooLarge",
    "Ledger",
    "LedgerBroken",
    "LedgerClosed",
    "LedgerStats",
    "SealerUnavailable",
    "load_sealer_factory",
]

DEFAULT_SEALER = "clearline.chain.node:open_sealer"
"""`module:function` of the `SealerFactory` that `Ledger.open` seals with unless `sealed=False`."""

T = TypeVar("T")


class BatchTooLarge(InvalidInput):
    code = "batch_too_large"


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
        self._sealer = sealer
        hooks, raw_hooks = list(hooks), list(raw_hooks)
        recovered = recover(store)
        if sealer is not None:
            in_transaction(store, lambda: sealer.attach(store, recovered.last_timestamp))
            raw_hooks.append(sealer.seal_rows)
        self._engine = Engine(store, clock, recovered.last_timestamp)
        self._engine.accounts = recovered.accounts
        self._engine.pendings = recovered.pendings
        self._engine.heap_rebuild()
        self._engine.emit_events = bool(hooks or raw_hooks)
        self._engine.emit_transfer_events = bool(hooks)
        self.transfer_count_at_open = recovered.transfer_count
        self.attestation_count_at_open = recovered.attestation_count
        self._queries = Queries(self._engine, store)
        self._writer = Writer(
            store,
            clock,
            self._engine,
            group_wait_seconds=group_wait_ms / 1000,
            hooks=hooks,
            raw_hooks=raw_hooks,
            sealer=sealer,
        )
        self.stats: LedgerStats = self._writer.stats
        self._submit: Callable[[Request], Future[Any]] = self._writer.submit
        """Bound once: a call through a method of this class would cost every call a frame."""

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
        return self._submit(Request("accounts", events)).result() if events else []

    def create_transfers(self, batch: Sequence[Transfer]) -> list[EventResult]:
        """Create transfers; one result per event, in order, after the batch is durable."""
        events = _check_batch(batch, Transfer, "create_transfers")
        return self._submit(Request("transfers", events)).result() if events else []

    async def create_accounts_async(self, batch: Sequence[Account]) -> list[EventResult]:
        events = _check_batch(batch, Account, "create_accounts")
        if not events:
            return []
        return await asyncio.wrap_future(self._submit(Request("accounts", events)))

    async def create_transfers_async(self, batch: Sequence[Transfer]) -> list[EventResult]:
        events = _check_batch(batch, Transfer, "create_transfers")
        if not events:
            return []
        return await asyncio.wrap_future(self._submit(Request("transfers", events)))

    def create_attestations(self, batch: Sequence[Attestation]) -> list[EventResult]:
        """Create attestations; one result per event, in order, after the batch is durable. Each
        committed attestation is one leaf of the ledger's verifiable log, in commit order with
        the transfers (docs/ledger.md, "Attestations")."""
        events = _check_batch(batch, Attestation, "create_attestations")
        return self._submit(Request("attestations", events)).result() if events else []

    async def create_attestations_async(self, batch: Sequence[Attestation]) -> list[EventResult]:
        events = _check_batch(batch, Attestation, "create_attestations")
        if not events:
            return []
        return await asyncio.wrap_future(self._submit(Request("attestations", events)))

    def tick(self) -> None:
        """Commit an empty group now: expires every pending transfer that is due by the clock;
        then, when sealed, signs the log's uncovered tail if its checkpoint is due."""
        self._submit(Request("transfers", [])).result()
        if self._sealer is not None:
            self._submit(Request("seal")).result()

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

    def lookup_attestations(self, ids: Sequence[int]) -> list[Attestation]:
        """The attestations found among `ids`, in the order asked, with their timestamps."""
        wanted = [check_uint(attestation_id, U128_MAX, "id") for attestation_id in ids]
        return self._read(lambda: self._queries.lookup_attestations(wanted))

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
        self._writer.close()

    def _read(self, call: Callable[[], T]) -> T:
        return self._writer.read(call)
