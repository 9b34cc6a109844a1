"""Train and evaluate on simulated worlds, with a raw-column baseline and a rules-only baseline.

Guarantees:
- Training uses one world's time-ordered split (train, validation for thresholds, test held out).
- Evaluation scores a world the model never saw; the raw-column baseline is trained on the same
  training slice with the same settings, but on raw transaction columns only, so the value of the
  features is visible. The rules-only baseline ranks by the rule weights at the same alert rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from clearline.risk.drift import (
    DriftRow,
    build_reference,
    drift_rows,
    load_reference,
    save_reference,
)
from clearline.risk.features import CATEGORICAL_FEATURES, FEATURE_NAMES, events_from_table, replay
from clearline.risk.metrics import evaluate_scores
from clearline.risk.model import RiskModel, TrainConfig, fit, time_split
from clearline.risk.registry import save_model
from clearline.risk.report import model_card, write_metrics, write_plots
from clearline.risk.rules import DEFAULT_RULES_PATH, RuleSet, load_rules
from clearline.risk.world import LabelledWorld, read_world

RAW_COLUMNS = (
    "log_amount_paid",
    "channel",
    "payment_type",
    "merchant_category",
    "device_present",
    "hour_of_day_utc",
    "cross_border",
)
RAW_CATEGORICAL = ("channel", "payment_type", "merchant_category")
RULES_ALERT_WEIGHT = 2.0
"""The rules-only baseline alerts when fired rules weigh at least this much."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A world with its feature matrix and timestamps."""

    world: LabelledWorld
    features: np.ndarray
    timestamps_ns: np.ndarray


def prepare(world: LabelledWorld) -> Prepared:
    features = replay(events_from_table(world.transactions), world.context)
    stamps = np.asarray(world.transactions.column("timestamp").cast(pa.int64()).to_numpy())
    return Prepared(world, features, stamps)


def _codes(table: pa.Table, name: str) -> np.ndarray:
    values = table.column(name).cast(pa.string()).to_pylist()
    return np.array([float(hash_code(v)) if v is not None else np.nan for v in values])


def hash_code(value: str) -> int:
    """A stable small integer for a category name (independent of the world)."""
    return sum((index + 1) * ord(char) for index, char in enumerate(value)) % 997


def raw_columns(table: pa.Table) -> np.ndarray:
    """The raw-column baseline's matrix: no history, no entity context."""
    amount = np.asarray(table.column("amount_paid").to_numpy(), dtype=np.float64)
    stamps = np.asarray(table.column("timestamp").cast(pa.int64()).to_numpy())
    device = np.array([v is not None for v in table.column("device_id").to_pylist()])
    frm = table.column("from_country").cast(pa.string()).to_pylist()
    to = table.column("to_country").cast(pa.string()).to_pylist()
    return np.column_stack(
        [
            np.log1p(amount),
            _codes(table, "channel"),
            _codes(table, "payment_type"),
            _codes(table, "merchant_category"),
            device.astype(float),
            ((stamps // 3_600_000_000_000) % 24).astype(float),
            np.array([a != b for a, b in zip(frm, to, strict=True)], dtype=float),
        ]
    )


def rules_scores(rules: RuleSet, features: np.ndarray) -> np.ndarray:
    """Rule-weight score per row (ties broken by nothing: a rules engine has no finer ranking)."""
    return np.array(
        [rules.score(dict(zip(FEATURE_NAMES, row.tolist(), strict=True))) for row in features]
    )


def train_world(world_dir: Path, out: Path, config: TrainConfig | None = None) -> RiskModel:
    """Train on a world, write the model directory with metrics, card and plots."""
    config = config or TrainConfig()
    prepared = prepare(read_world(world_dir))
    world, split = prepared.world, time_split(prepared.timestamps_ns, config)
    model = fit(
        prepared.features, world.is_fraud, split, FEATURE_NAMES, CATEGORICAL_FEATURES, config
    )
    save_model(model, out)
    train_rows = prepared.features[split.train]
    save_reference(build_reference(FEATURE_NAMES, train_rows, model.score(train_rows)), out)
    test_scores = model.score(prepared.features[split.test])
    metrics = {
        "model_version": model.version_,
        "validation": evaluate_scores(
            world.is_fraud[split.validation],
            model.score(prepared.features[split.validation]),
            model.review_threshold_,
            world.scenario[split.validation],
        ),
        "test": evaluate_scores(
            world.is_fraud[split.test],
            test_scores,
            model.review_threshold_,
            world.scenario[split.test],
        ),
    }
    write_metrics(out, metrics)
    write_plots(out, world.is_fraud[split.test], test_scores, _importance(model))
    (out / "model_card.md").write_text(
        model_card(model.version_, model.params, metrics), encoding="utf-8"
    )
    return model


def _importance(model: RiskModel) -> dict[str, float]:
    gains = model.booster_.feature_importance(importance_type="gain")
    return dict(zip(model.feature_names, (float(g) for g in gains), strict=True))


def evaluate_world(
    model: RiskModel, train_dir: Path, world_dir: Path, out: Path, config: TrainConfig | None = None
) -> dict[str, Any]:
    """Score an unseen world; add the raw-column and rules-only baselines; write the report."""
    config = config or TrainConfig()
    out.mkdir(parents=True, exist_ok=True)
    unseen = prepare(read_world(world_dir))
    world, scores = unseen.world, model.score(unseen.features)
    metrics: dict[str, Any] = {
        "model_version": model.version_,
        "model": evaluate_scores(world.is_fraud, scores, model.review_threshold_, world.scenario),
    }
    train = read_world(train_dir)
    train_split = time_split(
        np.asarray(train.transactions.column("timestamp").cast(pa.int64()).to_numpy()), config
    )
    baseline = fit(
        raw_columns(train.transactions),
        train.is_fraud,
        train_split,
        RAW_COLUMNS,
        RAW_CATEGORICAL,
        config,
    )
    metrics["raw_column_baseline"] = evaluate_scores(
        world.is_fraud,
        baseline.score(raw_columns(world.transactions)),
        baseline.review_threshold_,
        world.scenario,
    )
    rules = load_rules(DEFAULT_RULES_PATH, frozenset(FEATURE_NAMES))
    rule_scores = rules_scores(rules, unseen.features)
    metrics["rules_only_baseline"] = evaluate_scores(
        world.is_fraud, rule_scores, RULES_ALERT_WEIGHT, world.scenario
    )
    write_metrics(out, metrics)
    write_plots(out, world.is_fraud, scores, _importance(model))
    return metrics


def drift_world(model: RiskModel, model_dir: Path, world_dir: Path) -> list[DriftRow]:
    """PSI per feature and for the score: the model's training window against a live world."""
    references = load_reference(model_dir)
    live = prepare(read_world(world_dir))
    return drift_rows(references, model.feature_names, live.features, model.score(live.features))
