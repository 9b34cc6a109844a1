"""`clearline contracts …`: the contracts API (`/v1/contracts`) as commands on the data directory.

Guarantees:
- Each command is the API call it mirrors, run in-process with the server stopped (it refuses,
  exit 1, while another process has the directory open): `create` takes exactly the body of
  `POST /v1/contracts`, validated by the same schema and converted by the same functions;
  `approve`, `attest`, `fulfil` and `cancel` call the same service methods; `proof` answers
  what `GET /v1/contracts/{id}/proof` answers; `sweep` runs the service's deadline sweep once.
  With `--json` each prints the API's answer (a contract as `contract_out` renders it).
- Who acts: the local operator by default (principal `cli`, role operator; audit actor `cli`),
  so it approves, attests or fulfils only where a party's key id is `cli`, as the service
  decides. `--api-key` (or `CLEARLINE_API_KEY`; never printed) acts as that key instead, with
  the API's role checks and the service's party checks: a customer key acts only as its
  customer and sees only the contracts that name it.
- `--id KEY` is the API's Idempotency-Key on the same records: the first answer is stored under
  (acting key id, KEY) with the request's fingerprint, so the same KEY again prints that answer
  and changes nothing, and the same KEY with another request is refused
  (`idempotency_key_reused`). On `create` the contract id derives from the key as in the API,
  so a run cut short before its answer was stored still finds the contract it created.
- Errors print `error: code: message` on stderr and exit 1: a body that does not match the
  schema lists every field path with its message (before the directory is opened); service
  refusals keep their code. A step the ledger (or a program) refused prints its reason on
  stderr and exits 1: nothing moved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Final

import orjson
import typer

from clearline.api.contracts_cli_text import (
    console_out,
    headline,
    list_table,
    proof_lines,
    show_contract,
    step_line,
    step_refusal,
)
from clearline.contracts.cli import fail, opened

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from clearline.access import Principal
    from clearline.api import contract_schemas as c
    from clearline.api import schemas as s
    from clearline.contracts.records import Contract
    from clearline.platform import Platform
    from clearline.trail import Actor

LOCAL_KEY_ID: Final = "cli"
CREATOR_ROLES: Final = ("operator",)
PROOF_ROLES: Final = ("operator", "auditor")
PROOF_WAIT_S: Final = 5.0
"""How long `proof` waits for a signed checkpoint that covers the latest step."""
PROOF_POLL_S: Final = 0.05

contracts_app = typer.Typer(
    help="Contracts (escrow, hashed timelocks, programs, standing orders): the /v1/contracts API, "
    "run on the data directory with the server stopped.",
    no_args_is_help=True,
)

ContractId = Annotated[str, typer.Argument(help="The contract's id (32 hex digits).", metavar="ID")]
IdemKey = Annotated[
    str | None,
    typer.Option(
        "--id",
        help="Idempotency key (the API's Idempotency-Key): the same key answers the first "
        "answer again and changes nothing.",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="CLEARLINE_API_KEY",
        show_default=False,
        help="Act as this API key (its role; a customer key only as its customer) instead of "
        "the local operator `cli`. Prefer the environment variable: other users can read a "
        "command line.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who a command acts as: the principal the service authorizes, the actor the trail records."""

    principal: Principal
    actor: Actor

    def acting(self, key: str | None) -> Actor:
        return dataclasses.replace(self.actor, idempotency_key=key)


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """A contract as the API answers it (`payload`, JSON), and whether it is a stored first
    answer replayed for its idempotency key."""

    payload: bytes
    replayed: bool = False


# -- plumbing ---------------------------------------------------------------------------------


