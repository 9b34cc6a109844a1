"""Numscript programs on the ledger (operators): a dry run that moves nothing, a run that moves
money once per Idempotency-Key, and the record of an execution.

Guarantees:
- A program that does not compile, or whose run fails on a Numscript rule, answers 422 with the
  error's own `code` (`parse_error`, `missing_funds`, …) and its `line` and `column` (null when
  the position is unknown); `errors` lists every problem the compiler found. Nothing moves.
- `POST /v1/scripts/run` is one execution of the platform's executor: all its postings commit
  as one linked chain of ledger transfers or none does. Its id derives from the caller's
  Idempotency-Key, so a retry is the same execution: the stored 201 is replayed, and a retry
  after a crash between the ledger and the stored response answers `status: replayed` with the
  same transfers instead of moving money again.
- A refused execution (missing funds, a ledger bound, an asset the ledger cannot hold) answers
  422 with the outcome's code and message and `execution_id`: nothing moved, the refusal is
  recorded, and a retry with the same key answers the same refusal (retry with a new key once
  the cause is fixed); the same key with another program or other variables is 409
  `idempotency_key_reused`, as for a stored response.
- Each run is an audit event `script.run` (the execution id, the program's SHA-256 and the
  outcome; never a variable's value, which may be personal data).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from clearline.api import schemas as s
from clearline.api.deps import IdemKey, PlatformDep, resource_id
from clearline.api.guard import Caller, GuardedRoute, roles
from clearline.api.idempotency import idempotent
from clearline.api.problems import ApiProblem
from clearline.api.render import iso
from clearline.api.routes.customers import actor
from clearline.contracts.executions import Stored
from clearline.contracts.executor import Execution, Outcome, program_sha256
from clearline.contracts.numscript import NumscriptError, Posting, Program
from clearline.core.errors import NotFound
from clearline.core.ids import format_id, key_derived_id, new_id
from clearline.platform import Platform

router = APIRouter(route_class=GuardedRoute, tags=["scripts"])
COMPILE_OR_RUN = (
    "the request does not match the schema, the program does not compile, or its run failed "
    "(the Numscript error's code, line and column): nothing moved"
)
REFUSED = (
    "the request does not match the schema, the program does not compile (code, line, "
    "column), or the execution was refused (missing funds, a ledger bound, …: the outcome's "
    "code, and execution_id): nothing moved"
)


def numscript_problem(error: NumscriptError) -> ApiProblem:
    """A Numscript error as a 422 problem with its position and every problem found."""
    return ApiProblem(
        422,
        error.code,
        error.message,
        line=error.line,
        column=error.column,
        errors=[
            {
                "location": "body.program"
                + ("" if each.line is None else f":{each.line}:{each.column}"),
                "message": each.message,
            }
            for each in error.all_errors
        ],
    )


async def compiled(platform: Platform, body: s.ScriptIn) -> Program:
    """The body's program, compiled (or from the cache), or its error as a problem."""
    try:
        return await asyncio.to_thread(platform.programs.get, body.program, body.feature_flags)
    except NumscriptError as error:
        raise numscript_problem(error) from None


def postings_out(postings: Iterable[Posting]) -> list[dict[str, str]]:
    return [
        {
            "source": p.source,
            "destination": p.destination,
            "amount": str(p.amount),
            "asset": p.asset,
            "color": p.color,
        }
        for p in postings
    ]


def _meta(tx_meta: Mapping[str, str], account_meta: Mapping[str, Mapping[str, str]]) -> Any:
    return {
        "tx_meta": dict(tx_meta),
        "account_meta": {account: dict(values) for account, values in account_meta.items()},
    }


def outcome_out(outcome: Outcome) -> dict[str, Any]:
    return {
        "id": format_id(outcome.id),
        "status": outcome.status,
        "postings": postings_out(outcome.postings),
        "transfer_ids": [format_id(t) for t in outcome.transfer_ids],
        **_meta(outcome.tx_meta, outcome.account_meta),
        "error_code": outcome.error_code,
        "error": outcome.error,
    }


