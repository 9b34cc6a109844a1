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
    people: Annotated[int, typer.Option(help="People in the simulated world.", min=50)] = 2_000,
    days: Annotated[int, typer.Option(help="Days in the simulated world.", min=2)] = 30,
    history_days: Annotated[
        int | None,
        typer.Option(
            help="Days before the replay, which warm the feature state (default: the first two "
            "thirds); the model learns from them with --training-days 0."
        ),
    ] = None,
    replay_days: Annotated[
        int | None, typer.Option(help="Days to replay as live traffic (default: all the rest).")
    ] = None,
    payments: Annotated[
        int | None,
        typer.Option(
            help="At most this many payments (the burst size with --ledger-burst).", min=1
        ),
    ] = None,
    rate: Annotated[
        float, typer.Option(help="Payments per second to send (0: as fast as possible).", min=0)
    ] = 0.0,
    concurrency: Annotated[int, typer.Option(help="Requests in flight.", min=1, max=512)] = 32,
    host: Annotated[str, typer.Option(help="Interface the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port (0: a free one).", min=0, max=65535)] = 0,
    seed: Annotated[int, typer.Option(help="Random seed of the world.")] = 7,
    training_days: Annotated[
        int,
        typer.Option(
            help="Days of the separate world the model learns from, trained once and cached "
            "(0: learn from this world's history days instead).",
            min=0,
        ),
    ] = 180,
    training_people: Annotated[
        int, typer.Option(help="People in the world the model learns from.", min=50)
    ] = 5_000,
    ledger_burst: Annotated[
        bool, typer.Option("--ledger-burst", help="Run the older ledger-only burst demo instead.")
    ] = False,
    wallets: Annotated[int, typer.Option(help="--ledger-burst: wallets per asset.", min=2)] = 2_000,
    batch: Annotated[
        int, typer.Option(help="--ledger-burst: transfers per call.", min=1, max=8190)
    ] = 8190,
    exit_after_replay: Annotated[
        bool,
        typer.Option(
            "--exit-after-replay",
            help="Stop once the replay is done (default: keep serving the API until Ctrl-C).",
        ),
    ] = False,
) -> None:
    """The live demo (what `make run` runs): a simulated world's later days as HTTP traffic,
    decided by a model trained on six months of another simulated world (once, then cached),
    with the feature state warmed by this world's earlier days, on a live dashboard; then the API
    and its docs stay up until Ctrl-C, which stops cleanly."""
    from rich.console import Console

    if ledger_burst:
        from clearline.demo.burst import DemoOptions, run_demo

        run_demo(
            data_dir_from(ctx),
            DemoOptions(wallets=wallets, payments=payments or 200_000, batch=batch, seed=seed),
            Console(),
        )
        return
    from clearline.demo.errors import DemoError
    from clearline.demo.live import run_live_demo
    from clearline.demo.options import LiveDemoOptions

    if days < 2 or (history_days is not None and not 1 <= history_days < days):
        raise typer.BadParameter("history days must be at least 1 and fewer than --days")
    options = LiveDemoOptions(
        people=people,
        days=days,
        seed=seed,
        history_days=history_days,
        replay_days=replay_days,
        payments=payments,
        rate=rate,
        concurrency=concurrency,
        host=host,
        port=port,
        training_people=training_people,
        training_days=training_days,
        exit_after_replay=exit_after_replay,
    )
    console = Console()
    try:
        run_live_demo(data_dir_from(ctx), options, console)
    except DemoError as error:
        console.print(f"[red]the demo stopped: {error.message} ({error.code})[/red]")
        raise typer.Exit(1) from error


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
    from clearline.api import cli as api_cli

    api_cli.register(app)
    from clearline.contracts import cli as contracts_cli

    contracts_cli.register(app)
    from clearline.aml.screening import cli as screening_cli

    screening_cli.register(app)


def main() -> None:
    """Entry point of the `clearline` console script."""
    _register_rooms()
    app()
