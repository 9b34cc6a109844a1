"""The HTTP API (FastAPI): customers, accounts, transfers, payments, reviews, decisions, balances,
statements, checkpoints and proofs, keys, health and metrics.

Guarantees:
- Every endpoint but `GET /healthz` needs `Authorization: Bearer KEY`; each route names the roles
  that may call it, and a customer key sees and moves only its own customer's money (another
  customer's resources answer 404, as if they did not exist).
- Every error is an RFC 9457 problem document (`clearline.api.problems`).
- Every POST accepts an `Idempotency-Key` header: a replay with the same body returns the first
  response; the same key with a different body is 409; a replay while the first is still running
  is 409 too (retry later). Payments store their idempotent response in the same commit as the
  payment, and derive the payment id from the key, so a retry after a crash is the same payment.
- Lists are cursor-paginated: `?limit=` (1–500) and the `next_cursor` of the previous page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearline.api import schemas as s
from clearline.api.docs import install_docs
from clearline.api.keys import KeyInfo, KeyStore, Principal, require
from clearline.api.metrics import Metrics
from clearline.api.problems import ApiProblem, install, problem_for
from clearline.core.assets import asset as asset_of
from clearline.core.bloom import BloomFilter
from clearline.core.errors import ClearlineError, InvalidInput
from clearline.core.ids import new_id, new_ids
from clearline.core.money import format_units
from clearline.kyc import Limits
from clearline.ledger import AMOUNT_MAX
from clearline.ledger.types import trusted_transfer
from clearline.payments import model as m
from clearline.payments import proofs
from clearline.payments.model import AccountInfo, Customer, NotFound, Payment, derive_id
from clearline.payments.service import PaymentRequest, PaymentService, payment_id_for

log = logging.getLogger(__name__)
T = TypeVar("T")
BODY_BYTES_MAX = 4 * 1024 * 1024
LIMIT_DEFAULT = 50
LIMIT_MAX = 500
READ_ROLES = ("operator", "analyst", "auditor")
PROOF_WAIT_S = 2.0
"""How long a proof request waits for a checkpoint that covers the payment."""
PROOF_POLL_S = 0.02


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


# -- small helpers ----------------------------------------------------------------------------


def iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def amount(units: int, asset_spec: str) -> str:
    return format_units(units, asset_of(asset_spec).scale)


def minor_units(text: str, asset_spec: str, scale: int) -> int:
    """Minor units of an amount the schema already matched against `AMOUNT_PATTERN` (digits, an
    optional point and decimals), refusing more decimals than the asset allows, zero, and
    amounts the ledger cannot hold. Every amount in a request body comes through here (a batch
    parses 8,190 of them; `Money.parse` per amount would dominate its cost)."""
    whole, _, fraction = text.partition(".")
    if len(fraction) > scale:
        raise InvalidInput(
            f"amount {text!r} has {len(fraction)} decimals but {asset_spec} allows {scale}",
            code="too_many_decimals",
        )
    units: int = int(whole) * 10**scale + (int(fraction.ljust(scale, "0")) if scale else 0)
    if units <= 0:
        raise InvalidInput("amount must be more than zero", code="amount_not_positive")
    if units > AMOUNT_MAX:
        raise InvalidInput(
            f"amount {text!r} is above the largest amount the ledger holds", code="amount_too_large"
        )
    return units


def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(
            "cursor is not one this API returned: pass next_cursor unchanged",
            code="invalid_cursor",
        ) from None
    if value < 0:
        raise InvalidInput("cursor is not one this API returned", code="invalid_cursor")
    return value


def page(items: list[Any], limit: int, last_key: Callable[[Any], int]) -> str | None:
    return encode_cursor(last_key(items[-1])) if len(items) == limit and items else None


def customer_out(customer: Customer) -> s.CustomerOut:
    return s.CustomerOut(
        id=m.format_id(customer.id),
        name=customer.name,
        kind=customer.kind,
        tier=customer.tier,
        country=customer.country,
        limits={
            "per_payment_usd": customer.per_payment_limit_usd,
            "per_day_usd": customer.per_day_limit_usd,
        },
        created_at=iso(customer.created_ns) or "",
    )


def account_out(info: AccountInfo) -> s.AccountOut:
    return s.AccountOut(
        id=m.format_id(info.id),
        customer_id=None if info.customer_id is None else m.format_id(info.customer_id),
        asset=info.asset,
        kind=info.kind,
        created_at=iso(info.created_ns) or "",
    )


def decision_out(payment: Payment) -> s.DecisionOut:
    return s.DecisionOut(
        payment_id=m.format_id(payment.id),
        action=payment.action,
        score=payment.score,
        model_version=payment.model_version,
        rules_version=payment.rules_version,
        reasons=payment.reasons,
        decided_at=iso(payment.created_ns) or "",
    )


def payment_document(payment: Payment) -> dict[str, Any]:
    """A payment as the API shows it (the shape of `schemas.PaymentOut`), as plain data: the
    payment path renders it straight to JSON without building models."""
    asset_spec = payment.asset
    scale = asset_of(asset_spec).scale
    created = iso(payment.created_ns) or ""
    updated = created if payment.updated_ns == payment.created_ns else iso(payment.updated_ns)
    return {
        "id": f"{payment.id:032x}",
        "status": payment.status,
        "customer_id": f"{payment.customer_id:032x}",
        "source_account_id": f"{payment.source_account_id:032x}",
        "destination_account_id": f"{payment.destination_account_id:032x}",
        "amount": format_units(payment.amount, scale),
        "asset": asset_spec,
        "payment_type": payment.payment_type,
        "channel": payment.channel,
        "capture": payment.capture,
        "captured": format_units(payment.captured, scale),
        "refunded": format_units(payment.refunded, scale),
        "refusal": payment.refusal,
        "expires_at": iso(payment.expires_ns),
        "reference": payment.reference,
        "decision": {
            "payment_id": f"{payment.id:032x}",
            "action": payment.action,
            "score": payment.score,
            "model_version": payment.model_version,
            "rules_version": payment.rules_version,
            "reasons": payment.reasons,
            "decided_at": created,
        },
        "created_at": created,
        "updated_at": updated or "",
    }


def payment_out(payment: Payment) -> s.PaymentOut:
    return s.PaymentOut.model_validate(payment_document(payment))


def key_out(info: KeyInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "role": info.role,
        "customer_id": None if info.customer_id is None else m.format_id(info.customer_id),
        "label": info.label,
        "created_at": iso(info.created_ns),
        "revoked_at": iso(info.revoked_ns),
    }


def checkpoint_out(signed: proofs.SignedCheckpoint) -> s.CheckpointOut:
    point = signed.checkpoint
    return s.CheckpointOut(
        origin=point.origin,
        size=point.size,
        root_hash=point.root.hex(),
        previous_hash=point.previous_hash.hex(),
        time_ns=point.time_ns,
        note=signed.note,
    )


def limits_in(value: s.LimitsIn | None) -> Limits | None:
    if value is None:
        return None
    return Limits(
        None if value.per_payment_usd is None else Decimal(value.per_payment_usd),
        None if value.per_day_usd is None else Decimal(value.per_day_usd),
    )


def dumps(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()


def validated_json(raw: bytes, content_type: str | None, schema: Any) -> Any:
    """`raw` validated against `schema` (a model class or a `TypeAdapter`), refused exactly as
    FastAPI refuses a body parameter: a problem document naming each field at fault."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if raw and not (media_type == "application/json" or media_type.endswith("+json")):
        raise RequestValidationError(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "send a JSON object with Content-Type: application/json",
                    "input": None,
                }
            ]
        )
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        if isinstance(schema, TypeAdapter):
            return schema.validate_json(raw)
        return schema.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
        ) from None


