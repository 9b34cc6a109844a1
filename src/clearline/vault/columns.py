"""Encrypted SQLite columns: which columns hold tokens, and moving their values into tokens.

Guarantees:
- `EncryptedColumn` names a table, its row key column and the encrypted column; the token of a
  value is bound to `context(row key as text)`, so a token copied to another row or column fails
  to decrypt. `check_columns` refuses (listing every problem at once) specs whose table or columns
  do not exist, whose row key is not the primary key or UNIQUE, whose table has no rowid, or whose
  contexts are not bytes distinct across rows and across the listed columns.
- `encrypt_plaintext` turns every non-NULL value that is not yet a token (TEXT, or INTEGER stored
  as its decimal text) into a token, all or nothing: in one `BEGIN IMMEDIATE` transaction it opens
  itself, or, when the connection is already inside a transaction, inside a SAVEPOINT of the
  caller's transaction (which the caller commits). REAL and BLOB values are refused
  (`ColumnValueUnsupported`, every offending row listed) and nothing is changed.
- With `scrub=True` the updates run with `PRAGMA secure_delete=ON` (freed cells and pages are
  zeroed); when the function owns the transaction it then calls `scrub_database` (VACUUM, then a
  WAL checkpoint with TRUNCATE) so no old page is left in the database file or the WAL. Inside a
  caller's transaction VACUUM is impossible: call `scrub_database(conn)` after committing.
- Rows are read in pages of `ROWS_PER_BATCH` by rowid, so memory stays bounded on large tables.
- `referenced_key_ids` scans every column of every table in the main database (not only the listed
  ones) for tokens, also inside larger text such as JSON; `remove_unreferenced_keys` removes only
  keys found nowhere, never the current key, and only once committed data is durable.

Not protected: copies of old pages outside SQLite's files (free blocks of the file system, SSD
wear levelling, snapshots, backups taken earlier); see docs/vault.md.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from clearline.vault.errors import (
    ColumnSpecInvalid,
    ColumnValueUnsupported,
    RotationRefused,
    TokensUndecryptable,
    VaultError,
)
from clearline.vault.keyring import DataKeyRing
from clearline.vault.tokens import TOKEN_PATTERN, is_token, token_key_id

ROWS_PER_BATCH = 512
"""Rows read and updated per page; bounds memory, not atomicity (the transaction spans all)."""
ROWS_LISTED_MAX = 20
"""A refusal lists at most this many rows (rowids), then the count of the rest."""
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN_ANYWHERE = re.compile(TOKEN_PATTERN)
_SAVEPOINT = "clearline_vault"
_SECURE_DELETE_NAMES = {0: "OFF", 1: "ON", 2: "FAST"}
_ROWID_MIN = -(2**63)
_ROWID_MAX = 2**63 - 1


def _prefixed_context(prefix: bytes, row_key: str) -> bytes:
    return prefix + row_key.encode("utf-8")


def column_context(table: str, column: str) -> Callable[[str], bytes]:
    """The recommended context: `clearline.vault/<table>.<column>/<row key>` as UTF-8."""
    return functools.partial(_prefixed_context, f"clearline.vault/{table}.{column}/".encode())


def row_key_text(value: object) -> str:
    """A row key as the text its context is made from: TEXT as is, INTEGER in decimal."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ColumnSpecInvalid(f"a row key is TEXT or INTEGER, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    """One encrypted column.

    table: the table's name (an SQL identifier).
    key_column: the column whose value identifies the row (primary key or UNIQUE), e.g. `id`.
    column: the column holding tokens (NULL stays NULL).
    context: turns the row key, as text (`row_key_text`), into the token's associated data; it
        must name the table and column too (`column_context(table, column)` does).
    """

    table: str
    key_column: str
    column: str
    context: Callable[[str], bytes]

    def __post_init__(self) -> None:
        for name in (self.table, self.key_column, self.column):
            if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
                raise ColumnSpecInvalid(f"{name!r} is not a plain SQL identifier")

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def row_context(self, row_key: object) -> bytes:
        """The associated data of the row whose key column holds `row_key`."""
        return self.context(row_key_text(row_key))


