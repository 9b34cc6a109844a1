"""Model, registry, rules and decisions on small simulated worlds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from clearline.core.errors import InvalidInput
from clearline.risk.cli import risk_app
from clearline.risk.decide import Decider, describe
from clearline.risk.features import FEATURE_NAMES, FeatureState, events_from_table
from clearline.risk.model import (
    FEW_POSITIVES,
    TrainConfig,
    cost_threshold,
    fit,
    time_split,
    training_summary,
)
from clearline.risk.pipeline import evaluate_world, prepare
from clearline.risk.registry import load_model
from clearline.risk.rules import DEFAULT_RULES_PATH, compile_expression, load_rules, parse_rules
from clearline.risk.shadow import compare_shadow
from clearline.risk.world import read_world

NAMES = frozenset(FEATURE_NAMES)


@pytest.fixture(scope="module")
def trained(trained_model_dir: Path) -> Path:
    return trained_model_dir


def test_split_is_strictly_time_ordered(train_world_dir: Path) -> None:
    prepared = prepare(read_world(train_world_dir))
    split = time_split(prepared.timestamps_ns, TrainConfig())
    stamps = prepared.timestamps_ns
    assert stamps[split.train].max() < stamps[split.validation].min()
    assert stamps[split.validation].max() < stamps[split.test].min()
    assert len(split.train) + len(split.validation) + len(split.test) == len(stamps)


def test_training_twice_gives_the_same_version_and_scores(train_world_dir: Path) -> None:
    prepared = prepare(read_world(train_world_dir))
    split = time_split(prepared.timestamps_ns, TrainConfig())
    first, second = (
        fit(prepared.features, prepared.world.is_fraud, split, FEATURE_NAMES) for _ in range(2)
    )
    assert first.version_ == second.version_
    assert np.array_equal(first.score(prepared.features), second.score(prepared.features))
    other = fit(
        prepared.features, prepared.world.is_fraud, split, FEATURE_NAMES, config=TrainConfig(seed=8)
    )
    assert other.version_ != first.version_


def test_model_directory_round_trips_and_has_reports(trained: Path, train_world_dir: Path) -> None:
    for name in (
        "model.txt",
        "features.json",
        "params.json",
        "fingerprint.txt",
        "metrics.json",
        "model_card.md",
        "precision_recall.png",
        "score_distribution.png",
        "feature_importance.png",
    ):
        assert (trained / name).stat().st_size > 0, name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert set(metrics["test"]["recall_at_fpr"]) == {"0.001", "0.01"}
    model = load_model(trained)
    prepared = prepare(read_world(train_world_dir))
    split = time_split(prepared.timestamps_ns, TrainConfig())
    training = metrics["training"]
    assert training["rows"] == len(split.train)
    assert training["positives"] == int(prepared.world.is_fraud[split.train].sum()) < FEW_POSITIVES
    assert f"only {training['positives']} fraudulent payments" in training["warning"]
    assert "longer history" in (trained / "model_card.md").read_text()
    assert model.score(prepared.features[:5]).shape == (5,)
    (trained / "fingerprint.txt").write_text("tampered\n")
    with pytest.raises(InvalidInput):
        load_model(trained)
    (trained / "fingerprint.txt").write_text(model.fingerprint_ + "\n")


def test_evaluate_on_an_unseen_world_beats_the_raw_baseline(
    trained: Path, train_world_dir: Path, other_world_dir: Path, tmp_path: Path
) -> None:
    metrics = evaluate_world(load_model(trained), train_world_dir, other_world_dir, tmp_path)
    assert metrics["model"]["pr_auc"] > metrics["raw_column_baseline"]["pr_auc"]
    block = metrics["model"]
    assert block["pr_auc"] > 10 * block["positives"] / block["rows"]  # ten times a random ranking
    assert metrics["model"]["per_scenario_recall"]
    versus = metrics["vs_rules"]
    assert versus["model_recall_at_fpr"] == metrics["model"]["recall_at_fpr"]["0.01"]
    assert versus["rules_recall_at_fpr"] == metrics["rules_only_baseline"]["recall_at_fpr"]["0.01"]
    budget = versus["rules_alert_budget"]
    assert budget["model_recall"] >= budget["rules_recall"]
    assert set(budget["per_scenario"]) == set(metrics["model"]["per_scenario_recall"])
    assert metrics["model_without_fraud_reports"]["rows"] == block["rows"]
    later = metrics["later_period"]
    world = read_world(other_world_dir)
    stamps = np.asarray(world.transactions.column("timestamp").cast("int64").to_numpy())
    held = stamps >= later["from"]
    assert later["rows"] == int(held.sum()) < block["rows"]
    assert later["positives"] == int(world.is_fraud[held].sum())
    cut = np.sort(stamps)[int(len(stamps) * TrainConfig().train_share)]
    assert later["from"] == cut  # the same cut the training split makes
    assert later["vs_rules"]["model_recall_at_fpr"] == later["recall_at_fpr"]["0.01"]


def test_decisions_match_offline_scores_and_carry_reasons(
    trained: Path, other_world_dir: Path
) -> None:
    model = load_model(trained)
    prepared = prepare(read_world(other_world_dir))
    rules = load_rules(DEFAULT_RULES_PATH, NAMES)
    decider = Decider(model, rules, FeatureState(prepared.world.context))
    decisions = [decider.decide(event) for event in events_from_table(prepared.world.transactions)]
    scores = np.array([decision.score for decision in decisions])
    assert np.allclose(scores, model.score(prepared.features), rtol=0, atol=1e-12)
    flagged = [d for d in decisions if d.action != "approve"]
    assert flagged and all(d.reasons and d.model_version == model.version_ for d in flagged)


def test_expression_language_is_safe_and_strict() -> None:
    test = compile_expression("(amount_usd > 10 and new_device == 1) or not cross_border", NAMES)
    row = dict.fromkeys(FEATURE_NAMES, 0.0)
    assert test(row) == 1.0
    row["cross_border"] = 1.0
    assert test(row) == 0.0
    for bad in ("__import__('os')", "amount_usd >", "secret > 1", "amount_usd + 1", "(amount_usd"):
        with pytest.raises(InvalidInput):
            compile_expression(bad, NAMES)


def test_block_list_and_hard_rules(trained: Path, other_world_dir: Path) -> None:
    world = read_world(other_world_dir)
    event = next(events_from_table(world.transactions))
    text = (
        "version: 3\nrules:\n  - {name: always, when: amount_usd >= 0, action: decline}\n"
        f"lists: {{block_accounts: [{event.to_account_id}]}}\n"
    )
    decider = Decider(load_model(trained), parse_rules(text, NAMES), FeatureState(world.context))
    decision = decider.decide(event)
    assert decision.action == "decline"
    assert "rule always ()" in decision.reasons
    assert decision.rules_version.startswith("3+")


def test_reasons_read_as_words() -> None:
    assert describe("amount_to_median_30d", 14.0) == "amount 14.0× this account's 30-day median"
    assert describe("first_time_counterparty", 1.0) == "first payment to this counterparty"


def _cost(labels: np.ndarray, scores: np.ndarray, threshold: float, fp: float, fn: float) -> float:
    declined = scores >= threshold
    return float(((declined & (labels == 0)).sum()) * fp + ((~declined & (labels == 1)).sum()) * fn)


def test_training_summary_warns_only_below_the_fraud_floor() -> None:
    labels = np.zeros(2_000, dtype=np.int8)
    labels[:FEW_POSITIVES] = 1
    split = time_split(np.arange(2_000), TrainConfig(train_share=0.5, validation_share=0.25))
    assert training_summary(labels, split) == {
        "rows": 1_000,
        "positives": FEW_POSITIVES,
        "warning": None,
    }
    labels[FEW_POSITIVES - 1] = 0
    assert training_summary(labels, split)["warning"].startswith(f"only {FEW_POSITIVES - 1} ")


def test_cost_threshold_is_the_cheapest_cut_on_validation() -> None:
    rng = np.random.default_rng(5)
    labels = (rng.random(3_000) < 0.05).astype(np.int8)
    scores = np.round(rng.random(3_000) * 0.6 + labels * rng.random(3_000) * 0.5, 3)
    for false_decline, missed in ((1.0, 5.0), (1.0, 50.0), (10.0, 1.0)):
        chosen = cost_threshold(labels, scores, false_decline, missed)
        brute = min(
            _cost(labels, scores, t, false_decline, missed) for t in [*np.unique(scores), np.inf]
        )
        assert _cost(labels, scores, chosen, false_decline, missed) == brute
    # costlier misses decline more
    assert cost_threshold(labels, scores, 1.0, 50.0) < cost_threshold(labels, scores, 1.0, 5.0)


def test_cost_mode_picks_its_decline_threshold_on_validation_only(train_world_dir: Path) -> None:
    prepared = prepare(read_world(train_world_dir))
    config = TrainConfig(threshold_by="cost", false_decline_cost=1.0, missed_fraud_cost=30.0)
    split = time_split(prepared.timestamps_ns, config)
    labels = prepared.world.is_fraud
    model = fit(prepared.features, labels, split, FEATURE_NAMES, (), config)
    validation = model.score(prepared.features[split.validation])
    assert model.decline_threshold_ == cost_threshold(
        labels[split.validation], validation, 1.0, 30.0
    )
    assert model.review_threshold_ <= model.decline_threshold_
    budget = fit(prepared.features, labels, split, FEATURE_NAMES, (), TrainConfig())
    assert budget.version_ != model.version_  # the threshold policy is part of the version


def test_challenger_is_logged_and_compared_but_never_enforced(
    trained: Path, other_world_dir: Path, tmp_path: Path
) -> None:
    model = load_model(trained)
    world = read_world(other_world_dir)
    events = list(events_from_table(world.transactions))[:3_000]
    rules = load_rules(DEFAULT_RULES_PATH, NAMES)
    harsh = dataclasses.replace(model, review_threshold_=0.0, decline_threshold_=0.0, version_="x")
    alone = Decider(model, rules, FeatureState(world.context))
    shadowed = Decider(
        model, rules, FeatureState(world.context), challenger=harsh, shadow_log=tmp_path / "s.jsonl"
    )
    assert [alone.decide(e) for e in events] == [shadowed.decide(e) for e in events]
    shadowed.close()
    ids = world.transactions.column("transaction_id").to_pylist()
    labels = dict(zip(ids, world.is_fraud.tolist(), strict=True))
    report = compare_shadow(tmp_path / "s.jsonl", labels)
    assert report["events"] == 3_000
    assert report["challenger_actions"] == {"decline": 3_000}
    assert report["agreement"] == report["champion_actions"].get("decline", 0) / 3_000
    assert report["champion"]["rows"] == report["challenger"]["rows"] == 3_000


def test_open_decides_and_a_restart_remembers_history(
    trained: Path, other_world_dir: Path, tmp_path: Path
) -> None:
    world = read_world(other_world_dir)
    events = list(events_from_table(world.transactions))[:2_000]
    straight = Decider.open(trained, tmp_path / "a", world.context)
    expected = [straight.decide(e) for e in events]
    first = Decider.open(trained, tmp_path / "b", world.context)
    decided = [first.decide(e) for e in events[:1_000]]
    first.save_state()
    second = Decider.open(trained, tmp_path / "b")  # context comes back with the snapshot
    decided += [second.decide(e) for e in events[1_000:]]
    assert decided == expected
    fresh = Decider.open(trained, tmp_path / "c", world.context)
    forgetful = [fresh.decide(e) for e in events[1_000:]]
    assert forgetful != expected[1_000:]  # without the snapshot the history is gone
    assert all(d.model_version == straight.model.version_ for d in expected)


def test_cli_train_shows_its_stages_and_trains_the_same_model(
    trained: Path, train_world_dir: Path, tmp_path: Path
) -> None:
    seen: list[tuple[str, int, int]] = []
    result = CliRunner().invoke(
        risk_app, ["train", "--world", str(train_world_dir), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    for stage in ("features", "fitting", "reports"):
        assert stage in result.output
    version = (trained / "version.txt").read_text().strip()
    assert f"model {version} written" in result.output  # the same model as in-process training
    rows = read_world(train_world_dir).transactions.num_rows
    prepare(read_world(train_world_dir), on_stage=lambda *step: seen.append(step))
    assert seen[0] == ("features", 0, rows) and seen[-1] == ("features", rows, rows)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


def test_rethreshold_repicks_budgets_on_a_live_window_and_keeps_the_model(
    trained: Path, other_world_dir: Path, tmp_path: Path
) -> None:
    from clearline.risk.pipeline import world_features

    before = (trained / "thresholds.json").read_text()
    arguments = ["rethreshold", "--model", str(trained), "--world", str(other_world_dir)]
    result = CliRunner().invoke(
        risk_app,
        [*arguments, "--out", str(tmp_path / "m"), "--review-budget", "0.02"],
    )
    assert result.exit_code == 0, result.output
    assert (trained / "thresholds.json").read_text() == before  # the trained model is untouched
    old, new = load_model(trained), load_model(tmp_path / "m")
    assert new.version_ == old.version_
    scores = old.score(world_features(other_world_dir))
    assert (scores >= new.review_threshold_).mean() == pytest.approx(0.02, abs=0.002)
    assert (scores >= new.decline_threshold_).mean() <= 0.001
    chosen = json.loads((tmp_path / "m" / "thresholds.json").read_text())["chosen_on"]
    assert chosen["rows"] == len(scores) and chosen["review_budget"] == 0.02
    assert chosen["trained_thresholds"]["review"] == old.review_threshold_
    into_itself = CliRunner().invoke(risk_app, [*arguments, "--out", str(trained)])
    assert into_itself.exit_code != 0 and "new directory" in into_itself.output
    upside_down = CliRunner().invoke(
        risk_app,
        [*arguments, "--out", str(tmp_path / "x"), "--review-budget", "0.001",
         "--decline-budget", "0.01"],
    )  # fmt: skip
    assert upside_down.exit_code != 0 and "budgets must satisfy" in upside_down.output
