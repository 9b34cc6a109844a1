"""Screening lists in the platform database, one version per load that changed them.

Guarantees:
- A load is one transaction: the load's record, its entries and its audit event
  (`screening.list_load`) commit together or not at all. Files are parsed (and refused, with
  `lists.ListFileInvalid`) before anything is written, so a bad file stores nothing.
- Every load is recorded (`screening_loads`): the list, its source format, each file's name,
  SHA-256 and size, the record counts, the time on the platform's clock and who loaded it.
- A load whose entries differ from the list's current ones makes a new version (1, 2, …) and
  reports the diff by `list_id`: added, changed (another content hash), removed. A load with the
  same entries (the same file again) is recorded as `unchanged` and keeps the version.
- Entries are stored as their JSON `document()` with its SHA-256, valid from the version that
  added or changed them until the version that changed or removed them; a version's entries are
  therefore exactly the load's, and `current` reads back what was loaded (checked by hash).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from clearline.aml.screening.model import Entry
from clearline.core.clock import Clock
from clearline.core.errors import InvariantViolation
from clearline.db import PlatformStore, Schema, next_seq
from clearline.trail import Actor, AuditTrail

if TYPE_CHECKING:  # the parsers' libraries (defusedxml, pycountry) load only with a parse
    from clearline.aml.screening.lists import ParsedList, SourceFile

SCHEMA = Schema(
    "screening",
    (
        """
CREATE TABLE screening_loads(
  seq INTEGER PRIMARY KEY, list TEXT NOT NULL, version INTEGER NOT NULL,
  unchanged INTEGER NOT NULL, source TEXT NOT NULL, files TEXT NOT NULL, counts TEXT NOT NULL,
  added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL,
  loaded_ns INTEGER NOT NULL, actor_key_id TEXT NOT NULL, actor_role TEXT NOT NULL
);
CREATE INDEX screening_loads_list ON screening_loads(list, seq);
CREATE TABLE screening_entries(
  list TEXT NOT NULL, list_id TEXT NOT NULL, version_from INTEGER NOT NULL,
  version_to INTEGER, content_sha256 TEXT NOT NULL, document BLOB NOT NULL,
  PRIMARY KEY(list, list_id, version_from)
);
CREATE INDEX screening_entries_current ON screening_entries(list, list_id)
  WHERE version_to IS NULL;
