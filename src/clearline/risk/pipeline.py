"""Train and evaluate on simulated worlds, with a raw-column baseline and a rules-only baseline.

Guarantees:
- Training uses one world's time-ordered split (train, validation for thresholds, test held out).
- Evaluation scores a world the model never saw; the raw-column baseline is trained on the same
  training slice with the same settings, but on raw transaction columns only, so the value of the
  features is visible. The rules-only baseline ranks by the rule weights; the report compares the
  model with it at 1% false-positive rate and at the rules' own alert budget (`vs_rules`).
- The report covers the whole unseen world and, apart, its held-out later period
  (`later_period`: the rows from the cut `time_split` makes after the training share), whose
  features have the world's earlier rows as history, as a system already in service would.
- Training records the training slice's rows and frauds (`training`) and warns when the frauds
  are fewer than `FEW_POSITIVES`.
- Fraud reports: a deployed system learns of confirmed fraud some time after it happens. Worlds
  are replayed with the reports a bank would have received (the receiving person account of each
  labelled fraudulent payment, known REPORT_DELAY_NS later; `reports_from_labels`), never sooner.
  The evaluation also scores the unseen world with no reports at all, so their share is visible.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from clearline.core.errors import InvalidInput
from clearline.risk.drift import (
    DriftRow,
    build_reference,
    drift_rows,
    load_reference,
    save_reference,
)
from clearline.risk.features import (
    DAY_NS,
    FEATURE_NAMES,
    FeatureState,
    PaymentEvent,
    events_from_table,
    replay,
    reports_from_labels,
)
from clearline.risk.metrics import evaluate_scores, recall_at_fpr
from clearline.risk.model import (
    RiskModel,
    TrainConfig,
    budget_threshold,
    fit,
    time_split,
    training_summary,
)
from clearline.risk.registry import load_model, save_model
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
REPORT_DELAY_NS = 3 * DAY_NS
"""A fraud report is known three days after the payment (chargebacks and scam reports take days);
fixed before any evaluation, not tuned."""
COMPARED_FPR = 0.01
PROGRESS_EVERY_EVENTS = 8_192

OnStage = Callable[[str, int, int], None]
"""Progress callback: (what is being done, events done, events in all; 0, 0 for a step with no
count). Long commands pass one to show a progress bar."""


def _quiet(stage: str, done: int, total: int) -> None:
    """The default `OnStage`: shows nothing."""


def _counted(
    events: Iterator[PaymentEvent], stage: str, total: int, on_stage: OnStage
) -> Iterator[PaymentEvent]:
    """`events`, telling `on_stage` every PROGRESS_EVERY_EVENTS events (and at the end)."""
    done = 0
    on_stage(stage, 0, total)
    for event in events:
        yield event
        done += 1
        if done % PROGRESS_EVERY_EVENTS == 0:
            on_stage(stage, done, total)
    on_stage(stage, done, total)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A world with its feature matrix and timestamps."""

    world: LabelledWorld
    features: np.ndarray
    timestamps_ns: np.ndarray


def prepare(
    world: LabelledWorld,
    report_delay_ns: int | None = REPORT_DELAY_NS,
    on_stage: OnStage | None = None,
    stage: str = "features",
) -> Prepared:
    """Features by replay, with the fraud reports known `report_delay_ns` after each fraud
    (none when `report_delay_ns` is None); `on_stage` follows the replay as `stage`."""
    reports = (
        reports_from_labels(world.transactions, world.is_fraud, world.context, report_delay_ns)
        if report_delay_ns is not None
        else []
    )
    events = events_from_table(world.transactions)
    if on_stage is not None:
        events = _counted(events, stage, world.transactions.num_rows, on_stage)
    features = replay(events, world.context, reports)
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


