"""Contracts: escrow, hashed timelocks, Numscript programs and standing orders, each with a state
machine and a history.
Operators create them; named parties act on them only as themselves (a customer key approves only
as its customer); every step is an audit event sealed into the log, and
`GET /v1/contracts/{id}/proof` proves the latest one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from clearline.access import Principal
from clearline.api import contract_schemas as c
from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.guard import Caller, GuardedRoute, roles
from clearline.api.idempotency import idempotent
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.problems import ApiProblem
from clearline.api.render import iso, minor_units
from clearline.api.routes.audit import audit_event_proof
from clearline.api.routes.customers import actor
from clearline.contracts.records import Contract, Party
from clearline.core.assets import asset as asset_of
from clearline.core.ids import format_id, key_derived_id
from clearline.platform import Platform

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
router = APIRouter(route_class=GuardedRoute, tags=["contracts"])
READERS = ("operator", "auditor", "customer")
PARTIES = ("operator", "customer")
STATE = {
    403: "the caller is not the party this action needs",
    409: "the contract is not in a state that allows this",
}


def contract_out(platform: Platform, contract: Contract) -> c.ContractOut:
    return c.ContractOut(
        id=format_id(contract.id),
        template=contract.template,
        state=contract.state,
        creator_key_id=contract.creator_key_id,
        parties=[c.PartyOut(**p.document()) for p in contract.parties],
        terms=_hex_ids(contract.terms),
        data=dict(contract.data),
        version=contract.version,
        deadline=iso(contract.deadline_ns),
        latest_event_id=None
        if contract.latest_event_id is None
        else format_id(contract.latest_event_id),
        created=iso(contract.created_ns) or "",
        updated=iso(contract.updated_ns) or "",
        steps=[
            c.StepOut(
                step=step.step,
                status=step.status,  # type: ignore[arg-type]
                action=step.action,
                actor_key_id=step.actor.key_id,
                outcome=None if step.outcome is None else dict(step.outcome),
                event_id=None if step.event_id is None else format_id(step.event_id),
                at=iso(step.completed_ns or step.created_ns) or "",
            )
            for step in platform.contracts.steps(contract.id)
        ],
    )


def _hex_ids(value: Any) -> Any:
    """Terms as the API writes them: account ids as 32 hex digits."""
    if isinstance(value, dict):
        return {
            k: format_id(v) if k.endswith("_account_id") and isinstance(v, int) else _hex_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


def _rendered(platform: Platform, contract: Contract) -> bytes:
    return orjson.dumps(contract_out(platform, contract).model_dump())


def _amount(text: str, spec: str) -> int:
    return minor_units(text, spec, asset_of(spec).scale)


def service_terms(body: c.ContractIn) -> tuple[dict[str, Any], str | None]:
    """The service's terms (ids as integers, amounts in minor units) and the escrow's asset."""
    if body.template == "escrow" and body.escrow is not None:
        e = body.escrow
        return {
            "payer_account_id": resource_id(e.payer_account_id, "account"),
            "payee_account_id": resource_id(e.payee_account_id, "account"),
            "amount": _amount(e.amount, e.asset),
            "approvers": e.approvers,
            "threshold": e.threshold if e.threshold is not None else len(e.approvers),
            "milestones": [
                {"name": m.name, "amount": _amount(m.amount, e.asset), "attester": m.attester}
                for m in e.milestones
            ],
            "deadline_s": e.deadline_s,
        }, asset_of(e.asset).spec
    if body.template == "htlc" and body.htlc is not None:
        h = body.htlc
        return {
            "legs": [
                {
                    "payer_account_id": resource_id(leg.payer_account_id, "account"),
                    "payee_account_id": resource_id(leg.payee_account_id, "account"),
                    "amount": _amount(leg.amount, leg.asset),
                }
                for leg in h.legs
            ],
            "condition": h.condition.lower(),
            "timeout_s": h.timeout_s,
        }, None
    if body.template == "numscript" and body.numscript is not None:
        return body.numscript.model_dump(), None
    if body.template == "schedule" and body.schedule is not None:
        return _schedule_terms(body.schedule), None
    raise ApiProblem(
        422, "terms_missing", f"a {body.template} contract needs its `{body.template}` terms"
    )


def _schedule_terms(given: c.ScheduleIn) -> dict[str, Any]:
    terms: dict[str, Any] = {
        "schedule": {
            "cron": given.cron,
            "every_s": given.every_s,
            "timezone": given.timezone,
            "end_ns": None if given.end is None else _ns(given.end),
            "count": given.count,
            "missed": given.missed,
            "grace_s": given.grace_s,
            **({} if given.start is None else {"start_ns": _ns(given.start)}),
        },
        "stop_after_failures": given.stop_after_failures,
    }
    if given.payment is not None:
        pay = given.payment
        terms["payment"] = {
            "from_account_id": resource_id(pay.from_account_id, "account"),
            "to_account_id": resource_id(pay.to_account_id, "account"),
            "amount": _amount(pay.amount, pay.asset),
        }
    if given.numscript is not None:
        terms["numscript"] = given.numscript.model_dump()
    return terms


def _ns(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1_000


def service_parties(body: c.ContractIn) -> list[Party]:
    return [
        Party(
            p.name,
            None if p.customer_id is None else resource_id(p.customer_id, "customer"),
            p.key_id,
        )
        for p in body.parties
    ]


@router.post(
    "/v1/contracts",
    status_code=201,
    response_model=c.ContractOut,
    **roles("operator", responses={404: "an account or customer named in the terms is unknown"}),
)
async def create_contract(
    body: c.ContractIn, request: Request, caller: Caller, platform: PlatformDep, key: IdemKey = None
) -> Response:
    """A contract from a template (escrow, htlc, a Numscript program, or a schedule: a standing
    order), its first step run: an escrow is funded, an HTLC's legs are held, a program is
    executed, a standing order waits for its first occurrence."""
    terms, asset = service_terms(body)
    parties = service_parties(body)
    identifier = None if key is None else key_derived_id("contract", caller.key_id, key)

    async def handler(_: Any) -> tuple[int, bytes]:
        contract = await asyncio.to_thread(
            platform.contracts.create,
            body.template,
            parties,
            terms,
            actor(caller, key),
            contract_id=identifier,
            asset=asset,
        )
        return 201, _rendered(platform, contract)

    return await idempotent(request, caller, key, handler)


@router.get("/v1/contracts", response_model=Page[c.ContractOut], **roles(*READERS))
async def list_contracts(
    caller: Caller,
    platform: PlatformDep,
    state: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[c.ContractOut]:
    """Oldest first; a customer key sees the contracts that name its customer."""
    rows = platform.contracts.records.page(
        decode_cursor(cursor),
        limit,
        customer_id=caller.scope,
        key_id=caller.key_id if caller.scope is not None else None,
        state=state,
    )
    return Page(
        data=[contract_out(platform, row) for row in rows],
        next_cursor=next_cursor(rows, limit, lambda row: row.seq),
    )


@router.get(
    "/v1/contracts/{contract_id}",
    response_model=c.ContractOut,
    **roles(*READERS, responses={404: "no such contract (or not the customer's)"}),
)
async def get_contract(
    contract_id: s.PathId, caller: Caller, platform: PlatformDep
) -> c.ContractOut:
    """The contract, its state and its full history of steps."""
    contract = platform.contracts.get(resource_id(contract_id, "contract"), caller)
    return contract_out(platform, contract)


async def _act(
    request: Request, caller: Principal, key: str | None, platform: Platform, call: Any
) -> Response:
    async def handler(_: Any) -> tuple[int, bytes]:
        return 200, _rendered(platform, await asyncio.to_thread(call))

    return await idempotent(request, caller, key, handler)


@router.post(
    "/v1/contracts/{contract_id}/approve",
    response_model=c.ContractOut,
    **roles(*PARTIES, responses=STATE),
)
async def approve_contract(
    contract_id: s.PathId,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    key: IdemKey = None,
) -> Response:
    """An escrow approver approves as itself; the m-th approval releases the funds."""
    identifier = resource_id(contract_id, "contract")
    return await _act(
        request, caller, key, platform,
        lambda: platform.contracts.approve(identifier, caller, actor(caller, key)),
    )  # fmt: skip


@router.post(
    "/v1/contracts/{contract_id}/attest",
    response_model=c.ContractOut,
    **roles(*PARTIES, responses=STATE),
)
async def attest_contract(
    contract_id: s.PathId,
    body: c.AttestIn,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    key: IdemKey = None,
) -> Response:
    """A milestone's named attester attests it: its share is released to the payee."""
    identifier = resource_id(contract_id, "contract")
    return await _act(
        request, caller, key, platform,
        lambda: platform.contracts.attest(identifier, body.milestone, caller, actor(caller, key)),
    )  # fmt: skip


