"""Customers: onboarding (operators), tiers and limits, and who may see whom.

A customer key sees only its own customer (another one answers 404); analysts and auditors see
personal data masked (`render.customer_out`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from clearline.access import Principal
from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.guard import READ_ROLES, Caller, GuardedRoute, roles
from clearline.api.idempotency import idempotent
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.problems import ApiProblem
from clearline.api.render import customer_out, dumps, limits_in
from clearline.core.errors import NotFound
from clearline.core.ids import derive_id, format_id
from clearline.customers import Customer, NewCustomer, TierDocumentsMissing
from clearline.payments import payment_id_for
from clearline.platform import Platform
from clearline.trail import Actor

router = APIRouter(route_class=GuardedRoute, tags=["customers"])
LIMITS_RESPONSES = {
    409: "the tier needs documents the customer does not have (`missing` names them)",
    422: "a field is out of range, or the tier is unknown",
}
ONBOARDING_RESPONSES = {409: "the tier needs documents: onboard at tier 1, add them, then raise it"}


def documents_problem(error: TierDocumentsMissing) -> ApiProblem:
    """A 409 problem naming the requirements (`missing`) the customer's documents do not meet."""
    return ApiProblem(409, error.code, error.message, missing=error.missing)


def actor(caller: Principal, key: str | None = None) -> Actor:
    return Actor(caller.key_id, caller.role, key)


def visible_customer(platform: Platform, caller: Principal, customer_id: int) -> Customer:
    if caller.scope is not None and caller.scope != customer_id:
        raise NotFound(f"no customer {format_id(customer_id)}", code="customer_not_found")
    return platform.directory.customer(customer_id)


@router.post(
    "/v1/customers",
    status_code=201,
    response_model=s.CustomerOut,
    **roles("operator", responses=ONBOARDING_RESPONSES),
)
async def create_customer(
    body: s.CustomerIn, request: Request, caller: Caller, platform: PlatformDep, key: IdemKey = None
) -> Response:
    """Onboard a customer. Personal data (name, identity number, address, phone) is stored
    encrypted and never logged; the answer shows the limits that apply and where they come
    from."""

    async def handler(_: Any) -> tuple[int, bytes]:
        try:
            customer = await onboard()
        except TierDocumentsMissing as error:
            raise documents_problem(error) from None
        return 201, dumps(customer_out(customer, caller))

    async def onboard() -> Customer:
        return await platform.directory.create_customer(
            NewCustomer(
                body.name,
                body.kind,
                body.tier,
                body.country,
                limits_in(body.limits),
                body.identity_number,
                body.address,
                body.phone,
            ),
            actor=actor(caller, key),
            customer_id=None
            if key is None
            else derive_id(payment_id_for(caller.key_id, key), "customer"),
        )

    return await idempotent(request, caller, key, handler)


@router.get("/v1/customers", response_model=Page[s.CustomerOut], **roles(*READ_ROLES, "customer"))
async def list_customers(
    caller: Caller, platform: PlatformDep, limit: Limit = 50, cursor: Cursor = None
) -> Page[s.CustomerOut]:
    if caller.scope is not None:
        own = platform.directory.customer(caller.scope)
        return Page(data=[customer_out(own, caller)], next_cursor=None)
    rows = platform.directory.list_customers(decode_cursor(cursor), limit)
    return Page(
        data=[customer_out(c, caller) for _, c in rows],
        next_cursor=next_cursor(rows, limit, lambda row: row[0]),
    )


@router.get(
    "/v1/customers/{customer_id}",
    response_model=s.CustomerOut,
    **roles(*READ_ROLES, "customer"),
)
async def get_customer(
    customer_id: s.PathId, caller: Caller, platform: PlatformDep
) -> s.CustomerOut:
    identifier = resource_id(customer_id, "customer")
    return customer_out(visible_customer(platform, caller, identifier), caller)


@router.patch(
    "/v1/customers/{customer_id}",
    response_model=s.CustomerOut,
    **roles("operator", responses=LIMITS_RESPONSES),
)
async def update_customer(
    customer_id: s.PathId, body: s.CustomerPatch, caller: Caller, platform: PlatformDep
) -> s.CustomerOut:
    """Change the KYC tier and/or the customer's own limits (`"limits": {"per_payment_usd":
    null, "per_day_usd": null}` goes back to the tier's). Raising the tier needs the documents
    the tier requires (docs/kyc.md; a 409 names what is missing). An audit event records the
    change."""
    try:
        customer = await platform.directory.update_customer(
            resource_id(customer_id, "customer"),
            actor=actor(caller),
            tier=body.tier,
            limits=limits_in(body.limits),
        )
    except TierDocumentsMissing as error:
        raise documents_problem(error) from None
    return customer_out(customer, caller)
