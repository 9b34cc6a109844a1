"""The operator audit trail (admins and auditors): every action by a key, oldest first, and each
event's proof that it is sealed into the verifiable log. Nothing here changes the trail; no
route does."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from clearline.api import schemas as s
from clearline.api.deps import PlatformDep, resource_id
from clearline.api.guard import Caller, GuardedRoute, roles
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.problems import ApiProblem
from clearline.api.render import checkpoint_out, iso
from clearline.api.routes.proofs import latest_signed, when_sealed
from clearline.chain.encoding import encode
from clearline.core.errors import NotFound
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.payments import proofs
from clearline.trail import AuditAction, AuditEvent, EventFilter

router = APIRouter(route_class=GuardedRoute, tags=["audit"])
READERS = ("auditor",)


def event_out(event: AuditEvent, sealed_through: int) -> s.AuditEventOut:
    document = event.document()
    return s.AuditEventOut(
        id=document["id"],
        seq=event.seq,
        at=iso(event.at_ns) or "",
        actor_key_id=event.actor.key_id,
        actor_role=event.actor.role,
        action=event.action,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        idempotency_key=event.actor.idempotency_key,
        details=event.details,
        sealed=event.seq <= sealed_through,
    )


@router.get("/v1/audit-events", response_model=Page[s.AuditEventOut], **roles(*READERS))
async def list_audit_events(
    caller: Caller,
    platform: PlatformDep,
    action: Annotated[AuditAction | None, Query()] = None,
    resource_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    actor_key_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[s.AuditEventOut]:
    """Oldest first; filter by action, resource id or acting key id."""
    events = platform.trail.page(
        decode_cursor(cursor), limit, EventFilter(action, resource_id, actor_key_id)
    )
    through = platform.trail.sealed_through()
    return Page(
        data=[event_out(event, through) for event in events],
        next_cursor=next_cursor(events, limit, lambda event: event.seq),
    )


@router.get(
    "/v1/audit-events/{event_id}/proof",
    response_model=s.AuditProofOut,
    **roles(*READERS, responses={409: "not sealed into a signed checkpoint yet: retry"}),
)
async def audit_event_proof(
    event_id: s.PathId, caller: Caller, platform: PlatformDep
) -> s.AuditProofOut:
    """The event, the bytes whose SHA-256 the ledger attested, and that attestation's inclusion
    proof against the latest signed checkpoint."""
    identifier = resource_id(event_id, "audit_event")
    event = platform.trail.event(identifier)
    if event is None:
        raise NotFound(f"no audit event {event_id}", code="audit_event_not_found")
    if event.seq > platform.trail.sealed_through():
        raise ApiProblem(
            409, "not_sealed_yet", "the event is not in the log yet: retry in a second"
        )
    ledger = platform.ledger

    def build() -> s.AuditProofOut:
        signed = latest_signed(ledger)
        proof = proofs.attestation_proof(ledger, identifier, signed.checkpoint.size)
        attested = ledger.lookup_attestations([identifier])
        if proof is None or not attested:
            raise ApiProblem(409, "not_sealed_yet", "the event is not in the log yet: retry")
        attestation = attested[0]
        leaf = encode(
            LedgerEvent(
                LedgerEventKind.ATTESTATION_CREATED,
                attestation.timestamp,
                attestation=attestation,
            )
        )
        return s.AuditProofOut(
            event=event_out(event, platform.trail.sealed_through()),
            canonical=event.canonical().decode(),
            digest=event.digest().hex(),
            leaf=leaf.hex(),
            intact=attestation.digest == event.digest(),
            checkpoint=checkpoint_out(signed),
            proof=s.InclusionProofOut(
                transfer_id=event_id,
                step="audit_event",
                leaf_index=proof.leaf_index,
                tree_size=proof.tree_size,
                leaf_hash=proof.leaf_hash.hex(),
                proof=[node.hex() for node in proof.proof],
            ),
        )

    return await when_sealed(build)
