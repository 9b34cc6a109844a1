"""`POST /v1/transfers`: up to 8,190 operator transfers in one ledger batch (funding,
settlement), served by the fast lane.

Every transfer is checked before any moves: one bad transfer refuses the whole batch, naming
its index. Without client ids, ids are derived from the Idempotency-Key when there is one (a
retry is the same transfers). The batch is an audit event once the ledger answered.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from clearline.access import Principal
from clearline.api import schemas as s
from clearline.api.deps import IdemKey, resource_id
from clearline.api.edge import FastHandler, Reply, header_text, validated_json
from clearline.api.guard import Caller, Gate, GuardedRoute, roles
from clearline.api.idempotency import Idempotency
from clearline.api.problems import ApiProblem
from clearline.api.render import minor_units
from clearline.core.assets import asset as asset_of
from clearline.core.errors import InvalidInput, NotFound
from clearline.core.ids import derive_id, format_id, new_ids
from clearline.customers import AccountInfo
from clearline.ledger.types import trusted_transfer
from clearline.payments import payment_id_for
from clearline.platform import Platform
from clearline.trail import Actor

router = APIRouter(route_class=GuardedRoute, tags=["transfers"])
ALLOWED = ("admin", "operator")
TARGET = "POST /v1/transfers"


@router.post(
    "/v1/transfers",
    response_model=s.TransfersOut,
    **roles("operator", responses={404: "a transfer names an unknown account"}),
)
async def create_transfers(
    body: s.TransfersIn, request: Request, caller: Caller, key: IdemKey = None
) -> Response:
    """Up to 8,190 transfers in one ledger batch; `atomic`: all or none. (Served by the fast
    lane, which validates the same schema without a model per transfer; this route documents
    it.)"""
    items: list[dict[str, Any]] = [item.model_dump() for item in body.transfers]
    raw = b"" if key is None else await request.body()
    batch = Batch(request.app.state.platform, request.app.state.idempotency)
    return (await batch.run(items, body.atomic, caller, key, raw)).response()


class Batch:
    """One transfer batch request: checked whole, then one ledger call."""

    def __init__(self, platform: Platform, idempotency: Idempotency) -> None:
        self.platform, self.idempotency = platform, idempotency

    async def run(
        self,
        items: list[dict[str, Any]],
        atomic: bool,
        caller: Principal,
        key: str | None,
        raw: bytes,
    ) -> Reply:
        base = None if key is None else payment_id_for(caller.key_id, key)
        batch = self._transfers(items, base)

        async def handler(_: Any) -> tuple[int, bytes]:
            results = await self.platform.payments.create_transfers(
                batch, actor=Actor(caller.key_id, caller.role, key), atomic=atomic
            )
            ok = sum(1 for r in results if r.ok)
            document = {
                "results": [
                    {
                        "index": r.index,
                        "id": f"{batch[r.index].id:032x}",
                        "result": r.result.value,
                        "timestamp": r.timestamp,
                    }
                    for r in results
                ],
                "ok": ok,
                "failed": len(results) - ok,
            }
            return 200, orjson.dumps(document)

        return await self.idempotency.run(TARGET, raw, caller, key, handler)

    def _transfers(self, items: list[dict[str, Any]], base: int | None) -> list[Any]:
        accounts: dict[int, AccountInfo] = self.platform.directory.accounts
        scales: dict[str, int] = {}
        fresh = new_ids(len(items)) if base is None else []
        batch = []
        for index, item in enumerate(items):
            try:
                debit = resource_id(item["debit_account_id"], "account")
                credit = resource_id(item["credit_account_id"], "account")
                asset_spec = item["asset"]
                for side in (debit, credit):
                    found = accounts.get(side)
                    if found is None:
                        raise NotFound(f"no account {format_id(side)}", code="account_not_found")
                    if found.asset != asset_spec:
                        raise InvalidInput(
                            f"account {format_id(side)} holds {found.asset}, not {asset_spec}",
                            code="asset_mismatch",
                        )
                scale = scales.get(asset_spec)
                if scale is None:
                    scale = scales[asset_spec] = asset_of(asset_spec).scale
                given = item.get("id")
                if given is not None:
                    identifier = int(given, 16)  # the ledger answers for a reserved id
                elif base is not None:
                    identifier = derive_id(base, f"transfer {index}")
                else:
                    identifier = fresh[index]
                batch.append(  # every field was checked just above (or by the schema)
                    trusted_transfer(
                        identifier,
                        debit,
                        credit,
                        minor_units(item["amount"], asset_spec, scale),
                        item.get("code", 5),
                    )
                )
            except (InvalidInput, NotFound) as error:
                raise ApiProblem(
                    422 if isinstance(error, InvalidInput) else 404,
                    error.code,
                    f"transfers[{index}]: {error.message}; nothing was moved",
                ) from None
        return batch


def fast_routes(gate: Gate, batch: Batch) -> dict[tuple[str, str], FastHandler]:
    async def create_transfers_fast(headers: dict[bytes, bytes], body: bytes) -> Reply:
        caller = await gate.enter(header_text(headers, b"authorization"), ALLOWED)
        document = validated_json(body, header_text(headers, b"content-type"), s.TRANSFER_BATCH)
        items: list[dict[str, Any]] = document["transfers"]
        atomic = bool(document.get("atomic", False))
        return await batch.run(
            items, atomic, caller, header_text(headers, b"idempotency-key"), body
        )

    return {("POST", "/v1/transfers"): create_transfers_fast}