# -- idempotency -------------------------------------------------------------------------------


class Reply:
    """A JSON response before it is sent: by FastAPI routes as a `Response`, by the fast lane as
    raw ASGI messages."""

    __slots__ = ("body", "replayed", "status")

    def __init__(self, status: int, body: bytes, *, replayed: bool = False) -> None:
        self.status, self.body, self.replayed = status, body, replayed

    def response(self) -> Response:
        headers = {"Idempotent-Replayed": "true"} if self.replayed else None
        return Response(
            self.body, status_code=self.status, media_type="application/json", headers=headers
        )


def _slot_bytes(principal: str, key: str) -> bytes:
    return f"{principal}\0{key}".encode()


class Idempotency:
    """Stored responses of POSTs sent with an `Idempotency-Key`."""

    def __init__(self, service: PaymentService) -> None:
        self.service = service
        self._running: set[tuple[str, str]] = set()
        # Every key that may have a stored response: those stored before this start, and every
        # key this process begins to run (added before its handler, so a response committed by
        # a handler that then fails is still looked up). A key not in it needs no database read.
        # the largest rowid bounds the row count without a pass over the table (count(*) is one)
        rows = service.store.read_one("SELECT coalesce(max(rowid), 0) FROM idempotency")[0]
        self._seen = BloomFilter(capacity=max(1 << 16, 2 * rows))
        for principal, key in service.store.scan("SELECT principal, key FROM idempotency"):
            self._seen.add(_slot_bytes(principal, key))

    def fingerprint(self, target: str, body: bytes) -> str:
        """`target` ("POST /v1/payments") and the body, whatever its key order and spacing."""
        try:
            canonical = orjson.dumps(orjson.loads(body or b"null"), option=orjson.OPT_SORT_KEYS)
        except orjson.JSONDecodeError:
            canonical = body
        return hashlib.sha256(f"{target}\n".encode() + canonical).hexdigest()

    def stored(self, principal: str, key: str, fingerprint: str) -> Reply | None:
        row = self.service.store.read_one(
            "SELECT fingerprint, status, body FROM idempotency WHERE principal = ? AND key = ?",
            (principal, key),
        )
        if row is None:
            return None
        if row[0] != fingerprint:
            raise ApiProblem(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request: use a new key for a "
                "new request",
            )
        return Reply(row[1], bytes(row[2]), replayed=True)

    async def run(
        self,
        target: str,
        body: bytes,
        principal: Principal,
        key: str | None,
        handler: Callable[[tuple[str, str, str] | None], Awaitable[tuple[int, bytes]]],
        *,
        saves_itself: bool = False,
        stored_as: Callable[[bytes], bytes] | None = None,
    ) -> Reply:
        """Run `handler` once per key; `target` ("POST /v1/payments") and `body` are the
        request the key stands for. `saves_itself`: the handler stores the response in its own
        commit (payments), so no second write is needed; `stored_as`: what of the response may
        be stored for replays (a new API key's secret never is)."""
        if key is None:
            status, payload = await handler(None)
            return Reply(status, payload)
        if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
            raise InvalidInput(
                "Idempotency-Key must be 1–255 printable ASCII characters",
                code="invalid_idempotency_key",
            )
        fingerprint = self.fingerprint(target, body)
        seen = _slot_bytes(principal.key_id, key)
        if seen in self._seen:
            replay = self.stored(principal.key_id, key, fingerprint)
            if replay is not None:
                return replay
        slot = (principal.key_id, key)
        if slot in self._running:
            raise ApiProblem(
                409,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still running: retry in a moment",
            )
        self._running.add(slot)
        self._seen.add(seen)
        try:
            status, payload = await handler((principal.key_id, key, fingerprint))
            if 200 <= status < 300 and not saves_itself:
                kept = payload if stored_as is None else stored_as(payload)
                await self._save(principal.key_id, key, fingerprint, status, kept)
        finally:
            self._running.discard(slot)
        return Reply(status, payload)

    async def _save(
        self, principal: str, key: str, fingerprint: str, status: int, body: bytes
    ) -> None:
        now = time.time_ns()

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT OR IGNORE INTO idempotency VALUES(?,?,?,?,?,?)",
                (principal, key, fingerprint, status, body, now),
            )

        await self.service.store.write_async(write)


