"""Bring your own data: files shaped like the public fraud datasets, and every bad-input error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import average_precision_score
from typer.testing import CliRunner

from clearline.risk.byod import (
    DataSchema,
    InvalidData,
    account_number,
    check_columns,
    design,
    evaluate_data,
    fraud_reports,
    history_for,
    infer_schema,
    labels_in_time_order,
    load_schema,
    model_names,
    read_data,
    train_data,
)
from clearline.risk.cli import risk_app
from clearline.risk.model import FEW_POSITIVES
from clearline.risk.pipeline import REPORT_DELAY_NS

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


def _split_in_time(table: pa.Table, share: float) -> tuple[pa.Table, pa.Table]:
    """The rows before and from the first `step` at `share` of the file (no step in both)."""
    steps = np.asarray(table.column("step").to_numpy())
    cut = np.sort(steps)[int(len(steps) * share)]
    return table.filter(pa.array(steps < cut)), table.filter(pa.array(steps >= cut))


MOBILE = DataSchema("step", "amount", "nameOrig", "nameDest", drop=(), scenario="fraudType")


def test_a_later_file_continues_the_training_history(tmp_path: Path) -> None:
    whole = mobile_money_like(5)
    first, later = _split_in_time(whole, 0.7)
    pq.write_table(first, tmp_path / "first.parquet")
    pq.write_table(later, tmp_path / "later.parquet")
    model = train_data(tmp_path / "first.parquet", "isFraud", MOBILE, tmp_path / "model")
    metrics = evaluate_data(
        tmp_path / "model", tmp_path / "later.parquet", "isFraud", tmp_path / "r"
    )
    assert metrics["history"]["carried_over"] is True
    assert metrics["model"]["rows"] == later.num_rows
    # the evaluated rows' behavioural features are those of one replay over both files
    schema = load_schema(tmp_path / "model")
    state, _ = history_for(tmp_path / "model", later, schema)
    continued = design(later, schema, state, fraud_reports(later, "isFraud", schema)).features
    replayed = design(whole, schema, reports=fraud_reports(whole, "isFraud", schema)).features
    replayed = replayed[first.num_rows :]
    behaviour = [i for i, name in enumerate(model.feature_names) if name.startswith("behaviour_")]
    assert np.array_equal(continued[:, behaviour], replayed[:, behaviour], equal_nan=True)
    labels = labels_in_time_order(later, "isFraud", schema)
    scored = average_precision_score(labels, model.score(continued))
    assert metrics["model"]["pr_auc"] == pytest.approx(scored, abs=1e-12)  # what evaluate used
    cold = design(later, schema).features
    assert not np.array_equal(cold[:, behaviour], replayed[:, behaviour], equal_nan=True)


def test_a_file_that_overlaps_training_starts_cold_and_says_why(tmp_path: Path) -> None:
    pq.write_table(mobile_money_like(6), tmp_path / "train.parquet")
    train_data(tmp_path / "train.parquet", "isFraud", MOBILE, tmp_path / "model")
    pq.write_table(mobile_money_like(7, rows=2_000), tmp_path / "again.parquet")
    metrics = evaluate_data(
        tmp_path / "model", tmp_path / "again.parquet", "isFraud", tmp_path / "r"
    )
    history = metrics["history"]
    assert history["carried_over"] is False
    assert "before the training data ended" in history["why_not"]


def test_drift_reads_a_live_file_for_a_model_trained_on_data(tmp_path: Path) -> None:
    first, later = _split_in_time(mobile_money_like(8), 0.6)
    pq.write_table(first, tmp_path / "first.parquet")
    pq.write_table(later.drop(["isFraud"]), tmp_path / "live.parquet")  # no label needed
    train_data(tmp_path / "first.parquet", "isFraud", MOBILE, tmp_path / "model")
    code, output = invoke(
        "drift", "--model", str(tmp_path / "model"), "--data", str(tmp_path / "live.parquet"),
        "--out", str(tmp_path / "drift"),
    )  # fmt: skip
    assert code == 0, output
    rows = json.loads((tmp_path / "drift" / "drift.json").read_text())
    names = {row["name"] for row in rows}
    assert "score" in names and "behaviour_payer_out_count_24h" in names
    assert all(row["psi"] >= 0 for row in rows)
    code, output = invoke("drift", "--model", str(tmp_path / "model"))
    assert code != 0 and "exactly one of --world or --data" in output
    code, output = invoke(
        "rethreshold", "--model", str(tmp_path / "model"), "--data",
        str(tmp_path / "live.parquet"), "--out", str(tmp_path / "live-model"),
    )  # fmt: skip
    assert code == 0, output
    chosen = json.loads((tmp_path / "live-model" / "thresholds.json").read_text())["chosen_on"]
    assert chosen["rows"] == later.num_rows and chosen["review_budget"] == 0.005


def test_fraud_reports_reach_the_graph_features_only_once_known() -> None:
    day = 86_400
    table = pa.table(
        {
            "t": [0, 1 * day, 4 * day],
            "amount": [500.0, 20.0, 30.0],
            "payer": ["victim", "alice", "bob"],
            "payee": ["mule", "mule", "mule"],
            "fraud": [1, 0, 0],
        }
    )
    schema = infer_schema(table, "fraud", DataSchema("t", "amount", "payer", "payee"))
    reports = fraud_reports(table, "fraud", schema)
    assert reports == [(REPORT_DELAY_NS, account_number("mule"))]
    features = design(table, schema, reports=reports).features
    names, _ = model_names(schema)
    flagged = features[:, names.index("behaviour_payee_flagged")]
    assert flagged.tolist() == [0.0, 0.0, 1.0]  # known three days after the fraud, not before
    assert fraud_reports(table, "fraud", DataSchema("t", "amount", "payer")) == []


def test_a_balance_column_feeds_the_share_of_funds(tmp_path: Path) -> None:
    log = mobile_money_like(9, rows=600)
    rng = np.random.default_rng(9)
    amount = np.asarray(log.column("amount").to_numpy())
    fraud = np.asarray(log.column("isFraud").to_numpy()) == 1
    balance = np.where(fraud, amount * rng.uniform(1.0, 1.2, len(amount)), amount * 20.0)
    balance[::50] = np.nan  # unknown for some rows
    log = log.append_column("oldbalanceOrg", pa.array(balance, from_pandas=True))
    pq.write_table(log, tmp_path / "log.parquet")
    code, output = invoke(
        "train", "--data", str(tmp_path / "log.parquet"), "--label", "isFraud", "--time", "step",
        "--amount", "amount", "--account", "nameOrig", "--counterparty", "nameDest",
        "--balance", "oldbalanceOrg", "--out", str(tmp_path / "model"),
    )  # fmt: skip
    assert code == 0, output
    schema = load_schema(tmp_path / "model")
    assert schema.balance == "oldbalanceOrg" and "oldbalanceOrg" in schema.features
    made = design(log, schema)
    names, _ = model_names(schema)
    share = made.features[:, names.index("behaviour_amount_to_available")]
    order = np.argsort(np.asarray(log.column("step").to_numpy()), kind="stable")
    expected = np.round(amount[order] * 100) / np.round(balance[order] * 100)
    assert np.allclose(share, expected, equal_nan=True)
    assert np.isnan(share).sum() == np.isnan(balance).sum()
    code, output = invoke(
        "evaluate", "--model", str(tmp_path / "model"), "--data", str(tmp_path / "log.parquet"),
        "--label", "isFraud", "--out", str(tmp_path / "report"),
    )  # fmt: skip
    assert code == 0, output
    missing = log.drop(["oldbalanceOrg"])
    pq.write_table(missing, tmp_path / "no_balance.parquet")
    code, output = invoke(
        "evaluate", "--model", str(tmp_path / "model"), "--data",
        str(tmp_path / "no_balance.parquet"), "--label", "isFraud", "--out", str(tmp_path / "r2"),
    )  # fmt: skip
    assert code != 0 and "'oldbalanceOrg'" in output
