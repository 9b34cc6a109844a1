"""Decisions: features → model → rules → reasons, for one payment at a time.

Guarantees:
- `Decider.decide(event)` computes the event's features with the same `FeatureState.observe` used
  offline, so a served score equals the score of the replayed history (tested).
- Order of authority: block list → decline; allow list → approve; a hard `decline` rule →
  decline; a `review` rule → at least review; else the model score against the thresholds chosen
  on validation (decline above `decline_threshold_`, review above `review_threshold_`).
- Reasons are the top positive feature contributions (LightGBM TreeSHAP, `pred_contrib=True`)
  in words, followed by every fired rule. The decision carries the model and rule-set versions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clearline.risk.features import FEATURE_NAMES, FEATURES, FeatureState, PaymentEvent
from clearline.risk.model import RiskModel
from clearline.risk.rules import RuleSet

REASONS_FROM_MODEL_MAX = 3
WORDS = {spec.name: spec.words for spec in FEATURES}
ACTION_RANK = {"approve": 0, "review": 1, "decline": 2}


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
    contributions = model.contributions(row)[0][: len(model.feature_names)]
    order = np.argsort(-contributions, kind="stable")
    return tuple(
        describe(model.feature_names[index], float(row[index]))
        for index in order[:count]
        if contributions[index] > 0
    )


class Decider:
    """Holds the online feature state, the model and the rules; decides one event at a time."""

    def __init__(self, model: RiskModel, rules: RuleSet, state: FeatureState) -> None:
        assert model.feature_names == FEATURE_NAMES, "model was trained on other features"
        self.model, self.rules, self.state = model, rules, state

    def decide(self, event: PaymentEvent) -> Decision:
        row = np.asarray(self.state.observe(event), dtype=np.float64)
        score = float(self.model.score(row)[0])
        listed = self._listed(event)
        if listed is not None:
            return self._decision(listed[0], score, (listed[1],))
        hits = self.rules.evaluate(dict(zip(FEATURE_NAMES, row.tolist(), strict=True)))
        action = self._model_action(score)
        for hit in hits:
            wanted = hit.action if hit.action in ACTION_RANK else "approve"
            if ACTION_RANK[wanted] > ACTION_RANK[action]:
                action = wanted
        reasons = (
            top_reasons(self.model, row, REASONS_FROM_MODEL_MAX) if action != "approve" else ()
        )
        fired = tuple(f"rule {hit.name} ({hit.typology})" for hit in hits)
        return self._decision(action, score, reasons + fired)

    def _listed(self, event: PaymentEvent) -> tuple[str, str] | None:
        if event.from_account_id in self.rules.block_accounts:
            return ("decline", "payer is on the block list")
        if event.device_id is not None and event.device_id in self.rules.block_devices:
            return ("decline", "device is on the block list")
        if event.from_account_id in self.rules.allow_accounts:
            return ("approve", "payer is on the allow list")
        return None

    def _model_action(self, score: float) -> str:
        if score >= self.model.decline_threshold_:
            return "decline"
        return "review" if score >= self.model.review_threshold_ else "approve"

    def _decision(self, action: str, score: float, reasons: tuple[str, ...]) -> Decision:
        return Decision(action, score, self.model.version_, self.rules.version, reasons)
