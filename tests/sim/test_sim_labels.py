"""Label rates match the configuration; every scenario and typology is present and consistent."""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import RICH_FACTOR

from clearline.sim.config import FRAUD_SCENARIOS, LAUNDERING_TYPOLOGIES, preset
from clearline.sim.engine import World
from clearline.sim.writer import label_rates

OVERALL_TOLERANCE = 0.15
EACH_TOLERANCE = (0.5, 1.6)


def test_rates_match_configuration_in_the_rich_world(rich_result) -> None:
    rates = label_rates(rich_result)
    for kind, block_name in (("fraud", "scenarios"), ("laundering", "typologies")):
        block = rates[kind]
        assert block["measured"] == pytest.approx(block["configured"], rel=OVERALL_TOLERANCE)
        for name, row in block[block_name].items():
            assert row["transactions"] > 0 and row["attempts"] > 0, name
            low, high = EACH_TOLERANCE
            assert low * row["configured"] <= row["measured"] <= high * row["configured"], name
    assert rates["laundering"]["configured"] == pytest.approx(RICH_FACTOR / 1_000)


@pytest.mark.parametrize(("name", "share"), [("hi", 1 / 1_000), ("li", 1 / 2_000)])
def test_presets_hit_their_laundering_ratio(name: str, share: float) -> None:
    result = World(preset(name, people=6_000, days=30, seed=3)).generate()
    measured = label_rates(result)["laundering"]["measured"]
    assert 0.7 * share <= measured <= 1.3 * share


def test_every_scenario_and_typology_is_present(rich_tables) -> None:
    labels = rich_tables["labels"].to_pandas()
    assert set(labels.fraud_scenario.dropna().astype(str)) == set(FRAUD_SCENARIOS)
    assert set(labels.laundering_typology.dropna().astype(str)) == set(LAUNDERING_TYPOLOGIES)


def test_labels_are_consistent(rich_tables) -> None:
    labels = rich_tables["labels"].to_pandas()
    assert (labels.is_fraud == labels.fraud_scenario.notna()).all()
    assert (labels.is_laundering == labels.laundering_typology.notna()).all()
    assert not (labels.is_fraud & labels.is_laundering).any()
    illicit = labels.is_fraud | labels.is_laundering
    assert (labels.attempt_id.notna() == illicit).all()
    by_attempt = labels[illicit].groupby("attempt_id")
    assert (by_attempt.fraud_scenario.nunique(dropna=False) == 1).all()
    assert (by_attempt.laundering_typology.nunique(dropna=False) == 1).all()


def test_account_roles_name_the_illicit_accounts(rich_tables) -> None:
    roles = rich_tables["account_roles"].to_pandas()
    assert set(roles.role) == {"mule", "synthetic_identity", "colluding_merchant", "laundering"}
    transactions = rich_tables["transactions"].to_pandas()
    labels = rich_tables["labels"].to_pandas()
    laundering_accounts = set(roles.account_id[roles.role == "laundering"])
    rows = transactions[labels.is_laundering.to_numpy()]
    touched = set(rows.from_account_id) | set(rows.to_account_id)
    assert laundering_accounts <= touched
    assert np.isin(list(laundering_accounts), transactions.from_account_id).any()
