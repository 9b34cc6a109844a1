"""`GET /healthz` (no key) and `GET /metrics` (Prometheus text; staff roles, never rate limited)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from clearline.api.guard import READ_ROLES, Caller, GuardedRoute, public, roles
from clearline.api.metrics import Metrics
from clearline.payments import proofs

router = APIRouter(route_class=GuardedRoute, tags=["health"])


@router.get("/healthz", **public())
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse, **roles(*READ_ROLES, rate_limited=False))
async def metrics_text(request: Request, caller: Caller) -> Response:
    metrics: Metrics = request.app.state.metrics
    platform = request.app.state.platform
    metrics.log_size = await asyncio.to_thread(proofs.log_size, platform.ledger)
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")
