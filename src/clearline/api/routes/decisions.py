"""Risk decisions: every payment's action, score, model and rule versions and reasons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from clearline.api import schemas as s
from clearline.api.deps import PlatformDep, resource_id
from clearline.api.guard import Caller, GuardedRoute, roles
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.render import decision_out

router = APIRouter(route_class=GuardedRoute, tags=["decisions"])
READERS = ("analyst", "operator", "auditor")


@router.get("/v1/decisions", response_model=Page[s.DecisionOut], **roles(*READERS))
async def list_decisions(
    caller: Caller,
    platform: PlatformDep,
    action: Annotated[s.Action | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[s.DecisionOut]:
    rows = platform.payments.list_payments(decode_cursor(cursor), limit, action=action)
    return Page(
        data=[decision_out(p) for p in rows], next_cursor=next_cursor(rows, limit, lambda p: p.seq)
    )


@router.get("/v1/decisions/{payment_id}", response_model=s.DecisionOut, **roles(*READERS))
async def get_decision(
    payment_id: s.PathId, caller: Caller, platform: PlatformDep
) -> s.DecisionOut:
    return decision_out(await platform.payments.payment(resource_id(payment_id, "payment")))
