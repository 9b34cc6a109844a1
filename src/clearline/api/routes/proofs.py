"""The verifiable log: signed checkpoints, a payment's inclusion proofs, consistency proofs.

Anyone with a key may check the log (a customer its own payments, the latest checkpoint and
consistency); proofs are read off the running ledger on a worker thread, never on the event
loop. A committed step is in the log at once but in a signed checkpoint only when the next one
closes (the node's checkpoint interval): a proof request waits for it, within `PROOF_WAIT_S`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query

from clearline.api import schemas as s
from clearline.api.deps import PlatformDep, resource_id
from clearline.api.guard import READ_ROLES, Caller, GuardedRoute, roles
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.problems import ApiProblem
from clearline.api.render import checkpoint_out
from clearline.chain.reader import InclusionProof
from clearline.core.errors import ClearlineError, InvalidInput
from clearline.core.ids import derive_id, format_id
from clearline.ledger import Ledger
from clearline.payments import proofs

router = APIRouter(route_class=GuardedRoute, tags=["proofs"])
PROOF_WAIT_S = 2.0
"""How long a proof request waits for a checkpoint that covers what it proves."""
PROOF_POLL_S = 0.02
NOT_SEALED = {409: "nothing to prove yet, or not yet in a signed checkpoint: retry in a moment"}
T = TypeVar("T")


async def when_sealed(build: Callable[[], T]) -> T:
    """`build()` on a worker thread, retried while what it proves is not in a checkpoint."""
    deadline = time.monotonic() + PROOF_WAIT_S
    while True:
        try:
            return await asyncio.to_thread(build)
        except ClearlineError as error:
            if error.code != "leaf_not_found":
                raise
            if time.monotonic() > deadline:
                raise ApiProblem(
                    409,
                    "not_sealed_yet",
                    "the latest checkpoint does not cover this yet: retry in a moment",
                ) from None
        await asyncio.sleep(PROOF_POLL_S)


def latest_signed(ledger: Ledger) -> proofs.SignedCheckpoint:
    signed = proofs.latest_checkpoint(ledger)
    if signed is None:
        raise ApiProblem(409, "not_sealed_yet", "the log has no checkpoint yet: retry")
    return signed


def inclusion_out(label: str, transfer_id: int, proof: InclusionProof) -> s.InclusionProofOut:
    return s.InclusionProofOut(
        transfer_id=format_id(transfer_id),
        step=label,
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=proof.leaf_hash.hex(),
        proof=[node.hex() for node in proof.proof],
    )


@router.get(
    "/v1/payments/{payment_id}/proof",
    response_model=s.PaymentProofOut,
    **roles(*READ_ROLES, "customer", responses=NOT_SEALED),
)
async def payment_proof(
    payment_id: s.PathId, caller: Caller, platform: PlatformDep
) -> s.PaymentProofOut:
    """Each ledger transfer of the payment (the payment, its capture, void, review step and
    refunds), with its inclusion proof against the latest signed checkpoint."""
    payment = await platform.payments.payment(resource_id(payment_id, "payment"), caller.scope)
    if payment.status in ("declined", "failed"):
        raise ApiProblem(
            409,
            "nothing_to_prove",
            f"payment {payment_id} is {payment.status}: nothing moved, so nothing is in the "
            f"log; its decision is recorded at /v1/decisions/{payment_id}",
        )
    steps = [("payment", payment.id)] + [
        (label, derive_id(payment.id, label))
        for label in ("capture", "void", "review-approve", "review-reject")
    ]
    steps += [
        ("refund", refund_id) for refund_id, _, _ in platform.payments.records.refunds(payment.id)
    ]
    ledger = platform.ledger

    def build() -> s.PaymentProofOut:
        signed = latest_signed(ledger)
        out = []
        for label, transfer_id in steps:
            proof = proofs.transfer_proof(ledger, transfer_id, signed.checkpoint.size)
            if proof is not None:
                out.append(inclusion_out(label, transfer_id, proof))
        return s.PaymentProofOut(
            payment_id=format_id(payment.id), checkpoint=checkpoint_out(signed), proofs=out
        )

    return await when_sealed(build)


@router.get("/v1/checkpoints", response_model=Page[s.CheckpointOut], **roles(*READ_ROLES))
async def list_checkpoints(
    caller: Caller, platform: PlatformDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[s.CheckpointOut]:
    rows = await asyncio.to_thread(
        proofs.checkpoints_after, platform.ledger, decode_cursor(cursor), limit
    )
    data = [checkpoint_out(row) for row in rows]
    return Page(data=data, next_cursor=next_cursor(data, limit, lambda c: c.size))


@router.get(
    "/v1/checkpoints/latest",
    response_model=s.CheckpointOut,
    **roles(*READ_ROLES, "customer", responses={404: "the log has no checkpoint yet"}),
)
async def latest_checkpoint(caller: Caller, platform: PlatformDep) -> s.CheckpointOut:
    signed = await asyncio.to_thread(proofs.latest_checkpoint, platform.ledger)
    if signed is None:
        raise ApiProblem(404, "no_checkpoint", "the log has no checkpoint yet")
    return checkpoint_out(signed)


@router.get(
    "/v1/proofs/consistency",
    response_model=s.ConsistencyOut,
    **roles(*READ_ROLES, "customer", responses={404: "no checkpoint of one of those sizes"}),
)
async def consistency_proof(
    caller: Caller,
    platform: PlatformDep,
    size1: Annotated[int, Query(alias="from", ge=1, le=2**62)],
    size2: Annotated[int, Query(alias="to", ge=1, le=2**62)],
) -> s.ConsistencyOut:
    """The proof that the checkpoint of size `to` extends the one of size `from`."""
    if size1 > size2:
        raise InvalidInput("from must not be above to", code="invalid_range")
    ledger = platform.ledger

    def build() -> list[bytes]:
        for size in (size1, size2):
            if not proofs.has_checkpoint(ledger, size):
                raise ApiProblem(
                    404,
                    "no_checkpoint",
                    f"no checkpoint of size {size}: list them at /v1/checkpoints",
                )
        return proofs.consistency(ledger, size1, size2)

    proof = await asyncio.to_thread(build)
    return s.ConsistencyOut(size1=size1, size2=size2, proof=[node.hex() for node in proof])
