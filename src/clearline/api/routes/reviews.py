"""The review queue: payments held for an analyst, approved (the hold is posted) or rejected (it is
voided). Each decision is an audit event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from clearline.access import Principal
from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.guard import Caller, GuardedRoute, roles
from clearline.api.idempotency import idempotent
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.render import payment_out
from clearline.api.routes.customers import actor
from clearline.api.routes.payments import STATE, rendered
from clearline.payments import Payment

router = APIRouter(route_class=GuardedRoute, tags=["reviews"])

Decide = Callable[..., Awaitable[Payment]]


async def _decide(
    request: Request, caller: Principal, key: str | None, payment_id: int, decide: Decide
) -> Response:
    """An analyst's decision on a held payment, once per Idempotency-Key."""

    async def handler(_: Any) -> tuple[int, bytes]:
        return 200, rendered(await decide(payment_id, actor=actor(caller, key)))

    return await idempotent(request, caller, key, handler)


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
    holds = platform.payments.holds
    return await _decide(
        request, caller, key, resource_id(payment_id, "payment"), holds.approve_review
    )


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
    holds = platform.payments.holds
    return await _decide(
        request, caller, key, resource_id(payment_id, "payment"), holds.reject_review
    )
