"""The `clearline simulate` command."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clearline.cli import _register_rooms, app


@pytest.fixture(scope="module")
def cli_app():
    if not any(command.name == "simulate" for command in app.registered_commands):
        _register_rooms()
    return app


def test_simulate_writes_every_table_and_a_manifest(cli_app, tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = CliRunner().invoke(
        cli_app,
        [
            "simulate",
            "--out",
            str(out),
            "--seed",
            "4",
            "--people",
            "300",
            "--days",
            "5",
            "--preset",
            "li",
            "--csv",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 4 and manifest["config"]["preset"] == "li"
    assert manifest["config"]["people"] == 300
    for name, rows in manifest["counts"].items():
        assert pq.read_metadata(out / f"{name}.parquet").num_rows == rows
        assert (out / f"{name}.csv").exists()
        assert manifest["files_sha256"][f"{name}.parquet"]
    assert "transactions" in result.output


def test_simulate_reads_a_config_file_and_refuses_bad_input(cli_app, tmp_path: Path) -> None:
    config = tmp_path / "world.toml"
    config.write_text(
        "people = 250\ndays = 3\n[laundering]\nillicit_share = 0.004\n", encoding="utf-8"
    )
    out = tmp_path / "world"
    result = CliRunner().invoke(cli_app, ["simulate", "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["people"] == 250
    assert manifest["label_rates"]["laundering"]["configured"] == 0.004
    bad = CliRunner().invoke(cli_app, ["simulate", "--out", str(out), "--preset", "xx"])
    assert bad.exit_code != 0
    bad = CliRunner().invoke(cli_app, ["simulate", "--out", str(out), "--people", "3"])
    assert bad.exit_code != 0
