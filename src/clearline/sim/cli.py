"""`clearline simulate`: generate a synthetic world into a directory.

Guarantees:
- The options map one to one onto `SimConfig` (preset, then `--config` file, then `--seed`,
  `--people`, `--days`), so the command and the Python API make the same world.
- Long runs show a progress bar (one step per simulated day); the summary printed at the end is the
  one written to `manifest.json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clearline.core.errors import ClearlineError
from clearline.sim.config import PRESETS, load_config
from clearline.sim.engine import World
from clearline.sim.writer import write_world


def simulate(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the world into.")],
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default 0).")] = None,
    people: Annotated[int | None, typer.Option("--people", help="Number of people.")] = None,
    days: Annotated[int | None, typer.Option("--days", help="Number of simulated days.")] = None,
    preset: Annotated[
        str, typer.Option("--preset", help="hi (1/1,000 illicit) or li (1/2,000).")
    ] = "hi",
    config: Annotated[
        Path | None, typer.Option("--config", help="JSON or TOML file overriding the preset.")
    ] = None,
    csv: Annotated[
        bool, typer.Option("--csv", help="Also write CSV copies of every table.")
    ] = False,
) -> None:
    """Generate a seeded synthetic world with labelled fraud and money laundering."""
    console = Console()
    if preset not in PRESETS:
        raise typer.BadParameter(f"use one of {sorted(PRESETS)}", param_hint="--preset")
    try:
        settings = load_config(config, preset, seed=seed, people=people, days=days)
    except ClearlineError as error:
        raise typer.BadParameter(error.message) from error
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[payments]:,} payments"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("building world", total=settings.days, payments=0)
        world = World(settings)
        progress.update(task, description="simulating days")
        settled = 0

        def on_day(day) -> None:
            nonlocal settled
            settled += len(day.events)
            progress.update(task, advance=1, payments=settled)

        result = world.generate(on_day=on_day)
        progress.update(task, description="writing tables")
        document = write_world(result, out, csv=csv)
    console.print(summary(document, out))


def summary(document: dict, out: Path) -> Table:
    """The manifest's headline figures as a table."""
    rates = document["label_rates"]
    table = Table(title=f"Synthetic world written to {out}")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("seed", str(document["seed"]))
    table.add_row("transactions", f"{document['counts']['transactions']:,}")
    table.add_row(
        "refused (insufficient funds)", f"{document['payments']['refused_insufficient_funds']:,}"
    )
    for kind in ("fraud", "laundering"):
        block = rates[kind]
        table.add_row(
            f"{kind} share (configured / measured)",
            f"{block['configured']:.5f} / {block['measured']:.5f}",
        )
    for name, rows in document["counts"].items():
        if name != "transactions":
            table.add_row(f"{name} rows", f"{rows:,}")
    return table


def register(app: typer.Typer) -> None:
    """Add the `simulate` command to the `clearline` application."""
    app.command("simulate")(simulate)