@router.post(
    "/v1/contracts/{contract_id}/fulfil",
    response_model=c.ContractOut,
    **roles(*PARTIES, responses={**STATE, 422: "the preimage does not match the condition"}),
)
async def fulfil_contract(
    contract_id: s.PathId,
    body: c.FulfilIn,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    key: IdemKey = None,
) -> Response:
    """The HTLC's payee presents the preimage: every leg is posted together (or, expired, none)."""
    identifier = resource_id(contract_id, "contract")
    return await _act(
        request, caller, key, platform,
        lambda: platform.contracts.fulfil(identifier, body.preimage, caller, actor(caller, key)),
    )  # fmt: skip


@router.post(
    "/v1/contracts/{contract_id}/cancel",
    response_model=c.ContractOut,
    **roles(*PARTIES, responses=STATE),
)
async def cancel_contract(
    contract_id: s.PathId,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    key: IdemKey = None,
) -> Response:
    """The payee gives it up, or an operator stops it: the funds go back to the payer. A
    standing order is cancelled by its payer (or an operator): no further occurrence runs."""
    identifier = resource_id(contract_id, "contract")
    return await _act(
        request, caller, key, platform,
        lambda: platform.contracts.cancel(identifier, caller, actor(caller, key)),
    )  # fmt: skip


@router.get(
    "/v1/contracts/{contract_id}/proof",
    response_model=s.AuditProofOut,
    **roles(
        "operator",
        "auditor",
        responses={404: "no such contract", 409: "the latest step is not sealed yet: retry"},
    ),
)
async def contract_proof(
    contract_id: s.PathId, caller: Caller, platform: PlatformDep
) -> s.AuditProofOut:
    """The contract's latest step as its audit event, with the inclusion proof of that event's
    attestation against the latest signed checkpoint: what a counterparty or regulator checks."""
    contract = platform.contracts.get(resource_id(contract_id, "contract"), caller)
    if contract.latest_event_id is None:
        raise ApiProblem(409, "not_sealed_yet", "the contract has no completed step yet: retry")
    return await audit_event_proof(format_id(contract.latest_event_id), caller, platform)
