"""The risk step of a payment: the registered model's `Decider`, or rules alone when no model is
registered yet (and the decision then says so in its model version, `none`).

The registered model lives in `DATA/models/current` (a directory written by
`clearline risk train --out DATA/models/current`); its feature state is snapshotted to
`DATA/risk_state.pickle` on close so a restart remembers every account's history. Rules come from
`DATA/rules.yaml` when the operator put one there, else from the default rule file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from clearline.core.assets import asset as asset_of
from clearline.kyc.limits import DEFAULT_UNITS_PER_USD
from clearline.risk.decide import STATE_FILE as RISK_STATE_FILE
from clearline.risk.decide import Decider, Decision, combine, listed
from clearline.risk.features import (
    FEATURE_NAMES,
    AccountProfile,
    FeatureContext,
    FeatureState,
    PaymentEvent,
)
from clearline.risk.registry import load_model
from clearline.risk.rules import DEFAULT_RULES_PATH, RuleSet, load_rules

log = logging.getLogger(__name__)

# A payment service scores one payment at a time: OpenMP worker threads around a one-row LightGBM
# predict only spin-wait, and measured 7.6 ms of CPU per payment against 0.8 ms with one thread
# (bench.api). Must be set before LightGBM's OpenMP runtime starts; an explicit setting wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

MODEL_DIRECTORY = Path("models") / "current"
STATE_FILE = RISK_STATE_FILE  # the risk room's snapshot name: `Decider.open` finds it too
RULES_FILE = "rules.yaml"
"""A data directory's own rule file; without one the default rules apply."""


class RiskGate(Protocol):
    state: FeatureState

    def decide(self, event: PaymentEvent) -> Decision: ...


class RulesOnly:
    """Decides by the rule set alone: block/allow lists, hard rules, review rules."""

    def __init__(self, rules: RuleSet, state: FeatureState) -> None:
        self.rules, self.state = rules, state

    def decide(self, event: PaymentEvent) -> Decision:
        row = self.state.observe(event)
        on_list = listed(self.rules, event)
        if on_list is not None:
            return self._decision(on_list[0], (on_list[1],))
        hits = self.rules.evaluate(dict(zip(FEATURE_NAMES, np.asarray(row).tolist(), strict=True)))
        reasons = tuple(f"rule {hit.name} ({hit.typology})" for hit in hits)
        return self._decision(combine("approve", hits), reasons)

    def _decision(self, action: str, reasons: tuple[str, ...]) -> Decision:
        return Decision(action, 0.0, "none", self.rules.version, reasons)


def open_gate(data_directory: Path, model_directory: Path | None = None) -> RiskGate:
    """The data directory's risk gate: its registered model when there is one, else rules only."""
    names = frozenset(FEATURE_NAMES)
    own_rules = Path(data_directory) / RULES_FILE
    rules = load_rules(own_rules if own_rules.exists() else DEFAULT_RULES_PATH, names)
    state_path = Path(data_directory) / STATE_FILE
    state = (
        FeatureState.restore(state_path)
        if state_path.exists()
        else FeatureState(FeatureContext(profiles={}, reference_ns=0, usd_per_unit={}))
    )
    for spec, units_per_usd in DEFAULT_UNITS_PER_USD.items():  # amount_usd of every known asset
        state.context.usd_per_unit.setdefault(
            spec, 1.0 / float(units_per_usd) / 10 ** asset_of(spec).scale
        )
    chosen = model_directory or Path(data_directory) / MODEL_DIRECTORY
    if (chosen / "model.txt").exists():
        model = load_model(chosen)
        log.info("risk: model %s", model.version_)
        return Decider(model, rules, state)
    log.warning(
        "risk: no model in %s; deciding by rules alone. Train one with "
        "`clearline risk train --world DIR --out %s`",
        chosen,
        chosen,
    )
    return RulesOnly(rules, state)


def remember_account(gate: RiskGate, account_id: int, profile: AccountProfile) -> None:
    """Tell the feature state what is known about a new account (KYC tier, kind, age)."""
    gate.state.context.profiles[account_id] = profile


def save_state(gate: RiskGate, data_directory: Path) -> None:
    gate.state.snapshot(Path(data_directory) / STATE_FILE)
