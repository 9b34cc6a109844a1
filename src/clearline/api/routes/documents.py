"""Identity documents on customers: operators add them, operators, auditors and the customer
itself list them.

A bad identifier is a 422 problem whose `check` names the check that failed; nothing is stored.
The same number of the same type and issuing country on another customer is a 409. Numbers are
shown masked (last 4 characters) to everyone; auditors see none of the personal details.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response

from clearline.access import Principal
from clearline.api import document_schemas as ds
from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.guard import Caller, GuardedRoute, roles
from clearline.api.idempotency import idempotent
from clearline.api.problems import ApiProblem
from clearline.api.render import dumps, iso
from clearline.api.routes.customers import actor, visible_customer
from clearline.core.ids import derive_id, format_id
from clearline.customers import Document
from clearline.kyc import DOCUMENT_TYPES, IdentifierInvalid
from clearline.payments import payment_id_for

router = APIRouter(route_class=GuardedRoute, tags=["customers"])
ADD_RESPONSES = {
    409: "the number is already on this or another customer (same type and issuing country)",
    422: "the identifier failed a check: `check` names it; nothing was stored",
}
PERSONAL_DETAILS = frozenset({"birth_date", "sex", "region", "holder_name"})
"""Details that are personal data (hidden from auditors)."""


def document_out(document: Document, viewer: Principal) -> ds.DocumentOut:
    details = document.details
    if viewer.role == "auditor":
        details = {k: v for k, v in details.items() if k not in PERSONAL_DETAILS}
    return ds.DocumentOut(
        id=format_id(document.id),
        customer_id=format_id(document.customer_id),
        type=document.document_type,
        issuing_country=document.issuing_country,
        number=document.masked_number,
        kind=DOCUMENT_TYPES[document.document_type].kind,
        details=details,
        expiry_date=document.expiry_date,
        created_at=iso(document.created_ns) or "",
    )


def _expiry(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiProblem(
            422, "identifier_invalid", "expiry_date is not a calendar date", check="expiry_date"
        ) from None


@router.post(
    "/v1/customers/{customer_id}/documents",
    status_code=201,
    response_model=ds.DocumentOut,
    **roles("operator", responses=ADD_RESPONSES),
)
async def add_document(
    customer_id: s.PathId,
    body: ds.DocumentIn,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    key: IdemKey = None,
) -> Response:
    """Validate an identity document and store it on the customer, its number encrypted at
    rest. An audit event (`customer.document_add`) records it, without the number."""
    identifier = resource_id(customer_id, "customer")
    visible_customer(platform, caller, identifier)
    expiry = _expiry(body.expiry_date)
    documents = platform.directory.documents

    async def handler(_: Any) -> tuple[int, bytes]:
        try:
            document = await documents.add(
                identifier,
                body.type,
                body.issuing_country,
                actor=actor(caller, key),
                today=documents.today(),
                number=body.number,
                mrz_lines=body.mrz_lines,
                expiry_date=expiry,
                document_id=None
                if key is None
                else derive_id(payment_id_for(caller.key_id, key), "document"),
            )
        except IdentifierInvalid as error:
            raise ApiProblem(
                422,
                "identifier_invalid",
                error.message,
                check=error.check,
                document_type=error.document_type,
            ) from None
        return 201, dumps(document_out(document, caller))

    return await idempotent(request, caller, key, handler)


@router.get(
    "/v1/customers/{customer_id}/documents",
    response_model=ds.DocumentsOut,
    **roles("operator", "auditor", "customer"),
)
async def list_documents(
    customer_id: s.PathId, caller: Caller, platform: PlatformDep
) -> ds.DocumentsOut:
    """The customer's identity documents, numbers masked."""
    identifier = resource_id(customer_id, "customer")
    visible_customer(platform, caller, identifier)
    documents = platform.directory.documents.of_customer(identifier)
    return ds.DocumentsOut(data=[document_out(document, caller) for document in documents])
