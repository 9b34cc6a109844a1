"""Room schemas: applied in order once, upgraded in place, a newer database refused before
anything is written, a failing step leaves the database at a whole version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clearline.db.schema import Schema, SchemaTooNew
from clearline.db.store import DATABASE_FILE, PlatformStore

V1 = Schema("notes", ("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT NOT NULL);",))
V2 = Schema("notes", (*V1.steps, "ALTER TABLE notes ADD COLUMN author TEXT;"))


def _columns(path: Path) -> list[str]:
    with sqlite3.connect(path / DATABASE_FILE) as connection:
        return [row[1] for row in connection.execute("PRAGMA table_info(notes)")]


def _version(path: Path, room: str) -> int | None:
    with sqlite3.connect(path / DATABASE_FILE) as connection:
        row = connection.execute(
            "SELECT version FROM schema_versions WHERE room = ?", (room,)
        ).fetchone()
    return None if row is None else int(row[0])


def test_a_room_is_created_then_upgraded_in_place(tmp_path: Path) -> None:
    store = PlatformStore(tmp_path, [V1])
    assert store.versions_before == {}
    store.write_sync(lambda c: c.execute("INSERT INTO notes(text) VALUES('kept')"))
    store.close()
    assert _columns(tmp_path) == ["id", "text"] and _version(tmp_path, "notes") == 1
    again = PlatformStore(tmp_path, [V2])
    try:
        assert again.versions_before == {"notes": 1}
        assert again.read("SELECT text, author FROM notes") == [("kept", None)]
    finally:
        again.close()
    assert _version(tmp_path, "notes") == 2
    PlatformStore(tmp_path, [V2]).close()  # nothing left to apply: no error, same version
    assert _version(tmp_path, "notes") == 2


def test_a_database_from_a_newer_clearline_is_refused(tmp_path: Path) -> None:
    PlatformStore(tmp_path, [V2]).close()
    with pytest.raises(SchemaTooNew) as refused:
        PlatformStore(tmp_path, [V1, Schema("other", ("CREATE TABLE other(x);",))])
    assert refused.value.code == "schema_too_new" and "'notes' at version 2" in str(refused.value)
    assert _version(tmp_path, "other") is None  # refused before anything was written


def test_a_failing_step_leaves_the_room_at_its_last_whole_version(tmp_path: Path) -> None:
    PlatformStore(tmp_path, [V1]).close()
    broken = Schema("notes", (*V1.steps, "ALTER TABLE notes ADD COLUMN a TEXT;\nNOT SQL;"))
    with pytest.raises(sqlite3.OperationalError):
        PlatformStore(tmp_path, [broken])
    assert _version(tmp_path, "notes") == 1 and _columns(tmp_path) == ["id", "text"]


def test_two_schemas_for_one_room_are_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two schemas for one room"):
        PlatformStore(tmp_path, [V1, V2])
