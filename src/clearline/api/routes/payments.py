"""Payments: `POST /v1/payments` (the fast lane), lists and lookups, and the card flows'
capture, void and refunds.

Who may: operators pay from any wallet, a customer key from its own wallets; everyone with a
read role reads, a customer reads what it paid or received; capture, void and refund are for
operators and for the customer who was paid (the merchant).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from clearline.access import Principal
from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.edge import FastHandler, Reply, header_text, validated_json
from clearline.api.guard import READ_ROLES, Caller, Gate, GuardedRoute, roles
from clearline.api.idempotency import Idempotency, Slot, idempotent
from clearline.api.metrics import Metrics
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.render import amount, dumps, minor_units, payment_document, payment_out
from clearline.api.routes.customers import actor
from clearline.core.assets import asset as asset_of
from clearline.core.errors import NotFound
from clearline.core.ids import derive_id, format_id, new_id
from clearline.payments import Payment, PaymentRequest, payment_id_for
from clearline.platform import Platform

router = APIRouter(route_class=GuardedRoute, tags=["payments"])
PAYERS = ("operator", "customer")
STATE = {409: "the payment is not in a state that allows this", 422: "a business rule refused it"}


def rendered(payment: Payment) -> bytes:
    return orjson.dumps(payment_document(payment))


class Payer:
    """`POST /v1/payments` for the route and the fast lane alike."""

    def __init__(self, platform: Platform, idempotency: Idempotency, metrics: Metrics) -> None:
        self.platform, self.idempotency, self.metrics = platform, idempotency, metrics

    async def pay(self, body: s.PaymentIn, raw: bytes, caller: Principal, key: str | None) -> Reply:
        request = PaymentRequest(
            source_account_id=resource_id(body.source_account_id, "account"),
            destination_account_id=resource_id(body.destination_account_id, "account"),
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
        service = self.platform.payments
        if key is None:
            payment = await service.create_payment(
                request, actor=actor(caller), customer_scope=caller.scope
            )
            self.metrics.decisions.labels(payment.action).inc()
            return Reply(201, rendered(payment))

        async def handler(slot: Slot | None) -> tuple[int, bytes]:
            assert slot is not None and key is not None
            bodies: list[bytes] = []

            def store_response(payment: Payment) -> Callable[[sqlite3.Connection], None]:
                bodies.append(rendered(payment))
                return self.idempotency.records.inserting(
                    *slot, 201, bodies[-1], payment.created_ns
                )

            payment = await service.create_payment(
                request,
                actor=actor(caller, key),
                payment_id=payment_id_for(caller.key_id, key),
                customer_scope=caller.scope,
                also=store_response,
            )
            self.metrics.decisions.labels(payment.action).inc()
            return 201, bodies[-1] if bodies else rendered(payment)

        return await self.idempotency.run(
            "POST /v1/payments", raw, caller, key, handler, saves_itself=True
        )


def payer_of(request: Request) -> Payer:
    return Payer(
        request.app.state.platform, request.app.state.idempotency, request.app.state.metrics
    )


@router.post(
    "/v1/payments",
    status_code=201,
    response_model=s.PaymentOut,
    **roles(*PAYERS, responses={404: "an account is unknown (or not the customer's own)"}),
)
async def create_payment(
    body: s.PaymentIn, request: Request, caller: Caller, key: IdemKey = None
) -> Response:
    """Validate → tier limits → risk decision → ledger. (Served by the fast lane, which does
    the same without the framework's layers; this route documents it.)"""
    raw = b"" if key is None else await request.body()
    return (await payer_of(request).pay(body, raw, caller, key)).response()


def fast_routes(gate: Gate, payer: Payer) -> dict[tuple[str, str], FastHandler]:
    async def create_payment_fast(headers: dict[bytes, bytes], raw: bytes) -> Reply:
        caller = await gate.enter(header_text(headers, b"authorization"), ("admin", *PAYERS))
        body = validated_json(raw, header_text(headers, b"content-type"), s.PaymentIn)
        return await payer.pay(body, raw, caller, header_text(headers, b"idempotency-key"))

    return {("POST", "/v1/payments"): create_payment_fast}


@router.get("/v1/payments", response_model=Page[s.PaymentOut], **roles(*READ_ROLES, "customer"))
async def list_payments(
    caller: Caller,
    platform: PlatformDep,
    status: Annotated[s.PaymentStatus | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[s.PaymentOut]:
    rows = platform.payments.list_payments(
        decode_cursor(cursor), limit, customer_scope=caller.scope, status=status
    )
    return Page(
        data=[payment_out(p) for p in rows], next_cursor=next_cursor(rows, limit, lambda p: p.seq)
    )


@router.get(
    "/v1/payments/{payment_id}", response_model=s.PaymentOut, **roles(*READ_ROLES, "customer")
)
async def get_payment(payment_id: s.PathId, caller: Caller, platform: PlatformDep) -> s.PaymentOut:
    payment = await platform.payments.payment(resource_id(payment_id, "payment"), caller.scope)
    return payment_out(payment)


async def step_target(
    platform: Platform, payment_id: str, caller: Principal, body: s.CaptureIn | s.RefundIn | None
) -> tuple[int, int | None]:
    """The payment a capture or refund acts on (visible and allowed to this caller: operators,
    or the customer who was paid), and the amount asked for in minor units (None: all)."""
    identifier = resource_id(payment_id, "payment")
    found = await platform.payments.payment(identifier, caller.scope)
    if caller.role == "customer" and caller.scope != found.destination_customer_id:
        raise NotFound(f"no payment {format_id(found.id)}", code="payment_not_found")
    if body is None or body.amount is None:
        return identifier, None
    return identifier, minor_units(body.amount, found.asset, asset_of(found.asset).scale)


@router.post(
    "/v1/payments/{payment_id}/capture",
    response_model=s.PaymentOut,
    **roles(*PAYERS, responses=STATE),
)
async def capture_payment(
    payment_id: s.PathId,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    body: s.CaptureIn | None = None,
    key: IdemKey = None,
) -> Response:
    """Capture all or part of an authorization; the rest is released."""
    identifier, wanted = await step_target(platform, payment_id, caller, body)

    async def handler(_: Any) -> tuple[int, bytes]:
        payment = await platform.payments.holds.capture(
            identifier, wanted, actor=actor(caller, key)
        )
        return 200, rendered(payment)

    return await idempotent(request, caller, key, handler)


@router.post(
    "/v1/payments/{payment_id}/void", response_model=s.PaymentOut, **roles(*PAYERS, responses=STATE)
)
async def void_payment(
    payment_id: s.PathId,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    key: IdemKey = None,
) -> Response:
    """Release an authorization: nothing is paid."""
    identifier, _ = await step_target(platform, payment_id, caller, None)

    async def handler(_: Any) -> tuple[int, bytes]:
        return 200, rendered(
            await platform.payments.holds.void(identifier, actor=actor(caller, key))
        )

    return await idempotent(request, caller, key, handler)


@router.post(
    "/v1/payments/{payment_id}/refunds",
    status_code=201,
    response_model=s.RefundOut,
    **roles(*PAYERS, responses=STATE),
)
async def refund_payment(
    payment_id: s.PathId,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    body: s.RefundIn | None = None,
    key: IdemKey = None,
) -> Response:
    """Give back all (no amount) or part of what was settled, until it is all refunded."""
    identifier, wanted = await step_target(platform, payment_id, caller, body)

    async def handler(_: Any) -> tuple[int, bytes]:
        refund_id = (
            new_id() if key is None else derive_id(payment_id_for(caller.key_id, key), "refund")
        )
        payment, refund_id, refunded = await platform.payments.holds.refund(
            identifier, wanted, refund_id, actor=actor(caller, key)
        )
        out = s.RefundOut(
            id=format_id(refund_id),
            payment_id=format_id(payment.id),
            amount=amount(refunded, payment.asset),
            asset=payment.asset,
            payment=payment_out(payment),
        )
        return 201, dumps(out)

    return await idempotent(request, caller, key, handler)
