"""The operator audit trail: every action by an API key (who, what, on which resource, when, under
which idempotency key), append-only in the platform database and sealed into the verifiable log
as ledger attestations."""

from clearline.trail.events import ACTIONS, CLI, SYSTEM, Actor, AuditAction, AuditEvent
from clearline.trail.trail import SCHEMA, AuditTrail, EventFilter, TrailCheck

__all__ = [
    "ACTIONS",
    "CLI",
    "SCHEMA",
    "SYSTEM",
    "Actor",
    "AuditAction",
    "AuditEvent",
    "AuditTrail",
    "EventFilter",
    "TrailCheck",
]
