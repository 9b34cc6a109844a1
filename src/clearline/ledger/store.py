"""The embedded SQLite store: the durable half of the ledger.

Layout (one database file `ledger.sqlite3` in the data directory, WAL journal):
- `transfers(timestamp PK, id UNIQUE, body)`: the append-only log of every created transfer. `body`
  is a fixed 108-byte big-endian record (see `TRANSFER_BODY`); keeping a transfer in three columns
  instead of twelve, with one secondary index, is what lets a batch of 8,190 commit in tens of
  milliseconds. Each body carries, per side, the timestamp of that account's previous transfer, so
  an account's transfers form a linked list; `account_marks` holds every 32nd link so a time range
  is found in O(32 + results) reads.
- `accounts(timestamp PK, id UNIQUE, …)`: static fields plus balances as of `balance_timestamp`, a
  checkpoint written every few commits and on close. The transfer log is the truth: on open the
  balances are recomputed from it and must equal the checkpoint (see `verify.py`).
- `pending_transfers(timestamp PK, expires_at, status, resolved_timestamp)`: two-phase state.
- `transfer_refs(kind, key, timestamp)`: lookups by pending_id and user_data (only non-zero values).
- `account_history(account_timestamp, timestamp, balances…)`: balance history for `history`
  accounts.
- `attestations(timestamp PK, id UNIQUE, code, digest)`: the append-only log of attestations
  (32-byte digests the ledger seals into its verifiable log, in commit order with transfers).

Schema versions: 1 had no `attestations` table; opening a version 1 store creates the (empty)
table and records version 2 in the same step, so an older Clearline refuses the store afterwards
instead of ignoring its attestations.

Durability: `synchronous=FULL` with WAL: a commit returns only after its WAL frames are fsynced.
A batch is acknowledged only after `commit()` returns. Dialect details stay in this module; a
PostgreSQL store implements the same methods.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from clearline.core.errors import ClearlineError

SCHEMA_VERSION = 2
SCHEMA_VERSIONS_UPGRADABLE = (1,)
"""Versions `SqliteStore` brings to SCHEMA_VERSION when it opens them (by adding tables)."""
DATABASE_FILE = "ledger.sqlite3"
PAGE_SIZE_BYTES = 16384
CACHE_SIZE_KIB = 262144
LOOKUP_CHUNK = 500
"""Ids per `IN (…)` lookup statement."""

TRANSFER_BODY = struct.Struct(">16s16sQ16s16sQIIHHQQ")
"""debit_account_id, credit_account_id, amount, pending_id, user_data_128, user_data_64,
user_data_32, timeout, code, flags, debit_previous_timestamp, credit_previous_timestamp."""

TRANSFER_ROW = struct.Struct(">Q16s" + TRANSFER_BODY.format.lstrip(">"))
"""A transfer as handed to `insert_transfers`: timestamp, 16-byte id, body. Rows with consecutive
timestamps are concatenated into one blob that a single INSERT … SELECT slices into rows (the
timestamp of row i is the first one plus i), so SQLite inserts them without a Python round trip
per row."""

PENDING_STATUS_PENDING = 1
PENDING_STATUS_POSTED = 2
PENDING_STATUS_VOIDED = 3
PENDING_STATUS_EXPIRED = 4

REF_PENDING_ID = 0
REF_USER_DATA_128 = 1
REF_USER_DATA_64 = 2
REF_USER_DATA_32 = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts(
  timestamp INTEGER PRIMARY KEY,
  id BLOB NOT NULL UNIQUE,
  asset TEXT NOT NULL,
  code INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  user_data_128 BLOB,
  user_data_64 INTEGER,
  user_data_32 INTEGER,
  debits_pending INTEGER NOT NULL DEFAULT 0,
  debits_posted INTEGER NOT NULL DEFAULT 0,
  credits_pending INTEGER NOT NULL DEFAULT 0,
  credits_posted INTEGER NOT NULL DEFAULT 0,
  balance_timestamp INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS accounts_user_data_128 ON accounts(user_data_128)
  WHERE user_data_128 IS NOT NULL;
CREATE INDEX IF NOT EXISTS accounts_user_data_64 ON accounts(user_data_64)
  WHERE user_data_64 IS NOT NULL;
CREATE INDEX IF NOT EXISTS accounts_user_data_32 ON accounts(user_data_32)
  WHERE user_data_32 IS NOT NULL;
CREATE TABLE IF NOT EXISTS transfers(
  timestamp INTEGER PRIMARY KEY,
  id BLOB NOT NULL UNIQUE,
  body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_transfers(
  timestamp INTEGER PRIMARY KEY,
  expires_at INTEGER NOT NULL,
  status INTEGER NOT NULL,
  resolved_timestamp INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_transfers_open ON pending_transfers(timestamp)
  WHERE status = 1;
CREATE TABLE IF NOT EXISTS transfer_refs(
  kind INTEGER NOT NULL, key BLOB NOT NULL, timestamp INTEGER NOT NULL,
  PRIMARY KEY(kind, key, timestamp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_marks(
  account_timestamp INTEGER NOT NULL, timestamp INTEGER NOT NULL,
  PRIMARY KEY(account_timestamp, timestamp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_history(
  account_timestamp INTEGER NOT NULL, timestamp INTEGER NOT NULL,
  debits_pending INTEGER NOT NULL, debits_posted INTEGER NOT NULL,
  credits_pending INTEGER NOT NULL, credits_posted INTEGER NOT NULL,
  PRIMARY KEY(account_timestamp, timestamp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attestations(
  timestamp INTEGER PRIMARY KEY,
  id BLOB NOT NULL UNIQUE,
  code INTEGER NOT NULL,
  digest BLOB NOT NULL
);
"""

