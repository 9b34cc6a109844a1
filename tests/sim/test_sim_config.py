"""Configuration: presets, files, overrides and validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearline.core.errors import InvalidInput
from clearline.sim.config import (
    FRAUD_SCENARIOS,
    LAUNDERING_TYPOLOGIES,
    SimConfig,
    load_config,
    preset,
)


def test_presets_mirror_amlworld_ratios() -> None:
    assert preset("hi").laundering.illicit_share == pytest.approx(1 / 1_000)
    assert preset("li").laundering.illicit_share == pytest.approx(1 / 2_000)
    assert preset("li").fraud == preset("hi").fraud


def test_typology_shares_sum_to_the_illicit_share() -> None:
    laundering = preset("hi").laundering
    total = sum(laundering.typology_share(name) for name in LAUNDERING_TYPOLOGIES)
    assert total == pytest.approx(laundering.illicit_share)
    assert set(laundering.weights) == set(LAUNDERING_TYPOLOGIES)


def test_toml_file_overrides_preset_and_cli_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "world.toml"
    path.write_text(
        "people = 777\ndays = 9\n[fraud]\ncard_testing = 0.001\n[laundering]\nfee_max = 0.01\n"
        "[laundering.weights]\ncycle = 0.5\n",
        encoding="utf-8",
    )
    config = load_config(path, "li", days=12, seed=None)
    assert (config.people, config.days, config.preset) == (777, 12, "li")
    assert config.fraud.card_testing == 0.001
    assert config.laundering.illicit_share == pytest.approx(1 / 2_000)
    assert config.laundering.fee_max == 0.01
    assert config.laundering.weights["cycle"] == 0.5
    assert config.laundering.weights["fan_in"] == preset("hi").laundering.weights["fan_in"]


def test_json_file_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_text(
        json.dumps({"seed": 4, "laundering": {"illicit_share": 0.002}}), encoding="utf-8"
    )
    config = load_config(path)
    assert (config.seed, config.laundering.illicit_share) == (4, 0.002)
    path.write_text(json.dumps({"peeple": 4}), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load_config(path)
    assert caught.value.code == "unknown_config_key"


def test_validation_reports_every_problem() -> None:
    with pytest.raises(InvalidInput) as caught:
        SimConfig(people=3, days=0, preset="xx")
    message = str(caught.value)
    assert caught.value.code == "invalid_sim_config"
    assert "people" in message and "days" in message and "preset" in message


def test_config_round_trips_through_its_dictionary() -> None:
    config = preset("li", people=500, days=3, seed=9)
    data = config.to_dict()
    assert data["start_date"] == config.start_date.isoformat()
    assert set(data["fraud"]) == set(FRAUD_SCENARIOS)
    assert json.loads(json.dumps(data)) == data
