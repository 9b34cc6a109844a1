"""The platform database: every room's own records (customers, account metadata, payments and
their decisions, refunds, API keys, idempotency records, the audit trail, …) in
`platform.sqlite` beside the ledger in the data directory. Rooms declare their tables as
versioned `Schema`s (`clearline.db.schema`), applied when the store opens.

Guarantees:
- One writer thread, group commit: concurrent `write` calls share one durable transaction (WAL,
  `synchronous=FULL`); a write's future resolves only after its group is committed. One failing
  write is rolled back alone and the rest of its group commits: a group first runs without
  savepoints; if a write raises, the group is rolled back and run again with one savepoint per
  write. A write is therefore a function of the connection that may run twice (its first run
  rolled back); it must not have other side effects.
- Sequences (`next_seq`) are kept in memory by the writer and stored with each group's commit:
  strictly increasing, with gaps where a write was rolled back, also when several processes
  write the file (a `clearline keys` command beside a running server): a group that finds the
  file changed by another process reads its sequences again inside its transaction.
- Asyncio writers are woken once per group (one hand-off to their event loop), not once per
  write.
- Reads use their own connection (WAL readers never block the writer) and see committed data only.
- The directory is created owner-only (0700) and the database file is owner-only (0600).
- Money never leaves the ledger: these rows describe payments; balances are always the ledger's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from clearline.db.schema import Schema, apply

T = TypeVar("T")

DATABASE_FILE = "platform.sqlite"
GROUP_MAX = 2048

STORE_SQL = """
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS schema_versions(
  room TEXT PRIMARY KEY, version INTEGER NOT NULL, applied_ns INTEGER NOT NULL
);
"""
"""The store's own tables: the sequences `next_seq` hands out, and each room's schema version."""


class _Write:
    """One write: its call, and who waits for it (a thread's future or an event loop's)."""

    __slots__ = ("call", "future", "loop", "waiter")

    def __init__(
        self,
        call: Callable[[sqlite3.Connection], Any] | None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.call = call
        self.loop = loop
        if loop is None:
            self.future: Future[Any] | None = Future()
            self.waiter: asyncio.Future[Any] | None = None
        else:
            self.future = None
            self.waiter = loop.create_future()

    def run(self, connection: sqlite3.Connection) -> Any:
        assert self.call is not None, "a stop marker is never run"
        return self.call(connection)


class WriterConnection(sqlite3.Connection):
    """The writer's connection, with the sequences it hands out (see `next_seq`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sequences: dict[str, int] = {}
        self.changed_sequences: set[str] = set()
        self.data_version: int | None = None

    def forget_if_changed_elsewhere(self) -> None:
        """Inside the group's transaction: if another process committed since this connection
        last looked (`PRAGMA data_version` moved), the sequences it holds may be behind (a
        `clearline keys create` beside a server): read them again from `counters`."""
        version = int(self.execute("PRAGMA data_version").fetchone()[0])
        if version != self.data_version:
            self.sequences.clear()
            self.data_version = version

    def store_sequences(self) -> None:
        """Write the sequences handed out since the last call (inside the group's transaction)."""
        if self.changed_sequences:
            self.executemany(
                "INSERT INTO counters(name, value) VALUES(?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [(name, self.sequences[name]) for name in sorted(self.changed_sequences)],
            )
            self.changed_sequences.clear()


