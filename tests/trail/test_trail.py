"""The audit trail in process: recorded inside the action's write, append-only, filtered pages,
canonical bytes anyone can hash."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearline.core.clock import ManualClock
from clearline.db import PlatformStore
from clearline.trail import SCHEMA, Actor, AuditTrail, EventFilter

ALICE_KEY = Actor("k-alice", "operator", "idem-1")


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[AuditTrail]:
    store = PlatformStore(tmp_path, (SCHEMA,))
    yield AuditTrail(store, ManualClock())
    store.close()


def test_an_event_records_who_what_which_when_and_the_idempotency_key(trail: AuditTrail) -> None:
    event = trail.record_sync(ALICE_KEY, "customer.update", "customer", "c1", tier=2)
    stored = trail.event(event.id)
    assert stored == event
    document = stored.document()
    assert (document["actor_key_id"], document["actor_role"]) == ("k-alice", "operator")
    assert (document["action"], document["resource_type"], document["resource_id"]) == (
        "customer.update",
        "customer",
        "c1",
    )
    assert document["idempotency_key"] == "idem-1" and document["details"] == {"tier": 2}
    assert document["at_ns"] == trail.clock.now_ns()


def test_canonical_bytes_are_stable_and_their_hash_is_the_digest(trail: AuditTrail) -> None:
    event = trail.record_sync(ALICE_KEY, "key.create", "key", "k2", role="auditor")
    canonical = event.canonical()
    assert canonical == json.dumps(event.document(), sort_keys=True, separators=(",", ":")).encode()
    assert event.digest() == hashlib.sha256(canonical).digest()
    assert trail.event(event.id).canonical() == canonical  # read back: the same bytes
    stored = trail.store.read_one("SELECT digest FROM audit_events WHERE seq = ?", (event.seq,))
    assert bytes(stored[0]) == event.digest()


def test_the_table_refuses_update_and_delete(trail: AuditTrail) -> None:
    event = trail.record_sync(ALICE_KEY, "customer.create", "customer", "c1")
    connection = sqlite3.connect(trail.store.path)
    try:
        for statement in (
            "UPDATE audit_events SET action = 'customer.delete'",
            "DELETE FROM audit_events",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                connection.execute(statement)
    finally:
        connection.close()
    assert trail.event(event.id) == event


def test_an_event_is_atomic_with_its_action(trail: AuditTrail) -> None:
    def fails(connection: sqlite3.Connection) -> None:
        trail.append(connection, ALICE_KEY, "customer.create", "customer", "c9")
        raise RuntimeError("the action failed after recording its event")

    with pytest.raises(RuntimeError):
        trail.store.write_sync(fails)
    assert trail.page(0, 10) == []  # the refused action left no event


def test_pages_are_ordered_filtered_and_bounded(trail: AuditTrail) -> None:
    bob = Actor("k-bob", "admin")
    for index in range(6):
        actor = ALICE_KEY if index % 2 else bob
        trail.record_sync(actor, "account.create", "account", f"a{index % 3}")
    every = trail.page(0, 100)
    assert [event.seq for event in every] == sorted(event.seq for event in every)
    assert len(every) == 6
    first, second = trail.page(0, 4), trail.page(every[3].seq, 4)
    assert [e.seq for e in first + second] == [e.seq for e in every]
    assert {e.actor.key_id for e in trail.page(0, 100, EventFilter(actor_key_id="k-bob"))} == {
        "k-bob"
    }
    assert [e.resource_id for e in trail.page(0, 100, EventFilter(resource_id="a1"))] == [
        "a1",
        "a1",
    ]
    assert trail.page(0, 100, EventFilter(action="key.revoke")) == []
    assert len(trail.page(0, 10**6)) == 6  # a huge limit is capped, not an error
