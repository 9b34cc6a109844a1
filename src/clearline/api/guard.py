"""Authentication, rate limits and authorization, before anything reads or validates a request.

Guarantees:
- Every route is declared with the roles that may call it (`roles(...)`), or as public
  (`public()`: health and the docs). A guarded route's handler runs only after, in this order:
  the API key is authenticated (401), its rate limit has a token (429, with `Retry-After`),
  and its role is allowed (403). FastAPI reads and validates the body, the query and the path
  only after that, so a caller who may not do an operation gets 403 whatever the body, never
  a list of the fields it got wrong (tested for every endpoint and role).
- The fast lane (`edge.ClearlineAPI`) calls the same `Gate.enter` before it validates.
- A request over its key's rate limit is answered 429 only after a pause (half the time until
  its bucket has a token again, at most `HOLD_MAX_S`; `Retry-After` then counts the rest): a
  client flooding on many connections sends a few requests a second on each instead of
  thousands, so the event loop stays free for other keys (`bench.ratelimit`). Bounded: at most
  `HELD_MAX` refusals wait at once; past that they are answered at once.
- Each route's OpenAPI entry lists every status it can answer (`GuardedRoute` adds 401, 403,
  429 and the validation statuses its parameters imply; `openapi.finish` gives them the problem
  schema), its roles (`x-roles`) and its security scheme.
- Resource-level scope (a customer key sees only its own customer) is decided by the handler,
  which answers 404 for another customer's resources, as if they did not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from clearline.access import Forbidden, KeyStore, Principal, RateLimited, RateLimiter

ROLES_KEY = "x-roles"
PUBLIC_KEY = "x-public"
RATE_EXEMPT_KEY = "x-rate-limit-exempt"
READ_ROLES = ("operator", "analyst", "auditor")
"""Staff roles that may read records (admin may do everything)."""
HOLD_MAX_S = 1.0
HELD_MAX = 4096


def roles(
    *allowed: str,
    rate_limited: bool = True,
    responses: dict[int, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Route options: the roles that may call it (admin always may), whether its calls count
    against the key's rate limit, the statuses it answers beyond those its parameters imply
    (`{409: "…"}`), and any other route option."""
    extra: dict[str, Any] = {ROLES_KEY: sorted({"admin", *allowed})}
    if not rate_limited:
        extra[RATE_EXEMPT_KEY] = True
    declared = {status: {"description": text} for status, text in (responses or {}).items()}
    return {"openapi_extra": extra, "responses": declared, **options}


def public(**options: Any) -> dict[str, Any]:
    """Route options for a route anyone may call (no key: health, the docs)."""
    return {"openapi_extra": {PUBLIC_KEY: True}, **options}


class Gate:
    """Who is calling and whether they may: the API key store, the rate limiter."""

    def __init__(self, keys: KeyStore, limiter: RateLimiter) -> None:
        self.keys, self.limiter = keys, limiter
        self.held = 0

    async def enter(
        self, authorization: str | None, allowed: tuple[str, ...], *, rate_limited: bool = True
    ) -> Principal:
        """`admit`, with a refusal over the rate limit held back before it is answered."""
        try:
            return self.admit(authorization, allowed, rate_limited=rate_limited)
        except RateLimited as refused:
            await self.hold(refused)
            raise

    async def hold(self, refused: RateLimited) -> None:
        if self.held >= HELD_MAX:
            return
        self.held += 1
        pause = min(refused.retry_after_s / 2, HOLD_MAX_S)
        try:
            await asyncio.sleep(pause)
        finally:
            self.held -= 1
        refused.retry_after_s -= pause

    def admit(
        self, authorization: str | None, allowed: tuple[str, ...], *, rate_limited: bool = True
    ) -> Principal:
        """The caller, if authenticated, within its rate limit and of an allowed role."""
        principal = self.keys.authenticate(authorization)
        if rate_limited:
            self.limiter.take(principal.key_id, principal.role)
        if principal.role != "admin" and principal.role not in allowed:
            raise Forbidden(
                f"the {principal.role} role may not do this; it needs "
                f"{' or '.join(role for role in allowed if role != 'admin') or 'admin'}",
                code="forbidden",
            )
        return principal


Handler = Callable[[Request], Coroutine[Any, Any, Response]]

STANDARD_RESPONSES: dict[int, str] = {
    401: "no API key, or an unknown or revoked one",
    403: "the key's role may not do this",
    429: "the key sent more requests than its role allows; retry after Retry-After seconds",
}


class GuardedRoute(APIRoute):
    """An `APIRoute` whose handler admits the caller before FastAPI touches the request, and
    whose OpenAPI entry declares every status it answers."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        extra = options.get("openapi_extra") or {}
        self.public = bool(extra.get(PUBLIC_KEY))
        self.allowed: tuple[str, ...] = tuple(extra.get(ROLES_KEY, ()))
        self.rate_limited = not extra.get(RATE_EXEMPT_KEY, False)
        if not self.public and not self.allowed:
            raise ValueError(f"route {path} must say who may call it: roles(...) or public()")
        super().__init__(path, endpoint, **options)  # builds the handler: the fields first
        self.responses = {**self._implied_responses(), **self.responses}

    def _implied_responses(self) -> dict[int | str, dict[str, Any]]:
        implied: dict[int, str] = {} if self.public else dict(STANDARD_RESPONSES)
        dependant = self.dependant
        if self.body_field is not None:
            implied[400] = "the body is not valid JSON"
            implied[413] = "the body is over 4 MiB"
        if self.body_field is not None or _has_parameters(dependant):
            implied[422] = "the request does not match the schema, or a business rule refused it"
        if dependant.path_params:
            implied[404] = "no such resource (or not one this key may see)"
        if self.methods and "POST" in self.methods:
            implied[409] = "the Idempotency-Key is in use or was used with another request"
        return {status: {"description": text} for status, text in implied.items()}

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()
        if self.public:
            return inner
        allowed, rate_limited = self.allowed, self.rate_limited

        async def guarded(request: Request) -> Response:
            gate: Gate = request.app.state.gate
            request.state.principal = await gate.enter(
                request.headers.get("authorization"), allowed, rate_limited=rate_limited
            )
            return await inner(request)

        return guarded


def _has_parameters(dependant: Any) -> bool:
    if dependant.query_params or dependant.header_params or dependant.path_params:
        return True
    return any(_has_parameters(sub) for sub in dependant.dependencies)


def current_principal(request: Request) -> Principal:
    """The caller `GuardedRoute` admitted."""
    principal: Principal = request.state.principal
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
