"""API keys (admins only): create (the key is shown once), list, revoke. Each change is an audit
event; a revoked key is refused from that moment."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Path, Request, Response

from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.guard import Caller, GuardedRoute, roles
from clearline.api.idempotency import idempotent
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from clearline.api.render import key_out
from clearline.api.routes.customers import actor
from clearline.core.errors import Conflict, NotFound

router = APIRouter(route_class=GuardedRoute, tags=["keys"])
KEY_ID_PATTERN = r"^[0-9a-f]{16}$"


@router.post(
    "/v1/keys",
    status_code=201,
    response_model=s.NewKeyOut,
    **roles(responses={404: "no such customer"}),
)
async def create_key(
    body: s.KeyIn,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    idempotency_key: IdemKey = None,
) -> Response:
    """A new API key, shown once. A replay with the same Idempotency-Key returns the key's
    record with `key` null: the secret is never stored, not even for replays."""
    customer_id = None if body.customer_id is None else resource_id(body.customer_id, "customer")
    if customer_id is not None:
        platform.directory.customer(customer_id)
    who = actor(caller, idempotency_key)

    async def handler(_: Any) -> tuple[int, bytes]:
        key, info = await asyncio.to_thread(
            platform.keys.create, body.role, customer_id, body.label, actor=who
        )
        return 201, orjson.dumps({**key_out(info), "key": key})

    def without_secret(payload: bytes) -> bytes:
        return orjson.dumps({**orjson.loads(payload), "key": None})

    return await idempotent(request, caller, idempotency_key, handler, stored_as=without_secret)


@router.get("/v1/keys", response_model=Page[s.KeyOut], **roles())
async def list_keys(
    caller: Caller, platform: PlatformDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[s.KeyOut]:
    everything = platform.keys.list()
    start = decode_cursor(cursor)
    chosen = everything[start : start + limit]
    more = start + limit < len(everything)
    return Page(
        data=[s.KeyOut(**key_out(info)) for info in chosen],
        next_cursor=encode_cursor(start + limit) if more else None,
    )


@router.delete(
    "/v1/keys/{key_id}",
    status_code=204,
    **roles(responses={409: "the key is the caller's own, or the last admin key"}),
)
async def revoke_key(
    caller: Caller,
    platform: PlatformDep,
    key_id: str = Path(pattern=KEY_ID_PATTERN, description="the key's id (16 hex digits)"),
) -> Response:
    """Revoke a key: refused from now on (at once here; within a second in other processes).
    A key cannot revoke itself (revoke it with another admin key or `clearline keys revoke`),
    and the last admin key stays."""
    if key_id == caller.key_id:
        raise Conflict(
            "a key cannot revoke itself: revoke it with another admin key or "
            "`clearline keys revoke`",
            code="key_revokes_itself",
        )
    if not await asyncio.to_thread(platform.keys.revoke, key_id, actor=actor(caller)):
        raise NotFound(f"no key {key_id}", code="key_not_found")
    return Response(status_code=204)
