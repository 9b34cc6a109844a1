"""RFC 9457 problem details: every error the API returns is `application/problem+json`.

Each problem has a stable `type` URI built from the error's code
(`https://clearline.dev/problems/<code>`), a `title`, the HTTP `status`, a `detail` that says what
to do next and, where useful, `errors` naming the fields at fault.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from clearline.access import Forbidden, RateLimited, Unauthenticated
from clearline.core.errors import AssetMismatch, ClearlineError, Conflict, InvalidInput, NotFound
from clearline.kyc import LimitExceeded, RateUnknown
from clearline.payments.model import PaymentRefused

PROBLEM_BASE = "https://clearline.dev/problems/"
MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    location: str = Field(description="where the fault is: body.amount, query.limit, …")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document: every error the API returns has this shape."""

    type: str = Field(description=f"{PROBLEM_BASE}<code>")
    title: str
    status: int
    detail: str = Field(description="what went wrong and what to do next")
    code: str = Field(description="stable snake_case code, the last part of type")
    errors: list[FieldError] | None = Field(
        default=None, description="each field at fault, for schema errors"
    )


class ApiProblem(Exception):
    """An error raised at the HTTP edge with its status and code."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + code,
        "title": code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    sent = dict(headers or {})
    if status == 401:
        sent["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=sent or None)


def status_of(error: ClearlineError) -> int:
    if isinstance(error, Unauthenticated):
        return 401
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, RateLimited):
        return 429
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, LimitExceeded | PaymentRefused | RateUnknown):
        return 422
    if isinstance(error, InvalidInput | AssetMismatch):
        return 422
    return 400


def validation_problem(error: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "location": ".".join(str(part) for part in item.get("loc", ())),
            "message": item.get("msg", ""),
        }
        for item in error.errors()
    ]
    if any(item.get("type") == "json_invalid" for item in error.errors()):
        return problem(
            400,
            "malformed_json",
            "the request body is not valid JSON: send a JSON object",
            errors=errors,
        )
    return problem(
        422,
        "validation_failed",
        "the request does not match the schema: see errors and /docs",
        errors=errors,
    )


def http_problem(error: StarletteHTTPException, method: str, path: str) -> JSONResponse:
    code = {
        400: "malformed_json",  # FastAPI's "error parsing the body" (e.g. not UTF-8)
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
    }.get(error.status_code, "http_error")
    detail = str(error.detail) if error.detail else code
    headers = dict(error.headers or {})
    if error.status_code == 404:
        detail = f"no route {method} {path}: see /docs for the API"
    elif error.status_code == 400:
        detail = "the request body is not valid JSON (UTF-8): send a JSON object"
    elif error.status_code == 405:
        allowed = headers.get("Allow", "")
        detail = f"{method} is not allowed on {path}; it allows {allowed or 'no method'}"
    return problem(error.status_code, code, detail, headers)


def unexpected_problem() -> JSONResponse:
    return problem(
        500,
        "internal_error",
        "the server failed on this request; nothing was acknowledged. Retry with the same "
        "Idempotency-Key; if it persists, report it with the time of the request",
    )


def problem_for(error: Exception, method: str, path: str) -> JSONResponse:
    """The problem document for any error a request can raise (what the handlers `install`
    registers answer; the API's fast lane calls it directly)."""
    if isinstance(error, ApiProblem):
        return problem(error.status, error.code, error.detail, **error.extra)
    if isinstance(error, RateLimited):
        retry = str(max(1, math.ceil(error.retry_after_s)))
        return problem(429, error.code, error.message, {"Retry-After": retry})
    if isinstance(error, ClearlineError):
        return problem(status_of(error), error.code, error.message)
    if isinstance(error, TypeError):
        return problem(422, "invalid_input", str(error))
    if isinstance(error, RequestValidationError):
        return validation_problem(error)
    if isinstance(error, StarletteHTTPException):
        return http_problem(error, method, path)
    return unexpected_problem()


AllowIndex = tuple[tuple[re.Pattern[str], frozenset[str]], ...]


def allowed_by_path(routers: Sequence[APIRouter]) -> AllowIndex:
    """Each route's path pattern and methods, read once when the app is built (Starlette names
    only the first route that matched a path, and one path may have a route per method)."""
    return tuple(
        (route.path_regex, frozenset(route.methods or ()))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path."""
    index: AllowIndex = getattr(request.app.state, "allowed", ())
    path = request.url.path
    return sorted({m for pattern, methods in index if pattern.match(path) for m in methods})


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def handle(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, StarletteHTTPException) and error.status_code == 405:
            error = StarletteHTTPException(
                405, error.detail, headers={"Allow": ", ".join(allowed_methods(request))}
            )
        return problem_for(error, request.method, request.url.path)

    for kind in (
        ApiProblem,
        ClearlineError,
        TypeError,
        RequestValidationError,
        StarletteHTTPException,
        Exception,
    ):
        app.add_exception_handler(kind, handle)