_ROW = TRANSFER_ROW.size
_INSERT_PACKED = f"""
WITH RECURSIVE row(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM row WHERE i < ?2)
INSERT INTO transfers(timestamp, id, body)
SELECT ?3 + i, substr(?1, i * {_ROW} + 9, 16), substr(?1, i * {_ROW} + 25, {TRANSFER_BODY.size})
FROM row
"""

AccountRow = tuple[
    int, bytes, str, int, int, bytes | None, int | None, int | None, int, int, int, int, int
]
"""timestamp, id, asset, code, flags, user_data_128, user_data_64, user_data_32,
debits_pending, debits_posted, credits_pending, credits_posted, balance_timestamp."""

AttestationRow = tuple[int, bytes, int, bytes]
"""timestamp, id (16 bytes), code, digest."""


class Store(Protocol):
    """What the engine and `Ledger` need from a store; SQL and dialect details stay behind it.

    Writes happen only inside `begin()` … `commit()` on the writer thread. `insert_transfers`
    takes packed `TRANSFER_ROW`s (ascending timestamps) and raises `sqlite3.IntegrityError` (or
    the store's equivalent, mapped to it) when an id is already stored.
    """

    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...
    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any: ...
    def insert_accounts(self, rows: Sequence[AccountRow]) -> None: ...
    def insert_transfers(self, rows: Sequence[bytes]) -> None: ...
    def insert_attestations(self, rows: Sequence[AttestationRow]) -> None: ...
    def insert_pending(self, rows: Sequence[tuple[int, int, int, int]]) -> None: ...
    def resolve_pending(self, rows: Sequence[tuple[int, int, int]]) -> None: ...
    def insert_refs(self, rows: Sequence[tuple[int, bytes, int]]) -> None: ...
    def insert_marks(self, rows: Sequence[tuple[int, int]]) -> None: ...
    def insert_history(self, rows: Sequence[tuple[int, int, int, int, int, int]]) -> None: ...
    def write_balances(self, rows: Sequence[tuple[int, int, int, int, int, int]]) -> None: ...
    def all_accounts(self) -> Iterator[AccountRow]: ...
    def transfers_by_id(self, ids: Sequence[bytes]) -> list[tuple[int, bytes, bytes]]: ...
    def transfer_at(self, timestamp: int) -> tuple[int, bytes, bytes] | None: ...
    def transfers_at(self, timestamps: Sequence[int]) -> list[tuple[int, bytes, bytes]]: ...
    def all_transfers(self) -> Iterator[tuple[int, bytes, bytes]]: ...
    def latest_transfers(self, limit: int) -> list[tuple[int, bytes, bytes]]: ...
    def pending_at(self, timestamps: Sequence[int]) -> list[tuple[int, int, int, int]]: ...
    def all_pending(self) -> Iterator[tuple[int, int, int, int]]: ...
    def ref_timestamps(self, kind: int, key: bytes, limit: int) -> list[int]: ...
    def accounts_by_user_data(
        self, column: str, value: bytes | int, limit: int
    ) -> list[AccountRow]: ...
    def mark_at_or_after(self, account_timestamp: int, timestamp: int) -> int | None: ...
    def marks_from(self, account_timestamp: int, timestamp: int) -> Iterator[int]: ...
    def history(
        self, account_timestamp: int, minimum: int, maximum: int, limit: int, newest_first: bool
    ) -> list[tuple[int, int, int, int, int]]: ...
    def attestations_by_id(self, ids: Sequence[bytes]) -> list[AttestationRow]: ...
    def attestation_summary(self) -> tuple[int, int]: ...
    def attestation_misfit(self) -> int | None: ...
    def counts(self) -> dict[str, int]: ...


