"""The HTTP edge: the body limit, request metrics, and the fast lane of the hottest routes.

Guarantees:
- A body over `BODY_BYTES_MAX` is refused with 413 before it is read (a declared Content-Length)
  or as soon as the count passes it (a chunked body); nothing of it is handled.
- Every answered request is counted and timed by route, method and status (`EdgeMiddleware`,
  a plain ASGI middleware: no extra task per request).
- The fast lane (`ClearlineAPI`): `POST /v1/payments` and `POST /v1/transfers` are answered
  straight from the ASGI scope, without the framework's dozen middleware layers, request and
  response objects (together a fifth of a payment's CPU in bench.api). Their FastAPI routes stay
  declared for the OpenAPI document; the fast lane answers with the same admission (`guard`),
  schema (`validated_json`), problem documents, body limit and metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clearline.api.metrics import Metrics
from clearline.api.openapi import finish
from clearline.api.problems import ApiProblem, problem_for
from clearline.core.errors import ClearlineError

log = logging.getLogger(__name__)
BODY_BYTES_MAX = 4 * 1024 * 1024


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

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with every error and the security scheme declared (built once)."""
        if self.openapi_schema is None:
            self.openapi_schema = finish(super().openapi())
        return self.openapi_schema

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


def header_text(headers: dict[bytes, bytes], name: bytes) -> str | None:
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
