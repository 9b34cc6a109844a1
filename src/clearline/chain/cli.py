"""`clearline audit …` and `clearline witness …`: export and audit the settlement log offline, and
run a witness that cosigns only consistent checkpoints.

`audit verify` never touches a node: it reads only the export directory and exits 0 only when
everything holds; otherwise it prints the failed rule's code and where, and exits 1. A witness keeps
its own state directory (`--witness-dir`, default `<data dir>/witness`). Refusals exit 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, TaskID

from clearline.chain.audit import AuditFailure, ProgressCallback, export_log, verify_export
from clearline.chain.keys import parse_verifier_key
from clearline.chain.witness import Witness, WitnessError, parse_witness_key
from clearline.core.errors import ClearlineError

audit_app = typer.Typer(
    help="Export the settlement log and audit it offline.", no_args_is_help=True
)
witness_app = typer.Typer(
    help="A witness that cosigns consistent checkpoints.", no_args_is_help=True
)
console = Console()


def register(app: typer.Typer) -> None:
    """Add the `audit` and `witness` command groups to the top-level `clearline` app."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(witness_app, name="witness")


@contextmanager
def _progress_bar() -> Iterator[ProgressCallback | None]:
    """A rich progress bar per phase on a terminal; nothing otherwise."""
    if not console.is_terminal:
        yield None
        return
    with Progress(console=console, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


def _refuse(error: ClearlineError) -> typer.Exit:
    console.print(f"[red]failed[/red] {error.code}: {error}")
    return typer.Exit(1)


@audit_app.command("export")
def audit_export(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="New or empty directory to write.")],
) -> None:
    """Write the log's events, checkpoints, keys and a signed manifest to DIRECTORY."""
    from clearline.cli import data_dir_from

    try:
        with _progress_bar() as progress:
            counts = export_log(data_dir_from(ctx), directory, progress)
    except ClearlineError as error:
        raise _refuse(error) from None
    console.print(
        f"exported {counts['events']:,} events and {counts['checkpoints']:,} checkpoints"
        f" to {directory}"
    )


@audit_app.command("verify")
def audit_verify(
    directory: Annotated[Path, typer.Argument(help="An export directory.")],
    key: Annotated[
        list[str] | None, typer.Option("--key", help="Trusted node verifier key (repeatable).")
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", help="File with a signed checkpoint seen elsewhere."),
    ] = None,
    witness_key: Annotated[
        list[str] | None,
        typer.Option("--witness-key", help="Trusted witness key, type 04 (repeatable)."),
    ] = None,
    min_witnesses: Annotated[
        int | None,
        typer.Option(help="Witnesses that must cosign one checkpoint (default: 1 with keys)."),
    ] = None,
) -> None:
    """Check an export without the node: leaves, roots, signatures, links, balances, and the
    witnesses' cosignatures."""
    try:
        pinned_keys = [parse_verifier_key(text) for text in key or []]
        pins = [path.read_text(encoding="utf-8") for path in checkpoint or []]
        witnesses = [parse_witness_key(text) for text in witness_key or []]
        least = min_witnesses if min_witnesses is not None else min(len(witnesses), 1)
        with _progress_bar() as progress:
            report = verify_export(directory, pinned_keys, pins, witnesses, least, progress)
    except (AuditFailure, ClearlineError) as error:
        raise _refuse(error) from None
    for text in report.keys_on_trust:
        console.print(f"[yellow]trusted from the export itself[/yellow] {text[:72]}…")
    assets = sorted({account.asset for account in report.accounts})
    console.print(
        f"[green]ok[/green] {report.origin}: {report.events:,} events ({report.transfers:,}"
        f" transfers, {report.attestations:,} attestations), {report.checkpoints:,}"
        f" checkpoints, {report.signatures:,} signatures verified; {len(report.accounts):,}"
        f" accounts replayed, Σ debits = Σ credits in {', '.join(assets) or 'no asset'}"
    )
    if report.witness_keys:
        console.print(
            f"[green]published[/green] up to size {report.published_size:,} "
            f"({least} of {len(report.witness_keys)} pinned witnesses cosigned it)"
        )
    elif report.cosigned:
        console.print(
            f"[yellow]{report.cosigned} cosigned checkpoints not checked[/yellow]: "
            "pin witnesses with --witness-key"
        )


WitnessDir = Annotated[
    Path | None,
    typer.Option("--witness-dir", help="Witness state directory (default <data dir>/witness)."),
]


def _witness(ctx: typer.Context, directory: Path | None, name: str | None = None) -> Witness:
    from clearline.cli import data_dir_from

    try:
        return Witness.open(directory or data_dir_from(ctx) / "witness", name)
    except ClearlineError as error:
        raise _refuse(error) from None


