"""The review queue: payments held for an analyst, approved (the hold is posted) or rejected (it is
voided). Each decision is an audit event."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.guard import Caller, GuardedRoute, roles
from clearline.api.idempotency import idempotent
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.render import payment_out
from clearline.api.routes.customers import actor
from clearline.api.routes.payments import STATE, rendered

router = APIRouter(route_class=GuardedRoute, tags=["reviews"])


@router.get(
    "/v1/reviews", response_model=Page[s.PaymentOut], **roles("analyst", "operator", "auditor")
)
async def review_queue(
    caller: Caller, platform: PlatformDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[s.PaymentOut]:
    rows = platform.payments.list_payments(decode_cursor(cursor), limit, status="in_review")
    return Page(
        data=[payment_out(p) for p in rows], next_cursor=next_cursor(rows, limit, lambda p: p.seq)
    )


@router.post(
    "/v1/reviews/{payment_id}/approve",
    response_model=s.PaymentOut,
    **roles("analyst", responses=STATE),
)
async def approve_review(
    payment_id: s.PathId,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    key: IdemKey = None,
) -> Response:
    """Post the held funds (for a manual capture, the hold becomes the authorization)."""
    identifier = resource_id(payment_id, "payment")

    async def handler(_: Any) -> tuple[int, bytes]:
        payment = await platform.payments.holds.approve_review(identifier, actor=actor(caller, key))
        return 200, rendered(payment)

    return await idempotent(request, caller, key, handler)


@router.post(
    "/v1/reviews/{payment_id}/reject",
    response_model=s.PaymentOut,
    **roles("analyst", responses=STATE),
)
async def reject_review(
    payment_id: s.PathId,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    key: IdemKey = None,
) -> Response:
    """Void the hold: the payer keeps the money."""
    identifier = resource_id(payment_id, "payment")

    async def handler(_: Any) -> tuple[int, bytes]:
        payment = await platform.payments.holds.reject_review(identifier, actor=actor(caller, key))
        return 200, rendered(payment)

    return await idempotent(request, caller, key, handler)
