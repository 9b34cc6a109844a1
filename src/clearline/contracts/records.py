"""Contracts and their steps in the platform database.

Guarantees:
- A contract row holds its template, state, parties, terms and the data its state machine keeps
  (approvals given, milestones released), with a version that every step increments.
- A step is recorded `pending` with the ledger operations it will submit (their ids derived from
  the contract and the step) before the ledger sees them; once the ledger has answered, the step
  is completed together with the contract's new state and its audit event, in one transaction.
  So a crash between the two leaves a pending step that `ContractService.recover` drives to the
  end with the same ledger ids (the ledger answers `exists` for what it already has): no step
  is lost or doubled.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from clearline.core.ids import format_id
from clearline.db import PlatformStore
from clearline.db.store import next_seq
from clearline.trail import Actor, AuditEvent, AuditTrail

CONTRACT_STEPS_SQL = """
CREATE TABLE contracts(
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, template TEXT NOT NULL, state TEXT NOT NULL,
  creator_key_id TEXT NOT NULL, parties TEXT NOT NULL, terms TEXT NOT NULL, data TEXT NOT NULL,
  version INTEGER NOT NULL, deadline_ns INTEGER, latest_event_id TEXT,
  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL
);
CREATE INDEX contracts_open ON contracts(deadline_ns) WHERE deadline_ns IS NOT NULL;
CREATE TABLE contract_parties(
  contract_id TEXT NOT NULL, customer_id TEXT, key_id TEXT, seq INTEGER NOT NULL
);
CREATE INDEX contract_parties_customer ON contract_parties(customer_id, seq);
CREATE INDEX contract_parties_key ON contract_parties(key_id, seq);
CREATE TABLE contract_steps(
  contract_id TEXT NOT NULL, step TEXT NOT NULL, status TEXT NOT NULL, action TEXT NOT NULL,
  actor TEXT NOT NULL, operations TEXT NOT NULL, outcome TEXT, event_id TEXT,
  created_ns INTEGER NOT NULL, completed_ns INTEGER,
  PRIMARY KEY(contract_id, step)
);
CREATE INDEX contract_steps_pending ON contract_steps(status) WHERE status = 'pending';
"""
"""The contracts room's second schema step (see `executions.SCHEMA`)."""


@dataclass(frozen=True, slots=True)
class Party:
    """Someone named in a contract: a customer (its keys act as it) or an API key."""

    name: str
    customer_id: int | None = None
    key_id: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "customer_id": None if self.customer_id is None else format_id(self.customer_id),
            "key_id": self.key_id,
        }

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Party:
        customer = data.get("customer_id")
        return cls(data["name"], None if customer is None else int(customer, 16), data["key_id"])


@dataclass(frozen=True, slots=True)
class Contract:
    id: int
    seq: int
    template: str
    state: str
    creator_key_id: str
    parties: tuple[Party, ...]
    terms: Mapping[str, Any]
    data: Mapping[str, Any]
    version: int
    deadline_ns: int | None
    latest_event_id: int | None
    created_ns: int
    updated_ns: int

    def party(self, name: str) -> Party | None:
        return next((p for p in self.parties if p.name == name), None)


@dataclass(frozen=True, slots=True)
class Step:
    contract_id: int
    step: str
    status: str
    action: str
    actor: Actor
    operations: Mapping[str, Any]
    outcome: Mapping[str, Any] | None
    event_id: int | None
    created_ns: int
    completed_ns: int | None


@dataclass(frozen=True, slots=True)
class Transition:
    """What a completed step does to its contract (and the audit event it records)."""

    state: str
    data: Mapping[str, Any]
    action: str
    details: Mapping[str, Any] = field(default_factory=dict)
    deadline_ns: int | None = None
    outcome: Mapping[str, Any] = field(default_factory=dict)
    failed: bool = False  # the step is recorded failed (the contract may go on)


