"""Vault fixtures: a key ring in a temporary directory, a WAL database of customers, raw file reads.

- `ring`: a `DataKeyRing` opened on `tmp_path / "keys"` (first run: one key).
- `database`: a connection (autocommit, WAL, synchronous=FULL) to `tmp_path / "customers.db"`
  with a table `customers(id INTEGER PRIMARY KEY, name TEXT, phone TEXT, address TEXT)`, an index
  on `name`, and no rows.
- `specs`: the three encrypted columns of `customers`.
- `add_customers(conn, n, start=1)`: insert `n` customers with distinctive plaintext, return
  {(id, column): plaintext}.
- `open_database(path)`: open (creating if need be) such a database, closed after the test.
- `raw_bytes(path)`: the bytes of the database file and its -wal, as an attacker with the files
  (but not the keys) would read them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clearline.vault import DataKeyRing, EncryptedColumn, column_context

CUSTOMER_COLUMNS = ("name", "phone", "address")


def _open_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS customers "
        "(id INTEGER PRIMARY KEY, name TEXT, phone TEXT, address TEXT)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS customers_by_name ON customers(name)")
    return conn


def _customer_specs() -> list[EncryptedColumn]:
    return [
        EncryptedColumn("customers", "id", column, column_context("customers", column))
        for column in CUSTOMER_COLUMNS
    ]


def plaintext_of(customer_id: int, column: str) -> str:
    return {
        "name": f"Secretname Persona{customer_id:06d}",
        "phone": f"+44790{customer_id:07d}",
        "address": f"{customer_id} Hiddenway Lane, Plaintextville",
    }[column]


def _add_customers(conn: sqlite3.Connection, n: int, start: int = 1) -> dict[tuple[int, str], str]:
    rows = {
        (customer_id, column): plaintext_of(customer_id, column)
        for customer_id in range(start, start + n)
        for column in CUSTOMER_COLUMNS
    }
    conn.executemany(
        "INSERT INTO customers (id, name, phone, address) VALUES (?, ?, ?, ?)",
        [
            (i, *(plaintext_of(i, column) for column in CUSTOMER_COLUMNS))
            for i in range(start, start + n)
        ],
    )
    return rows


def _raw_bytes(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.fixture
def ring(tmp_path: Path) -> DataKeyRing:
    return DataKeyRing.open(tmp_path / "keys")


@pytest.fixture
def database_path(tmp_path: Path) -> Path:
    return tmp_path / "customers.db"


@pytest.fixture
def open_database() -> Iterator[Callable[[Path], sqlite3.Connection]]:
    opened: list[sqlite3.Connection] = []

    def open_(path: Path) -> sqlite3.Connection:
        opened.append(_open_database(path))
        return opened[-1]

    yield open_
    for conn in opened:
        conn.close()


@pytest.fixture
def database(
    database_path: Path, open_database: Callable[[Path], sqlite3.Connection]
) -> sqlite3.Connection:
    return open_database(database_path)


@pytest.fixture
def specs() -> list[EncryptedColumn]:
    return _customer_specs()


@pytest.fixture
def add_customers() -> Callable[..., dict[tuple[int, str], str]]:
    return _add_customers


@pytest.fixture
def raw_bytes() -> Callable[[Path], bytes]:
    return _raw_bytes
