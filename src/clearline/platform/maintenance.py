"""Maintenance of a data directory that needs it alone: rotating the data key.

`rotate_data_key(directory)` takes `platform.lock` exclusively (refusing with `PlatformBusy`
while a server or another command has the directory open), brings the platform database to
the current schema, then runs the vault's crash-safe rotation over every encrypted column
(`clearline.platform.root.ENCRYPTED_COLUMNS`: personal data, stored responses): a new key,
every value sealed again under it in one transaction, the file scrubbed of old bytes, the new
key made current, old keys removed. Killed at any point, every row still opens and running it
again completes. The rotation is recorded in the audit trail as `data_key.rotate` by the CLI
actor (the counts and key ids only, never a value).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from clearline.db.store import DATABASE_FILE
from clearline.platform.root import ENCRYPTED_COLUMNS, KEYS_DIRECTORY, DirectoryLock, Records
from clearline.trail import CLI
from clearline.vault import DataKeyRing, rotate


@dataclass(frozen=True, slots=True)
class DataKeyRotation:
    """What a rotation did: the key now current, the values sealed again under it, the values
    found in clear (a database from before encryption) and encrypted, the old keys removed,
    and whether the file was scrubbed of old bytes (False: rerun once readers are gone)."""

    key_id: str
    reencrypted: int
    encrypted: int
    removed: int
    scrubbed: bool


def rotate_data_key(data_directory: Path) -> DataKeyRotation:
    """Rotate the data key of a data directory no other process has open."""
    directory = Path(data_directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = DirectoryLock(directory, exclusive=True)
    try:
        with Records(directory):
            pass  # creates or migrates platform.sqlite, so the tables exist
        ring = DataKeyRing.open(directory / KEYS_DIRECTORY)
        connection = sqlite3.connect(directory / DATABASE_FILE, isolation_level=None)
        try:
            report = rotate(connection, ring, ENCRYPTED_COLUMNS)
        finally:
            connection.close()
        result = DataKeyRotation(
            report.key_id,
            report.rows_reencrypted,
            report.plaintext_encrypted,
            len(report.keys_removed),
            report.scrubbed,
        )
        with Records(directory) as records:
            records.trail.record_sync(
                CLI,
                "data_key.rotate",
                "data_key",
                result.key_id,
                reencrypted=result.reencrypted,
                encrypted=result.encrypted,
                removed=list(report.keys_removed),
            )
        return result
    finally:
        lock.release()