# -- the app -----------------------------------------------------------------------------------


class EdgeMiddleware:
    """Refuses bodies over `BODY_BYTES_MAX` and records request counts and latencies (a plain
    ASGI middleware: no extra task per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        for name, value in scope["headers"]:
            if name == b"content-length" and _declares_too_large(value):
                response = problem_for(_too_large(), scope["method"], scope["path"])
                await response(scope, receive, send)
                return
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(route, scope["method"], status["code"], elapsed)


FastHandler = Callable[[dict[bytes, bytes], bytes], Awaitable[Reply]]
"""A fast-lane route: (headers by lower-case name, body) -> the reply; errors are raised."""


class ClearlineAPI(FastAPI):
    """FastAPI with a fast lane: the hottest routes (`POST /v1/payments`, `POST /v1/transfers`)
    are served straight from the ASGI scope, without the framework's dozen middleware layers,
    request and response objects (together a fifth of a payment's CPU in bench.api). Their
    FastAPI routes stay declared for the OpenAPI document; the fast lane answers with the same
    authentication, schema, problem documents, body limit and metrics."""

    fast_routes: dict[tuple[str, str], FastHandler]
    edge_metrics: Metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.fast_routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await self._fast(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _fast(self, handler: FastHandler, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        # a repeated header: the first one counts, as Starlette's `Headers.get` reads it
        headers: dict[bytes, bytes] = dict(reversed(scope["headers"]))
        try:
            body = await _body(headers, receive)
            if body is None:  # the client went away: nothing to answer
                return
            reply = await handler(headers, body)
        except Exception as error:
            if not isinstance(
                error, ApiProblem | ClearlineError | RequestValidationError | TypeError
            ):
                log.exception("%s %s failed", method, path)
            response = problem_for(error, method, path)
            status = response.status_code
            await response(scope, receive, send)
        else:
            status = reply.status
            response_headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(reply.body)),
            ]
            if reply.replayed:
                response_headers.append((b"idempotent-replayed", b"true"))
            await send(
                {"type": "http.response.start", "status": status, "headers": response_headers}
            )
            await send({"type": "http.response.body", "body": reply.body})
        self.edge_metrics.observe_request(path, method, status, time.perf_counter() - started)


async def _body(headers: dict[bytes, bytes], receive: Receive) -> bytes | None:
    """The whole request body; `ApiProblem` 413 past `BODY_BYTES_MAX` (declared or counted),
    None when the client disconnected."""
    declared = headers.get(b"content-length")
    if declared is not None and _declares_too_large(declared):
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > BODY_BYTES_MAX:
                raise _too_large()
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    """A request header as text (HTTP header values are Latin-1, as Starlette reads them)."""
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


def _declares_too_large(content_length: bytes) -> bool:
    """A Content-Length that is not a number, or is over `BODY_BYTES_MAX`."""
    return not content_length.isdigit() or int(content_length) > BODY_BYTES_MAX


def _too_large() -> ApiProblem:
    return ApiProblem(
        413,
        "payload_too_large",
        f"the request body is over {BODY_BYTES_MAX} bytes: split the batch",
    )


async def principal_of(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    keys: KeyStore = request.app.state.keys
    return keys.authenticate(authorization)


Caller = Annotated[Principal, Depends(principal_of)]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]
Limit = Annotated[int, Query(ge=1, le=LIMIT_MAX)]


def create_app(service: PaymentService, *, expiry_every_s: float = 1.0) -> ClearlineAPI:
    """The API over an open `PaymentService` (the caller closes the service)."""
    keys = KeyStore(service.store)
    idempotency = Idempotency(service)
    log_size = {"value": 0}
    metrics = Metrics(lambda: service.ledger.stats, lambda: log_size["value"])

    async def idempotent(
        request: Request,
        caller: Principal,
        key: str | None,
        handler: Callable[[tuple[str, str, str] | None], Awaitable[tuple[int, bytes]]],
        **options: Any,
    ) -> Response:
        body = b"" if key is None else await request.body()
        target = f"{request.method} {request.url.path}"
        reply = await idempotency.run(target, body, caller, key, handler, **options)
        return reply.response()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(service.run_expiry(expiry_every_s))
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
        docs_url=None,  # install_docs serves the docs pages without a CDN
        redoc_url=None,
        description=(
            "Exact money movement, real-time risk decisions with reasons, and a verifiable "
            "settlement log. Authenticate with `Authorization: Bearer KEY` "
            "(`clearline keys create --role admin`)."
        ),
        lifespan=lifespan,
    )
    install(app)
    install_docs(app)
    app.fast_routes, app.edge_metrics = {}, metrics
    app.state.service, app.state.keys, app.state.metrics = service, keys, metrics

    # inner: a chunked body (no Content-Length) is counted as it arrives and refused past the
    # limit with 413 (the edge refuses a declared Content-Length above it up front)
    app.add_middleware(RequestBodyLimitMiddleware, max_body_size=BODY_BYTES_MAX)
    app.add_middleware(EdgeMiddleware, metrics=metrics)

    # -- health and metrics --------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def metrics_text(caller: Caller) -> Response:
        require(caller, *READ_ROLES)
        log_size["value"] = await asyncio.to_thread(proofs.log_size, service.ledger)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    # -- customers -------------------------------------------------------------------------------

    def visible_customer(caller: Principal, customer_id: int) -> Customer:
        if caller.scope is not None and caller.scope != customer_id:
            raise NotFound(f"no customer {m.format_id(customer_id)}", code="customer_not_found")
        return service.customer(customer_id)

    @app.post("/v1/customers", status_code=201, tags=["customers"], response_model=s.CustomerOut)
    async def create_customer(
        body: s.CustomerIn, request: Request, caller: Caller, key: IdemKey = None
    ) -> Response:
        require(caller, "operator")

        async def handler(_: Any) -> tuple[int, bytes]:
            customer = await service.create_customer(
                body.name,
                body.kind,
                body.tier,
                body.country,
                limits_in(body.limits),
                customer_id=None
                if key is None
                else derive_id(payment_id_for(caller.key_id, key), "customer"),
            )
            return 201, dumps(customer_out(customer))

        return await idempotent(request, caller, key, handler)

    @app.get("/v1/customers", tags=["customers"], response_model=Page[s.CustomerOut])
    async def list_customers(
        caller: Caller, limit: Limit = LIMIT_DEFAULT, cursor: str | None = None
    ) -> Page[s.CustomerOut]:
        if caller.scope is not None:
            customer = service.customer(caller.scope)
            return Page(data=[customer_out(customer)], next_cursor=None)
        require(caller, *READ_ROLES)
        rows = service.list_customers(decode_cursor(cursor), limit)
        return Page(
            data=[customer_out(c) for _, c in rows],
            next_cursor=page(rows, limit, lambda row: row[0]),
        )

    @app.get("/v1/customers/{customer_id}", tags=["customers"], response_model=s.CustomerOut)
    async def get_customer(customer_id: str, caller: Caller) -> s.CustomerOut:
        if caller.scope is None:
            require(caller, *READ_ROLES)
        return customer_out(visible_customer(caller, m.parse_id(customer_id, "customer_id")))

    @app.patch("/v1/customers/{customer_id}", tags=["customers"], response_model=s.CustomerOut)
    async def update_customer(
        customer_id: str, body: s.CustomerPatch, caller: Caller
    ) -> s.CustomerOut:
        require(caller, "operator")
        customer = await service.update_customer(
            m.parse_id(customer_id, "customer_id"), tier=body.tier, limits=limits_in(body.limits)
        )
        return customer_out(customer)

    # -- accounts --------------------------------------------------------------------------------

    def visible_account(caller: Principal, account_id: int) -> AccountInfo:
        info = service.account(account_id)
        if caller.scope is not None and info.customer_id != caller.scope:
            raise NotFound(f"no account {m.format_id(account_id)}", code="account_not_found")
        return info

    @app.post("/v1/accounts", status_code=201, tags=["accounts"], response_model=s.AccountOut)
    async def create_account(
        body: s.AccountIn, request: Request, caller: Caller, key: IdemKey = None
    ) -> Response:
        require(caller, "operator")
        customer_id = (
            None if body.customer_id is None else m.parse_id(body.customer_id, "customer_id")
        )

        async def handler(_: Any) -> tuple[int, bytes]:
            info = await service.create_account(
                customer_id,
                body.asset,
                body.kind,
                account_id=None
                if key is None
                else derive_id(payment_id_for(caller.key_id, key), "account"),
            )
            return 201, dumps(account_out(info))

        return await idempotent(request, caller, key, handler)

    @app.get("/v1/accounts", tags=["accounts"], response_model=Page[s.AccountOut])
    async def list_accounts(
        caller: Caller,
        customer_id: Annotated[str | None, Query(pattern=s.ID_PATTERN)] = None,
        limit: Limit = LIMIT_DEFAULT,
        cursor: str | None = None,
    ) -> Page[s.AccountOut]:
        wanted = None if customer_id is None else m.parse_id(customer_id, "customer_id")
        if caller.scope is not None:
            if wanted is not None and wanted != caller.scope:
                return Page(data=[], next_cursor=None)
            wanted = caller.scope
        else:
            require(caller, *READ_ROLES)
        rows = service.list_accounts(wanted, decode_cursor(cursor), limit)
        return Page(
            data=[account_out(info) for _, info in rows],
            next_cursor=page(rows, limit, lambda row: row[0]),
        )

    @app.get("/v1/accounts/{account_id}", tags=["accounts"], response_model=s.AccountOut)
    async def get_account(account_id: str, caller: Caller) -> s.AccountOut:
        if caller.scope is None:
            require(caller, *READ_ROLES)
        return account_out(visible_account(caller, m.parse_id(account_id, "account_id")))

    @app.get("/v1/accounts/{account_id}/balance", tags=["accounts"], response_model=s.BalanceOut)
    async def get_balance(account_id: str, caller: Caller) -> s.BalanceOut:
        if caller.scope is None:
            require(caller, *READ_ROLES)
        info = visible_account(caller, m.parse_id(account_id, "account_id"))
        account = await service.balances(info.id)
        a = info.asset
        return s.BalanceOut(
            account_id=m.format_id(info.id),
            asset=a,
            posted=amount(account.credits_posted - account.debits_posted, a),
            available=amount(
                account.credits_posted - account.debits_posted - account.debits_pending, a
            ),
            debits_pending=amount(account.debits_pending, a),
            credits_pending=amount(account.credits_pending, a),
            debits_posted=amount(account.debits_posted, a),
            credits_posted=amount(account.credits_posted, a),
        )

    @app.get(
        "/v1/accounts/{account_id}/statement",
        tags=["accounts"],
        response_model=Page[s.StatementLine],
    )
    async def get_statement(
        account_id: str, caller: Caller, limit: Limit = LIMIT_DEFAULT, cursor: str | None = None
    ) -> Page[s.StatementLine]:
        if caller.scope is None:
            require(caller, *READ_ROLES)
        info = visible_account(caller, m.parse_id(account_id, "account_id"))
        lines = await service.statement(info.id, decode_cursor(cursor), limit)
        data = [
            s.StatementLine(
                transfer_id=m.format_id(t.id),
                timestamp=t.timestamp,
                direction="debit" if t.debit_account_id == info.id else "credit",
                amount=amount(t.amount, info.asset),
                balance=None if balance is None else amount(balance, info.asset),
                code=t.code,
                payment_id=m.format_id(t.user_data_128) if t.user_data_128 else None,
                pending=bool(t.flags & 2),
            )
            for t, balance in lines
        ]
        return Page(data=data, next_cursor=page(data, limit, lambda line: line.timestamp))

    # -- transfers -------------------------------------------------------------------------------

    @app.post("/v1/transfers", tags=["transfers"], response_model=s.TransfersOut)
    async def create_transfers(
        body: s.TransfersIn, request: Request, caller: Caller, key: IdemKey = None
    ) -> Response:
        """Up to 8,190 transfers in one ledger batch. Every transfer is checked before any
        moves: one bad transfer refuses the whole batch. Without client ids, ids are derived
        from the Idempotency-Key when there is one (a retry is the same transfers). (Served by
        `create_transfers_fast`, which validates the same schema without a model per transfer;
        this route documents it.)"""
        items: list[dict[str, Any]] = [item.model_dump() for item in body.transfers]
        raw = b"" if key is None else await request.body()
        return (await transfer_batch(items, body.atomic, caller, key, raw)).response()

    async def create_transfers_fast(headers: dict[bytes, bytes], body: bytes) -> Reply:
        caller = keys.authenticate(_header(headers, b"authorization"))
        document = validated_json(body, _header(headers, b"content-type"), s.TRANSFER_BATCH)
        items: list[dict[str, Any]] = document["transfers"]
        atomic = bool(document.get("atomic", False))
        return await transfer_batch(
            items, atomic, caller, _header(headers, b"idempotency-key"), body
        )

    app.fast_routes["POST", "/v1/transfers"] = create_transfers_fast

    async def transfer_batch(
        items: list[dict[str, Any]], atomic: bool, caller: Principal, key: str | None, raw: bytes
    ) -> Reply:
        require(caller, "operator")
        base = None if key is None else payment_id_for(caller.key_id, key)
        batch = []
        accounts: dict[int, AccountInfo] = service.accounts
        scales: dict[str, int] = {}
        fresh = new_ids(len(items)) if base is None else []
        for index, item in enumerate(items):
            try:
                debit = m.parse_id(item["debit_account_id"], "debit_account_id")
                credit = m.parse_id(item["credit_account_id"], "credit_account_id")
                asset_spec = item["asset"]
                for side in (debit, credit):
                    found = accounts.get(side)
                    if found is None:
                        raise NotFound(f"no account {m.format_id(side)}", code="account_not_found")
                    if found.asset != asset_spec:
                        raise InvalidInput(
                            f"account {m.format_id(side)} holds {found.asset}, not {asset_spec}",
                            code="asset_mismatch",
                        )
                scale = scales.get(asset_spec)
                if scale is None:
                    scale = scales[asset_spec] = asset_of(asset_spec).scale
                given = item.get("id")
                if given is not None:
                    identifier = m.parse_id(given, "id")
                elif base is not None:
                    identifier = derive_id(base, f"transfer {index}")
                else:
                    identifier = fresh[index]
                batch.append(  # every field was checked just above (or by the schema)
                    trusted_transfer(
                        identifier,
                        debit,
                        credit,
                        minor_units(item["amount"], asset_spec, scale),
                        item.get("code", 5),
                    )
                )
            except (InvalidInput, NotFound) as error:
                raise ApiProblem(
                    422 if isinstance(error, InvalidInput) else 404,
                    error.code,
                    f"transfers[{index}]: {error.message}; nothing was moved",
                ) from None

        async def handler(_: Any) -> tuple[int, bytes]:
            results = await service.create_transfers(batch, atomic=atomic)
            ok = sum(1 for r in results if r.ok)
            document = {
                "results": [
                    {
                        "index": r.index,
                        "id": f"{batch[r.index].id:032x}",
                        "result": r.result.value,
                        "timestamp": r.timestamp,
                    }
                    for r in results
                ],
                "ok": ok,
                "failed": len(results) - ok,
            }
            return 200, orjson.dumps(document)

        return await idempotency.run("POST /v1/transfers", raw, caller, key, handler)

    # -- payments --------------------------------------------------------------------------------

    def rendered(payment: Payment) -> bytes:
        return orjson.dumps(payment_document(payment))

    async def pay(body: s.PaymentIn, raw: bytes, caller: Principal, key: str | None) -> Reply:
        if caller.role != "customer":
            require(caller, "operator")
        payment_request = PaymentRequest(
            source_account_id=m.parse_id(body.source_account_id, "source_account_id"),
            destination_account_id=m.parse_id(
                body.destination_account_id, "destination_account_id"
            ),
            amount=minor_units(body.amount, body.asset, asset_of(body.asset).scale),
            asset=body.asset,
            payment_type=body.payment_type,
            channel=body.channel,
            capture=body.capture,
            device_id=body.device_id,
            merchant_category=body.merchant_category,
            destination_country=body.destination_country,
            reference=body.reference,
        )
        if key is None:
            payment = await service.create_payment(payment_request, customer_scope=caller.scope)
            metrics.decisions.labels(payment.action).inc()
            return Reply(201, rendered(payment))

        async def handler(slot: tuple[str, str, str] | None) -> tuple[int, bytes]:
            assert slot is not None and key is not None
            identifier = payment_id_for(caller.key_id, key)
            bodies: list[bytes] = []

            def render_once(payment: Payment) -> bytes:
                bodies.append(rendered(payment))
                return bodies[-1]

            payment = await service.create_payment(
                payment_request,
                payment_id=identifier,
                customer_scope=caller.scope,
                idempotency=slot,
                response=render_once,
            )
            metrics.decisions.labels(payment.action).inc()
            return 201, bodies[-1] if bodies else rendered(payment)

        return await idempotency.run(
            "POST /v1/payments", raw, caller, key, handler, saves_itself=True
        )

    @app.post("/v1/payments", status_code=201, tags=["payments"], response_model=s.PaymentOut)
    async def create_payment(
        body: s.PaymentIn, request: Request, caller: Caller, key: IdemKey = None
    ) -> Response:
        """Validate → tier limits → risk decision → ledger. (Served by `create_payment_fast` in
        the fast lane, which does the same without the framework's layers; this route documents
        it in the OpenAPI spec.)"""
        raw = b"" if key is None else await request.body()
        return (await pay(body, raw, caller, key)).response()

    async def create_payment_fast(headers: dict[bytes, bytes], raw: bytes) -> Reply:
        caller = keys.authenticate(_header(headers, b"authorization"))
        body = validated_json(raw, _header(headers, b"content-type"), s.PaymentIn)
        return await pay(body, raw, caller, _header(headers, b"idempotency-key"))

    app.fast_routes["POST", "/v1/payments"] = create_payment_fast

    @app.get("/v1/payments", tags=["payments"], response_model=Page[s.PaymentOut])
    async def list_payments(
        caller: Caller,
        status: Annotated[str | None, Query(pattern=r"^[a-z_]{1,20}$")] = None,
        limit: Limit = LIMIT_DEFAULT,
        cursor: str | None = None,
    ) -> Page[s.PaymentOut]:
        if caller.scope is None:
            require(caller, *READ_ROLES)
        rows = service.list_payments(
            decode_cursor(cursor), limit, customer_scope=caller.scope, status=status
        )
        return Page(
            data=[payment_out(p) for p in rows], next_cursor=page(rows, limit, lambda p: p.seq)
        )

    @app.get("/v1/payments/{payment_id}", tags=["payments"], response_model=s.PaymentOut)
    async def get_payment(payment_id: str, caller: Caller) -> s.PaymentOut:
        if caller.scope is None:
            require(caller, *READ_ROLES)
        payment = await service.payment(m.parse_id(payment_id, "payment_id"), caller.scope)
        return payment_out(payment)

    def step_scope(caller: Principal, payment: Payment) -> None:
        """Capture, void and refund: operators, or the customer who was paid (the merchant)."""
        if caller.role == "customer":
            if caller.scope != payment.destination_customer_id:
                raise NotFound(f"no payment {m.format_id(payment.id)}", code="payment_not_found")
        else:
            require(caller, "operator")

    async def step_target(
        payment_id: str, caller: Principal, body: s.CaptureIn | s.RefundIn | None
    ) -> tuple[int, int | None]:
        """The payment a capture or refund acts on (visible and allowed to this caller), and
        the amount asked for in minor units (None: all of it)."""
        identifier = m.parse_id(payment_id, "payment_id")
        found = await service.payment(identifier, caller.scope)
        step_scope(caller, found)
        if body is None or body.amount is None:
            return identifier, None
        return identifier, minor_units(body.amount, found.asset, asset_of(found.asset).scale)

    @app.post("/v1/payments/{payment_id}/capture", tags=["payments"], response_model=s.PaymentOut)
    async def capture_payment(
        payment_id: str,
        request: Request,
        caller: Caller,
        body: s.CaptureIn | None = None,
        key: IdemKey = None,
    ) -> Response:
        identifier, wanted = await step_target(payment_id, caller, body)

        async def handler(_: Any) -> tuple[int, bytes]:
            return 200, rendered(await service.capture(identifier, wanted))

        return await idempotent(request, caller, key, handler)

    @app.post("/v1/payments/{payment_id}/void", tags=["payments"], response_model=s.PaymentOut)
    async def void_payment(
        payment_id: str, request: Request, caller: Caller, key: IdemKey = None
    ) -> Response:
        identifier = m.parse_id(payment_id, "payment_id")
        step_scope(caller, await service.payment(identifier, caller.scope))

        async def handler(_: Any) -> tuple[int, bytes]:
            return 200, rendered(await service.void(identifier))

        return await idempotent(request, caller, key, handler)

    @app.post(
        "/v1/payments/{payment_id}/refunds",
        status_code=201,
        tags=["payments"],
        response_model=s.RefundOut,
    )
    async def refund_payment(
        payment_id: str,
        request: Request,
        caller: Caller,
        body: s.RefundIn | None = None,
        key: IdemKey = None,
    ) -> Response:
        identifier, wanted = await step_target(payment_id, caller, body)

        async def handler(_: Any) -> tuple[int, bytes]:
            refund_id = (
                new_id() if key is None else derive_id(payment_id_for(caller.key_id, key), "refund")
            )
            payment, refund_id, refunded = await service.refund(identifier, wanted, refund_id)
            out = s.RefundOut(
                id=m.format_id(refund_id),
                payment_id=m.format_id(payment.id),
                amount=amount(refunded, payment.asset),
                asset=payment.asset,
                payment=payment_out(payment),
            )
            return 201, dumps(out)

        return await idempotent(request, caller, key, handler)

    @app.get("/v1/payments/{payment_id}/proof", tags=["proofs"], response_model=s.PaymentProofOut)
    async def payment_proof(payment_id: str, caller: Caller) -> s.PaymentProofOut:
        if caller.scope is None:
            require(caller, *READ_ROLES)
        payment = await service.payment(m.parse_id(payment_id, "payment_id"), caller.scope)
        if payment.status in ("declined", "failed"):
            raise ApiProblem(
                409,
                "nothing_to_prove",
                f"payment {payment_id} is {payment.status}: nothing moved, so nothing is in the "
                "log; its decision is recorded at /v1/decisions/{payment_id}",
            )
        steps = [("payment", payment.id)] + [
            (label, derive_id(payment.id, label))
            for label in ("capture", "void", "review-approve", "review-reject")
        ]
        steps += [("refund", refund_id) for refund_id, _, _ in service.refunds(payment.id)]

        def build() -> s.PaymentProofOut:
            signed = proofs.latest_checkpoint(service.ledger)
            if signed is None:
                raise ApiProblem(409, "not_sealed_yet", "the log has no checkpoint yet: retry")
            out = []
            for label, transfer_id in steps:
                proof = proofs.transfer_proof(service.ledger, transfer_id, signed.checkpoint.size)
                if proof is None:
                    continue
                out.append(
                    s.InclusionProofOut(
                        transfer_id=m.format_id(transfer_id),
                        step=label,
                        leaf_index=proof.leaf_index,
                        tree_size=proof.tree_size,
                        leaf_hash=proof.leaf_hash.hex(),
                        proof=[node.hex() for node in proof.proof],
                    )
                )
            return s.PaymentProofOut(
                payment_id=m.format_id(payment.id), checkpoint=checkpoint_out(signed), proofs=out
            )

        # A committed step is in the log at once but in a signed checkpoint only when the next
        # one closes (the node's checkpoint interval): wait for it, within a bound.
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
                        "the latest checkpoint does not cover this payment yet: retry in a moment",
                    ) from None
            await asyncio.sleep(PROOF_POLL_S)

    # -- reviews and decisions -------------------------------------------------------------------

    @app.get("/v1/reviews", tags=["reviews"], response_model=Page[s.PaymentOut])
    async def review_queue(
        caller: Caller, limit: Limit = LIMIT_DEFAULT, cursor: str | None = None
    ) -> Page[s.PaymentOut]:
        require(caller, "analyst", "operator", "auditor")
        rows = service.list_payments(decode_cursor(cursor), limit, status="in_review")
        return Page(
            data=[payment_out(p) for p in rows], next_cursor=page(rows, limit, lambda p: p.seq)
        )

    @app.post("/v1/reviews/{payment_id}/approve", tags=["reviews"], response_model=s.PaymentOut)
    async def approve_review(
        payment_id: str, request: Request, caller: Caller, key: IdemKey = None
    ) -> Response:
        require(caller, "analyst")
        identifier = m.parse_id(payment_id, "payment_id")

        async def handler(_: Any) -> tuple[int, bytes]:
            return 200, rendered(await service.approve_review(identifier))

        return await idempotent(request, caller, key, handler)

    @app.post("/v1/reviews/{payment_id}/reject", tags=["reviews"], response_model=s.PaymentOut)
    async def reject_review(
        payment_id: str, request: Request, caller: Caller, key: IdemKey = None
    ) -> Response:
        require(caller, "analyst")
        identifier = m.parse_id(payment_id, "payment_id")

        async def handler(_: Any) -> tuple[int, bytes]:
            return 200, rendered(await service.reject_review(identifier))

        return await idempotent(request, caller, key, handler)

    @app.get("/v1/decisions", tags=["decisions"], response_model=Page[s.DecisionOut])
    async def list_decisions(
        caller: Caller,
        action: Annotated[str | None, Query(pattern=r"^(approve|review|decline)$")] = None,
        limit: Limit = LIMIT_DEFAULT,
        cursor: str | None = None,
    ) -> Page[s.DecisionOut]:
        require(caller, "analyst", "operator", "auditor")
        after = decode_cursor(cursor)
        rows = (
            service.list_payments(after, limit)
            if action is None
            else service.list_payments_by_action(after, limit, action)
        )
        return Page(
            data=[decision_out(p) for p in rows], next_cursor=page(rows, limit, lambda p: p.seq)
        )

    @app.get("/v1/decisions/{payment_id}", tags=["decisions"], response_model=s.DecisionOut)
    async def get_decision(payment_id: str, caller: Caller) -> s.DecisionOut:
        require(caller, "analyst", "operator", "auditor")
        return decision_out(await service.payment(m.parse_id(payment_id, "payment_id")))

    # -- the log ---------------------------------------------------------------------------------

    @app.get("/v1/checkpoints", tags=["proofs"], response_model=Page[s.CheckpointOut])
    async def list_checkpoints(
        caller: Caller, limit: Limit = LIMIT_DEFAULT, cursor: str | None = None
    ) -> Page[s.CheckpointOut]:
        require(caller, *READ_ROLES)
        rows = await asyncio.to_thread(
            proofs.checkpoints_after, service.ledger, decode_cursor(cursor), limit
        )
        data = [checkpoint_out(row) for row in rows]
        return Page(data=data, next_cursor=page(data, limit, lambda c: c.size))

    @app.get("/v1/checkpoints/latest", tags=["proofs"], response_model=s.CheckpointOut)
    async def latest_checkpoint(caller: Caller) -> s.CheckpointOut:
        if caller.role != "customer":
            require(caller, *READ_ROLES)
        signed = await asyncio.to_thread(proofs.latest_checkpoint, service.ledger)
        if signed is None:
            raise ApiProblem(404, "no_checkpoint", "the log has no checkpoint yet")
        return checkpoint_out(signed)

    @app.get("/v1/proofs/consistency", tags=["proofs"], response_model=s.ConsistencyOut)
    async def consistency_proof(
        caller: Caller,
        size1: Annotated[int, Query(alias="from", ge=1)],
        size2: Annotated[int, Query(alias="to", ge=1)],
    ) -> s.ConsistencyOut:
        if caller.role != "customer":
            require(caller, *READ_ROLES)
        if size1 > size2:
            raise InvalidInput("from must not be above to", code="invalid_range")

        def build() -> list[bytes]:
            for size in (size1, size2):
                if not proofs.has_checkpoint(service.ledger, size):
                    raise ApiProblem(
                        404,
                        "no_checkpoint",
                        f"no checkpoint of size {size}: list them at /v1/checkpoints",
                    )
            return proofs.consistency(service.ledger, size1, size2)

        proof = await asyncio.to_thread(build)
        return s.ConsistencyOut(size1=size1, size2=size2, proof=[node.hex() for node in proof])

    # -- keys --------------------------------------------------------------------------------------

    @app.post("/v1/keys", status_code=201, tags=["keys"], response_model=s.NewKeyOut)
    async def create_key(
        body: s.KeyIn, request: Request, caller: Caller, idempotency_key: IdemKey = None
    ) -> Response:
        """A new API key, shown once. A replay with the same Idempotency-Key returns the key's
        record with `key` null: the secret is never stored, not even for replays."""
        require(caller, "admin")
        customer_id = (
            None if body.customer_id is None else m.parse_id(body.customer_id, "customer_id")
        )
        if customer_id is not None:
            service.customer(customer_id)

        async def handler(_: Any) -> tuple[int, bytes]:
            key, info = await asyncio.to_thread(keys.create, body.role, customer_id, body.label)
            return 201, orjson.dumps({**key_out(info), "key": key})

        def without_secret(payload: bytes) -> bytes:
            return orjson.dumps({**orjson.loads(payload), "key": None})

        return await idempotent(request, caller, idempotency_key, handler, stored_as=without_secret)

    @app.get("/v1/keys", tags=["keys"], response_model=Page[s.KeyOut])
    async def list_keys(
        caller: Caller, limit: Limit = LIMIT_DEFAULT, cursor: str | None = None
    ) -> Page[s.KeyOut]:
        require(caller, "admin")
        everything = keys.list()
        start = decode_cursor(cursor)
        chosen = everything[start : start + limit]
        more = start + limit < len(everything)
        return Page(
            data=[s.KeyOut(**key_out(info)) for info in chosen],
            next_cursor=encode_cursor(start + limit) if more else None,
        )

    @app.delete("/v1/keys/{key_id}", status_code=204, tags=["keys"])
    async def revoke_key(key_id: str, caller: Caller) -> Response:
        require(caller, "admin")
        if not await asyncio.to_thread(keys.revoke, key_id):
            raise NotFound(f"no key {key_id}", code="key_not_found")
        return Response(status_code=204)

    return app
