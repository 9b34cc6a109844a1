"""Bring your own data: files shaped like the public fraud datasets, and every bad-input error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clearline.risk.byod import DataSchema, InvalidData, check_columns, read_data, train_data
from clearline.risk.cli import risk_app
from clearline.risk.model import FEW_POSITIVES

WIDE = {"COLUMNS": "400"}


def card_like(seed: int, rows: int = 6_000, anonymous: int = 8) -> pa.Table:
    """Shaped like the public card dataset: Time (seconds), V1..Vn, Amount, Class (about 2%).

    Fraud shifts V1..V3 and the amount, so a model can learn it.
    """
    rng = np.random.default_rng(seed)
    fraud = rng.random(rows) < 0.02
    columns: dict[str, object] = {"Time": np.sort(rng.uniform(0, 172_800, rows)).round()}
    for index in range(1, anonymous + 1):
        shift = np.where(fraud, 1.5 if index <= 3 else 0.0, 0.0)
        columns[f"V{index}"] = rng.normal(size=rows) + shift
    amount = rng.lognormal(3.5, 1.0, rows) * np.where(fraud, 2.0, 1.0)
    columns["Amount"] = amount.round(2)
    columns["Class"] = fraud.astype(np.int64)
    return pa.table(columns)


def mobile_money_like(seed: int, rows: int = 6_000) -> pa.Table:
    """Shaped like a mobile-money log: step (hours), type, amount, nameOrig, nameDest, isFraud.

    Fraud is an account that pays out quickly to many new destinations (a behavioural signal).
    """
    rng = np.random.default_rng(seed)
    accounts = [f"C{n}" for n in range(300)]
    bad = set(accounts[:15])
    origin = rng.choice(accounts, rows)
    is_fraud = np.array([name in bad for name in origin]) & (rng.random(rows) < 0.8)
    destination = np.where(
        is_fraud,
        [f"M{n}" for n in rng.integers(0, 100_000, rows)],
        [f"C{n}" for n in rng.integers(0, 40, rows)],
    )
    return pa.table(
        {
            "step": np.sort(rng.integers(1, 200, rows)) * 3600,
            "type": rng.choice(["PAYMENT", "TRANSFER", "CASH_OUT"], rows),
            "amount": rng.lognormal(5, 1, rows).round(2),
            "nameOrig": origin,
            "nameDest": destination,
            "isFraud": is_fraud.astype(np.int64),
            "fraudType": np.where(is_fraud, "mule_payout", ""),
        }
    )


def invoke(*arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(risk_app, list(arguments), env=WIDE)
    return result.exit_code, result.output


def test_card_shaped_csv_trains_evaluates_and_compares(tmp_path: Path) -> None:
    pcsv.write_csv(card_like(1), tmp_path / "train.csv")
    pcsv.write_csv(card_like(2), tmp_path / "later.csv")
    code, output = invoke(
        "train", "--data", str(tmp_path / "train.csv"), "--label", "Class", "--time", "Time",
        "--amount", "Amount", "--out", str(tmp_path / "model"),
    )  # fmt: skip
    assert code == 0, output
    for name in ("model.txt", "baseline/model.txt", "data_schema.json", "metrics.json"):
        assert (tmp_path / "model" / name).exists(), name
    training = json.loads((tmp_path / "model" / "metrics.json").read_text())["training"]
    assert (f"warning: only {training['positives']} fraudulent" in output) == (
        training["positives"] < FEW_POSITIVES
    )
    code, output = invoke(
        "evaluate", "--model", str(tmp_path / "model"), "--data", str(tmp_path / "later.csv"),
        "--label", "Class", "--out", str(tmp_path / "report"),
    )  # fmt: skip
    assert code == 0, output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["model"]["pr_auc"] > 0.3
    assert metrics["model"]["rows"] == 6_000
    comparison = metrics["comparison"]
    assert comparison["beats_baseline"] or "no --account column" in comparison["why_not"]


def test_mobile_money_parquet_with_accounts_beats_raw_baseline(tmp_path: Path) -> None:
    pq.write_table(mobile_money_like(3), tmp_path / "log.parquet")
    model = train_data(
        tmp_path / "log.parquet",
        "isFraud",
        DataSchema("step", "amount", "nameOrig", "nameDest", drop=(), scenario="fraudType"),
        tmp_path / "model",
    )
    assert "fraudType" not in model.feature_names
    assert any(name.startswith("behaviour_") for name in model.feature_names)
    assert "nameOrig" not in model.feature_names and "nameDest" not in model.feature_names
    metrics = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert metrics["comparison"]["beats_baseline"], metrics["comparison"]
    per_scenario = metrics["test"]["per_scenario_recall"]
    assert list(per_scenario) == ["mule_payout"]
    assert per_scenario["mule_payout"]["positives"] == metrics["test"]["positives"]


def test_bad_input_names_every_column_and_what_to_do(tmp_path: Path) -> None:
    table = (
        card_like(4, rows=50).drop(["Class"]).append_column("Class", pa.array(["yes", "no"] * 25))
    )
    table = table.set_column(0, "Time", pa.array(["not a time"] * 50))
    schema = DataSchema("Time", "Amountt")
    with pytest.raises(InvalidData) as caught:
        check_columns(table, "Class", schema)
    codes = [code for code, _ in caught.value.problems]
    assert codes == ["column_missing", "label_not_binary", "time_unparseable"]
    message = caught.value.message
    assert "'Amountt'" in message and "'Class'" in message and "'Time'" in message
    assert "0 (legitimate) or 1 (fraud)" in message and "ISO 8601" in message


def test_empty_and_unsupported_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("Time,Amount,Class\n")
    (tmp_path / "data.xlsx").write_text("x")
    for name, code in (
        ("empty.csv", "data_empty"),
        ("header_only.csv", "data_empty"),
        ("data.xlsx", "data_format_unsupported"),
        ("absent.csv", "data_missing"),
    ):
        with pytest.raises(InvalidData) as caught:
            read_data(tmp_path / name)
        assert caught.value.code == code, name


def test_cli_reports_a_missing_label_column(tmp_path: Path) -> None:
    pcsv.write_csv(card_like(5, rows=100), tmp_path / "data.csv")
    code, output = invoke(
        "train", "--data", str(tmp_path / "data.csv"), "--label", "is_fraud", "--time", "Time",
        "--out", str(tmp_path / "model"),
    )  # fmt: skip
    assert code != 0
    assert "column 'is_fraud' is not in the file" in output
    assert not (tmp_path / "model").exists()


def test_iso_times_are_parsed() -> None:
    from clearline.risk.byod import parse_time_ns

    column = pa.chunked_array([["2026-01-01T00:00:00Z", "2026-01-01T01:00:00+00:00"]])
    stamps = parse_time_ns(column, "when")
    assert stamps[1] - stamps[0] == 3_600 * 10**9
