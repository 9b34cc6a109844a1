"""Accounts: wallets and omnibus accounts (operators open them), balances and statements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from clearline.access import Principal
from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.guard import READ_ROLES, Caller, GuardedRoute, roles
from clearline.api.idempotency import idempotent
from clearline.api.pagination import Cursor, Limit, Page, decode_cursor, next_cursor
from clearline.api.render import account_out, amount, dumps
from clearline.api.routes.customers import actor
from clearline.core.errors import NotFound
from clearline.core.ids import derive_id, format_id
from clearline.customers import AccountInfo
from clearline.payments import payment_id_for
from clearline.platform import Platform

router = APIRouter(route_class=GuardedRoute, tags=["accounts"])
READERS = (*READ_ROLES, "customer")


def visible_account(platform: Platform, caller: Principal, account_id: int) -> AccountInfo:
    info = platform.directory.account(account_id)
    if caller.scope is not None and info.customer_id != caller.scope:
        raise NotFound(f"no account {format_id(account_id)}", code="account_not_found")
    return info


@router.post(
    "/v1/accounts",
    status_code=201,
    response_model=s.AccountOut,
    **roles("operator", responses={404: "no such customer"}),
)
async def create_account(
    body: s.AccountIn, request: Request, caller: Caller, platform: PlatformDep, key: IdemKey = None
) -> Response:
    """A wallet for a customer (with balance history; it may not go below zero), or the
    omnibus account of an asset (`kind: omnibus`: the platform's side of money entering and
    leaving; one per asset)."""
    customer_id = None if body.customer_id is None else resource_id(body.customer_id, "customer")

    async def handler(_: Any) -> tuple[int, bytes]:
        info = await platform.directory.create_account(
            customer_id,
            body.asset,
            body.kind,
            actor=actor(caller, key),
            account_id=None
            if key is None
            else derive_id(payment_id_for(caller.key_id, key), "account"),
        )
        return 201, dumps(account_out(info))

    return await idempotent(request, caller, key, handler)


@router.get("/v1/accounts", response_model=Page[s.AccountOut], **roles(*READERS))
async def list_accounts(
    caller: Caller,
    platform: PlatformDep,
    customer_id: Annotated[str | None, Query(pattern=s.ID_PATTERN)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[s.AccountOut]:
    wanted = None if customer_id is None else int(customer_id, 16)
    if caller.scope is not None:
        if wanted is not None and wanted != caller.scope:
            return Page(data=[], next_cursor=None)
        wanted = caller.scope
    rows = platform.directory.list_accounts(wanted, decode_cursor(cursor), limit)
    return Page(
        data=[account_out(info) for _, info in rows],
        next_cursor=next_cursor(rows, limit, lambda row: row[0]),
    )


@router.get("/v1/accounts/{account_id}", response_model=s.AccountOut, **roles(*READERS))
async def get_account(account_id: s.PathId, caller: Caller, platform: PlatformDep) -> s.AccountOut:
    return account_out(visible_account(platform, caller, resource_id(account_id, "account")))


@router.get("/v1/accounts/{account_id}/balance", response_model=s.BalanceOut, **roles(*READERS))
async def get_balance(account_id: s.PathId, caller: Caller, platform: PlatformDep) -> s.BalanceOut:
    info = visible_account(platform, caller, resource_id(account_id, "account"))
    account = await platform.payments.balances(info.id)
    a = info.asset
    return s.BalanceOut(
        account_id=format_id(info.id),
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


@router.get(
    "/v1/accounts/{account_id}/statement",
    response_model=Page[s.StatementLine],
    **roles(*READERS),
)
async def get_statement(
    account_id: s.PathId,
    caller: Caller,
    platform: PlatformDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[s.StatementLine]:
    info = visible_account(platform, caller, resource_id(account_id, "account"))
    lines = await platform.payments.statement(info.id, decode_cursor(cursor), limit)
    data = [
        s.StatementLine(
            transfer_id=format_id(t.id),
            timestamp=t.timestamp,
            direction="debit" if t.debit_account_id == info.id else "credit",
            amount=amount(t.amount, info.asset),
            balance=None if balance is None else amount(balance, info.asset),
            code=t.code,
            payment_id=format_id(t.user_data_128) if t.user_data_128 else None,
            pending=bool(t.flags & 2),
        )
        for t, balance in lines
    ]
    return Page(data=data, next_cursor=next_cursor(data, limit, lambda line: line.timestamp))