def _settle(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """On the event loop: resolve the waiters of one group (cancelled ones are skipped)."""
    for waiter, ok, value in outcomes:
        if waiter.done():
            continue
        if ok:
            waiter.set_result(value)
        else:
            waiter.set_exception(value)


class PlatformStore:
    """Group-committed SQLite store of the platform's records."""

    def __init__(self, directory: Path, schemas: Sequence[Schema] = ()) -> None:
        """Open (creating on first use) `directory`'s platform database with `schemas` applied;
        `versions_before` says at which version each room was found (0: created now)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / DATABASE_FILE
        if not path.exists():
            path.touch(mode=0o600)
        os.chmod(path, 0o600)
        self.path = path
        writer = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, factory=WriterConnection
        )
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA synchronous=FULL")
        try:
            writer.executescript(STORE_SQL)
            self.versions_before = apply(writer, schemas)
        except BaseException:
            writer.close()
            raise
        self._writer_connection = writer
        self._reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._reader.execute("PRAGMA query_only=ON")
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[list[_Write]] = queue.SimpleQueue()
        self._batch: list[_Write] = []  # asyncio writes of this event-loop turn
        self._closed = False
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="clearline-platform-writer")
        self._thread.daemon = True
        self._thread.start()

    # -- writes -------------------------------------------------------------------------------

    def write(self, call: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue `call(connection)` to run inside the next group; the future resolves with its
        result after the group is durable, or with its exception (its writes rolled back)."""
        if self._closed:
            raise RuntimeError("the platform store is closed")
        item = _Write(call)
        self._queue.put([item])
        assert item.future is not None
        return item.future

    async def write_async(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """`write` for asyncio callers. The writes of one event-loop turn reach the writer
        thread together (one hand-off), each still in its own savepoint."""
        if self._closed:
            raise RuntimeError("the platform store is closed")
        loop = asyncio.get_running_loop()
        item = _Write(call, loop)
        if not self._batch:
            loop.call_soon(self._flush)
        self._batch.append(item)
        assert item.waiter is not None
        result: T = await item.waiter
        return result

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if batch:
            self._queue.put(batch)

    def write_sync(self, call: Callable[[sqlite3.Connection], T]) -> T:
        result: T = self.write(call).result()
        return result

    def _run(self) -> None:
        connection = self._writer_connection
        while True:
            group = list(self._queue.get())
            while len(group) < GROUP_MAX:
                try:
                    group.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item.call is None for item in group)
            work = [item for item in group if item.call is not None]
            if work:
                self._resolve(self._commit(connection, work))
            if stop:
                for item in group:
                    if item.call is None and item.future is not None:
                        item.future.set_result(None)
                return

    def _commit(
        self, connection: WriterConnection, work: list[_Write]
    ) -> list[tuple[_Write, bool, Any]]:
        """Run `work` in one durable transaction: (write, ok, result or error) for each."""
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.forget_if_changed_elsewhere()
            try:  # the common case: no write fails, no savepoints needed
                outcomes = [(item, True, item.run(connection)) for item in work]
            except BaseException:
                connection.execute("ROLLBACK")
                connection.execute("BEGIN IMMEDIATE")
                outcomes = [self._isolated(connection, item) for item in work]
            connection.store_sequences()
            connection.execute("COMMIT")
            self.commits += 1
        except BaseException as error:  # the commit itself failed: nothing is durable
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            connection.changed_sequences.clear()
            return [(item, False, error) for item in work]
        return outcomes

    @staticmethod
    def _isolated(connection: sqlite3.Connection, item: _Write) -> tuple[_Write, bool, Any]:
        """`item` in its own savepoint: rolled back alone if it raises."""
        connection.execute("SAVEPOINT w")
        try:
            value = item.run(connection)
        except BaseException as error:
            connection.execute("ROLLBACK TO w")
            connection.execute("RELEASE w")
            return item, False, error
        connection.execute("RELEASE w")
        return item, True, value

    @staticmethod
    def _resolve(outcomes: list[tuple[_Write, bool, Any]]) -> None:
        """Wake the waiters: threads one by one, each event loop once for all its writes."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for item, ok, value in outcomes:
            if item.waiter is not None and item.loop is not None:
                by_loop.setdefault(item.loop, []).append((item.waiter, ok, value))
            elif item.future is not None and not item.future.done():
                if ok:
                    item.future.set_result(value)
                else:
                    item.future.set_exception(value)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop was closed: nobody waits
                loop.call_soon_threadsafe(_settle, settled)

    # -- reads --------------------------------------------------------------------------------

    def read(self, sql: str, parameters: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._read_lock:
            return self._reader.execute(sql, parameters).fetchall()

    def scan(
        self, sql: str, parameters: tuple[Any, ...] = (), chunk: int = 10_000
    ) -> Iterator[Any]:
        """The rows of `sql`, fetched `chunk` at a time (for reading a whole table at start)."""
        with self._read_lock:
            cursor = self._reader.execute(sql, parameters)
            while rows := cursor.fetchmany(chunk):
                yield from rows

    def read_one(self, sql: str, parameters: tuple[Any, ...] | list[Any] = ()) -> Any:
        with self._read_lock:
            return self._reader.execute(sql, parameters).fetchone()

    def scrub(self) -> bool:
        """Rebuild the file (VACUUM) and truncate the WAL, so no old page keeps what was just
        overwritten (plaintext a room has encrypted). Between writes only; False if a reader
        kept the checkpoint from finishing."""
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            connection.execute("VACUUM")
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            connection.close()
        return bool(busy == 0)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush()
        stop = _Write(None)
        self._queue.put([stop])
        assert stop.future is not None
        stop.future.result()
        self._thread.join()
        self._writer_connection.close()
        self._reader.close()


def next_seq(connection: sqlite3.Connection, name: str) -> int:
    """The next value of counter `name`, inside a `PlatformStore` write: the writer keeps it in
    memory and stores it with the group's commit."""
    if not isinstance(connection, WriterConnection):
        raise TypeError("next_seq runs inside a PlatformStore write (its writer's connection)")
    value = connection.sequences.get(name)
    if value is None:
        stored = connection.execute("SELECT value FROM counters WHERE name = ?", (name,))
        row = stored.fetchone()
        value = 0 if row is None else int(row[0])
    connection.sequences[name] = value + 1
    connection.changed_sequences.add(name)
    return value + 1
