"""`clearline risk train` and `clearline risk evaluate`.

Guarantees:
- `train --world DIR --out DIR` writes a versioned model directory (model, features, parameters,
  fingerprint, thresholds, metrics.json, model_card.md, PNG plots) and prints the version.
- `evaluate --model DIR --world DIR --train-world DIR --out DIR` scores a world the model never saw
  and writes metrics.json with the raw-column and rules-only baselines beside the model.
- Bad input becomes a `typer.BadParameter` naming the option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from clearline.core.errors import ClearlineError

risk_app = typer.Typer(help="Fraud model: train, evaluate.", no_args_is_help=True)


@risk_app.command("train")
def train(
    world: Annotated[Path, typer.Option("--world", help="A world written by clearline simulate.")],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    seed: Annotated[int, typer.Option("--seed", help="Model seed.")] = 7,
) -> None:
    """Train the fraud model on a simulated world."""
    from clearline.risk.model import TrainConfig
    from clearline.risk.pipeline import train_world

    try:
        model = train_world(world, out, TrainConfig(seed=seed))
    except ClearlineError as error:
        raise typer.BadParameter(error.message, param_hint="--world") from error
    typer.echo(f"model {model.version_} written to {out}")


@risk_app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Option("--model", help="Model directory.")],
    world: Annotated[Path, typer.Option("--world", help="A world the model never saw.")],
    train_world: Annotated[
        Path, typer.Option("--train-world", help="The training world (for the raw baseline).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Report directory to write.")],
) -> None:
    """Score an unseen world and compare with the raw-column and rules-only baselines."""
    from clearline.risk.pipeline import evaluate_world
    from clearline.risk.registry import load_model

    try:
        metrics = evaluate_world(load_model(model), train_world, world, out)
    except ClearlineError as error:
        raise typer.BadParameter(error.message) from error
    summary = {
        name: {"pr_auc": block["pr_auc"], "recall_at_fpr": block["recall_at_fpr"]}
        for name, block in metrics.items()
        if isinstance(block, dict)
    }
    typer.echo(json.dumps(summary, indent=2))


def register(app: typer.Typer) -> None:
    """Add the `risk` command group to the `clearline` command."""
    app.add_typer(risk_app, name="risk")
