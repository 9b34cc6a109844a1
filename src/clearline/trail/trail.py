"""The operator audit trail: every action by an API key, append-only, sealed into the log.

Guarantees:
- Atomic with the action: a room records an event inside the very write that performs the
  action (`append(connection, …)` within a `PlatformStore` write), so an acknowledged action
  always has its event and a refused one never does.
- Append-only: the table refuses UPDATE and DELETE (triggers), and the API has no route that
  changes it. Events carry no personal data (see `events`).
- Sealed: `seal_pending` attests every event not yet sealed into the ledger, in `seq` order,
  as an attestation with the event's id and the SHA-256 of its canonical bytes; the ledger's
  sealer makes each one a leaf of the verifiable log. Attestation ids are the event ids, so a
  retry after a crash is the same attestation (`exists`), and a stored event whose bytes
  changed since it was sealed is caught (`exists_with_different_digest`) and reported, never
  resealed. The background task runs it every `SEAL_EVERY_S`, so an event is in the log within
  about a second; `sealed_through` says how far the trail is sealed.
- Bounded: one pass seals at most `SEAL_BATCH_MAX` events (one ledger batch); pages are at most
  `PAGE_MAX` events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from clearline.core.clock import Clock
from clearline.core.errors import InvariantViolation
from clearline.core.ids import format_id, new_id
from clearline.db import PlatformStore, Schema, next_seq
from clearline.ledger import Attestation, Ledger
from clearline.trail.events import ATTESTATION_CODE, Actor, AuditEvent

log = logging.getLogger(__name__)

SEAL_EVERY_S = 0.5
SEAL_BATCH_MAX = 8_190
PAGE_MAX = 500

SCHEMA = Schema(
    "trail",
    (
        """
