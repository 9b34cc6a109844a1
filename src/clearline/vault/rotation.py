"""Key rotation: seal every encrypted value with a new key, then forget the old keys.

Steps, each followed by `hook(phase)` when a hook is given (tests kill the process there):
1. `key_added`: a new key is written to the key directory (fsynced file and directory).
2. `current_set`: `current` names the new key (atomically replaced and fsynced).
3. `rows_batch` (after each page of rows) and `rows_updated` (all rows, before COMMIT): in one
   `BEGIN IMMEDIATE` transaction, every token under an older key is sealed again with the new key
   and every plaintext value is encrypted, with `synchronous=FULL` (the COMMIT is fsynced) and
   `secure_delete=ON` when scrubbing.
4. `committed`: the transaction is durable.
5. `keys_removed`: keys no token anywhere in the database references are deleted
   (`remove_unreferenced_keys`).
6. `scrubbed`: VACUUM and a WAL checkpoint(TRUNCATE) leave no old page in the database or WAL.

Why a kill at any point leaves every row decryptable: a row only ever references a key whose file
was durable before the row was written (step 1 before step 3); the transaction commits all rows or
none, so before step 4 every row still references the old keys, which are all still on disk; a key
is deleted only after the commit is durable and only if a scan of every column of every table
finds no token under it; and every file replacement is atomic. Killed between steps, a rerun of
`rotate` finishes the work: it adds another key, and the keys left unreferenced by the interrupted
run are removed by the rerun's step 5.

Callers hold the data directory's lock: no server may have the database or the key ring open
while rotating (its ring would still seal with the old key, which rotation then deletes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from clearline.vault.columns import (
    ColumnCounts,
    EncryptedColumn,
    check_columns,
    migrate_columns,
    remove_unreferenced_keys,
    scrub_database,
    secure_delete,
    transaction,
)
from clearline.vault.errors import RotationRefused
from clearline.vault.keyring import DataKeyRing

PHASES = (
    "key_added",
    "current_set",
    "rows_batch",
    "rows_updated",
    "committed",
    "keys_removed",
    "scrubbed",
)
"""The names `rotate` passes to its hook, in order (`rows_batch` once per page of rows)."""
_SYNCHRONOUS_FULL = 2


@dataclass(frozen=True, slots=True)
class RotationReport:
    """What a rotation did.

    key_id: the new current key.
    rows_reencrypted: tokens under older keys sealed again with it.
    plaintext_encrypted: values that were not tokens yet and now are.
    keys_removed: ids of the keys deleted because no token references them any more.
    scrubbed: whether the database and WAL were rebuilt and truncated (False if `scrub=False`, or
        a reader kept the checkpoint from finishing: call `scrub_database` again later).
    columns: the counts per encrypted column, in the order given.
    """

    key_id: str
    rows_reencrypted: int
    plaintext_encrypted: int
    keys_removed: tuple[str, ...]
    scrubbed: bool
    columns: tuple[ColumnCounts, ...]


def rotate(
    conn: sqlite3.Connection,
    ring: DataKeyRing,
    specs: Sequence[EncryptedColumn],
    *,
    scrub: bool = True,
    hook: Callable[[str], None] | None = None,
) -> RotationReport:
    """Rotate to a new data key (see the module docstring for the steps and why each is safe)."""
    if conn.in_transaction:
        raise RotationRefused("rotate commits its own transaction; call it outside a transaction")
    check_columns(conn, specs)
    journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if journal_mode in ("off", "memory"):
        raise RotationRefused(f"journal_mode={journal_mode} cannot commit atomically; use WAL")
    phase = hook if hook is not None else _no_hook
    key_id = ring.add_key()
    phase("key_added")
    ring.set_current(key_id)
    phase("current_set")
    with _synchronous_full(conn), secure_delete(conn, scrub):
        with transaction(conn):
            counts = migrate_columns(
                conn, ring, specs, reencrypt=True, on_batch=lambda: phase("rows_batch")
            )
            phase("rows_updated")
        phase("committed")
        removed = remove_unreferenced_keys(conn, ring)
        phase("keys_removed")
    scrubbed = scrub_database(conn) if scrub else False
    phase("scrubbed")
    return RotationReport(
        key_id=key_id,
        rows_reencrypted=sum(count.reencrypted for count in counts),
        plaintext_encrypted=sum(count.encrypted for count in counts),
        keys_removed=removed,
        scrubbed=scrubbed,
        columns=counts,
    )


def _no_hook(phase: str) -> None:
    del phase


@contextmanager
def _synchronous_full(conn: sqlite3.Connection) -> Iterator[None]:
    """`PRAGMA synchronous=FULL` for the block, so its COMMIT is fsynced (WAL's NORMAL is not)."""
    before = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    conn.execute(f"PRAGMA synchronous={max(before, _SYNCHRONOUS_FULL)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA synchronous={before}")