def execution_out(stored: Stored) -> s.ScriptExecutionOut:
    moved = stored.status in ("done", "pending")
    plan = stored.plan
    return s.ScriptExecutionOut(
        id=format_id(stored.id),
        status=stored.status,
        program_sha256=stored.program_sha256,
        postings=[s.PostingOut(**p) for p in postings_out(plan.postings if moved else ())],
        transfer_ids=[format_id(t) for t in plan.transfer_ids] if moved else [],
        **_meta(plan.tx_meta, plan.account_meta) if moved else {"tx_meta": {}, "account_meta": {}},
        error_code=stored.error_code,
        error=stored.error,
        created_at=iso(stored.created_ns) or "",
        completed_at=iso(stored.completed_ns),
    )


@router.post(
    "/v1/scripts/dry-run",
    response_model=s.DryRunOut,
    **roles("operator", responses={422: COMPILE_OR_RUN}),
)
async def dry_run_script(
    body: s.ScriptIn, request: Request, caller: Caller, platform: PlatformDep, key: IdemKey = None
) -> Response:
    """What the program would post now, against the ledger's balances, moving nothing (amounts
    are integers in the asset's minor units). Not an audit event: nothing changes."""
    program = await compiled(platform, body)

    async def handler(_: Any) -> tuple[int, bytes]:
        try:
            result = await asyncio.to_thread(platform.scripts.dry_run, program, body.variables)
        except NumscriptError as error:
            raise numscript_problem(error) from None
        document = {
            "postings": postings_out(result.postings),
            **_meta(result.tx_meta, result.account_meta),
        }
        return 200, orjson.dumps(document)

    return await idempotent(request, caller, key, handler)


@router.post(
    "/v1/scripts/run",
    status_code=201,
    response_model=s.ScriptRunOut,
    **roles("operator", responses={422: REFUSED}),
)
async def run_script(
    body: s.ScriptIn, request: Request, caller: Caller, platform: PlatformDep, key: IdemKey = None
) -> Response:
    """Run the program on the ledger: every posting commits (one linked chain of ledger
    transfers, `transfer_ids`) or none does. Once per Idempotency-Key: the execution id derives
    from the key, so a retry never moves money twice. A refused execution answers 422 with the
    outcome's code and `execution_id`; nothing moved. An audit event `script.run` records the
    program's SHA-256 and the outcome, never the variables."""
    program = await compiled(platform, body)
    execution_id = new_id() if key is None else key_derived_id("script", caller.key_id, key)
    who = actor(caller, key)

    sha = program_sha256(program)

    async def handler(_: Any) -> tuple[int, bytes]:
        if key is not None:  # a refusal is not a stored response: the executor's record is
            known = await asyncio.to_thread(platform.scripts.records.get, execution_id)
            if known is not None and (
                known.program_sha256 != sha or dict(known.variables) != body.variables
            ):
                raise ApiProblem(
                    409,
                    "idempotency_key_reused",
                    "this Idempotency-Key already ran another program or other variables: use "
                    "a new key for a new run",
                )
        execution = Execution(execution_id, program, body.variables)
        [outcome] = await asyncio.to_thread(platform.scripts.execute, [execution])
        details: dict[str, Any] = {
            "program_sha256": sha,
            "status": outcome.status,
            "transfers": len(outcome.transfer_ids),
        }
        if outcome.error_code is not None:
            details["error_code"] = outcome.error_code
        await platform.trail.record(
            who, "script.run", "script_execution", format_id(execution_id), details
        )
        if not outcome.ok:
            message = outcome.error or "the execution was refused"
            if "nothing moved" not in message:
                message += "; nothing moved"
            raise ApiProblem(
                422,
                outcome.error_code or "refused",
                message,
                execution_id=format_id(execution_id),
            )
        return 201, orjson.dumps(outcome_out(outcome))

    return await idempotent(request, caller, key, handler)


@router.get(
    "/v1/scripts/executions/{execution_id}",
    response_model=s.ScriptExecutionOut,
    **roles("operator", "auditor"),
)
async def get_execution(
    execution_id: s.PathId, caller: Caller, platform: PlatformDep
) -> s.ScriptExecutionOut:
    """An execution as recorded: its status, postings and ledger transfer ids (empty when it
    was refused or abandoned: nothing moved), and why it was refused. Never its variables."""
    identifier = resource_id(execution_id, "script_execution")
    stored = await asyncio.to_thread(platform.scripts.records.get, identifier)
    if stored is None:
        raise NotFound(f"no script execution {execution_id}", code="script_execution_not_found")
    return execution_out(stored)
