"""The app factory: the HTTP API over an open `Platform`, one router per domain.

Guarantees (each module states its own in detail):
- Every endpoint but `GET /healthz` and the docs needs `Authorization: Bearer KEY`; each route
  names the roles that may call it, and the caller is admitted (authenticated, rate limited,
  authorized) before anything reads or validates the request (`guard`). A customer key sees
  and moves only its own customer's money (another customer's resources answer 404).
- Every error is an RFC 9457 problem document (`problems`), declared in the OpenAPI document
  for every operation that can answer it (`openapi`).
- Every POST accepts an `Idempotency-Key` (`idempotency`).
- Lists are cursor-paginated (`pagination`).
- Background work (hold expiry, sealing the audit trail) runs while the app is served
  (`lifespan`), and stops with it.

A new domain adds one router module under `api/routes/` and one line in `ROUTERS`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from starlette.middleware.body_limit import RequestBodyLimitMiddleware

from clearline.api.docs import install_docs
from clearline.api.edge import BODY_BYTES_MAX, ClearlineAPI, EdgeMiddleware
from clearline.api.guard import Gate
from clearline.api.idempotency import Idempotency
from clearline.api.metrics import Metrics
from clearline.api.problems import allowed_by_path, install
from clearline.api.routes import (
    accounts,
    audit,
    contracts,
    customers,
    decisions,
    documents,
    health,
    keys,
    payments,
    proofs,
    reviews,
    scripts,
    transfers,
)
from clearline.platform import Platform

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    customers.router,
    documents.router,
    accounts.router,
    transfers.router,
    payments.router,
    reviews.router,
    decisions.router,
    proofs.router,
    keys.router,
    audit.router,
    scripts.router,
    contracts.router,
)
DESCRIPTION = (
    "Exact money movement, real-time risk decisions with reasons, and a verifiable settlement "
    "log. Authenticate with `Authorization: Bearer KEY` (`clearline keys create --role ROLE`). "
    "Errors are RFC 9457 problem documents; every POST takes an `Idempotency-Key`."
)


def create_app(platform: Platform, *, expiry_every_s: float = 1.0) -> ClearlineAPI:
    """The API over an open platform (the caller closes the platform)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(platform.run_background(expiry_every_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = ClearlineAPI(
        telemetry={"tracing": False, "metrics": False, "logs": False},  # /metrics has ours
        title="Clearline",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install(app)
    install_docs(app)
    gate = Gate(platform.keys, platform.limiter)
    idempotency = Idempotency(platform.idempotency)
    metrics = Metrics(
        lambda: platform.ledger.stats,
        lambda: platform.limiter.refused,
        lambda: platform.trail.seal_failures,
    )
    app.state.platform, app.state.gate, app.state.idempotency = platform, gate, idempotency
    app.state.metrics = metrics
    for router in ROUTERS:
        app.include_router(router)
    app.state.allowed = allowed_by_path(ROUTERS)
    app.edge_metrics = metrics
    app.fast_routes = {
        **payments.fast_routes(gate, payments.Payer(platform, idempotency, metrics)),
        **transfers.fast_routes(gate, transfers.Batch(platform, idempotency)),
    }
    # inner: a chunked body (no Content-Length) is counted as it arrives and refused past the
    # limit with 413 (the edge refuses a declared Content-Length above it up front)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=BODY_BYTES_MAX)
    app.add_middleware(EdgeMiddleware, metrics=metrics)
    return app
