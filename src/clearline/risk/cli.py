"""`clearline risk train` and `clearline risk evaluate`.

Guarantees:
- `train --world DIR --out DIR` writes a versioned model directory (model, features, parameters,
  fingerprint, thresholds, metrics.json, model_card.md, PNG plots) and prints the version.
- `evaluate --model DIR --world DIR --train-world DIR --out DIR` scores a world the model never saw
  and writes metrics.json with the raw-column and rules-only baselines beside the model.
- `drift --model DIR (--world DIR | --data FILE) [--out DIR]` prints the PSI of every feature
  and of the score against the model's training window (and writes drift.json); `--data` for a
  model trained with `--data`.
- `train --data FILE --label COL --time COL [...]`, `evaluate --model DIR --data FILE --label COL`
  train and evaluate on the user's own CSV/Parquet (see `clearline.risk.byod`).
- `train --threshold-by cost --false-decline-cost X --missed-fraud-cost Y` picks the decline
  threshold of least cost on the validation slice instead of an alert budget.
- `rethreshold --model DIR (--world DIR | --data FILE) --out DIR [--review-budget B]
  [--decline-budget B]` re-picks the budget thresholds on a live window's scores (a young
  deployment alerts more than the mature training window did) into a copy of the model.
- `shadow --model DIR --challenger DIR --world DIR --out DIR` replays a world through a `Decider`
  whose challenger scores in shadow (logged to OUT/shadow.jsonl, never enforced) and writes the
  comparison (agreement, and both models' metrics from the world's labels) to OUT/shadow.json.
- Bad input becomes a `typer.BadParameter` naming the option.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clearline.core.errors import ClearlineError

if TYPE_CHECKING:
    import numpy as np


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr that follows an `OnStage` callback (a counted replay gets a
    bar with events done and in all; a step without a count shows its name and the time)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        tasks: dict[str, Any] = {}

        def finish() -> None:
            for task in tasks.values():
                if not progress.tasks[task].finished:
                    progress.update(task, total=1, completed=1)
                progress.stop_task(task)

        def on_stage(stage: str, done: int, total: int) -> None:
            if stage not in tasks:  # a new step: the earlier ones are done
                finish()
                tasks[stage] = progress.add_task(stage, total=total or None)
            progress.update(tasks[stage], completed=done)

        yield on_stage
        finish()


risk_app = typer.Typer(help="Fraud model: train, evaluate, drift.", no_args_is_help=True)


@risk_app.command("train")
def train(
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    world: Annotated[
        Path | None, typer.Option("--world", help="A world written by clearline simulate.")
    ] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Your own CSV or Parquet.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="0/1 fraud column.")] = None,
    time: Annotated[str | None, typer.Option("--time", help="Time column.")] = None,
    amount: Annotated[str | None, typer.Option("--amount", help="Amount column.")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Payer id column.")] = None,
    counterparty: Annotated[
        str | None, typer.Option("--counterparty", help="Payee id column.")
    ] = None,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="Column to ignore.")] = None,
    balance: Annotated[
        str | None,
        typer.Option("--balance", help="Payer's balance before the payment (with --account)."),
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Fraud-type column: recall per scenario.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Model seed.")] = 7,
    threshold_by: Annotated[
        str, typer.Option("--threshold-by", help="Decline threshold: budget or cost.")
    ] = "budget",
    false_decline_cost: Annotated[
        float, typer.Option("--false-decline-cost", help="Cost of declining an honest payment.")
    ] = 1.0,
    missed_fraud_cost: Annotated[
        float, typer.Option("--missed-fraud-cost", help="Cost of letting a fraud through.")
    ] = 100.0,
) -> None:
    """Train the fraud model on a simulated world (--world) or your own data (--data)."""
    from clearline.risk.model import TrainConfig

    if threshold_by not in ("budget", "cost"):
        raise typer.BadParameter("give budget or cost", param_hint="--threshold-by")
    config = TrainConfig(
        seed=seed,
        threshold_by=threshold_by,
        false_decline_cost=false_decline_cost,
        missed_fraud_cost=missed_fraud_cost,
    )

    if (world is None) == (data is None):
        raise typer.BadParameter("give exactly one of --world or --data", param_hint="--world")
    try:
        if data is not None:
            from clearline.risk.byod import DataSchema, train_data

            if label is None or time is None:
                raise typer.BadParameter("--data needs --label and --time", param_hint="--data")
            schema = DataSchema(
                time,
                amount,
                account,
                counterparty,
                tuple(drop or ()),
                scenario=scenario,
                balance=balance,
            )
            model = train_data(data, label, schema, out, config)
        else:
            from clearline.risk.pipeline import train_world

            assert world is not None
            with _progress() as on_stage:
                model = train_world(world, out, config, on_stage)
    except ClearlineError as error:
        raise typer.BadParameter(
            error.message, param_hint="--data" if data else "--world"
        ) from error
    typer.echo(f"model {model.version_} written to {out}")
    training = json.loads((out / "metrics.json").read_text(encoding="utf-8")).get("training", {})
    if training.get("warning"):
        typer.echo(f"warning: {training['warning']}", err=True)


@risk_app.command("evaluate")
def evaluate(
    model: Annotated[Path, typer.Option("--model", help="Model directory.")],
    out: Annotated[Path, typer.Option("--out", help="Report directory to write.")],
    world: Annotated[
        Path | None, typer.Option("--world", help="A world the model never saw.")
    ] = None,
    train_world: Annotated[
        Path | None, typer.Option("--train-world", help="The training world (raw baseline).")
    ] = None,
    data: Annotated[Path | None, typer.Option("--data", help="Unseen CSV or Parquet.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="0/1 fraud column.")] = None,
) -> None:
    """Score unseen data and compare with the raw-column (and, for worlds, rules-only) baselines."""
    from clearline.risk.registry import load_model

    try:
        if data is not None:
            from clearline.risk.byod import evaluate_data

            if label is None:
                raise typer.BadParameter("--data needs --label", param_hint="--label")
            metrics = evaluate_data(model, data, label, out)
        else:
            from clearline.risk.pipeline import evaluate_world

            if world is None or train_world is None:
                raise typer.BadParameter("give --data, or --world with --train-world")
            with _progress() as on_stage:
                metrics = evaluate_world(
                    load_model(model), train_world, world, out, on_stage=on_stage
                )
    except ClearlineError as error:
        raise typer.BadParameter(error.message) from error
    summary = {
        name: {"pr_auc": block["pr_auc"], "recall_at_fpr": block["recall_at_fpr"]}
        for name, block in metrics.items()
        if isinstance(block, dict) and "pr_auc" in block
    }
    if "comparison" in metrics:
        summary["comparison"] = metrics["comparison"]
    typer.echo(json.dumps(summary, indent=2))


def _live_window(model: Path, world: Path | None, data: Path | None) -> np.ndarray:
    """The features of a live window given as exactly one of --world (replayed with a progress
    bar) or --data (a file, for a model trained with --data)."""
    if (world is None) == (data is None):
        raise typer.BadParameter("give exactly one of --world or --data", param_hint="--world")
    if data is not None:
        from clearline.risk.byod import live_features

        return live_features(model, data)
    from clearline.risk.pipeline import world_features

    assert world is not None
    with _progress() as on_stage:
        return world_features(world, on_stage)


@risk_app.command("drift")
def drift(
    model: Annotated[Path, typer.Option("--model", help="Model directory.")],
    world: Annotated[
        Path | None, typer.Option("--world", help="A live window: a simulated world.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A live window: your CSV or Parquet (model trained --data)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory to write drift.json into.")
    ] = None,
) -> None:
    """Population stability index per feature and for the score, training window versus live."""
    from rich.console import Console
    from rich.table import Table

    from clearline.risk.pipeline import drift_report
    from clearline.risk.registry import load_model

    try:
        rows = drift_report(load_model(model), model, _live_window(model, world, data))
    except ClearlineError as error:
        raise typer.BadParameter(error.message) from error
    table = Table(title=f"Drift of {data or world} against the training window of {model}")
    for column in ("column", "PSI", "reading"):
        table.add_column(column, justify="right" if column == "PSI" else "left")
    for row in rows:
        table.add_row(row.name, f"{row.psi:.4f}", row.status.replace("_", " "))
    Console().print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        document = [{"name": r.name, "psi": r.psi, "status": r.status} for r in rows]
        (out / "drift.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {out / 'drift.json'}")


@risk_app.command("rethreshold")
def rethreshold_command(
    model: Annotated[Path, typer.Option("--model", help="Model directory.")],
    out: Annotated[Path, typer.Option("--out", help="New model directory to write.")],
    world: Annotated[
        Path | None, typer.Option("--world", help="A live window: a simulated world.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A live window: your CSV or Parquet (model trained --data)."),
    ] = None,
    review_budget: Annotated[
        float, typer.Option("--review-budget", help="Share of payments to send to review.")
    ] = 0.005,
    decline_budget: Annotated[
        float, typer.Option("--decline-budget", help="Share of payments to decline.")
    ] = 0.0005,
) -> None:
    """Re-pick the review and decline thresholds for alert budgets on a live window's scores
    (no labels needed), into a copy of the model; the trained model is left as it was."""
    from clearline.risk.pipeline import rethreshold
    from clearline.risk.registry import load_model

    try:
        loaded = load_model(model)
        scores = loaded.score(_live_window(model, world, data))
        report = rethreshold(
            loaded, model, scores, out, str(data or world), review_budget, decline_budget
        )
    except ClearlineError as error:
        raise typer.BadParameter(error.message) from error
    typer.echo(json.dumps(report, indent=2))
    typer.echo(f"thresholds re-picked on {data or world}: model {report['model_version']} in {out}")


@risk_app.command("shadow")
def shadow(
    model: Annotated[Path, typer.Option("--model", help="Champion model directory.")],
    challenger: Annotated[Path, typer.Option("--challenger", help="Challenger model directory.")],
    world: Annotated[Path, typer.Option("--world", help="A world to replay through both.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for shadow.jsonl and .json.")],
) -> None:
    """Champion decides, challenger scores in shadow (logged, never enforced); compare them."""
    from clearline.risk.pipeline import shadow_world

    try:
        report = shadow_world(model, challenger, world, out)
    except ClearlineError as error:
        raise typer.BadParameter(error.message) from error
    summary = {key: report[key] for key in ("events", "agreement", "champion_actions")}
    summary["challenger_actions"] = report["challenger_actions"]
    for side in ("champion", "challenger"):
        if side in report:
            summary[f"{side}_pr_auc"] = report[side]["pr_auc"]
    typer.echo(json.dumps(summary, indent=2))


def register(app: typer.Typer) -> None:
    """Add the `risk` command group to the `clearline` command."""
    app.add_typer(risk_app, name="risk")