@contextmanager
def _opened(ctx: typer.Context) -> Iterator[Platform]:
    """The platform on the chosen data directory (`script run`'s `opened`), refused with the
    contracts API as the way round while a server holds it; refusals become `error:` lines."""
    from clearline.cli import data_dir_from
    from clearline.platform import DirectoryLock, PlatformBusy

    directory = data_dir_from(ctx)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        DirectoryLock(directory, exclusive=True).release()
    except PlatformBusy as error:
        raise fail(
            f"error: {error.code}: {error.message} (or use that server's API: /v1/contracts)"
        ) from None
    with opened(directory) as platform, _answering():
        yield platform


@contextmanager
def _answering() -> Iterator[None]:
    """Refusals (`ClearlineError`, the API's `ApiProblem`) as `error: code: message`, exit 1."""
    from clearline.api.problems import ApiProblem
    from clearline.core.errors import ClearlineError

    try:
        yield
    except ClearlineError as error:
        raise fail(f"error: {error.code}: {error.message}") from None
    except ApiProblem as problem:
        raise fail(f"error: {problem.code}: {problem.detail}") from None


def _caller(platform: Platform, api_key: str | None, allowed: tuple[str, ...]) -> Caller:
    """The local operator, or the key given, authenticated and of a role `allowed` (admin
    always is), as the API's guard admits it."""
    from clearline.access import Principal, require
    from clearline.api.routes.customers import actor
    from clearline.trail import CLI

    if api_key is None:
        return Caller(Principal(key_id=LOCAL_KEY_ID, role="operator", customer_id=None), CLI)
    principal = platform.keys.authenticate(f"Bearer {api_key}")
    require(principal, *allowed)
    return Caller(principal, actor(principal))


def _checked_key(key: str | None) -> str | None:
    """`--id` as the API checks an Idempotency-Key (`access.idempotency.check_key`)."""
    if key is not None and not (1 <= len(key) <= 255 and key.isascii() and key.isprintable()):
        raise typer.BadParameter("must be 1-255 printable ASCII characters", param_hint="--id")
    return key


def _validated(model: type[BaseModel], document: Any, source: str) -> Any:
    """`document` as `model`, or exit 1 listing every field path the schema refused."""
    from pydantic import ValidationError

    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise fail(_schema_errors(error, source)) from None