CREATE TABLE IF NOT EXISTS audit_events(
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, at_ns INTEGER NOT NULL,
  actor_key_id TEXT NOT NULL, actor_role TEXT NOT NULL, action TEXT NOT NULL,
  resource_type TEXT NOT NULL, resource_id TEXT NOT NULL, idempotency_key TEXT,
  details TEXT NOT NULL, digest BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_resource ON audit_events(resource_id, seq);
CREATE INDEX IF NOT EXISTS audit_events_actor ON audit_events(actor_key_id, seq);
CREATE INDEX IF NOT EXISTS audit_events_action ON audit_events(action, seq);
CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_seal(
  one INTEGER PRIMARY KEY CHECK (one = 1), sealed_seq INTEGER NOT NULL
);
""",
    ),
)

_COLUMNS = (
    "seq, id, at_ns, actor_key_id, actor_role, action, resource_type, resource_id,"
    " idempotency_key, details"
)


VERIFY_REPORT_MAX = 1_000


@dataclass(frozen=True, slots=True)
class TrailCheck:
    """What `AuditTrail.verify` found: events checked, how many are sealed, the ids of events
    whose bytes no longer match their digest or their attestation (`changed`), and of sealed
    events the ledger has no attestation for (`missing`); each list holds at most
    `VERIFY_REPORT_MAX` ids."""

    events: int
    sealed: int
    changed: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def intact(self) -> bool:
        return not self.changed and not self.missing


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a page holds (None: any)."""

    action: str | None = None
    resource_id: str | None = None
    actor_key_id: str | None = None


class AuditTrail:
    """Records, lists and seals the platform's audit events."""

    def __init__(self, store: PlatformStore, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self.seal_failures = 0

    def append(
        self,
        connection: sqlite3.Connection,
        actor: Actor,
        action: str,
        resource_type: str,
        resource_id: str,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Record an event inside the caller's `PlatformStore` write (the action's own)."""
        event = AuditEvent(
            new_id(),
            next_seq(connection, "audit_events"),
            self.clock.now_ns(),
            actor,
            action,
            resource_type,
            resource_id,
            dict(details or {}),
        )
        connection.execute(
            "INSERT INTO audit_events VALUES(?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.seq,
                format_id(event.id),
                event.at_ns,
                actor.key_id,
                actor.role,
                action,
                resource_type,
                resource_id,
                actor.idempotency_key,
                json.dumps(event.details, sort_keys=True),
                event.digest(),
            ),
        )
        return event

    async def record(
        self,
        actor: Actor,
        action: str,
        resource_type: str,
        resource_id: str,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Record an event in a write of its own (for actions that are not platform writes)."""

        def write(connection: sqlite3.Connection) -> AuditEvent:
            return self.append(connection, actor, action, resource_type, resource_id, details)

        return await self.store.write_async(write)

    def record_sync(
        self, actor: Actor, action: str, resource_type: str, resource_id: str, **details: Any
    ) -> AuditEvent:
        def write(connection: sqlite3.Connection) -> AuditEvent:
            return self.append(connection, actor, action, resource_type, resource_id, details)

        return self.store.write_sync(write)

    # -- reading ----------------------------------------------------------------------------

    def page(self, after_seq: int, limit: int, chosen: EventFilter = EventFilter()) -> list[Any]:
        """Events after `after_seq`, oldest first, at most `limit` (≤ `PAGE_MAX`)."""
        where: list[str] = ["seq > ?"]
        parameters: list[object] = [after_seq]
        for column, value in (
            ("action", chosen.action),
            ("resource_id", chosen.resource_id),
            ("actor_key_id", chosen.actor_key_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                parameters.append(value)
        rows = self.store.read(
            f"SELECT {_COLUMNS} FROM audit_events WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
            [*parameters, min(limit, PAGE_MAX)],
        )
        return [_event(row) for row in rows]

    def event(self, event_id: int) -> AuditEvent | None:
        row = self.store.read_one(
            f"SELECT {_COLUMNS} FROM audit_events WHERE id = ?", (format_id(event_id),)
        )
        return None if row is None else _event(row)

    def sealed_through(self) -> int:
        """The highest `seq` whose event (and every earlier one) is attested in the ledger."""
        row = self.store.read_one("SELECT sealed_seq FROM audit_seal WHERE one = 1")
        return 0 if row is None else int(row[0])

    # -- sealing ----------------------------------------------------------------------------

    async def seal_pending(self, ledger: Ledger) -> int:
        """Attest the events after `sealed_through` into the ledger; how many were sealed."""
        rows = self._unsealed()
        if not rows:
            return 0
        results = await ledger.create_attestations_async(_attestations(rows))
        sealed, write = self._after_attesting(rows, results)
        if write is not None:
            await self.store.write_async(write)
        return sealed

    def seal_pending_sync(self, ledger: Ledger) -> int:
        """`seal_pending` from a thread without an event loop (closing the platform)."""
        rows = self._unsealed()
        if not rows:
            return 0
        sealed, write = self._after_attesting(rows, ledger.create_attestations(_attestations(rows)))
        if write is not None:
            self.store.write_sync(write)
        return sealed

    def _unsealed(self) -> list[Any]:
        return self.store.read(
            "SELECT seq, id, digest FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
            (self.sealed_through(), SEAL_BATCH_MAX),
        )

    def _after_attesting(
        self, rows: Sequence[Any], results: Sequence[Any]
    ) -> tuple[int, Callable[[sqlite3.Connection], None] | None]:
        """How many leading rows the ledger now holds, and the write that records it."""
        sealed = _sealed_prefix(rows, results)
        if sealed < len(rows):
            self.seal_failures += 1
            log.error(
                "audit event %s (seq %d) was not sealed: the ledger answered %s",
                rows[sealed][1],
                rows[sealed][0],
                results[sealed].result.value,
            )
        if not sealed:
            return 0, None
        through = int(rows[sealed - 1][0])

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO audit_seal(one, sealed_seq) VALUES(1, ?) ON CONFLICT(one)"
                " DO UPDATE SET sealed_seq = max(sealed_seq, excluded.sealed_seq)",
                (through,),
            )

        return sealed, write

    def verify(self, ledger: Ledger) -> TrailCheck:
        """Check every stored event against the ledger: its canonical bytes still hash to the
        digest recorded with it, and a sealed event's attestation holds that same digest. An
        event edited in the database after it was sealed (past the triggers) is reported."""
        through = self.sealed_through()
        checked = sealed = 0
        changed: list[str] = []
        missing: list[str] = []
        rows = self.store.scan(f"SELECT {_COLUMNS}, digest FROM audit_events ORDER BY seq")
        batch: list[tuple[AuditEvent, bytes]] = []

        def check(batch: list[tuple[AuditEvent, bytes]]) -> None:
            found = {
                attestation.id: attestation.digest
                for attestation in ledger.lookup_attestations(
                    [event.id for event, _ in batch if event.seq <= through]
                )
            }
            for event, stored in batch:
                recomputed = event.digest()
                if recomputed != stored:
                    changed.append(format_id(event.id))
                elif event.seq <= through:
                    attested = found.get(event.id)
                    if attested is None:
                        missing.append(format_id(event.id))
                    elif attested != recomputed:
                        changed.append(format_id(event.id))

        for row in rows:
            event = _event(row)
            checked += 1
            sealed += event.seq <= through
            batch.append((event, bytes(row[10])))
            if len(batch) == SEAL_BATCH_MAX:
                check(batch)
                batch = []
        if batch:
            check(batch)
        return TrailCheck(
            checked, sealed, tuple(changed[:VERIFY_REPORT_MAX]), tuple(missing[:VERIFY_REPORT_MAX])
        )

    async def run_sealer(self, ledger: Ledger, every_s: float = SEAL_EVERY_S) -> None:
        """Background task: keep the log sealing the trail (a failed round is retried)."""
        while True:
            try:
                while await self.seal_pending(ledger) == SEAL_BATCH_MAX:
                    pass
            except Exception:  # keep serving; the next round retries
                log.exception("sealing the audit trail failed")
            await asyncio.sleep(every_s)


def _attestations(rows: Sequence[Any]) -> list[Attestation]:
    return [
        Attestation(id=int(identifier, 16), code=ATTESTATION_CODE, digest=bytes(digest))
        for _, identifier, digest in rows
    ]


def _sealed_prefix(rows: Sequence[Any], results: Sequence[Any]) -> int:
    """How many leading rows the ledger holds now (`ok` or `exists`)."""
    if len(results) != len(rows):
        raise InvariantViolation("the ledger answered a different number of attestations")
    for index, result in enumerate(results):
        if result.result.value not in ("ok", "exists"):
            return index
    return len(rows)


def _event(row: Sequence[Any]) -> AuditEvent:
    return AuditEvent(
        id=int(row[1], 16),
        seq=int(row[0]),
        at_ns=int(row[2]),
        actor=Actor(row[3], row[4], row[8]),
        action=row[5],
        resource_type=row[6],
        resource_id=row[7],
        details=json.loads(row[9]),
    )
