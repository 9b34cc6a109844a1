"""The `clearline` command.

Every subcommand works on one data directory, taken from `--data-dir` or `CLEARLINE_DATA_DIR`
(default `./.clearline`). Commands print what they did; long work shows a progress bar.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from clearline import __version__

DEFAULT_DATA_DIR = ".clearline"

app = typer.Typer(
    name="clearline",
    help="Clearline: exact ledger, real-time risk decisions, verifiable settlement.",
    no_args_is_help=True,
    add_completion=False,
)


def data_dir_from(ctx: typer.Context) -> Path:
    """The data directory chosen for this invocation."""
    value = ctx.obj.get("data_dir") if isinstance(ctx.obj, dict) else None
    return Path(value or os.environ.get("CLEARLINE_DATA_DIR") or DEFAULT_DATA_DIR)


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="CLEARLINE_DATA_DIR",
            help="Data directory (SQLite databases and keys). Default: ./.clearline",
        ),
    ] = None,
) -> None:
    """Clearline: exact ledger, real-time risk decisions, verifiable settlement."""
    ctx.obj = {"data_dir": data_dir}


@app.command()
def version() -> None:
    """Print the Clearline version."""
    typer.echo(__version__)


@app.command()
def demo(
    ctx: typer.Context,
    payments: Annotated[int, typer.Option(help="Payments in the burst.", min=1)] = 200_000,
    wallets: Annotated[int, typer.Option(help="Wallets per asset.", min=2)] = 2_000,
    batch: Annotated[int, typer.Option(help="Transfers per call.", min=1, max=8190)] = 8190,
    seed: Annotated[int, typer.Option(help="Random seed of the demo traffic.")] = 2026,
) -> None:
    """Exercise the platform on the data directory and show what happens (what `make run` runs)."""
    from rich.console import Console

    from clearline.demo import DemoOptions, run_demo

    run_demo(
        data_dir_from(ctx),
        DemoOptions(wallets=wallets, payments=payments, batch=batch, seed=seed),
        Console(),
    )


def _register_rooms() -> None:
    from clearline.ledger import cli as ledger_cli

    ledger_cli.register(app)
    # Other rooms register their commands here, one line each.
    from clearline.sim import cli as sim_cli

    sim_cli.register(app)
    from clearline.risk import cli as risk_cli

    risk_cli.register(app)
    from clearline.chain import cli as chain_cli

    chain_cli.register(app)


def main() -> None:
    """Entry point of the `clearline` console script."""
    _register_rooms()
    app()