_CONTRACT_COLUMNS = (
    "id, seq, template, state, creator_key_id, parties, terms, data, version, deadline_ns,"
    " latest_event_id, created_ns, updated_ns"
)
_STEP_COLUMNS = (
    "contract_id, step, status, action, actor, operations, outcome, event_id, created_ns,"
    " completed_ns"
)


def _contract(row: Sequence[Any]) -> Contract:
    return Contract(
        id=int(row[0], 16),
        seq=row[1],
        template=row[2],
        state=row[3],
        creator_key_id=row[4],
        parties=tuple(Party.from_document(p) for p in orjson.loads(row[5])),
        terms=json.loads(row[6]),
        data=json.loads(row[7]),
        version=row[8],
        deadline_ns=row[9],
        latest_event_id=None if row[10] is None else int(row[10], 16),
        created_ns=row[11],
        updated_ns=row[12],
    )


def _actor_text(actor: Actor) -> str:
    return orjson.dumps([actor.key_id, actor.role, actor.idempotency_key]).decode()


def _step(row: Sequence[Any]) -> Step:
    key_id, role, idempotency_key = orjson.loads(row[4])
    return Step(
        contract_id=int(row[0], 16),
        step=row[1],
        status=row[2],
        action=row[3],
        actor=Actor(key_id, role, idempotency_key),
        operations=orjson.loads(row[5]),
        outcome=None if row[6] is None else orjson.loads(row[6]),
        event_id=None if row[7] is None else int(row[7], 16),
        created_ns=row[8],
        completed_ns=row[9],
    )