@dataclass(frozen=True, slots=True)
class ColumnCounts:
    """What one pass changed in one column: tokens sealed again, plaintext values encrypted."""

    table: str
    column: str
    reencrypted: int
    encrypted: int


def check_columns(conn: sqlite3.Connection, specs: Sequence[EncryptedColumn]) -> None:
    """Refuse specs that do not match the schema or whose contexts could collide (all reasons)."""
    problems: list[str] = []
    for index, spec in enumerate(specs):
        if any((other.table, other.column) == (spec.table, spec.column) for other in specs[:index]):
            problems.append(f"{spec.name} is listed twice")
        problems.extend(_schema_problems(conn, spec))
    problems.extend(_context_problems(specs))
    if problems:
        raise ColumnSpecInvalid("encrypted columns refused: " + "; ".join(problems))


def _schema_problems(conn: sqlite3.Connection, spec: EncryptedColumn) -> list[str]:
    info = conn.execute(f'PRAGMA main.table_info("{spec.table}")').fetchall()
    if not info:
        return [f"table {spec.table} does not exist"]
    columns = {row[1]: row[5] for row in info}  # name -> position in the primary key (0: none)
    problems = [
        f"{spec.table} has no column {name}"
        for name in (spec.key_column, spec.column)
        if name not in columns
    ]
    if spec.key_column in columns and not _is_unique(conn, spec, columns):
        problems.append(f"{spec.table}.{spec.key_column} is neither the primary key nor UNIQUE")
    try:
        conn.execute(f'SELECT rowid FROM "{spec.table}" LIMIT 0')
    except sqlite3.OperationalError:
        problems.append(f"{spec.table} is a WITHOUT ROWID table")
    return problems


def _is_unique(conn: sqlite3.Connection, spec: EncryptedColumn, columns: dict[str, int]) -> bool:
    primary_key = [name for name, position in columns.items() if position > 0]
    if primary_key == [spec.key_column]:
        return True
    for index in conn.execute(f'PRAGMA main.index_list("{spec.table}")').fetchall():
        if index[2]:  # unique
            indexed = conn.execute(f'PRAGMA main.index_info("{index[1]}")').fetchall()
            if [row[2] for row in indexed] == [spec.key_column]:
                return True
    return False


