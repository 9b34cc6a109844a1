"""Decisions: features → model → rules → reasons, for one payment at a time.

Guarantees:
- `Decider.decide(event)` computes the event's features with the same `FeatureState.observe` used
  offline, so a served score equals the score of the replayed history (tested).
- Order of authority: block list → decline; allow list → approve; a hard `decline` rule →
  decline; a `review` rule → at least review; else the model score against the thresholds chosen
  on validation (decline above `decline_threshold_`, review above `review_threshold_`).
- Reasons are the top positive feature contributions (LightGBM TreeSHAP, `pred_contrib=True`)
  in words, followed by every fired rule. The decision carries the model and rule-set versions.
- Champion and challenger: a challenger model, when given, scores the same feature row in
  shadow; its decision is written to a JSON-lines log beside the champion's and is never
  returned or enforced (tested: the actions with and without any challenger are identical).
- `Decider.open(model_dir, data_dir)` is the in-process API for other rooms: it loads a
  registered model, the default rules and the online feature state snapshotted in `data_dir`
  (if any); `save_state()` snapshots it there again, so a restart does not forget history.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from clearline.risk.features import (
    FEATURE_NAMES,
    FEATURES,
    FeatureContext,
    FeatureState,
    PaymentEvent,
)
from clearline.risk.model import RiskModel
from clearline.risk.rules import DEFAULT_RULES_PATH, RuleHit, RuleSet, load_rules

REASONS_FROM_MODEL_MAX = 3
WORDS = {spec.name: spec.words for spec in FEATURES}
ACTION_RANK = {"approve": 0, "review": 1, "decline": 2}
STATE_FILE = "risk_state.pickle"
SHADOW_LOG = "shadow.jsonl"


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a payment. action: approve, review or decline. score: model probability.

    reasons: human-readable, strongest model contributions first, then fired rules.
    """

    action: str
    score: float
    model_version: str
    rules_version: str
    reasons: tuple[str, ...]


def describe(name: str, value: float) -> str:
    """A feature value in words (`amount 14.0× this account's 30-day median`)."""
    if math.isnan(value):
        return f"{name} unknown"
    return WORDS.get(name, name + " {value}").format(value=value)


def top_reasons(model: RiskModel, row: np.ndarray, count: int) -> tuple[str, ...]:
    """The `count` features that pushed the score up the most, in words."""
    contributions = model.contributions_one(row)[: len(model.feature_names)]
    order = np.argsort(-contributions, kind="stable")
    return tuple(
        describe(model.feature_names[index], float(row[index]))
        for index in order[:count]
        if contributions[index] > 0
    )


def model_action(model: RiskModel, score: float) -> str:
    """The action the model's thresholds give a score (before lists and rules)."""
    if score >= model.decline_threshold_:
        return "decline"
    return "review" if score >= model.review_threshold_ else "approve"


def combine(action: str, hits: tuple[RuleHit, ...]) -> str:
    """A review or decline rule raises the action; score-only rules never do."""
    for hit in hits:
        wanted = hit.action if hit.action in ACTION_RANK else "approve"
        if ACTION_RANK[wanted] > ACTION_RANK[action]:
            action = wanted
    return action


def listed(rules: RuleSet, event: PaymentEvent) -> tuple[str, str] | None:
    """(action, reason) when the payer or device is on a block or allow list, else None."""
    if event.from_account_id in rules.block_accounts:
        return ("decline", "payer is on the block list")
    if event.device_id is not None and event.device_id in rules.block_devices:
        return ("decline", "device is on the block list")
    if event.from_account_id in rules.allow_accounts:
        return ("approve", "payer is on the allow list")
    return None