class ContractRecords:
    """Reads and writes of the contract tables."""

    def __init__(self, store: PlatformStore, trail: AuditTrail) -> None:
        self.store, self.trail = store, trail

    # -- reads --------------------------------------------------------------------------------

    def get(self, contract_id: int) -> Contract | None:
        row = self.store.read_one(
            f"SELECT {_CONTRACT_COLUMNS} FROM contracts WHERE id = ?", (format_id(contract_id),)
        )
        return None if row is None else _contract(row)

    def page(
        self,
        after_seq: int,
        limit: int,
        *,
        customer_id: int | None = None,
        key_id: str | None = None,
        state: str | None = None,
    ) -> list[Contract]:
        """Oldest first after `after_seq`; with `customer_id`/`key_id`, only contracts naming
        that customer or key as a party (or created by that key)."""
        where: list[str] = ["c.seq > ?"]
        parameters: list[Any] = [after_seq]
        if customer_id is not None or key_id is not None:
            where.append(
                "(c.creator_key_id = ? OR c.id IN (SELECT contract_id FROM contract_parties"
                " WHERE customer_id = ? OR key_id = ?))"
            )
            customer = None if customer_id is None else format_id(customer_id)
            parameters += [key_id or "", customer or "", key_id or ""]
        if state is not None:
            where.append("c.state = ?")
            parameters.append(state)
        rows = self.store.read(
            f"SELECT {', '.join('c.' + c.strip() for c in _CONTRACT_COLUMNS.split(','))}"
            f" FROM contracts c WHERE {' AND '.join(where)} ORDER BY c.seq LIMIT ?",
            [*parameters, limit],
        )
        return [_contract(row) for row in rows]

    def steps(self, contract_id: int) -> list[Step]:
        rows = self.store.read(
            f"SELECT {_STEP_COLUMNS} FROM contract_steps WHERE contract_id = ?"
            " ORDER BY created_ns, rowid",
            (format_id(contract_id),),
        )
        return [_step(row) for row in rows]

    def step(self, contract_id: int, name: str) -> Step | None:
        row = self.store.read_one(
            f"SELECT {_STEP_COLUMNS} FROM contract_steps WHERE contract_id = ? AND step = ?",
            (format_id(contract_id), name),
        )
        return None if row is None else _step(row)

    def pending_steps(self) -> list[Step]:
        rows = self.store.read(
            f"SELECT {_STEP_COLUMNS} FROM contract_steps WHERE status = 'pending'"
            " ORDER BY created_ns, rowid"
        )
        return [_step(row) for row in rows]

    def due(self, now_ns: int, limit: int = 500) -> list[Contract]:
        """Open contracts whose deadline has passed."""
        rows = self.store.read(
            f"SELECT {_CONTRACT_COLUMNS} FROM contracts WHERE deadline_ns IS NOT NULL"
            " AND deadline_ns <= ? ORDER BY deadline_ns LIMIT ?",
            (now_ns, limit),
        )
        return [_contract(row) for row in rows]

    # -- writes -------------------------------------------------------------------------------

    def begin(
        self,
        contract: Contract | None,
        create: Contract | None,
        step: str,
        action: str,
        actor: Actor,
        operations: Mapping[str, Any],
        now_ns: int,
    ) -> bool:
        """Record step `step` of a contract as pending (inserting the contract first when
        `create` is given). False if that step exists already (a retry: drive it instead)."""

        def write(connection: sqlite3.Connection) -> bool:
            target = create or contract
            assert target is not None
            identifier = format_id(target.id)
            if connection.execute(
                "SELECT 1 FROM contract_steps WHERE contract_id = ? AND step = ?",
                (identifier, step),
            ).fetchone():
                return False
            if create is not None:
                seq = next_seq(connection, "contracts")
                connection.execute(
                    f"INSERT INTO contracts({_CONTRACT_COLUMNS}) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        identifier,
                        seq,
                        create.template,
                        create.state,
                        create.creator_key_id,
                        orjson.dumps([p.document() for p in create.parties]).decode(),
                        json.dumps(dict(create.terms)),  # ids are 128-bit: not orjson
                        json.dumps(dict(create.data)),
                        0,
                        create.deadline_ns,
                        None,
                        now_ns,
                        now_ns,
                    ),
                )
                connection.executemany(
                    "INSERT INTO contract_parties(contract_id, customer_id, key_id, seq)"
                    " VALUES(?,?,?,?)",
                    [
                        (
                            identifier,
                            None if p.customer_id is None else format_id(p.customer_id),
                            p.key_id,
                            seq,
                        )
                        for p in create.parties
                    ],
                )
            connection.execute(
                f"INSERT INTO contract_steps({_STEP_COLUMNS})"
                " VALUES(?,?,'pending',?,?,?,NULL,NULL,?,NULL)",
                (
                    identifier,
                    step,
                    action,
                    _actor_text(actor),
                    orjson.dumps(dict(operations)).decode(),
                    now_ns,
                ),
            )
            return True

        return self.store.write_sync(write)

    def complete(
        self,
        contract: Contract,
        step: str,
        actor: Actor,
        transition: Transition,
        now_ns: int,
        *,
        failed: bool = False,
    ) -> AuditEvent:
        """Complete a pending step: the contract's new state and data, its audit event, the
        step's outcome, in one transaction."""

        def write(connection: sqlite3.Connection) -> AuditEvent:
            identifier = format_id(contract.id)
            event = self.trail.append(
                connection,
                actor,
                transition.action,
                "contract",
                identifier,
                {
                    "template": contract.template,
                    "step": step,
                    "state": transition.state,
                    "version": contract.version + 1,
                    **transition.details,
                },
            )
            connection.execute(
                "UPDATE contracts SET state = ?, data = ?, version = version + 1,"
                " deadline_ns = ?, latest_event_id = ?, updated_ns = ? WHERE id = ?",
                (
                    transition.state,
                    json.dumps(dict(transition.data)),
                    transition.deadline_ns,
                    format_id(event.id),
                    now_ns,
                    identifier,
                ),
            )
            connection.execute(
                "UPDATE contract_steps SET status = ?, outcome = ?, event_id = ?,"
                " completed_ns = ? WHERE contract_id = ? AND step = ?",
                (
                    "failed" if failed else "done",
                    orjson.dumps(dict(transition.outcome)).decode(),
                    format_id(event.id),
                    now_ns,
                    identifier,
                    step,
                ),
            )
            return event

        return self.store.write_sync(write)
