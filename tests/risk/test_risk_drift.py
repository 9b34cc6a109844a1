"""Drift: PSI by the formula, banded readings, no infinities, and `clearline risk drift`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from clearline.core.errors import InvalidInput
from clearline.risk.cli import risk_app
from clearline.risk.drift import (
    SHARE_FLOOR,
    column_reference,
    psi,
    psi_against,
    status,
)


def test_identical_distributions_give_about_zero() -> None:
    values = np.random.default_rng(1).normal(size=20_000)
    assert psi(values, values) == pytest.approx(0.0, abs=1e-12)
    other_draw = np.random.default_rng(2).normal(size=20_000)
    assert psi(values, other_draw) < 0.01


def test_a_shifted_distribution_is_significant() -> None:
    rng = np.random.default_rng(3)
    expected, actual = rng.normal(size=20_000), rng.normal(loc=1.0, size=20_000)
    value = psi(expected, actual)
    assert value > 0.25
    assert status(value) == "significant"


def test_psi_matches_the_formula_on_a_hand_worked_case() -> None:
    expected = np.array([0.0] * 50 + [1.0] * 50)
    actual = np.array([0.0] * 80 + [1.0] * 20)
    by_hand = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi(expected, actual) == pytest.approx(by_hand, rel=1e-9)


def test_empty_bins_and_missing_values_stay_finite() -> None:
    expected = np.array([1.0, 2.0, 3.0] * 100)
    actual = np.array([np.nan] * 100 + [50.0] * 100)  # one bin empty in training, others now empty
    value = psi(expected, actual)
    assert math.isfinite(value) and value > 0.25
    floor_term = (1.0 / 3 - SHARE_FLOOR) * math.log((1.0 / 3) / SHARE_FLOOR)
    assert value < 10 * floor_term


def test_bands() -> None:
    assert status(0.05) == "stable"
    assert status(0.1) == "worth_a_look"
    assert status(0.25) == "worth_a_look"
    assert status(0.26) == "significant"


def test_live_window_never_moves_the_edges_and_empty_window_is_refused() -> None:
    reference = column_reference("x", np.arange(100.0))
    assert len(reference.edges) == 9 and len(reference.shares) == 11
    assert psi_against(reference, np.arange(100.0)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(InvalidInput) as caught:
        psi_against(reference, np.array([]))
    assert caught.value.code == "drift_window_empty"


def test_cli_drift_prints_and_writes_json(
    trained_model_dir: Path, train_world_dir: Path, other_world_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        risk_app,
        [
            "drift", "--model", str(trained_model_dir), "--world", str(other_world_dir),
            "--out", str(tmp_path),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "drift.json").read_text())
    names = {row["name"] for row in rows}
    assert "score" in names and "amount_usd" in names
    assert all(math.isfinite(row["psi"]) and row["psi"] >= 0 for row in rows)
    assert "PSI" in result.output


def test_cli_drift_without_reference_is_a_clear_error(
    trained_model_dir: Path, other_world_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "old_model"
    copy.mkdir()
    for file in trained_model_dir.iterdir():
        if file.name != "reference.json":
            (copy / file.name).write_bytes(file.read_bytes())
    result = CliRunner().invoke(
        risk_app,
        ["drift", "--model", str(copy), "--world", str(other_world_dir)],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code != 0
    assert "reference.json is missing" in result.output
    assert "train it again" in result.output
