"""Each room's tables in the platform database, versioned, applied in order at open.

Guarantees:
- A room owns its tables: it declares them as a `Schema` (its name and the steps that build
  them), and the store applies what a database lacks when it opens, each step once, recorded in
  `schema_versions` in the same transaction as the step, so a crash mid-upgrade leaves a database
  at a whole version.
- Step *i* takes a room from version *i* to *i + 1*; a room's version is the number of steps.
  Steps are append-only: a released step never changes (a change is a new step).
- A database written by a newer Clearline (a room's stored version above the steps known here)
  is refused with `schema_too_new`, before anything is written, never downgraded silently.
- The first step of the rooms that predate versioning creates their tables with
  `IF NOT EXISTS`, so a data directory made before versions existed upgrades in place.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from clearline.core.errors import ClearlineError


class SchemaTooNew(ClearlineError):
    """The database holds a room at a version this Clearline does not know."""

    code = "schema_too_new"


@dataclass(frozen=True, slots=True)
class Schema:
    """`room`'s tables: `steps[i]` is the SQL script that brings it from version i to i + 1."""

    room: str
    steps: tuple[str, ...]

    @property
    def version(self) -> int:
        return len(self.steps)


def stored_versions(connection: sqlite3.Connection) -> dict[str, int]:
    rows = connection.execute("SELECT room, version FROM schema_versions").fetchall()
    return {str(room): int(version) for room, version in rows}


def apply(connection: sqlite3.Connection, schemas: Sequence[Schema]) -> dict[str, int]:
    """Bring every room of `schemas` to its version; the versions before (0: new room).

    Runs on the writer's connection in autocommit mode (`isolation_level=None`), before the
    writer thread starts."""
    before = stored_versions(connection)
    names = [schema.room for schema in schemas]
    if len(set(names)) != len(names):
        raise ValueError(f"two schemas for one room: {names}")
    for schema in schemas:
        at = before.get(schema.room, 0)
        if at > schema.version:
            raise SchemaTooNew(
                f"the platform database holds room {schema.room!r} at version {at}, but this "
                f"Clearline knows versions up to {schema.version}: run the newer Clearline "
                "that wrote it"
            )
    for schema in schemas:
        for version in range(before.get(schema.room, 0), schema.version):
            _step(connection, schema.room, version + 1, schema.steps[version])
    return before


def _step(connection: sqlite3.Connection, room: str, version: int, script: str) -> None:
    """One step and its version record in one transaction (DDL is transactional in SQLite)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        for statement in _statements(script):
            connection.execute(statement)
        connection.execute(
            "INSERT INTO schema_versions(room, version, applied_ns) VALUES(?,?,?)"
            " ON CONFLICT(room) DO UPDATE SET version = excluded.version,"
            " applied_ns = excluded.applied_ns",
            (room, version, time.time_ns()),
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """The statements of `script` (`executescript` would commit on its own; this does not)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"an incomplete SQL statement in a schema step: {current.strip()!r}")
    return [statement for statement in statements if statement]
