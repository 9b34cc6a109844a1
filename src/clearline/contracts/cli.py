"""`clearline script run FILE`: a Numscript program on the data directory's ledger.

Guarantees:
- The program is compiled before the data directory is opened: an error prints
  `FILE:line:column: code: message` (`FILE: code: message` where the position is unknown) and
  exits 1; a malformed `--var` is a usage error naming it (exit 2).
- `--dry-run` prints the postings the program would make now (a table: source, destination,
  amount in the asset's minor units, asset) and `nothing moved`; nothing is written but what
  opening the platform writes.
- A run is one execution of the platform's executor: all its postings commit, as one linked
  chain of ledger transfers, or none does. It prints the status and one line per transfer; a
  refusal prints its code and reason and exits 1 (nothing moved). Each run is an audit event
  `script.run` by `cli` (the execution id, the program's SHA-256 and the outcome; never the
  variables' values).
- `--id KEY` makes the run idempotent: the same KEY is the same execution, so running it again
  answers `replayed` and moves nothing; the same KEY with another program or other variables
  is refused.
- Refuses (exit 1) while another process (a running `clearline serve`) has the directory open.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from clearline.contracts.numscript import NumscriptError, Posting, Program, compile_program
from clearline.contracts.numscript import cli as numscript_cli
from clearline.core.errors import ClearlineError
from clearline.core.ids import format_id

if TYPE_CHECKING:
    from clearline.platform import Platform


def parse_variables(given: Sequence[str]) -> dict[str, str]:
    """`--var name=value` options as the program's variables (the value is Numscript literal
    text; a leading `$` on the name is allowed)."""
    variables: dict[str, str] = {}
    for text in given:
        name, equals, value = text.partition("=")
        name = name.strip().removeprefix("$")
        if not equals or not name:
            raise typer.BadParameter(
                f'{text!r} is not name=value: write --var amount="USD/2 100"',
                param_hint="--var",
            )
        if name in variables:
            raise typer.BadParameter(f"variable {name} is given twice", param_hint="--var")
        variables[name] = value
    return variables


def error_line(file: Path, error: NumscriptError) -> str:
    """`FILE:line:column: code: message`, the message without its own position."""
    message = error.message
    if error.line is None:
        return f"{file}: {error.code}: {message}"
    message = message.removesuffix(f" (line {error.line}, column {error.column})")
    return f"{file}:{error.line}:{error.column}: {error.code}: {message}"


def postings_table(postings: Sequence[Posting]) -> Table:
    colored = any(p.color for p in postings)
    table = Table(show_edge=False)
    for name in ("source", "destination"):
        table.add_column(name, overflow="fold")
    table.add_column("amount", justify="right", overflow="fold")
    table.add_column("asset", overflow="fold")
    if colored:
        table.add_column("color", overflow="fold")
    for p in postings:
        row = [f"@{p.source}", f"@{p.destination}", str(p.amount), p.asset]
        table.add_row(*row, *([p.color] if colored else []))
    return table


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@contextmanager
def opened(directory: Path) -> Iterator[Platform]:
    """The platform on `directory`, refused at once while another process serves it."""
    from clearline.platform import DirectoryLock, Platform, PlatformBusy

    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        DirectoryLock(directory, exclusive=True).release()
        # the risk gate's "no model" warning is about payments, not programs
        risk_log = logging.getLogger("clearline.payments.risk_gate")
        level = risk_log.level
        risk_log.setLevel(logging.ERROR)
        try:
            platform = Platform.open(directory)
        finally:
            risk_log.setLevel(level)
    except PlatformBusy as error:
        raise fail(
            f"error: {error.code}: {error.message} (or run the program through that server: "
            "POST /v1/scripts/run)"
        ) from None
    except ClearlineError as error:
        raise fail(f"error: {error.code}: {error.message}") from None
    try:
        yield platform
    finally:
        platform.close()


def run(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="The Numscript program.",
            exists=True,
            dir_okay=False,
            readable=True,
            metavar="FILE",
        ),
    ],
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            help='A variable as name=value in Numscript literal syntax: amount="USD/2 100", '
            "to=users:bob (an account, without @). Repeat for each.",
        ),
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="An experimental feature flag to enable. Repeatable."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the postings it would make; move nothing.")
    ] = False,
    key: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="Idempotency key: the same key is the same execution (run once, then replayed).",
        ),
    ] = None,
) -> None:
    """Run a Numscript program on the ledger (or only show its postings: --dry-run).

    All its postings move, as one linked chain of ledger transfers, or none does. Run it with
    the server stopped (or use POST /v1/scripts/run). Each run is an audit event `script.run`
    by `cli`.

    Example:

        clearline script run pay.num --var amount="USD/2 100" --var to=users:bob --dry-run

        clearline script run pay.num --var amount="USD/2 100" --var to=users:bob --id pay-42
    """
    from clearline.cli import data_dir_from

    variables = parse_variables(var or ())
    if key is not None and not (1 <= len(key) <= 255 and key.isascii() and key.isprintable()):
        raise typer.BadParameter("must be 1-255 printable ASCII characters", param_hint="--id")
    try:
        program = compile_program(file.read_text(encoding="utf-8"), feature or ())
    except NumscriptError as error:
        raise fail(error_line(file, error)) from None
    except UnicodeDecodeError:
        raise fail(f"{file}: not UTF-8 text") from None
    console = Console(highlight=False, soft_wrap=True, markup=False)
    with opened(data_dir_from(ctx)) as platform:
        if dry_run:
            _dry_run(console, platform, file, program, variables)
        else:
            _execute(console, platform, file, program, variables, key)


def _dry_run(
    console: Console, platform: Platform, file: Path, program: Program, variables: dict[str, str]
) -> None:
    try:
        result = platform.scripts.dry_run(program, variables)
    except NumscriptError as error:
        raise fail(error_line(file, error)) from None
    except ClearlineError as error:
        raise fail(f"error: {error.code}: {error.message}") from None
    if result.postings:
        console.print(postings_table(result.postings))
    _print_meta(console, result.tx_meta, result.account_meta)
    console.print(f"dry run: {len(result.postings)} postings; nothing moved")


def _execute(
    console: Console,
    platform: Platform,
    file: Path,
    program: Program,
    variables: dict[str, str],
    key: str | None,
) -> None:
    from clearline.contracts.executor import Execution, program_sha256
    from clearline.core.ids import key_derived_id, new_id
    from clearline.trail import CLI

    sha = program_sha256(program)
    execution_id = new_id() if key is None else key_derived_id("script", CLI.key_id, key)
    known = platform.scripts.records.get(execution_id)
    if known is not None and (known.program_sha256 != sha or dict(known.variables) != variables):
        raise fail(
            f"error: idempotency_key_reused: --id {key} was used with another program or other "
            "variables: use a new key for a new run"
        )
    try:
        [outcome] = platform.scripts.execute([Execution(execution_id, program, variables)])
    except ClearlineError as error:
        raise fail(f"error: {error.code}: {error.message}") from None
    details: dict[str, object] = {
        "program_sha256": sha,
        "status": outcome.status,
        "transfers": len(outcome.transfer_ids),
    }
    if outcome.error_code is not None:
        details["error_code"] = outcome.error_code
    actor = dataclasses.replace(CLI, idempotency_key=key)
    platform.trail.record_sync(
        actor, "script.run", "script_execution", format_id(execution_id), **details
    )
    ident = format_id(execution_id)
    if not outcome.ok:
        raise fail(
            f"refused: {outcome.error_code}: {outcome.error} (execution {ident}; nothing moved)"
        )
    if outcome.status == "replayed":
        console.print(f"replayed: execution {ident} ran before; nothing moved again")
    else:
        console.print(f"done: execution {ident}, {len(outcome.transfer_ids)} transfers")
    if outcome.postings:
        console.print(postings_table(outcome.postings))
    _print_meta(console, outcome.tx_meta, outcome.account_meta)
    for transfer_id in outcome.transfer_ids:
        console.print(f"transfer {format_id(transfer_id)}")


def _print_meta(
    console: Console, tx_meta: Mapping[str, str], account_meta: Mapping[str, Mapping[str, str]]
) -> None:
    for name, value in tx_meta.items():
        console.print(f"tx meta {name} = {value}")
    for account, values in account_meta.items():
        for name, value in values.items():
            console.print(f"account meta @{account} {name} = {value}")


def register(app: typer.Typer) -> None:
    """Add the `script` command group (`script test`, `script run`) to the `clearline` app."""
    script_app = numscript_cli.script_app
    if not any(command.name == "run" for command in script_app.registered_commands):
        script_app.command("run")(run)
    numscript_cli.register(app)
