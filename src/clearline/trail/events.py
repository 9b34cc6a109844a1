"""Audit events: who did what to which resource, when, under which idempotency key.

Guarantees:
- An event is immutable and self-describing: the acting key (id and role), the action
  (`customer.create`, `review.approve`, …), the resource (type and id), the time on the
  platform's clock, the request's idempotency key, and details that never hold personal data
  (a changed tier, the limits before and after; never a name or an identity number).
- Its canonical bytes (`canonical`) are JSON with sorted keys and no spaces, UTF-8: the same
  event always gives the same bytes, and its SHA-256 (`digest`) is what the ledger attests into
  the verifiable log, so anyone holding an event can check it against an inclusion proof.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import orjson

from clearline.core.ids import format_id

AuditAction = Literal[
    "customer.create",
    "customer.update",
    "account.create",
    "transfers.create",
    "payment.capture",
    "payment.void",
    "payment.refund",
    "review.approve",
    "review.reject",
    "key.create",
    "key.revoke",
    "data_key.rotate",
    "script.run",
    "contract.create",
    "contract.approve",
    "contract.attest",
    "contract.fulfil",
    "contract.cancel",
    "contract.release",
    "contract.refund",
    "contract.expire",
    "contract.occurrence",
    "customer.document_add",
    "screening.list_load",
]
ACTIONS: tuple[str, ...] = get_args(AuditAction)
"""Every action the trail records (append only: later rooms add theirs to `AuditAction`; the
API's `action` filter is typed by it, so the two never disagree)."""

ATTESTATION_CODE = 1
"""The ledger attestation code of an audit event."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an API key's id and role, and the request's idempotency key (None without
    one). Commands run on the data directory act as `cli` with the admin role."""

    key_id: str
    role: str
    idempotency_key: str | None = None


SYSTEM = Actor("system", "system")
"""The platform itself (a hold expiring, a record recovered after a crash)."""
CLI = Actor("cli", "admin")
"""A `clearline` command run on the data directory by whoever may read its files."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One recorded action. `seq` orders the trail; `id` is the event's ledger attestation id."""

    id: int
    seq: int
    at_ns: int
    actor: Actor
    action: str
    resource_type: str
    resource_id: str
    details: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        """The event as plain data (what the API returns, and what `canonical` encodes)."""
        return {
            "id": format_id(self.id),
            "seq": self.seq,
            "at_ns": self.at_ns,
            "actor_key_id": self.actor.key_id,
            "actor_role": self.actor.role,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "idempotency_key": self.actor.idempotency_key,
            "details": self.details,
        }

    def canonical(self) -> bytes:
        return canonical_bytes(self.document())

    def digest(self) -> bytes:
        return hashlib.sha256(self.canonical()).digest()


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (orjson's output is compact)."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
