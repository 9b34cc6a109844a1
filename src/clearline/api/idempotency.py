"""`Idempotency-Key` on every POST: a replay returns the first response, once per key.

Guarantees:
- A replay with the same key and the same request (whatever its JSON key order) returns the
  stored response, marked `Idempotent-Replayed: true`; the same key with another request is 409
  `idempotency_key_reused`; a replay while the first is still running is 409
  `idempotency_key_in_use`. Keys belong to the API key that sent them.
- Only successful (2xx) responses are stored; a refused request may be retried with its key.
- A payment stores its response in the same commit as the payment (`saves_itself`); other
  requests store it right after their handler, so a crash in between is a retry that takes its
  resource id from the key (`key_derived_id`) and finds the resource it created.
- What a response may store is the route's choice (`stored_as`): a new API key's secret never is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response

from clearline.access import Principal
from clearline.access.idempotency import IdempotencyRecords, check_key, fingerprint
from clearline.api.edge import Reply
from clearline.api.problems import ApiProblem

Slot = tuple[str, str, str]
"""(API key id, idempotency key, request fingerprint)."""
Handler = Callable[[Slot | None], Awaitable[tuple[int, bytes]]]


class Idempotency:
    """Runs a POST's handler once per (API key, idempotency key)."""

    def __init__(self, records: IdempotencyRecords) -> None:
        self.records = records
        self._running: set[tuple[str, str]] = set()

    def stored(self, principal: str, key: str, print_: str) -> Reply | None:
        found = self.records.find(principal, key)
        if found is None:
            return None
        if found[0] != print_:
            raise ApiProblem(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request: use a new key for a "
                "new request",
            )
        return Reply(found[1], found[2], replayed=True)

    async def run(
        self,
        target: str,
        body: bytes,
        principal: Principal,
        key: str | None,
        handler: Handler,
        *,
        saves_itself: bool = False,
        stored_as: Callable[[bytes], bytes] | None = None,
    ) -> Reply:
        """Run `handler` once per key; `target` ("POST /v1/payments") and `body` are the
        request the key stands for."""
        if key is None:
            status, payload = await handler(None)
            return Reply(status, payload)
        check_key(key)
        print_ = fingerprint(target, body)
        owner = principal.key_id
        if self.records.may_exist(owner, key):
            replay = self.stored(owner, key, print_)
            if replay is not None:
                return replay
        slot = (owner, key)
        if slot in self._running:
            raise ApiProblem(
                409,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still running: retry in a moment",
            )
        self._running.add(slot)
        self.records.note(owner, key)
        try:
            status, payload = await handler((owner, key, print_))
            if 200 <= status < 300 and not saves_itself:
                kept = payload if stored_as is None else stored_as(payload)
                await self.records.save(owner, key, print_, status, kept)
        finally:
            self._running.discard(slot)
        return Reply(status, payload)


async def idempotent(
    request: Request, caller: Principal, key: str | None, handler: Handler, **options: Any
) -> Response:
    """`Idempotency.run` for a FastAPI route: the request's own target and body."""
    idempotency: Idempotency = request.app.state.idempotency
    body = b"" if key is None else await request.body()
    target = f"{request.method} {request.url.path}"
    reply = await idempotency.run(target, body, caller, key, handler, **options)
    return reply.response()
