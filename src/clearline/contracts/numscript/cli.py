"""`clearline script test DIR [--json FILE]`: run Numscript spec files.

Guarantees:
- Prints one line per failed case (file, case, what differed), one line per skipped case (file,
  case, why), then a closing line that is exactly `N passed, M failed`, followed by
  `, K skipped` when any case was skipped.
- `--json FILE` also writes the whole report (every case with its status and reason) as JSON.
- Exits 1 when any case failed, 2 when DIR is not a directory, else 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from clearline.contracts.numscript.specs import run_specs

script_app = typer.Typer(
    name="script",
    help="Numscript programs: run them on the ledger, or run spec files.",
    no_args_is_help=True,
    add_completion=False,
)


@script_app.command("test")
def test(
    directory: Annotated[
        Path, typer.Argument(help="Directory searched for X.num beside X.num.specs.json.")
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the full report to this file.")
    ] = None,
) -> None:
    """Run every Numscript spec file under DIRECTORY and report failures.

    Example:

        clearline script test shared/conformance/numscript/cases --json report.json
    """
    if not directory.is_dir():
        raise typer.BadParameter(f"{directory} is not a directory", param_hint="DIRECTORY")
    report = run_specs(directory)
    console = Console(highlight=False, soft_wrap=True)
    for outcome in report.outcomes:
        if outcome.status == "passed":
            continue
        line = Text()
        if outcome.status == "failed":
            line.append("FAIL ", style="bold red")
        else:
            line.append("SKIP ", style="bold yellow")
        line.append(f"{outcome.file} › {outcome.case}: {outcome.reason}")
        console.print(line)
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    console.print(Text(report.summary()))
    if report.failed:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the `script` command group to the `clearline` command."""
    app.add_typer(script_app, name="script")