@witness_app.command("init")
def witness_init(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The witness's key name, e.g. auditor.example/w1.")],
    witness_dir: WitnessDir = None,
) -> None:
    """Create the witness key (once) and print its verifier key."""
    console.print(_witness(ctx, witness_dir, name).key_string())


@witness_app.command("key")
def witness_key(ctx: typer.Context, witness_dir: WitnessDir = None) -> None:
    """Print the witness's verifier key (type 04)."""
    console.print(_witness(ctx, witness_dir).key_string())


@witness_app.command("add-log")
def witness_add_log(
    ctx: typer.Context,
    origin: Annotated[str, typer.Argument(help="The log's origin line.")],
    keys: Annotated[list[str], typer.Argument(help="The node's verifier keys.")],
    witness_dir: WitnessDir = None,
) -> None:
    """Follow a log: its checkpoints must be signed by every one of KEYS."""
    try:
        _witness(ctx, witness_dir).add_log(origin, keys)
    except ClearlineError as error:
        raise _refuse(error) from None
    console.print(f"following {origin}")


@witness_app.command("sync")
def witness_sync(
    ctx: typer.Context,
    node_dir: Annotated[Path, typer.Argument(help="The node's data directory.")],
    witness_dir: WitnessDir = None,
    deliver: Annotated[
        bool, typer.Option(help="Also store the cosignature in the node's data directory.")
    ] = False,
) -> None:
    """Cosign the node's latest checkpoint, proving it extends the last one cosigned (and any
    key rotation checkpoint in between, so the witness follows the node's keys)."""
    from clearline.chain.log import ChainLog
    from clearline.chain.notes import parse_checkpoint, parse_note
    from clearline.chain.publish import add_cosignature

    witness = _witness(ctx, witness_dir)
    try:
        with ChainLog(node_dir) as log:
            notes = log.checkpoint_notes()
            checkpoint = parse_checkpoint(parse_note(notes[-1]).text)
            last = witness.last_size(checkpoint.origin)
            for note in notes[:-1]:  # rotations since the last one cosigned first: the
                step = parse_checkpoint(parse_note(note).text)  # witness learns the new keys
                if step.size > last and step.keys:
                    witness.cosign(note, log.consistency_proof(last, step.size))
                    last = step.size
            note = notes[-1]
            proof = log.consistency_proof(min(last, checkpoint.size), checkpoint.size)
            line = witness.cosign(note, proof)
        count = add_cosignature(node_dir, note + line) if deliver else None
    except (WitnessError, ClearlineError) as error:
        raise _refuse(error) from None
    console.print(f"cosigned {checkpoint.origin} at size {checkpoint.size}")
    if count is not None:
        console.print(f"delivered: {count} configured witnesses have cosigned it")
    console.print(line, end="")


@witness_app.command("show")
def witness_show(
    ctx: typer.Context,
    origin: Annotated[str, typer.Argument(help="The log's origin line.")],
    witness_dir: WitnessDir = None,
) -> None:
    """Print the last checkpoint cosigned for ORIGIN, with the cosignature line."""
    note = _witness(ctx, witness_dir).latest(origin)
    if note is None:
        console.print(f"nothing cosigned for {origin}")
        raise typer.Exit(1)
    typer.echo(note, nl=False)


@audit_app.command("published")
def audit_published(ctx: typer.Context) -> None:
    """Print the latest published checkpoint: cosigned by the k witnesses node.toml requires."""
    from clearline.chain.log import ChainLog
    from clearline.chain.publish import published_note
    from clearline.cli import data_dir_from

    directory = data_dir_from(ctx)
    try:
        with ChainLog(directory) as log:
            note = published_note(directory, log)
    except ClearlineError as error:
        raise _refuse(error) from None
    if note is None:
        console.print("no checkpoint is published yet")
        raise typer.Exit(1)
    typer.echo(note, nl=False)


@audit_app.command("rotate-key")
def audit_rotate_key(ctx: typer.Context) -> None:
    """Make the node's next signing keys; the node announces them in its next checkpoint, signed
    by the current keys, and signs with them from then on (the ledger may be running)."""
    from clearline.chain.keys import prepare_rotation, verifier_key_string
    from clearline.chain.node import load_or_create_node_config
    from clearline.cli import data_dir_from

    directory = data_dir_from(ctx)
    try:
        config = load_or_create_node_config(directory)
        verifiers = prepare_rotation(directory, config.origin)
    except ClearlineError as error:
        raise _refuse(error) from None
    console.print("next keys, announced in the next checkpoint:")
    for verifier in verifiers:
        typer.echo(verifier_key_string(verifier))
