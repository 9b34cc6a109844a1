"""Encrypted columns: the startup migration inside and outside a caller's transaction, refusals,
scrubbing of old pages, and which keys the database still references."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from clearline.vault import (
    ColumnSpecInvalid,
    ColumnValueUnsupported,
    DataKeyRing,
    EncryptedColumn,
    TokenRejected,
    VaultError,
    column_context,
    encrypt_plaintext,
    is_token,
    plaintext_rows,
    referenced_key_ids,
    remove_unreferenced_keys,
    rotate,
    scrub_database,
    token_key_id,
)

Rows = dict[tuple[int, str], str]
AddCustomers = Callable[..., Rows]


def stored(conn: sqlite3.Connection, customer_id: int, column: str) -> object:
    return conn.execute(f"SELECT {column} FROM customers WHERE id = ?", (customer_id,)).fetchone()[
        0
    ]


def decrypted(
    conn: sqlite3.Connection, ring: DataKeyRing, specs: list[EncryptedColumn]
) -> dict[tuple[int, str], str]:
    values = {}
    for spec in specs:
        for row_key, token in conn.execute(f"SELECT id, {spec.column} FROM customers"):
            if token is not None:
                values[(row_key, spec.column)] = ring.decrypt(token, spec.row_context(row_key))
    return values


def test_encrypts_every_plaintext_value_in_its_own_transaction(
    database: sqlite3.Connection,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
) -> None:
    rows = add_customers(database, 1_300)  # three pages of ROWS_PER_BATCH
    database.execute("UPDATE customers SET address = NULL WHERE id = 7")
    del rows[(7, "address")]
    assert plaintext_rows(database, specs) == len(rows)

    assert encrypt_plaintext(database, ring, specs) == len(rows)
    assert not database.in_transaction
    assert plaintext_rows(database, specs) == 0
    assert stored(database, 7, "address") is None
    assert all(is_token(stored(database, 1_300, column)) for column in ("name", "phone"))
    assert decrypted(database, ring, specs) == rows
    assert encrypt_plaintext(database, ring, specs) == 0  # a second start-up finds nothing to do


def test_inside_a_callers_transaction_the_caller_commits(
    database: sqlite3.Connection,
    database_path: Path,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
    open_database: Callable[[Path], sqlite3.Connection],
) -> None:
    rows = add_customers(database, 600)
    reader = open_database(database_path)

    database.execute("BEGIN IMMEDIATE")
    database.execute("INSERT INTO customers (id, name) VALUES (9999, 'Late Arrival')")
    assert encrypt_plaintext(database, ring, specs) == len(rows) + 1
    assert database.in_transaction, "the caller's transaction is still open"
    assert stored(reader, 1, "name") == rows[(1, "name")], "nothing is visible before the commit"
    database.execute("ROLLBACK")
    assert plaintext_rows(database, specs) == len(rows), "the caller's rollback undoes it all"

    database.execute("BEGIN IMMEDIATE")
    assert encrypt_plaintext(database, ring, specs) == len(rows)
    database.execute("COMMIT")
    assert plaintext_rows(reader, specs) == 0
    assert decrypted(reader, ring, specs) == rows
    assert scrub_database(database)


def test_inside_a_callers_transaction_a_refusal_leaves_the_callers_work(
    database: sqlite3.Connection,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
) -> None:
    add_customers(database, 10)
    database.execute("BEGIN IMMEDIATE")
    database.execute("INSERT INTO customers (id, name, phone) VALUES (50, 'Caller Row', 447900)")
    database.execute("UPDATE customers SET address = X'00ff' WHERE id = 3")
    with pytest.raises(ColumnValueUnsupported, match=r"customers.address rowid 3 \(value is bytes"):
        encrypt_plaintext(database, ring, specs)
    assert database.in_transaction
    assert stored(database, 50, "name") == "Caller Row", "only the vault's SAVEPOINT rolled back"
    assert plaintext_rows(database, specs) == 10 * 3 + 2
    database.execute("COMMIT")


def test_refuses_real_and_blob_values_and_changes_nothing(
    database: sqlite3.Connection, ring: DataKeyRing
) -> None:
    database.execute("CREATE TABLE legacy (id INTEGER PRIMARY KEY, phone, name)")  # no affinity
    database.execute("INSERT INTO legacy VALUES (1, 4.5, 'Ada'), (2, '+4479', X'41'), (3, 7, 'B')")
    specs = [
        EncryptedColumn("legacy", "id", column, column_context("legacy", column))
        for column in ("phone", "name")
    ]
    with pytest.raises(ColumnValueUnsupported) as refused:
        encrypt_plaintext(database, ring, specs)
    assert "legacy.phone rowid 1 (value is float" in str(refused.value)
    assert "legacy.name rowid 2 (value is bytes" in str(refused.value)
    assert plaintext_rows(database, specs) == 6 and not database.in_transaction


def test_integers_are_encrypted_as_their_decimal_text(
    database: sqlite3.Connection, ring: DataKeyRing
) -> None:
    database.execute("CREATE TABLE legacy (id INTEGER PRIMARY KEY, phone INTEGER)")
    database.execute("INSERT INTO legacy VALUES (1, 447900123456)")
    spec = EncryptedColumn("legacy", "id", "phone", column_context("legacy", "phone"))
    assert database.execute("SELECT typeof(phone) FROM legacy").fetchone() == ("integer",)
    assert encrypt_plaintext(database, ring, [spec]) == 1
    (token,) = database.execute("SELECT phone FROM legacy").fetchone()
    assert ring.decrypt(token, spec.row_context(1)) == "447900123456"


def test_a_token_copied_to_another_row_or_column_does_not_decrypt(
    database: sqlite3.Connection,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
) -> None:
    add_customers(database, 2)
    encrypt_plaintext(database, ring, specs)
    name_of_1 = str(stored(database, 1, "name"))
    name, _, address = specs
    with pytest.raises(TokenRejected):
        ring.decrypt(name_of_1, name.row_context(2))
    with pytest.raises(TokenRejected):
        ring.decrypt(name_of_1, address.row_context(1))
    assert ring.decrypt(name_of_1, name.row_context(1)) == "Secretname Persona000001"


def test_column_specs_are_checked_against_the_schema_and_each_other(
    database: sqlite3.Connection, ring: DataKeyRing
) -> None:
    database.execute("CREATE TABLE notes (id INTEGER, body TEXT)")
    database.execute("CREATE TABLE tags (id TEXT PRIMARY KEY, label TEXT) WITHOUT ROWID")
    same = column_context("customers", "name")
    specs = [
        EncryptedColumn("customers", "id", "name", same),
        EncryptedColumn("customers", "id", "name", same),
        EncryptedColumn("customers", "id", "phone", same),
        EncryptedColumn("customers", "id", "email", column_context("customers", "email")),
        EncryptedColumn("accounts", "id", "holder", column_context("accounts", "holder")),
        EncryptedColumn("notes", "id", "body", column_context("notes", "body")),
        EncryptedColumn("tags", "id", "label", column_context("tags", "label")),
        EncryptedColumn("customers", "id", "address", lambda key: b"customers.address"),
    ]
    with pytest.raises(ColumnSpecInvalid) as refused:
        encrypt_plaintext(database, ring, specs)
    message = str(refused.value)
    for problem in (
        "customers.name is listed twice",
        "customers has no column email",
        "table accounts does not exist",
        "notes.id is neither the primary key nor UNIQUE",
        "tags is a WITHOUT ROWID table",
        "customers.phone and customers.name have the same context",
        "the context of customers.address ignores the row key",
    ):
        assert problem in message
    with pytest.raises(ColumnSpecInvalid):
        EncryptedColumn("customers; DROP TABLE customers", "id", "name", same)


def test_a_unique_index_makes_a_row_key(database: sqlite3.Connection, ring: DataKeyRing) -> None:
    database.execute("CREATE TABLE people (number TEXT UNIQUE, name TEXT)")
    database.execute("INSERT INTO people VALUES ('P-1', 'Ada Lovelace'), (NULL, 'No Key')")
    spec = EncryptedColumn("people", "number", "name", column_context("people", "name"))
    with pytest.raises(ColumnValueUnsupported, match="row key is NoneType"):
        encrypt_plaintext(database, ring, [spec])
    database.execute("DELETE FROM people WHERE number IS NULL")
    assert encrypt_plaintext(database, ring, [spec]) == 1
    (token,) = database.execute("SELECT name FROM people").fetchone()
    assert ring.decrypt(token, spec.row_context("P-1")) == "Ada Lovelace"


def test_scrub_leaves_no_plaintext_in_the_files_and_the_check_can_fail(
    database: sqlite3.Connection,
    database_path: Path,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
    raw_bytes: Callable[[Path], bytes],
) -> None:
    rows = add_customers(database, 800)
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the plaintext pages are in the file
    database.execute("PRAGMA secure_delete=OFF")
    assert encrypt_plaintext(database, ring, specs, scrub=False) == len(rows)
    before = raw_bytes(database_path)
    assert sum(value.encode() in before for value in rows.values()) > len(rows) // 2, (
        "without scrubbing the old pages still hold plaintext (the control: the check can fail)"
    )
    assert scrub_database(database)
    after = raw_bytes(database_path)
    assert [value for value in rows.values() if value.encode() in after] == []
    assert b"Secretname" not in after and b"Hiddenway" not in after


def test_encrypt_plaintext_scrubs_by_default(
    database: sqlite3.Connection,
    database_path: Path,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
    raw_bytes: Callable[[Path], bytes],
) -> None:
    add_customers(database, 800)
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    encrypt_plaintext(database, ring, specs)
    after = raw_bytes(database_path)
    assert b"Secretname" not in after and b"Hiddenway" not in after and b"+44790" not in after


def test_scrub_refuses_inside_a_transaction(database: sqlite3.Connection) -> None:
    database.execute("BEGIN")
    with pytest.raises(VaultError, match="after committing"):
        scrub_database(database)
    database.execute("ROLLBACK")


def test_keys_referenced_anywhere_are_kept(
    database: sqlite3.Connection,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
) -> None:
    add_customers(database, 3)
    encrypt_plaintext(database, ring, specs)
    first = ring.current_key_id
    second, third, fourth = ring.add_key(), ring.add_key(), ring.add_key()
    ring.set_current(fourth)
    database.execute("CREATE TABLE audit (id INTEGER PRIMARY KEY, payload TEXT)")
    payload = json.dumps({"old_name": ring.encrypt("Ada", b"audit/1", key_id=second)})
    database.execute("INSERT INTO audit (payload) VALUES (?)", (payload,))

    assert referenced_key_ids(database) == {first, second}
    assert remove_unreferenced_keys(database, ring) == (third,)
    assert set(ring.key_ids()) == {first, second, fourth}
    assert token_key_id(str(stored(database, 1, "name"))) == first
    assert remove_unreferenced_keys(database, ring) == ()


def test_works_with_pythons_default_transaction_handling(
    database_path: Path,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
    open_database: Callable[[Path], sqlite3.Connection],
) -> None:
    open_database(database_path)  # creates the schema
    conn = sqlite3.connect(database_path)  # isolation_level "": Python opens transactions itself
    try:
        rows = add_customers(conn, 20)
        assert conn.in_transaction, "Python began a transaction for the INSERT"
        assert encrypt_plaintext(conn, ring, specs) == len(rows)
        conn.commit()
        add_customers(conn, 5, start=21)
        conn.commit()
        assert encrypt_plaintext(conn, ring, specs) == 15 and not conn.in_transaction
        assert plaintext_rows(conn, specs) == 0
        report = rotate(conn, ring, specs)
        assert report.rows_reencrypted == 75 and ring.key_ids() == (report.key_id,)
    finally:
        conn.close()