def _context_problems(specs: Sequence[EncryptedColumn]) -> list[str]:
    problems: list[str] = []
    seen: dict[bytes, str] = {}
    for spec in specs:
        probes = [spec.context("1"), spec.context("2")]
        if not all(isinstance(probe, bytes) and probe for probe in probes):
            problems.append(f"the context of {spec.name} does not return non-empty bytes")
            continue
        if probes[0] == probes[1]:
            problems.append(f"the context of {spec.name} ignores the row key")
        if probes[0] in seen:
            problems.append(f"{spec.name} and {seen[probes[0]]} have the same context")
        seen[probes[0]] = spec.name
    return problems


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[bool]:
    """All or nothing: yields True in a `BEGIN IMMEDIATE` transaction it commits itself, or False
    inside a SAVEPOINT of the caller's open transaction (released into it; the caller commits)."""
    if conn.in_transaction:
        conn.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            yield False
        except BaseException:
            conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
            conn.execute(f"RELEASE {_SAVEPOINT}")
            raise
        conn.execute(f"RELEASE {_SAVEPOINT}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield True
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


@contextmanager
def secure_delete(conn: sqlite3.Connection, enabled: bool = True) -> Iterator[None]:
    """`PRAGMA secure_delete=ON` for the block (freed cells and pages are zeroed), then back."""
    if not enabled:
        yield
        return
    before = int(conn.execute("PRAGMA secure_delete").fetchone()[0])
    conn.execute("PRAGMA secure_delete=ON")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA secure_delete={_SECURE_DELETE_NAMES.get(before, 'ON')}")


def migrate_columns(
    conn: sqlite3.Connection,
    ring: DataKeyRing,
    specs: Sequence[EncryptedColumn],
    *,
    reencrypt: bool,
    on_batch: Callable[[], None] | None = None,
) -> tuple[ColumnCounts, ...]:
    """Inside the caller's transaction: encrypt every plaintext value and, when `reencrypt`, seal
    every token under a non-current key with the current key. Raises (after visiting every row,
    changing rows already visited: the caller rolls back) `ColumnValueUnsupported` or
    `TokensUndecryptable`."""
    assert conn.in_transaction, "migrate_columns runs inside a transaction"
    counts: list[ColumnCounts] = []
    unsupported: list[str] = []
    undecryptable: list[str] = []
    for spec in specs:
        reencrypted = encrypted = 0
        for page in _pages(conn, spec):
            updates: list[tuple[str, int]] = []
            for rowid, row_key, value in page:
                try:
                    new, was_token = _migrate_value(ring, spec, row_key, value, reencrypt)
                except ColumnValueUnsupported as error:
                    unsupported.append(f"{spec.name} rowid {rowid} ({error.message})")
                    continue
                except VaultError as error:  # KeyUnknown, TokenRejected
                    undecryptable.append(f"{spec.name} rowid {rowid} ({error.code})")
                    continue
                if new is not None:
                    updates.append((new, rowid))
                    reencrypted += was_token
                    encrypted += not was_token
            conn.executemany(
                f'UPDATE "{spec.table}" SET "{spec.column}" = ? WHERE rowid = ?', updates
            )
            if on_batch is not None:
                on_batch()
        counts.append(ColumnCounts(spec.table, spec.column, reencrypted, encrypted))
    if unsupported:
        raise ColumnValueUnsupported(
            "only TEXT and INTEGER values with a TEXT or INTEGER row key can be encrypted; "
            f"nothing was changed: {_listed(unsupported)}"
        )
    if undecryptable:
        raise TokensUndecryptable(
            "tokens that cannot be decrypted (restore their key from the key backup, or clear "
            f"the values), nothing was changed: {_listed(undecryptable)}"
        )
    return tuple(counts)


def _migrate_value(
    ring: DataKeyRing, spec: EncryptedColumn, row_key: object, value: object, reencrypt: bool
) -> tuple[str | None, bool]:
    """(the new value or None to leave it, whether it was a token)."""
    if not isinstance(row_key, str | int) or isinstance(row_key, bool):
        raise ColumnValueUnsupported(f"row key is {type(row_key).__name__}, not TEXT or INTEGER")
    if is_token(value):
        assert isinstance(value, str)
        if not reencrypt or token_key_id(value) == ring.current_key_id:
            return None, True
        return ring.reencrypt(value, spec.row_context(row_key)), True
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ColumnValueUnsupported(f"value is {type(value).__name__}, not TEXT or INTEGER")
    return ring.encrypt(value, spec.row_context(row_key)), False


def _pages(
    conn: sqlite3.Connection, spec: EncryptedColumn
) -> Iterator[list[tuple[int, object, object]]]:
    """The non-NULL values of a column with their rowid and row key, a page at a time."""
    query = (
        f'SELECT rowid, "{spec.key_column}", "{spec.column}" FROM "{spec.table}" '
        f'WHERE rowid >= ? AND "{spec.column}" IS NOT NULL ORDER BY rowid LIMIT ?'
    )
    first = _ROWID_MIN
    while True:
        page = conn.execute(query, (first, ROWS_PER_BATCH)).fetchall()
        if not page:
            return
        yield page
        last = page[-1][0]
        if len(page) < ROWS_PER_BATCH or last == _ROWID_MAX:
            return
        first = last + 1


def _listed(rows: list[str]) -> str:
    shown = ", ".join(rows[:ROWS_LISTED_MAX])
    rest = len(rows) - ROWS_LISTED_MAX
    return shown + (f" and {rest} more" if rest > 0 else "")


def encrypt_plaintext(
    conn: sqlite3.Connection,
    ring: DataKeyRing,
    specs: Sequence[EncryptedColumn],
    *,
    scrub: bool = True,
) -> int:
    """Encrypt every non-NULL value of `specs` that is not yet a token; the number encrypted.

    Outside a transaction: one `BEGIN IMMEDIATE` transaction, committed here, then (with `scrub`
    and something encrypted) `scrub_database`. Inside the caller's transaction: a SAVEPOINT in it,
    nothing committed or scrubbed here; call `scrub_database(conn)` after the caller commits."""
    check_columns(conn, specs)
    with secure_delete(conn, scrub), transaction(conn) as owned:
        counts = migrate_columns(conn, ring, specs, reencrypt=False)
    encrypted = sum(count.encrypted for count in counts)
    if owned and scrub and encrypted:
        scrub_database(conn)
    return encrypted


def plaintext_rows(conn: sqlite3.Connection, specs: Sequence[EncryptedColumn]) -> int:
    """How many non-NULL values in `specs` are not tokens yet."""
    check_columns(conn, specs)
    remaining = 0
    for spec in specs:
        for page in _pages(conn, spec):
            remaining += sum(not is_token(value) for _, _, value in page)
    return remaining


def scrub_database(conn: sqlite3.Connection) -> bool:
    """Rebuild the database (VACUUM) and checkpoint the WAL into it, truncating the WAL, so old
    pages (plaintext, tokens under removed keys) are left in neither file. False if a reader kept
    the checkpoint from finishing: run it again when the readers are gone."""
    if conn.in_transaction:
        raise VaultError(
            "scrub_database cannot run inside a transaction; call it after committing",
            code="scrub_inside_transaction",
        )
    conn.execute("VACUUM")
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return bool(busy == 0)


def referenced_key_ids(conn: sqlite3.Connection) -> frozenset[str]:
    """The key ids of every token anywhere in the main database (every table, every column)."""
    found: set[str] = set()
    tables = conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
    ).fetchall()
    for (table,) in tables:
        quoted_table = table.replace('"', '""')
        for column in conn.execute(f'PRAGMA main.table_info("{quoted_table}")').fetchall():
            quoted_column = column[1].replace('"', '""')
            values = conn.execute(
                f'SELECT "{quoted_column}" FROM "{quoted_table}" '
                f"WHERE instr(\"{quoted_column}\", 'pd1.') > 0"
            )
            for (value,) in values:
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                found.update(match.group(1) for match in _TOKEN_ANYWHERE.finditer(text))
    return frozenset(found)