def _schema_errors(error: ValidationError, source: str) -> str:
    lines = [f"error: validation_failed: {source} does not match the schema:"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(the body)"
        lines.append(f"  {location}: {item['msg']}")
    return "\n".join(lines)


def _contract_id(text: str) -> int:
    """A contract id from the command line (`invalid_contract` unless 32 hex digits)."""
    from clearline.core.ids import parse_id

    return parse_id(text.lower(), "contract")


def _rendered(platform: Platform, contract: Contract) -> bytes:
    """The contract as the API answers it (the bytes a POST answers and stores)."""
    from clearline.api.routes.contracts import contract_out

    return orjson.dumps(contract_out(platform, contract).model_dump())


def _once(
    platform: Platform,
    caller: Caller,
    key: str | None,
    request: tuple[str, bytes, int],
    run: Callable[[], Contract],
) -> Answer:
    """`run()` once per (acting key, `key`), as the API's idempotency runs a POST: `request` is
    its target ("POST /v1/contracts"), body and success status."""
    from clearline.access.idempotency import fingerprint

    if key is None:
        return Answer(_rendered(platform, run()))
    target, body, status = request
    owner, print_ = caller.principal.key_id, fingerprint(target, body)
    found = platform.idempotency.find(owner, key)
    if found is not None:
        if found[0] != print_:
            raise fail(
                f"error: idempotency_key_reused: --id {key} was used with a different request: "
                "use a new key for a new request"
            )
        return Answer(found[2], replayed=True)
    platform.idempotency.note(owner, key)
    payload = _rendered(platform, run())
    platform.store.write_sync(
        platform.idempotency.inserting(owner, key, print_, status, payload, platform.clock.now_ns())
    )
    return Answer(payload)


def _report(answer: Answer, as_json: bool, key: str | None, before: int | None = None) -> None:
    """Print a contract a command created or acted on; exit 1 if its new step was refused."""
    from clearline.api import contract_schemas as c

    contract = c.ContractOut.model_validate_json(answer.payload)
    latest = contract.steps[-1] if contract.steps else None
    changed = answer.replayed or before is None or contract.version != before
    if as_json:
        typer.echo(answer.payload.decode())
    else:
        console = console_out()
        if answer.replayed:
            console.print(f"replayed: --id {key} was answered before; nothing changed again")
        elif not changed:
            console.print("unchanged: that was done before; nothing changed")
        console.print(headline(contract))
        if latest is not None:
            console.print(step_line(latest))
        if contract.data:
            console.print(f"data {orjson.dumps(contract.data).decode()}")
    if latest is not None and changed and (refusal := step_refusal(latest)) is not None:
        raise fail(f"refused: {refusal}: step {latest.step} of {contract.id}; nothing moved")


@contracts_app.command("create")
def create(
    ctx: typer.Context,
    file: Annotated[
        typer.FileBinaryRead,
        typer.Argument(help="The JSON body of POST /v1/contracts (- reads stdin).", metavar="FILE"),
    ],
    key: IdemKey = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Create a contract from a template and run its first step.

    FILE is exactly the body of POST /v1/contracts (docs/contracts.md): an escrow is funded, an
    HTLC's legs are held, a program runs. Operators create contracts.

    Example:

        clearline contracts create escrow.json --id deal-7
    """
    from clearline.api import contract_schemas as c
    from clearline.api.edge import BODY_BYTES_MAX

    name = str(getattr(file, "name", "-"))  # stdin under a test runner has none
    source = "stdin" if name in ("-", "<stdin>") else name
    text = file.read(BODY_BYTES_MAX + 1)
    if len(text) > BODY_BYTES_MAX:
        raise fail(f"error: payload_too_large: {source} is over 4 MiB, more than the API takes")
    body: c.ContractIn = _validated(c.ContractIn, _json(text, source), source)
    key = _checked_key(key)
    with _opened(ctx) as platform:
        answer = _create(platform, body, text, key, api_key)
    _report(answer, as_json, key)


def _json(text: bytes, source: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise fail(f"error: malformed_json: {source} is not valid JSON: {error}") from None


def _create(
    platform: Platform, body: c.ContractIn, text: bytes, key: str | None, api_key: str | None
) -> Answer:
    from clearline.api.routes.contracts import service_parties, service_terms
    from clearline.core.ids import key_derived_id

    caller = _caller(platform, api_key, CREATOR_ROLES)
    terms, asset = service_terms(body)
    parties = service_parties(body)
    identifier = None if key is None else key_derived_id("contract", caller.principal.key_id, key)
    return _once(
        platform, caller, key, ("POST /v1/contracts", text, 201),
        lambda: platform.contracts.create(
            body.template, parties, terms, caller.acting(key), contract_id=identifier, asset=asset
        ),
    )  # fmt: skip


@contracts_app.command("list")
def list_contracts(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help="Only contracts in this state (funded, locked, …).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=500)] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="The next_cursor of the previous page.")
    ] = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """List contracts, oldest first.

    A customer key sees the contracts that name its customer.

    Example:

        clearline contracts list --state funded --limit 20
    """
    from clearline.api.pagination import CURSOR_PATTERN, Page, decode_cursor, next_cursor
    from clearline.api.routes.contracts import READERS, contract_out

    if state is not None and not 1 <= len(state) <= 32:
        raise typer.BadParameter("must be 1-32 characters", param_hint="--state")
    if cursor is not None and not re.fullmatch(CURSOR_PATTERN, cursor):
        raise typer.BadParameter("must be a next_cursor (1-16 hex digits)", param_hint="--cursor")
    with _opened(ctx) as platform:
        principal = _caller(platform, api_key, READERS).principal
        rows = platform.contracts.records.page(
            decode_cursor(cursor),
            limit,
            customer_id=principal.scope,
            key_id=principal.key_id if principal.scope is not None else None,
            state=state,
        )
        page = Page(
            data=[contract_out(platform, row) for row in rows],
            next_cursor=next_cursor(rows, limit, lambda row: row.seq),
        )
    if as_json:
        typer.echo(orjson.dumps(page.model_dump()).decode())
        return
    console = console_out()
    console.print(list_table(page.data))
    console.print(f"{len(page.data)} contracts")
    if page.next_cursor is not None:
        console.print(f"more: --cursor {page.next_cursor}")


@contracts_app.command("show")
def show(
    ctx: typer.Context, contract_id: ContractId, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """Show a contract: its state, parties, terms and every step.

    --json prints what GET /v1/contracts/{id} answers.

    Example:

        clearline contracts show 0f3c2a61b0d4e8f70f3c2a61b0d4e8f7 --json
    """
    from clearline.api.routes.contracts import READERS, contract_out

    with _opened(ctx) as platform:
        principal = _caller(platform, api_key, READERS).principal
        contract = contract_out(
            platform, platform.contracts.get(_contract_id(contract_id), principal)
        )
    if as_json:
        typer.echo(orjson.dumps(contract.model_dump()).decode())
    else:
        show_contract(contract)


def _act(
    ctx: typer.Context,
    contract_id: str,
    action: str,
    body: Mapping[str, Any] | None,
    call: Callable[[Platform, int, Caller, Actor], Contract],
    options: tuple[str | None, str | None, bool],
) -> None:
    """An action on a contract (`POST /v1/contracts/{id}/<action>` with `body`) as the caller,
    once per --id; `options` are (--id, --api-key, --json)."""
    from clearline.api.routes.contracts import PARTIES
    from clearline.core.ids import format_id

    key, api_key, as_json = options
    key = _checked_key(key)
    with _opened(ctx) as platform:
        caller = _caller(platform, api_key, PARTIES)
        identifier = _contract_id(contract_id)
        before = platform.contracts.get(identifier, caller.principal).version
        target = f"POST /v1/contracts/{format_id(identifier)}/{action}"
        sent = b"" if body is None else orjson.dumps(dict(body))
        answer = _once(
            platform, caller, key, (target, sent, 200),
            lambda: call(platform, identifier, caller, caller.acting(key)),
        )  # fmt: skip
    _report(answer, as_json, key, None if answer.replayed else before)


@contracts_app.command("approve")
def approve(
    ctx: typer.Context,
    contract_id: ContractId,
    key: IdemKey = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Approve an escrow as its named approver.

    The caller approves as the party whose customer (a customer key) or key id is its own; the
    threshold-th approval releases what is left to the payee.

    Example:

        CLEARLINE_API_KEY=clk_… clearline contracts approve 0f3c2a61b0d4e8f70f3c2a61b0d4e8f7
    """
    _act(
        ctx, contract_id, "approve", None,
        lambda p, i, who, actor: p.contracts.approve(i, who.principal, actor),
        (key, api_key, as_json),
    )  # fmt: skip


@contracts_app.command("attest")
def attest(
    ctx: typer.Context,
    contract_id: ContractId,
    milestone: Annotated[str, typer.Argument(help="The milestone's name.", metavar="MILESTONE")],
    key: IdemKey = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Attest an escrow's milestone as its named attester.

    The milestone's share goes to the payee.

    Example:

        clearline contracts attest 0f3c2a61b0d4e8f70f3c2a61b0d4e8f7 shipped --api-key "$KEY"
    """
    from clearline.api import contract_schemas as c

    body: c.AttestIn = _validated(c.AttestIn, {"milestone": milestone}, "MILESTONE")
    _act(
        ctx, contract_id, "attest", body.model_dump(),
        lambda p, i, who, actor: p.contracts.attest(i, body.milestone, who.principal, actor),
        (key, api_key, as_json),
    )  # fmt: skip


@contracts_app.command("fulfil")
def fulfil(
    ctx: typer.Context,
    contract_id: ContractId,
    preimage: Annotated[
        str, typer.Option("--preimage", help="The preimage of the condition, in hex.")
    ],
    key: IdemKey = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Fulfil an HTLC as its payee with the preimage.

    Every leg is posted together; a wrong preimage is refused and changes nothing.

    Example:

        clearline contracts fulfil 0f3c2a61b0d4e8f70f3c2a61b0d4e8f7 --preimage 70616964
    """
    from clearline.api import contract_schemas as c

    body: c.FulfilIn = _validated(c.FulfilIn, {"preimage": preimage}, "--preimage")
    _act(
        ctx, contract_id, "fulfil", body.model_dump(),
        lambda p, i, who, actor: p.contracts.fulfil(i, body.preimage, who.principal, actor),
        (key, api_key, as_json),
    )  # fmt: skip


@contracts_app.command("cancel")
def cancel(
    ctx: typer.Context,
    contract_id: ContractId,
    key: IdemKey = None,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Cancel a contract: the funds go back to the payer.

    The payee gives it up, or an operator stops it (a dispute).

    Example:

        clearline contracts cancel 0f3c2a61b0d4e8f70f3c2a61b0d4e8f7 --id dispute-7
    """
    _act(
        ctx, contract_id, "cancel", None,
        lambda p, i, who, actor: p.contracts.cancel(i, who.principal, actor),
        (key, api_key, as_json),
    )  # fmt: skip


@contracts_app.command("proof")
def proof(
    ctx: typer.Context, contract_id: ContractId, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """The latest step's audit event and its inclusion proof.

    What GET /v1/contracts/{id}/proof answers: the event, the bytes whose SHA-256 the ledger
    attested, and the inclusion proof of that attestation against the latest signed
    checkpoint, checked here against the checkpoint's root.

    Example:

        clearline contracts proof 0f3c2a61b0d4e8f70f3c2a61b0d4e8f7 --json > proof.json
    """
    with _opened(ctx) as platform:
        principal = _caller(platform, api_key, PROOF_ROLES).principal
        identifier = _contract_id(contract_id)
        while platform.trail.seal_pending_sync(platform.ledger):  # no sealer runs here
            pass
        answer = _proof(platform, identifier, principal)
        lines = proof_lines(answer)
    if as_json:
        typer.echo(orjson.dumps(answer.model_dump()).decode())
        return
    console = console_out()
    for line in lines:
        console.print(line)


def _proof(platform: Platform, identifier: int, principal: Principal) -> s.AuditProofOut:
    """What `GET /v1/contracts/{id}/proof` answers (its own function, run here), retried while
    the checkpoint that covers the latest step is not signed yet."""
    from clearline.api.problems import ApiProblem
    from clearline.api.routes.contracts import contract_proof
    from clearline.core.ids import format_id

    deadline = time.monotonic() + PROOF_WAIT_S
    while True:
        try:
            return asyncio.run(contract_proof(format_id(identifier), principal, platform))
        except ApiProblem as problem:
            if problem.code != "not_sealed_yet" or time.monotonic() > deadline:
                raise
        time.sleep(PROOF_POLL_S)


@contracts_app.command("sweep")
def sweep(ctx: typer.Context, as_json: AsJson = False) -> None:
    """End what time has ended, once, now; print how many contracts changed.

    A running server does it every second: escrows past their deadline are refunded, HTLCs
    past their expiry recorded expired, standing orders' due occurrences run. Each step is
    recorded as done by `system`.

    Example:

        clearline contracts sweep
    """
    with _opened(ctx) as platform:
        changed = platform.contracts.sweep()
    if as_json:
        typer.echo(orjson.dumps({"changed": changed}).decode())
    else:
        console_out().print(f"swept: {changed} contracts changed")


def register(app: typer.Typer) -> None:
    """Add the `contracts` command group to the `clearline` app."""
    app.add_typer(contracts_app, name="contracts")