def train_world(
    world_dir: Path,
    out: Path,
    config: TrainConfig | None = None,
    on_stage: OnStage | None = None,
) -> RiskModel:
    """Train on a world, write the model directory with metrics, card and plots. `on_stage`
    follows it: "features" (the replay, counted), "fitting", "reports"."""
    config = config or TrainConfig()
    stage = on_stage or _quiet
    prepared = prepare(read_world(world_dir), on_stage=stage)
    world, split = prepared.world, time_split(prepared.timestamps_ns, config)
    stage("fitting", 0, 0)
    model = fit(prepared.features, world.is_fraud, split, FEATURE_NAMES, (), config)
    stage("reports", 0, 0)
    save_model(model, out)
    train_rows = prepared.features[split.train]
    save_reference(build_reference(FEATURE_NAMES, train_rows, model.score(train_rows)), out)
    test_scores = model.score(prepared.features[split.test])
    metrics = {
        "model_version": model.version_,
        "training": training_summary(world.is_fraud, split),
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
    metrics["thresholds"] = {
        "chosen_on": "validation",
        "threshold_by": config.threshold_by,
        "review": model.review_threshold_,
        "decline": model.decline_threshold_,
        "validation_decline": evaluate_scores(
            world.is_fraud[split.validation],
            model.score(prepared.features[split.validation]),
            model.decline_threshold_,
        )["at_alert_budget"],
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
    model: RiskModel,
    train_dir: Path,
    world_dir: Path,
    out: Path,
    config: TrainConfig | None = None,
    on_stage: OnStage | None = None,
) -> dict[str, Any]:
    """Score an unseen world; add the raw-column and rules-only baselines; write the report.
    `on_stage` follows it: "features" and "features without fraud reports" (the two replays,
    counted), "raw-column baseline", "rules", "reports"."""
    config = config or TrainConfig()
    stage = on_stage or _quiet
    out.mkdir(parents=True, exist_ok=True)
    unseen = prepare(read_world(world_dir), on_stage=stage)
    world, scores = unseen.world, model.score(unseen.features)
    metrics: dict[str, Any] = {
        "model_version": model.version_,
        "model": evaluate_scores(world.is_fraud, scores, model.review_threshold_, world.scenario),
    }
    stage("raw-column baseline", 0, 0)
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
    stage("rules", 0, 0)
    rules = load_rules(DEFAULT_RULES_PATH, frozenset(FEATURE_NAMES))
    rule_scores = rules_scores(rules, unseen.features)
    metrics["rules_only_baseline"] = evaluate_scores(
        world.is_fraud, rule_scores, RULES_ALERT_WEIGHT, world.scenario
    )
    metrics["vs_rules"] = versus_rules(world.is_fraud, scores, rule_scores, world.scenario)
    silent = prepare(world, None, stage, "features without fraud reports")
    metrics["model_without_fraud_reports"] = evaluate_scores(
        world.is_fraud, model.score(silent.features), model.review_threshold_, world.scenario
    )
    metrics["later_period"] = later_period(
        unseen.timestamps_ns, world, scores, rule_scores, model.review_threshold_, config
    )
    stage("reports", 0, 0)
    write_metrics(out, metrics)
    write_plots(out, world.is_fraud, scores, _importance(model))
    return metrics


def later_period(
    timestamps_ns: np.ndarray,
    world: LabelledWorld,
    scores: np.ndarray,
    rule_scores: np.ndarray,
    review_threshold: float,
    config: TrainConfig,
) -> dict[str, Any]:
    """The unseen world's held-out later period: every row at or after the cut that
    `time_split` puts after the training share (what would be its validation and test slices),
    scored with features replayed over the whole world, so the earlier part is history, as in
    a system already running. Metrics as for the whole world, with the rules comparison."""
    held = np.zeros(len(timestamps_ns), dtype=bool)
    split = time_split(timestamps_ns, config)
    held[split.validation] = True
    held[split.test] = True
    labels, scenarios = world.is_fraud[held], world.scenario[held]
    return {
        "from": int(timestamps_ns[held].min()) if held.any() else None,
        "share_of_rows": float(held.mean()),
        **evaluate_scores(labels, scores[held], review_threshold, scenarios),
        "vs_rules": versus_rules(labels, scores[held], rule_scores[held], scenarios),
    }


def versus_rules(
    labels: np.ndarray, scores: np.ndarray, rule_scores: np.ndarray, scenarios: np.ndarray
) -> dict[str, Any]:
    """The model against the rules-only baseline on the same rows.

    At COMPARED_FPR: the recall each reaches with at most that false-positive rate. At the rules'
    own alert budget: the rules alert when their weight reaches RULES_ALERT_WEIGHT; the model is
    given exactly as many alerts (its top-scored rows), and both recalls are reported, overall
    and per scenario.
    """
    model_recall = recall_at_fpr(labels, scores, COMPARED_FPR) or 0.0
    rules_recall = recall_at_fpr(labels, rule_scores, COMPARED_FPR) or 0.0
    rule_alerts = rule_scores >= RULES_ALERT_WEIGHT
    budget = int(rule_alerts.sum())
    model_alerts = np.zeros(len(scores), dtype=bool)
    model_alerts[np.argsort(-scores, kind="stable")[:budget]] = True
    fraud = labels == 1
    per_scenario = {
        name: {
            "positives": int((scenarios == name).sum()),
            "model_recall": float(model_alerts[scenarios == name].mean()),
            "rules_recall": float(rule_alerts[scenarios == name].mean()),
        }
        for name in sorted({str(v) for v in scenarios if v})
    }
    return {
        "false_positive_rate": COMPARED_FPR,
        "model_recall_at_fpr": model_recall,
        "rules_recall_at_fpr": rules_recall,
        "recall_ratio_at_fpr": model_recall / rules_recall if rules_recall else None,
        "at_least_twice_the_rules": model_recall >= 2 * rules_recall,
        "rules_alert_budget": {
            "alerts": budget,
            "alert_rate": budget / len(labels),
            "model_recall": float(model_alerts[fraud].mean()) if fraud.any() else None,
            "rules_recall": float(rule_alerts[fraud].mean()) if fraud.any() else None,
            "per_scenario": per_scenario,
        },
    }


def shadow_world(
    model_dir: Path, challenger_dir: Path, world_dir: Path, out: Path
) -> dict[str, Any]:
    """Replay a world through a champion `Decider` with a shadow challenger; compare the log.

    The fraud reports reach the decider as they would in service (REPORT_DELAY_NS after each
    fraud). Returns (and writes to OUT/shadow.json) `compare_shadow` with the world's labels."""
    from clearline.risk.decide import SHADOW_LOG, Decider
    from clearline.risk.shadow import compare_shadow

    world = read_world(world_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = out / SHADOW_LOG
    log.unlink(missing_ok=True)
    decider = Decider(
        load_model(model_dir),
        load_rules(DEFAULT_RULES_PATH, frozenset(FEATURE_NAMES)),
        FeatureState(world.context),
        challenger=load_model(challenger_dir),
        shadow_log=log,
    )
    for known_at_ns, account_id in reports_from_labels(
        world.transactions, world.is_fraud, world.context, REPORT_DELAY_NS
    ):
        decider.report_fraud(account_id, known_at_ns)
    for event in events_from_table(world.transactions):
        decider.decide(event)
    decider.close()
    ids = world.transactions.column("transaction_id").to_pylist()
    report = compare_shadow(log, dict(zip(ids, world.is_fraud.tolist(), strict=True)))
    write_metrics(out, report, name="shadow.json")
    return report


def drift_report(model: RiskModel, model_dir: Path, features: np.ndarray) -> list[DriftRow]:
    """PSI per feature and for the score: the model's training window against a live window's
    features (`world_features`, or `byod.live_features` for a file)."""
    references = load_reference(model_dir)
    return drift_rows(references, model.feature_names, features, model.score(features))


def rethreshold(
    model: RiskModel,
    model_dir: Path,
    scores: np.ndarray,
    out: Path,
    window: str,
    review_budget: float,
    decline_budget: float,
) -> dict[str, Any]:
    """A copy of `model` (read from `model_dir`) in `out` whose review and decline thresholds
    are re-picked for these budgets on `scores` of a live window (no labels used: a budget
    threshold is a quantile of the scores). The model, its version and its files are unchanged;
    `thresholds.json` records the window and the budgets it was picked for. Returns the old and
    new thresholds with the alert rates each gives on the window."""
    if not 0 < decline_budget <= review_budget < 1:
        raise InvalidInput(
            "budgets must satisfy 0 < decline budget <= review budget < 1",
            code="budget_invalid",
        )
    if out.resolve() == Path(model_dir).resolve():
        raise InvalidInput(
            "--out must be a new directory: the trained model stays as it was", code="out_is_model"
        )
    review = budget_threshold(scores, review_budget)
    decline = max(budget_threshold(scores, decline_budget), review)
    shutil.copytree(model_dir, out, dirs_exist_ok=True)
    document = {
        "review": review,
        "decline": decline,
        "chosen_on": {
            "window": window,
            "rows": len(scores),
            "review_budget": review_budget,
            "decline_budget": decline_budget,
            "trained_thresholds": {
                "review": model.review_threshold_,
                "decline": model.decline_threshold_,
            },
        },
    }
    (out / "thresholds.json").write_text(
        json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return {
        "model_version": model.version_,
        "rows": len(scores),
        "before": {
            "review": model.review_threshold_,
            "decline": model.decline_threshold_,
            "review_alert_rate": float((scores >= model.review_threshold_).mean()),
            "decline_rate": float((scores >= model.decline_threshold_).mean()),
        },
        "after": {
            "review": review,
            "decline": decline,
            "review_alert_rate": float((scores >= review).mean()),
            "decline_rate": float((scores >= decline).mean()),
        },
    }


def world_features(world_dir: Path, on_stage: OnStage | None = None) -> np.ndarray:
    """A live world's features, replayed with its fraud reports as in service."""
    return prepare(read_world(world_dir), on_stage=on_stage).features
