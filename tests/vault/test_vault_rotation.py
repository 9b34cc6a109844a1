"""Rotation: every row ends under the new key, the old key is gone from disk and from the files,
and a kill at any phase leaves every row decryptable (a rerun then finishes the rotation)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from clearline.vault import (
    PHASES,
    DataKeyRing,
    EncryptedColumn,
    RotationRefused,
    TokensUndecryptable,
    encrypt_plaintext,
    plaintext_rows,
    rotate,
    token_key_id,
)
from clearline.vault.keyring import KEY_FILE_SUFFIX

Rows = dict[tuple[int, str], str]
AddCustomers = Callable[..., Rows]
CUSTOMERS = 1_200  # three pages of rows per column, so `rows_batch` fires more than once
PLAINTEXT_CUSTOMERS = 100  # added after the first encryption: rotation also encrypts plaintext


def decrypted(
    conn: sqlite3.Connection, ring: DataKeyRing, specs: list[EncryptedColumn]
) -> tuple[Rows, set[str]]:
    """Every encrypted value decrypted (plaintext values as they are), and the keys in use."""
    values: Rows = {}
    key_ids: set[str] = set()
    for spec in specs:
        for row_key, value in conn.execute(f"SELECT id, {spec.column} FROM customers"):
            if value.startswith("pd1."):
                key_ids.add(token_key_id(value))
                value = ring.decrypt(value, spec.row_context(row_key))
            values[(row_key, spec.column)] = value
    return values, key_ids


@pytest.fixture
def populated(
    database: sqlite3.Connection,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    add_customers: AddCustomers,
) -> Rows:
    """Customers encrypted under the first key, then a few more still in plaintext."""
    rows = add_customers(database, CUSTOMERS)
    encrypt_plaintext(database, ring, specs)
    rows |= add_customers(database, PLAINTEXT_CUSTOMERS, start=CUSTOMERS + 1)
    return rows


def test_rotation_reencrypts_every_row_and_forgets_the_old_key(
    database: sqlite3.Connection,
    database_path: Path,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    populated: Rows,
    raw_bytes: Callable[[Path], bytes],
) -> None:
    old = ring.current_key_id
    phases: list[str] = []
    report = rotate(database, ring, specs, hook=phases.append)

    assert report.key_id == ring.current_key_id != old
    assert report.rows_reencrypted == CUSTOMERS * len(specs)
    assert report.plaintext_encrypted == PLAINTEXT_CUSTOMERS * len(specs)
    assert report.keys_removed == (old,) and report.scrubbed
    assert [(count.column, count.reencrypted, count.encrypted) for count in report.columns] == [
        (spec.column, CUSTOMERS, PLAINTEXT_CUSTOMERS) for spec in specs
    ]
    assert [phase for phase in PHASES if phase in phases] == list(PHASES)
    assert phases.count("rows_batch") == 3 * len(specs)
    assert ring.key_ids() == (report.key_id,)
    assert not (ring.directory / f"{old}{KEY_FILE_SUFFIX}").exists()
    assert decrypted(database, ring, specs) == (populated, {report.key_id})

    files = raw_bytes(database_path)
    assert f"pd1.{old}.".encode() not in files, "no token under the old key is left in the files"
    assert [value for value in populated.values() if value.encode() in files] == []
    assert f"pd1.{report.key_id}.".encode() in files  # the scan reads the right bytes
    assert plaintext_rows(database, specs) == 0


def test_rotation_without_scrub_leaves_old_pages_for_scrub_database(
    database: sqlite3.Connection,
    database_path: Path,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    populated: Rows,
    raw_bytes: Callable[[Path], bytes],
) -> None:
    old = ring.current_key_id
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.execute("PRAGMA secure_delete=OFF")
    report = rotate(database, ring, specs, scrub=False)
    assert not report.scrubbed and report.keys_removed == (old,)
    assert f"pd1.{old}.".encode() in raw_bytes(database_path), "the control: old pages remain"


def test_rotation_refuses_undecryptable_tokens_and_changes_nothing(
    database: sqlite3.Connection,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    populated: Rows,
) -> None:
    moved = database.execute("SELECT name FROM customers WHERE id = 1").fetchone()[0]
    database.execute("UPDATE customers SET name = ? WHERE id = 2", (moved,))
    before = database.execute("SELECT * FROM customers ORDER BY id").fetchall()
    with pytest.raises(TokensUndecryptable, match=r"customers.name rowid 2 \(token_rejected\)"):
        rotate(database, ring, specs)
    assert database.execute("SELECT * FROM customers ORDER BY id").fetchall() == before
    assert not database.in_transaction
    assert len(ring.key_ids()) == 2, "the old key stays: rows still use it"


def test_rotation_refuses_inside_a_transaction(
    database: sqlite3.Connection, ring: DataKeyRing, specs: list[EncryptedColumn]
) -> None:
    database.execute("BEGIN")
    with pytest.raises(RotationRefused):
        rotate(database, ring, specs)
    database.execute("ROLLBACK")
    assert len(ring.key_ids()) == 1


@pytest.mark.parametrize("phase", PHASES)
def test_a_failure_at_any_phase_leaves_every_row_decryptable(
    database: sqlite3.Connection,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    populated: Rows,
    phase: str,
) -> None:
    class Injected(Exception):
        pass

    def fail_at(reached: str) -> None:
        if reached == phase:
            raise Injected(phase)

    with pytest.raises(Injected):
        rotate(database, ring, specs, hook=fail_at)
    assert not database.in_transaction
    reopened = DataKeyRing.open(ring.directory)
    assert decrypted(database, reopened, specs)[0] == populated
    report = rotate(database, reopened, specs)
    assert reopened.key_ids() == (report.key_id,)
    assert decrypted(database, reopened, specs) == (populated, {report.key_id})


CRASHING_ROTATION = textwrap.dedent(
    """
    import os, signal, sqlite3, sys
    from pathlib import Path
    from clearline.vault import DataKeyRing, EncryptedColumn, column_context, rotate

    keys, database, phase, occurrence = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA cache_size=8")  # dirty pages spill into the WAL before the COMMIT
    specs = [
        EncryptedColumn("customers", "id", column, column_context("customers", column))
        for column in ("name", "phone", "address")
    ]
    seen = []

    def kill_at(reached):
        seen.append(reached)
        if reached == phase and seen.count(phase) == occurrence:
            os.kill(os.getpid(), signal.SIGKILL)

    rotate(conn, DataKeyRing.open(Path(keys)), specs, hook=kill_at)
    sys.exit(3)  # the kill point was never reached
    """
)
KILL_POINTS = [(phase, 1) for phase in PHASES] + [("rows_batch", 5)]
"""Each phase once, and the middle of the row updates (5th page of 9, second column)."""


@pytest.mark.parametrize(("phase", "occurrence"), KILL_POINTS)
def test_a_kill_at_any_phase_leaves_every_row_decryptable(
    database: sqlite3.Connection,
    database_path: Path,
    ring: DataKeyRing,
    specs: list[EncryptedColumn],
    populated: Rows,
    open_database: Callable[[Path], sqlite3.Connection],
    phase: str,
    occurrence: int,
) -> None:
    old = ring.current_key_id
    database.close()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_ROTATION,
            str(ring.directory),
            str(database_path),
            phase,
            str(occurrence),
        ],
        env=environment,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()

    conn = open_database(database_path)
    reopened = DataKeyRing.open(ring.directory)
    values, used = decrypted(conn, reopened, specs)
    assert values == populated, f"killed at {phase}: every row still decrypts to its value"
    committed = PHASES.index(phase) >= PHASES.index("committed")
    assert used == ({reopened.current_key_id} if committed else {old})

    report = rotate(conn, reopened, specs)
    assert reopened.key_ids() == (report.key_id,), "the rerun removes every key left over"
    assert decrypted(conn, reopened, specs) == (populated, {report.key_id})
