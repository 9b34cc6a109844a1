"""`clearline serve`, `clearline keys create|list|revoke|rotate-data-key` and
`clearline trail verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

keys_app = typer.Typer(
    help="API keys (create, list, revoke) and the data key personal data is encrypted under.",
    no_args_is_help=True,
)


def _data_dir(ctx: typer.Context) -> Path:
    from clearline.cli import data_dir_from

    return data_dir_from(ctx)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    model: Annotated[
        Path | None, typer.Option(help="Risk model directory (default DATA/models/current).")
    ] = None,
    review_timeout: Annotated[
        int | None, typer.Option(help="Seconds a payment in review holds its funds.", min=1)
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) on the data directory, until Ctrl-C or SIGTERM
    (both stop gracefully: requests in flight are answered, then everything closes).

    Example: clearline --data-dir .clearline serve --port 8000
    """
    from clearline.api.server import serve as run

    run(_data_dir(ctx), host, port, model_directory=model, review_timeout_s=review_timeout)


@keys_app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help="admin, operator, analyst, auditor or customer.")],
    customer: Annotated[
        str | None, typer.Option(help="The customer id a customer key is bound to.")
    ] = None,
    label: Annotated[str, typer.Option(help="A note to tell keys apart.")] = "",
) -> None:
    """Create an API key; the key is the last line of the output (shown once). Recorded in the
    audit trail as done by `cli`.

    Example: clearline keys create --role operator --label "back office"
    """
    from clearline.core.errors import ClearlineError
    from clearline.core.ids import parse_id
    from clearline.platform import Records

    with Records(_data_dir(ctx)) as records:
        try:
            customer_id = None if customer is None else parse_id(customer, "customer")
            if customer_id is not None and not records.store.read(
                "SELECT 1 FROM customers WHERE id = ?", (f"{customer_id:032x}",)
            ):
                typer.echo(f"error: no customer {customer}: see GET /v1/customers", err=True)
                raise typer.Exit(2)
            key, info = records.keys.create(role, customer_id, label)
        except ClearlineError as error:
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"created key {info.id} (role {info.role}); store it now, it is shown once:")
    typer.echo(key)


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """List the keys (ids and roles; never the keys themselves).

    Example: clearline keys list
    """
    from clearline.platform import Records

    with Records(_data_dir(ctx)) as records:
        for info in records.keys.list():
            state = "revoked" if info.revoked_ns else "active"
            bound = f" customer {info.customer_id:032x}" if info.customer_id else ""
            typer.echo(f"{info.id}  {info.role:<8} {state}{bound}  {info.label}")


@keys_app.command("revoke")
def revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke a key: it is refused from now on (a running server sees it within a second).

    Example: clearline keys revoke 3f9c2a61b0d4e8f7
    """
    from clearline.platform import Records

    with Records(_data_dir(ctx)) as records:
        if not records.keys.revoke(key_id):
            typer.echo(f"error: no key {key_id}: see `clearline keys list`", err=True)
            raise typer.Exit(2)
    typer.echo(f"revoked {key_id}")


@keys_app.command("rotate-data-key")
def rotate_data_key(ctx: typer.Context) -> None:
    """Encrypt all personal data under a new data key and remove the old one. Run it with the
    server stopped (it refuses while another process has the data directory open); safe to run
    again if it was interrupted.

    Example: clearline --data-dir .clearline keys rotate-data-key
    """
    from clearline.core.errors import ClearlineError
    from clearline.platform.maintenance import rotate_data_key as rotate

    try:
        report = rotate(_data_dir(ctx))
    except ClearlineError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"data key {report.key_id} is current: {report.reencrypted:,} values re-encrypted, "
        f"{report.encrypted:,} stored in clear encrypted, {report.removed:,} old keys removed"
    )


trail_app = typer.Typer(help="The operator audit trail.", no_args_is_help=True)


@trail_app.command("verify")
def verify_trail(ctx: typer.Context) -> None:
    """Check every audit event against the ledger: its bytes still hash to their digest, and a
    sealed event's attestation in the verifiable log holds that digest. Exits 1 naming the
    events that were changed or are missing from the log. Run it with the server stopped (the
    server holds the ledger exclusively).

    Example: clearline --data-dir .clearline trail verify
    """
    from clearline.ledger import Ledger
    from clearline.platform import Records

    directory = _data_dir(ctx)
    with Records(directory) as records, Ledger.open(directory, sealed=False) as ledger:
        check = records.trail.verify(ledger)
    typer.echo(f"{check.events:,} audit events, {check.sealed:,} sealed into the log")
    for identifier in check.changed:
        typer.echo(f"changed after it was recorded: {identifier}", err=True)
    for identifier in check.missing:
        typer.echo(f"sealed but not in the ledger: {identifier}", err=True)
    if not check.intact:
        raise typer.Exit(1)
    typer.echo("intact: every event matches its digest and its attestation")


def register(app: typer.Typer) -> None:
    from clearline.api import contracts_cli

    app.command("serve")(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(trail_app, name="trail")
    contracts_cli.register(app)
