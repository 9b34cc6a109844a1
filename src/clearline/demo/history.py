"""Warming the platform's feature state with the demo world's history days, and installing the
fraud model that decides the replay.

Guarantees:
- The history is replayed with the platform's account ids (and device ids numbered as the
  payment endpoint numbers them, `RiskFiles.device_number`), so the server continues from the
  feature state this leaves: on the first replayed payment every account already has its
  history's velocity, counterparties and devices.
- Ids enter features only through equality and profile look-up, so a model trained on other ids
  (the world's own, or another world's) scores these the same way.
- Without a trained model one is fitted on the history days, as `clearline.risk.pipeline` does
  (time split, metrics, model card, drift reference); the replayed days are never seen by it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WORLD_TABLES = ("transactions", "labels", "accounts", "people", "fx_rates")


@dataclass(frozen=True, slots=True)
class RiskFiles:
    """Where the platform reads its risk decisions from, as `clearline.demo.platform` says.

    model_directory: the installed model (copied or trained here). state_file: the feature state
    snapshot the server continues from. device_number: the platform's number for a device id
    from outside, so warmed device features match the ones the payment endpoint computes."""

    model_directory: Path
    state_file: Path
    device_number: Callable[[str | None], int | None]


def _history_tables(world_dir: Path, start_ns: int) -> dict[str, pa.Table]:
    tables = {name: pq.read_table(world_dir / f"{name}.parquet") for name in WORLD_TABLES}
    stamps = tables["transactions"].column("timestamp").cast(pa.int64()).to_numpy()
    keep = pa.array(np.asarray(stamps) < start_ns)
    tables["transactions"] = tables["transactions"].filter(keep)
    tables["labels"] = tables["labels"].filter(keep)
    return tables


def train_on_history(
    world_dir: Path,
    start_ns: int,
    mapping: dict[int, int],
    risk: RiskFiles,
    trained: Path | None = None,
) -> dict[str, Any]:
    """Warm the feature state with the days before `start_ns` and install it with a model:
    `trained` (a model directory, copied in) or, when None, one trained on those days.

    The history is replayed with the platform's account ids, so the replay leaves the feature
    state the server continues from (`RiskFiles.state_file`), and, without `trained`, also makes
    the training matrix. What was installed is summarised for the console."""
    world, features, state = _warm(world_dir, start_ns, mapping, risk)
    history = {"payments": world.transactions.num_rows, "fraud": int(world.is_fraud.sum())}
    if trained is not None:
        shutil.copytree(trained, risk.model_directory)
        state.snapshot(risk.state_file)
        metrics = json.loads((trained / "metrics.json").read_text(encoding="utf-8"))
        return {
            **history,
            "model_version": metrics["model_version"],
            "test": metrics["test"],
            "trained_on": trained.name,
            "training": metrics.get("training", {}),
        }
    metrics = _fit(world, features, risk.model_directory)
    state.snapshot(risk.state_file)
    return {**history, "model_version": metrics["model_version"], "test": metrics["test"]}


def _warm(
    world_dir: Path, start_ns: int, mapping: dict[int, int], risk: RiskFiles
) -> tuple[Any, Any, Any]:
    """(the history world, its feature matrix, the feature state it leaves), in platform ids."""
    from clearline.risk.features import FeatureContext, FeatureState, events_from_table, replay
    from clearline.risk.world import world_from_tables

    world = world_from_tables(_history_tables(world_dir, start_ns))
    context = FeatureContext(
        {mapping.get(key, key): profile for key, profile in world.context.profiles.items()},
        world.context.reference_ns,
        world.context.usd_per_unit,
    )
    events = (
        event._replace(
            from_account_id=mapping.get(event.from_account_id, event.from_account_id),
            to_account_id=mapping.get(event.to_account_id, event.to_account_id),
            device_id=None if event.device_id is None else risk.device_number(str(event.device_id)),
        )
        for event in events_from_table(world.transactions)
    )
    state = FeatureState(context)
    features = replay(events, context, state=state)
    return world, features, state


def _fit(world: Any, features: Any, out: Path) -> dict[str, Any]:
    """A model fitted on the history days into `out`, as `clearline.risk.pipeline` does; its
    metrics on the validation and test slices."""
    from clearline.risk.drift import build_reference, save_reference
    from clearline.risk.features import FEATURE_NAMES
    from clearline.risk.metrics import evaluate_scores
    from clearline.risk.model import TrainConfig, fit, time_split, training_summary
    from clearline.risk.registry import save_model
    from clearline.risk.report import model_card, write_metrics

    stamps = np.asarray(world.transactions.column("timestamp").cast(pa.int64()).to_numpy())
    config = TrainConfig()
    split = time_split(stamps, config)
    model = fit(features, world.is_fraud, split, FEATURE_NAMES, (), config)
    save_model(model, out)
    train_rows = features[split.train]
    save_reference(build_reference(FEATURE_NAMES, train_rows, model.score(train_rows)), out)
    metrics = {
        "model_version": model.version_,
        "trained_on": "demo history days",
        "training": training_summary(world.is_fraud, split),
        **{
            name: evaluate_scores(
                world.is_fraud[rows],
                model.score(features[rows]),
                model.review_threshold_,
                world.scenario[rows],
            )
            for name, rows in (("validation", split.validation), ("test", split.test))
        },
    }
    write_metrics(out, metrics)
    (out / "model_card.md").write_text(
        model_card(model.version_, model.params, metrics), encoding="utf-8"
    )
    return metrics