def ensure_committed_durable(conn: sqlite3.Connection) -> None:
    """Return only once every committed transaction is on disk; refuse when that cannot be
    known (synchronous=OFF, a journal in memory or off, a WAL checkpoint blocked by readers)."""
    journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    synchronous = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    if journal_mode in ("off", "memory") or synchronous == 0:
        raise RotationRefused(
            f"journal_mode={journal_mode}, synchronous={synchronous}: commits are not durable, so "
            "keys cannot be removed safely; use WAL (or a rollback journal) with synchronous ≥ 1"
        )
    if journal_mode == "wal" and synchronous < 2:  # NORMAL: the WAL is fsynced at checkpoints
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
        if busy:
            raise RotationRefused(
                "a reader kept the WAL checkpoint from finishing, so the last commit may not be "
                "durable yet; keys were not removed, run again when the readers are gone"
            )


def remove_unreferenced_keys(
    conn: sqlite3.Connection, ring: DataKeyRing, *, keep: Collection[str] = ()
) -> tuple[str, ...]:
    """Remove every key of `ring` that no token in the database references, except the current
    key and `keep` (keys referenced elsewhere, e.g. another database); the ids removed."""
    if conn.in_transaction:
        raise RotationRefused("remove keys only after committing: the scan must see durable rows")
    ensure_committed_durable(conn)
    referenced = referenced_key_ids(conn) | set(keep) | {ring.current_key_id}
    removed = tuple(key_id for key_id in ring.key_ids() if key_id not in referenced)
    for key_id in removed:
        ring.remove_key(key_id)
    return removed