class StoreError(ClearlineError):
    """The store cannot be opened or is not a Clearline ledger."""

    code = "store_error"


def id_bytes(value: int) -> bytes:
    return value.to_bytes(16, "big")


def id_int(value: bytes) -> int:
    return int.from_bytes(value, "big")


def signed64(value: int) -> int:
    """Map an unsigned 64-bit value onto SQLite's signed INTEGER (and back with `unsigned64`)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def unsigned64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


class SqliteStore:
    """The ledger's tables in one SQLite database. Used by the engine's writer thread only."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # ledgers hold personal data
        self.path = directory / DATABASE_FILE
        try:
            self.connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            self._configure()
            self.path.chmod(0o600)
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"cannot open the ledger database {self.path}: {error}; is it a Clearline data "
                f"directory, and is no other process using it?"
            ) from error

    def _configure(self) -> None:
        connection = self.connection
        connection.execute(f"PRAGMA page_size={PAGE_SIZE_BYTES}")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(f"PRAGMA cache_size=-{CACHE_SIZE_KIB}")
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.executescript(_SCHEMA)
        row = connection.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            connection.execute(
                "INSERT INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) in SCHEMA_VERSIONS_UPGRADABLE:  # its new tables were just created
            connection.execute(
                "UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has ledger schema version {row[0]}, this Clearline reads "
                f"{SCHEMA_VERSION}; upgrade Clearline or open another data directory"
            )

    # -- transactions -------------------------------------------------------------------------

    def begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.connection.execute("COMMIT")

    def rollback(self) -> None:
        if self.connection.in_transaction:
            self.connection.execute("ROLLBACK")

    def close(self) -> None:
        self.connection.close()

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement inside the current transaction (for commit hooks of other rooms)."""
        return self.connection.execute(sql, parameters)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self.connection.executemany(sql, rows)

    # -- writes ---------------------------------------------------------------------------------

    def insert_accounts(self, rows: Sequence[AccountRow]) -> None:
        self.connection.executemany("INSERT INTO accounts VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def insert_transfers(self, rows: Sequence[bytes]) -> None:
        """Insert packed `TRANSFER_ROW`s (timestamps ascending); IntegrityError on a known id."""
        start = 0
        while start < len(rows):
            first = int.from_bytes(rows[start][:8], "big")
            end = len(rows)
            if int.from_bytes(rows[end - 1][:8], "big") - first != end - 1 - start:
                end = start + 1  # not one consecutive run: find where this run ends
                while (
                    end < len(rows) and int.from_bytes(rows[end][:8], "big") == first + end - start
                ):
                    end += 1
            self.connection.execute(
                _INSERT_PACKED, (b"".join(rows[start:end]), end - 1 - start, first)
            )
            start = end

    def insert_attestations(self, rows: Sequence[AttestationRow]) -> None:
        """rows: (timestamp, id, code, digest); IntegrityError on a known id."""
        self.connection.executemany("INSERT INTO attestations VALUES(?,?,?,?)", rows)

    def insert_pending(self, rows: Sequence[tuple[int, int, int, int]]) -> None:
        self.connection.executemany("INSERT INTO pending_transfers VALUES(?,?,?,?)", rows)

    def resolve_pending(self, rows: Sequence[tuple[int, int, int]]) -> None:
        """rows: (status, resolved_timestamp, pending_timestamp)."""
        self.connection.executemany(
            "UPDATE pending_transfers SET status=?, resolved_timestamp=? WHERE timestamp=?", rows
        )

    def insert_refs(self, rows: Sequence[tuple[int, bytes, int]]) -> None:
        self.connection.executemany("INSERT INTO transfer_refs VALUES(?,?,?)", rows)

    def insert_marks(self, rows: Sequence[tuple[int, int]]) -> None:
        self.connection.executemany("INSERT INTO account_marks VALUES(?,?)", rows)

    def insert_history(self, rows: Sequence[tuple[int, int, int, int, int, int]]) -> None:
        self.connection.executemany("INSERT INTO account_history VALUES(?,?,?,?,?,?)", rows)

    def write_balances(self, rows: Sequence[tuple[int, int, int, int, int, int]]) -> None:
        """rows: (debits_pending, debits_posted, credits_pending, credits_posted,
        balance_timestamp, account_timestamp)."""
        self.connection.executemany(
            "UPDATE accounts SET debits_pending=?, debits_posted=?, credits_pending=?, "
            "credits_posted=?, balance_timestamp=? WHERE timestamp=?",
            rows,
        )

    def set_meta(self, key: str, value: str) -> None:
        self.connection.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def get_meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- reads ----------------------------------------------------------------------------------

    def accounts_by_id(self, ids: Sequence[bytes]) -> list[AccountRow]:
        return self._select_in("SELECT * FROM accounts WHERE id IN ({})", ids)

    def accounts_by_timestamp(self, timestamps: Sequence[int]) -> list[AccountRow]:
        return self._select_in("SELECT * FROM accounts WHERE timestamp IN ({})", timestamps)

    def all_accounts(self) -> Iterator[AccountRow]:
        yield from self.connection.execute("SELECT * FROM accounts ORDER BY timestamp")

    def transfers_by_id(self, ids: Sequence[bytes]) -> list[tuple[int, bytes, bytes]]:
        return self._select_in("SELECT timestamp, id, body FROM transfers WHERE id IN ({})", ids)

    def transfer_at(self, timestamp: int) -> tuple[int, bytes, bytes] | None:
        row = self.connection.execute(
            "SELECT timestamp, id, body FROM transfers WHERE timestamp=?", (timestamp,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def transfers_at(self, timestamps: Sequence[int]) -> list[tuple[int, bytes, bytes]]:
        return self._select_in(
            "SELECT timestamp, id, body FROM transfers WHERE timestamp IN ({})", timestamps
        )

    def all_transfers(self) -> Iterator[tuple[int, bytes, bytes]]:
        yield from self.connection.execute(
            "SELECT timestamp, id, body FROM transfers ORDER BY timestamp"
        )

    def latest_transfers(self, limit: int) -> list[tuple[int, bytes, bytes]]:
        rows = self.connection.execute(
            "SELECT timestamp, id, body FROM transfers ORDER BY timestamp DESC LIMIT ?", (limit,)
        ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    def attestations_by_id(self, ids: Sequence[bytes]) -> list[AttestationRow]:
        return self._select_in(
            "SELECT timestamp, id, code, digest FROM attestations WHERE id IN ({})", ids
        )

    def attestation_summary(self) -> tuple[int, int]:
        """(how many attestations, the timestamp of the last one or 0)."""
        row = self.connection.execute(
            "SELECT COUNT(*), COALESCE(MAX(timestamp), 0) FROM attestations"
        ).fetchone()
        return int(row[0]), int(row[1])

    def attestation_misfit(self) -> int | None:
        """The timestamp of the first attestation row the ledger could not have written (an id
        that is not 16 bytes, zero or all ones; a code outside 1..65535; a digest that is not 32
        bytes or is all zero; a timestamp an account or a transfer has too), or None."""
        row = self.connection.execute(
            "SELECT a.timestamp FROM attestations a"
            " WHERE typeof(a.id) != 'blob' OR length(a.id) != 16 OR a.id = zeroblob(16)"
            " OR a.id = x'ffffffffffffffffffffffffffffffff'"
            " OR typeof(a.code) != 'integer' OR a.code NOT BETWEEN 1 AND 65535"
            " OR typeof(a.digest) != 'blob' OR length(a.digest) != 32"
            " OR a.digest = zeroblob(32)"
            " OR EXISTS(SELECT 1 FROM transfers t WHERE t.timestamp = a.timestamp)"
            " OR EXISTS(SELECT 1 FROM accounts c WHERE c.timestamp = a.timestamp)"
            " ORDER BY a.timestamp LIMIT 1"
        ).fetchone()
        return None if row is None else int(row[0])

    def pending_at(self, timestamps: Sequence[int]) -> list[tuple[int, int, int, int]]:
        return self._select_in(
            "SELECT timestamp, expires_at, status, resolved_timestamp FROM pending_transfers "
            "WHERE timestamp IN ({})",
            timestamps,
        )

    def all_pending(self) -> Iterator[tuple[int, int, int, int]]:
        yield from self.connection.execute(
            "SELECT timestamp, expires_at, status, resolved_timestamp FROM pending_transfers "
            "ORDER BY timestamp"
        )

    def open_pending(self) -> list[tuple[int, int, int, int]]:
        return list(
            self.connection.execute(
                "SELECT timestamp, expires_at, status, resolved_timestamp FROM pending_transfers "
                "WHERE status = 1 ORDER BY timestamp"
            )
        )

    def ref_timestamps(self, kind: int, key: bytes, limit: int) -> list[int]:
        return [
            row[0]
            for row in self.connection.execute(
                "SELECT timestamp FROM transfer_refs WHERE kind=? AND key=? "
                "ORDER BY timestamp LIMIT ?",
                (kind, key, limit),
            )
        ]

    def accounts_by_user_data(
        self, column: str, value: bytes | int, limit: int
    ) -> list[AccountRow]:
        assert column in ("user_data_128", "user_data_64", "user_data_32")
        return list(
            self.connection.execute(
                f"SELECT * FROM accounts WHERE {column}=? ORDER BY timestamp LIMIT ?",
                (value, limit),
            )
        )

    def mark_at_or_after(self, account_timestamp: int, timestamp: int) -> int | None:
        row = self.connection.execute(
            "SELECT MIN(timestamp) FROM account_marks WHERE account_timestamp=? AND timestamp>=?",
            (account_timestamp, timestamp),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def marks_from(self, account_timestamp: int, timestamp: int) -> Iterator[int]:
        for row in self.connection.execute(
            "SELECT timestamp FROM account_marks WHERE account_timestamp=? AND timestamp>=? "
            "ORDER BY timestamp",
            (account_timestamp, timestamp),
        ):
            yield int(row[0])

    def history(
        self, account_timestamp: int, minimum: int, maximum: int, limit: int, newest_first: bool
    ) -> list[tuple[int, int, int, int, int]]:
        order = "DESC" if newest_first else "ASC"
        return [
            (row[0], row[1], row[2], row[3], row[4])
            for row in self.connection.execute(
                "SELECT timestamp, debits_pending, debits_posted, credits_pending, credits_posted "
                "FROM account_history WHERE account_timestamp=? AND timestamp BETWEEN ? AND ? "
                f"ORDER BY timestamp {order} LIMIT ?",
                (account_timestamp, minimum, maximum, limit),
            )
        ]

    def counts(self) -> dict[str, int]:
        return {
            table: int(self.connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in (
                "accounts",
                "transfers",
                "pending_transfers",
                "account_history",
                "attestations",
            )
        }

    def _select_in(self, sql: str, keys: Sequence[Any]) -> list[Any]:
        rows: list[Any] = []
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start : start + LOOKUP_CHUNK]
            rows.extend(self.connection.execute(sql.format(",".join("?" * len(chunk))), chunk))
        return rows