""",
    ),
)
"""An entry row holds from `version_from` up to (not including) `version_to`; NULL: current."""

DIFF_IDS_MAX = 1_000
"""A load's result names at most this many ids of each kind of change (the counts are exact)."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one load did: the list's version after it, whether it changed nothing, the counts
    of the load, and the diff against the version before (ids sorted, at most
    `DIFF_IDS_MAX` of each; `added_count` etc. are exact)."""

    list: str
    version: int
    unchanged: bool
    counts: dict[str, int]
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    added_count: int
    changed_count: int
    removed_count: int
    files: tuple[SourceFile, ...]
    loaded_ns: int


@dataclass(frozen=True, slots=True)
class ListVersion:
    """A list's current version and the load that made it, with the latest load's time."""

    list: str
    version: int
    source: str
    files: tuple[SourceFile, ...]
    counts: dict[str, int]
    loaded_ns: int
    loaded_by: str
    last_load_ns: int

    def document(self) -> dict[str, Any]:
        return {
            "list": self.list,
            "version": self.version,
            "source": self.source,
            "files": [f.document() for f in self.files],
            "counts": dict(self.counts),
            "loaded_ns": self.loaded_ns,
            "loaded_by": self.loaded_by,
            "last_load_ns": self.last_load_ns,
        }


def entry_bytes(entry: Entry) -> bytes:
    """An entry as stored: its document, JSON with sorted keys (the same entry, the same bytes)."""
    return orjson.dumps(entry.document(), option=orjson.OPT_SORT_KEYS)


def counts(entries: Sequence[Entry]) -> dict[str, int]:
    """Record counts of a load: entries, entries per kind, names per role."""
    kinds = Counter(e.kind for e in entries)
    roles = Counter(n.role for e in entries for n in e.names)
    return {
        "entries": len(entries),
        **{f"kind.{k}": v for k, v in sorted(kinds.items())},
        **{f"names.{r}": v for r, v in sorted(roles.items())},
    }


class ScreeningLists:
    """Loads lists into the platform database and reads their current versions."""

    def __init__(self, store: PlatformStore, trail: AuditTrail, clock: Clock) -> None:
        self.store, self.trail, self.clock = store, trail, clock

    def load(self, parsed: ParsedList, actor: Actor) -> LoadResult:
        """Store `parsed` as the list's next version (or record it unchanged)."""
        encoded: dict[str, tuple[str, bytes]] = {}
        for entry in parsed.entries:
            assert entry.list == parsed.list, f"an entry of {entry.list} in {parsed.list}"
            raw = entry_bytes(entry)
            if entry.list_id in encoded:
                raise InvariantViolation(f"{parsed.list} has list_id {entry.list_id} twice")
            encoded[entry.list_id] = (hashlib.sha256(raw).hexdigest(), raw)
        load_counts = counts(parsed.entries)

        def write(connection: sqlite3.Connection) -> LoadResult:
            return self._write(connection, parsed, encoded, load_counts, actor)

        return self.store.write_sync(write)

    def _write(
        self,
        connection: sqlite3.Connection,
        parsed: ParsedList,
        encoded: dict[str, tuple[str, bytes]],
        load_counts: dict[str, int],
        actor: Actor,
    ) -> LoadResult:
        name = parsed.list
        row = connection.execute(
            "SELECT max(version) FROM screening_loads WHERE list = ?", (name,)
        ).fetchone()
        before = int(row[0] or 0)
        current = dict(
            connection.execute(
                "SELECT list_id, content_sha256 FROM screening_entries"
                " WHERE list = ? AND version_to IS NULL",
                (name,),
            ).fetchall()
        )
        added = sorted(i for i in encoded if i not in current)
        removed = sorted(i for i in current if i not in encoded)
        changed = sorted(i for i in encoded if i in current and current[i] != encoded[i][0])
        unchanged = before > 0 and not (added or removed or changed)
        version = before if unchanged else before + 1
        if not unchanged:
            self._apply(connection, name, version, encoded, changed + removed, changed + added)
        now_ns = self.clock.now_ns()
        files = orjson.dumps([f.document() for f in parsed.files]).decode()
        connection.execute(
            "INSERT INTO screening_loads VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                next_seq(connection, "screening_loads"),
                name,
                version,
                int(unchanged),
                parsed.source,
                files,
                orjson.dumps(load_counts, option=orjson.OPT_SORT_KEYS).decode(),
                len(added),
                len(changed),
                len(removed),
                now_ns,
                actor.key_id,
                actor.role,
            ),
        )
        self.trail.append(
            connection,
            actor,
            "screening.list_load",
            "screening_list",
            name,
            {
                "version": version,
                "unchanged": unchanged,
                "source": parsed.source,
                "files": {f.name: f.sha256 for f in parsed.files},
                "entries": len(encoded),
                "added": len(added),
                "changed": len(changed),
                "removed": len(removed),
            },
        )
        return LoadResult(
            name,
            version,
            unchanged,
            load_counts,
            tuple(added[:DIFF_IDS_MAX]),
            tuple(changed[:DIFF_IDS_MAX]),
            tuple(removed[:DIFF_IDS_MAX]),
            len(added),
            len(changed),
            len(removed),
            parsed.files,
            now_ns,
        )

    @staticmethod
    def _apply(
        connection: sqlite3.Connection,
        name: str,
        version: int,
        encoded: dict[str, tuple[str, bytes]],
        closing: list[str],
        opening: list[str],
    ) -> None:
        """End the rows of `closing` at `version`; write the rows of `opening` from it."""
        connection.executemany(
            "UPDATE screening_entries SET version_to = ?"
            " WHERE list = ? AND list_id = ? AND version_to IS NULL",
            [(version, name, list_id) for list_id in closing],
        )
        connection.executemany(
            "INSERT INTO screening_entries VALUES(?,?,?,NULL,?,?)",
            [(name, i, version, encoded[i][0], encoded[i][1]) for i in opening],
        )

    # -- reading ----------------------------------------------------------------------------

    def current(self, name: str) -> list[Entry]:
        """The entries of `name`'s current version, by `list_id` (empty: never loaded)."""
        return self._entries("WHERE list = ? AND version_to IS NULL", (name,))

    def current_all(self) -> list[Entry]:
        """The current entries of every list, by list then `list_id`."""
        return self._entries("WHERE version_to IS NULL", ())

    def at_version(self, name: str, version: int) -> list[Entry]:
        """The entries `name` held at `version`."""
        return self._entries(
            "WHERE list = ? AND version_from <= ? AND (version_to IS NULL OR version_to > ?)",
            (name, version, version),
        )

    def _entries(self, where: str, parameters: tuple[Any, ...]) -> list[Entry]:
        entries: list[Entry] = []
        sql = (
            f"SELECT content_sha256, document FROM screening_entries {where} ORDER BY list, list_id"
        )
        for sha, raw in self.store.scan(sql, parameters):
            if hashlib.sha256(bytes(raw)).hexdigest() != sha:
                raise InvariantViolation(f"a stored screening entry no longer hashes to {sha}")
            entries.append(Entry.from_document(orjson.loads(raw)))
        return entries

    def versions(self) -> list[ListVersion]:
        """Each loaded list's current version, by name."""
        from clearline.aml.screening.lists import SourceFile

        rows = self.store.read(
            "SELECT l.list, l.version, l.source, l.files, l.counts, l.loaded_ns,"
            " l.actor_key_id, (SELECT max(loaded_ns) FROM screening_loads a WHERE a.list = l.list)"
            " FROM screening_loads l WHERE l.unchanged = 0 AND l.version ="
            " (SELECT max(version) FROM screening_loads b WHERE b.list = l.list)"
            " ORDER BY l.list"
        )
        return [
            ListVersion(
                str(name),
                int(version),
                str(source),
                tuple(
                    SourceFile(f["name"], f["sha256"], f["size_bytes"]) for f in orjson.loads(files)
                ),
                dict(orjson.loads(counted)),
                int(loaded_ns),
                str(actor),
                int(last_ns),
            )
            for name, version, source, files, counted, loaded_ns, actor, last_ns in rows
        ]