class Decider:
    """Holds the online feature state, the champion model, the rules and an optional shadow
    challenger; decides one event at a time."""

    def __init__(
        self,
        model: RiskModel,
        rules: RuleSet,
        state: FeatureState,
        challenger: RiskModel | None = None,
        shadow_log: Path | None = None,
        data_dir: Path | None = None,
    ) -> None:
        assert model.feature_names == FEATURE_NAMES, "model was trained on other features"
        if challenger is not None:
            assert challenger.feature_names == FEATURE_NAMES, "challenger has other features"
        self.model, self.rules, self.state = model, rules, state
        self.challenger, self.data_dir = challenger, data_dir
        self._shadow: IO[str] | None = None
        if challenger is not None:
            path = shadow_log or Path(data_dir or ".") / SHADOW_LOG
            path.parent.mkdir(parents=True, exist_ok=True)
            self._shadow = path.open("a", encoding="utf-8")

    @classmethod
    def open(
        cls,
        model_dir: Path,
        data_dir: Path,
        context: FeatureContext | None = None,
        challenger_dir: Path | None = None,
        rules_path: Path = DEFAULT_RULES_PATH,
    ) -> Decider:
        """A decider from a registered model directory; the feature state is restored from
        `data_dir` when a snapshot is there, else started from `context` (empty if None)."""
        from clearline.risk.registry import load_model

        data_dir = Path(data_dir)
        snapshot = data_dir / STATE_FILE
        state = (
            FeatureState.restore(snapshot)
            if snapshot.exists()
            else FeatureState(context or FeatureContext())
        )
        challenger = load_model(challenger_dir) if challenger_dir is not None else None
        rules = load_rules(rules_path, frozenset(FEATURE_NAMES))
        return cls(load_model(model_dir), rules, state, challenger, data_dir=data_dir)

    def save_state(self) -> Path:
        """Snapshot the online feature state into the data directory (atomic)."""
        assert self.data_dir is not None, "open the decider with a data directory"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / STATE_FILE
        self.state.snapshot(path)
        return path

    def report_fraud(self, account_id: int, known_at_ns: int) -> None:
        """A confirmed fraud report on an account; later features see it (see features)."""
        self.state.report_fraud(account_id, known_at_ns)

    def close(self) -> None:
        if self._shadow is not None:
            self._shadow.close()
            self._shadow = None

    def decide(self, event: PaymentEvent) -> Decision:
        row = np.asarray(self.state.observe(event), dtype=np.float64)
        score = self.model.score_one(row)
        listed = self._listed(event)
        if listed is not None:
            decision = self._decision(listed[0], score, (listed[1],))
            hits: tuple[RuleHit, ...] = ()
        else:
            hits = self.rules.evaluate(dict(zip(FEATURE_NAMES, row.tolist(), strict=True)))
            action = combine(model_action(self.model, score), hits)
            reasons = (
                top_reasons(self.model, row, REASONS_FROM_MODEL_MAX) if action != "approve" else ()
            )
            fired = tuple(f"rule {hit.name} ({hit.typology})" for hit in hits)
            decision = self._decision(action, score, reasons + fired)
        if self._shadow is not None:
            self._log_shadow(event, row, decision, listed, hits)
        return decision

    def _log_shadow(
        self,
        event: PaymentEvent,
        row: np.ndarray,
        champion: Decision,
        listed: tuple[str, str] | None,
        hits: tuple[RuleHit, ...],
    ) -> None:
        """Score the challenger on the same row and log both; the result is never used."""
        assert self.challenger is not None and self._shadow is not None
        score = float(self.challenger.score(row)[0])
        action = (
            listed[0] if listed is not None else combine(model_action(self.challenger, score), hits)
        )
        record = {
            "transaction_id": event.transaction_id,
            "timestamp_ns": event.timestamp_ns,
            "champion": {
                "version": champion.model_version,
                "action": champion.action,
                "score": champion.score,
            },
            "challenger": {"version": self.challenger.version_, "action": action, "score": score},
        }
        self._shadow.write(json.dumps(record, separators=(",", ":")) + "\n")

    def _listed(self, event: PaymentEvent) -> tuple[str, str] | None:
        return listed(self.rules, event)

    def _decision(self, action: str, score: float, reasons: tuple[str, ...]) -> Decision:
        return Decision(action, score, self.model.version_, self.rules.version, reasons)
