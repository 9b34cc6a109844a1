"""Bring your own data: train and evaluate on an institution's own labelled history (CSV/Parquet).

Guarantees:
- Input is checked before anything is trained, and every problem is reported at once in one
  `InvalidData` error (each problem names its column, says what to do, and has a stable code):
  `data_empty`, `column_missing`, `label_not_binary`, `time_unparseable`, `data_format_unsupported`.
- Rows are put in time order (stable) before features or splits: the split is strictly
  time-ordered, as for simulated worlds, and thresholds come from the validation slice only.
- Columns not named (label, time, account, counterparty, dropped) are used as extra features:
  numbers as they are, text as stable category codes. `hour_of_day` is derived from the time.
- With `--account`, the behavioural features of `clearline.risk.features` are added, computed by
  the same `FeatureState.observe` path as for worlds (velocity, amount against the account's own
  history, first-time counterparty, fan-in/out...), replayed over the file in time order. Without
  it only per-row features exist, and the report says so.
- With `--counterparty`, the counterparty of each labelled fraud is reported to the features
  `REPORT_DELAY_NS` after the payment (`fraud_reports`), as for simulated worlds, so the graph
  features (payer/payee reported before, reported contacts) work on the user's data; `drift`
  has no labels, so a live file there gets no reports.
- A `--balance` column (the payer's funds just before the payment, in the amount's units) feeds
  `amount_to_available`, the payment's share of what the payer had; empty cells leave it NaN.
- A `--scenario` column (fraud type, empty for legitimate rows) is never a feature; it only
  splits recall per scenario in `metrics.json`.
- Training also fits the raw-column baseline (the same LightGBM on the file's columns only) and
  stores it in `baseline/` in the model directory, so `evaluate` compares both on unseen data.
- Account names become integers by a stable hash (`account_number`), the same in every file, so
  the feature state left by training (`feature_state.pickle` in the model directory) continues
  over a later file: `evaluate` and `drift` carry the training history over when the file starts
  no earlier than the training data ended (`metrics.json` → `history` says whether it was, and
  why not), exactly as one replay over both files would (tested).
- Training stores the drift reference of its training slice (`reference.json`), so
  `clearline risk drift --model DIR --data FILE` compares a live file (`live_features`) with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clearline.core.errors import InvalidInput
from clearline.risk.drift import build_reference, save_reference
from clearline.risk.features import (
    FEATURE_NAMES,
    FeatureContext,
    FeatureState,
    PaymentEvent,
    replay,
)
from clearline.risk.metrics import evaluate_scores
from clearline.risk.model import RiskModel, TrainConfig, fit, time_split, training_summary
from clearline.risk.pipeline import REPORT_DELAY_NS, hash_code
from clearline.risk.registry import load_model, save_model
from clearline.risk.report import model_card, write_metrics, write_plots

SCHEMA_FILE = "data_schema.json"
BASELINE_DIR = "baseline"
NS_PER_SECOND = 1_000_000_000
BEHAVIOUR_PREFIX = "behaviour_"
HOUR_OF_DAY = "hour_of_day"
HISTORY_FILE = "feature_state.pickle"
"""The behavioural feature state after the training file, continued by later files."""


class InvalidData(InvalidInput):
    """A data file cannot be used as given; `problems` lists every (code, message) found."""

    code = "invalid_data"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems), code=problems[0][0])
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class DataSchema:
    """How a file's columns are used. features/text: extra columns (text ones as category codes)."""

    time: str
    amount: str | None = None
    account: str | None = None
    counterparty: str | None = None
    drop: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    text: tuple[str, ...] = field(default=())
    scenario: str | None = None
    balance: str | None = None
    """The payer's balance (available funds) just before the payment, in the amount's units:
    feeds `amount_to_available` (a raw feature as well, like every named number)."""


def read_data(path: Path) -> pa.Table:
    """A CSV or Parquet file as an Arrow table; refuses other suffixes and empty files."""
    path = Path(path)
    if not path.exists():
        raise InvalidData([("data_missing", f"{path} does not exist: check --data")])
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    elif suffix == ".csv":
        import pyarrow.csv as pcsv

        if path.stat().st_size == 0:
            raise InvalidData([("data_empty", f"{path} is empty: export the rows with a header")])
        table = pcsv.read_csv(path)
    else:
        raise InvalidData(
            [("data_format_unsupported", f"{path}: give a .csv or .parquet file to --data")]
        )
    if table.num_rows == 0:
        raise InvalidData([("data_empty", f"{path} has no rows: export the labelled history")])
    return table


def _label_problems(table: pa.Table, label: str) -> list[tuple[str, str]]:
    values = set(pc.unique(table.column(label)).to_pylist())
    if not values <= {0, 1}:  # True and False compare equal to 1 and 0
        shown = sorted(map(str, values))[:5]
        return [
            (
                "label_not_binary",
                f"label column {label!r} holds {shown}: it must be 0 (legitimate) or 1 (fraud)",
            )
        ]
    return []


def parse_time_ns(column: pa.ChunkedArray, name: str) -> np.ndarray:
    """Nanoseconds: numbers are seconds (from any origin); text and timestamps are parsed."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        seconds = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        if not np.isfinite(seconds).all():
            raise InvalidData(_time_problem(name, "has missing or non-finite values"))
        return np.round(seconds * NS_PER_SECOND).astype(np.int64)
    import pandas as pd

    parsed = pd.to_datetime(column.to_pandas(), utc=True, errors="coerce", format="ISO8601")
    bad = int(parsed.isna().sum())
    if bad:
        raise InvalidData(_time_problem(name, f"has {bad} values that are not dates or times"))
    return np.asarray(parsed.dt.as_unit("ns").astype("int64").to_numpy(), dtype=np.int64)


def _time_problem(name: str, what: str) -> list[tuple[str, str]]:
    return [
        (
            "time_unparseable",
            f"time column {name!r} {what}: give ISO 8601 times or seconds as numbers",
        )
    ]


def check_columns(table: pa.Table, label: str | None, schema: DataSchema) -> None:
    """Every named column exists, the label is 0/1 and the time parses; all problems at once."""
    named = [
        label,
        schema.time,
        schema.amount,
        schema.account,
        schema.counterparty,
        schema.scenario,
        schema.balance,
        *schema.drop,
    ]
    problems = [
        ("column_missing", f"column {name!r} is not in the file: check the spelling or drop it")
        for name in named
        if name is not None and name not in table.column_names
    ]
    if label is not None and label in table.column_names:
        problems += _label_problems(table, label)
    if schema.time in table.column_names:
        try:
            parse_time_ns(table.column(schema.time), schema.time)
        except InvalidData as error:
            problems += list(error.problems)
    if problems:
        raise InvalidData(problems)


def infer_schema(table: pa.Table, label: str, schema: DataSchema) -> DataSchema:
    """The schema with its extra feature columns filled in from the file."""
    used = {label, schema.time, schema.account, schema.counterparty, schema.scenario, *schema.drop}
    extra = [name for name in table.column_names if name not in used]
    text = tuple(
        n for n in extra if not _numeric(table.schema.field(n).type) and n != schema.amount
    )
    return replace(schema, features=tuple(extra), text=text)


def _numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    )


def raw_matrix(table: pa.Table, schema: DataSchema, stamps_ns: np.ndarray) -> np.ndarray:
    """The file's own columns (text as category codes) and the hour of day."""
    columns = []
    for name in schema.features:
        if name in schema.text:
            values = table.column(name).cast(pa.string()).to_pylist()
            codes = [np.nan if v is None else float(hash_code(v)) for v in values]
            columns.append(np.array(codes, dtype=np.float64))
        else:
            column = table.column(name).cast(pa.float64()).fill_null(np.nan)
            columns.append(np.asarray(column.to_numpy(), dtype=np.float64))
    hours = (stamps_ns // (3_600 * NS_PER_SECOND)) % 24
    return np.column_stack([*columns, hours.astype(np.float64)])


def raw_names(schema: DataSchema) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Feature names and categorical names of `raw_matrix`."""
    return (*schema.features, HOUR_OF_DAY), schema.text


def account_number(value: object) -> int:
    """A stable, non-zero 63-bit number for an account name (0 means no counterparty): the same
    name gets the same number in every file, so a later file continues the training history."""
    digest = hashlib.blake2b(str(value).encode("utf-8"), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 1) or 1


def fraud_reports(table: pa.Table, label: str, schema: DataSchema) -> list[tuple[int, int]]:
    """The fraud reports a bank would have had for this file: the counterparty of each labelled
    fraud, known `REPORT_DELAY_NS` after it, as for simulated worlds (none without
    `--counterparty`). Sorted by when each becomes known."""
    if schema.counterparty is None:
        return []
    stamps = parse_time_ns(table.column(schema.time), schema.time)
    labels = table.column(label).cast(pa.int8()).to_pylist()
    others = table.column(schema.counterparty).to_pylist()
    return sorted(
        (int(stamp) + REPORT_DELAY_NS, account_number(other))
        for stamp, fraud, other in zip(stamps, labels, others, strict=True)
        if fraud == 1 and other is not None
    )


def behaviour_matrix(
    table: pa.Table,
    schema: DataSchema,
    stamps_ns: np.ndarray,
    state: FeatureState,
    reports: list[tuple[int, int]] | tuple[()] = (),
) -> np.ndarray:
    """`FeatureState.observe` over the rows (already in time order), continuing `state`, with
    `reports` applied when each becomes known."""
    assert schema.account is not None
    accounts = table.column(schema.account).to_pylist()
    others = (
        table.column(schema.counterparty).to_pylist()
        if schema.counterparty
        else [None] * len(accounts)
    )
    amounts = (
        table.column(schema.amount).cast(pa.float64()).fill_null(0.0).to_pylist()
        if schema.amount
        else [0.0] * len(accounts)
    )
    balances = (
        table.column(schema.balance).cast(pa.float64()).to_pylist()
        if schema.balance
        else [None] * len(accounts)
    )
    events = (
        PaymentEvent(
            int(stamp),
            account_number(account),
            account_number(other) if other is not None else 0,
            round(amount * 100),
            "USD",
            round(amount * 100),
            "USD",
            "",
            "",
            payer_available=round(balance * 100)
            if balance is not None and math.isfinite(balance)
            else None,
        )
        for stamp, account, other, amount, balance in zip(
            stamps_ns, accounts, others, amounts, balances, strict=True
        )
    )
    return replay(events, state.context, reports, state=state)


@dataclass(frozen=True, slots=True)
class Design:
    """A file's matrices with rows in time order, and the feature state after them (None
    without an account column)."""

    features: np.ndarray
    raw: np.ndarray
    stamps_ns: np.ndarray
    state: FeatureState | None


def design(
    table: pa.Table,
    schema: DataSchema,
    state: FeatureState | None = None,
    reports: list[tuple[int, int]] | tuple[()] = (),
) -> Design:
    """(Clearline matrix, raw-column matrix, timestamps, state) with rows in time order; the
    behavioural features continue `state` when given and learn of `reports` (`fraud_reports`)."""
    stamps = parse_time_ns(table.column(schema.time), schema.time)
    order = np.argsort(stamps, kind="stable")
    table, stamps = table.take(pa.array(order)), stamps[order]
    raw = raw_matrix(table, schema, stamps)
    if schema.account is None:
        return Design(raw, raw, stamps, None)
    state = state if state is not None else FeatureState(FeatureContext())
    behaviour = behaviour_matrix(table, schema, stamps, state, reports)
    return Design(np.hstack([raw, behaviour]), raw, stamps, state)


def history_for(
    model_dir: Path, table: pa.Table, schema: DataSchema
) -> tuple[FeatureState | None, dict[str, Any]]:
    """The training history to continue for `table`, and what `metrics.json` says about it."""
    if schema.account is None:
        return None, {"carried_over": False, "why_not": "no --account column: no history"}
    path = Path(model_dir) / HISTORY_FILE
    if not path.exists():
        why = f"{path} is missing (a model trained before histories were kept): train it again"
        return None, {"carried_over": False, "why_not": why}
    state = FeatureState.restore(path)
    first = int(parse_time_ns(table.column(schema.time), schema.time).min())
    if first < state.last_ns:
        why = (
            f"the file starts at {first} ns, before the training data ended ({state.last_ns} ns): "
            "its features start from no history; give a file that follows the training data"
        )
        return None, {"carried_over": False, "why_not": why}
    return state, {"carried_over": True, "training_ended_ns": state.last_ns}


def model_names(schema: DataSchema) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names, categorical = raw_names(schema)
    if schema.account is None:
        return names, categorical
    return (*names, *(BEHAVIOUR_PREFIX + name for name in FEATURE_NAMES)), categorical


def labels_in_time_order(table: pa.Table, label: str, schema: DataSchema) -> np.ndarray:
    stamps = parse_time_ns(table.column(schema.time), schema.time)
    labels = np.asarray(table.column(label).cast(pa.int8()).to_numpy(), dtype=np.int8)
    return labels[np.argsort(stamps, kind="stable")]


def scenarios_in_time_order(table: pa.Table, schema: DataSchema) -> np.ndarray | None:
    """The scenario column as strings ("" when missing), rows in time order; None without one."""
    if schema.scenario is None:
        return None
    stamps = parse_time_ns(table.column(schema.time), schema.time)
    values = table.column(schema.scenario).cast(pa.string()).to_pylist()
    names = np.array([value or "" for value in values], dtype=object)
    return names[np.argsort(stamps, kind="stable")]


def _importance(model: RiskModel) -> dict[str, float]:
    gains = model.booster_.feature_importance(importance_type="gain")
    return dict(zip(model.feature_names, (float(g) for g in gains), strict=True))


def comparison(
    model: dict[str, Any], baseline: dict[str, Any], schema: DataSchema
) -> dict[str, Any]:
    """Whether the model beats its raw-column baseline on PR-AUC, and why not when it does not."""
    ours, theirs = model["pr_auc"], baseline["pr_auc"]
    if ours is None or theirs is None:
        return {"beats_baseline": None, "why_not": "one class only in this data: no PR-AUC"}
    beats = ours > theirs
    why_not = None
    if not beats:
        why_not = (
            "no --account column: the model has the raw columns only, like the baseline"
            if schema.account is None
            else "the behavioural features added nothing this data rewards"
        )
    return {"pr_auc_gain": ours - theirs, "beats_baseline": beats, "why_not": why_not}


def train_data(
    path: Path, label: str, schema: DataSchema, out: Path, config: TrainConfig | None = None
) -> RiskModel:
    """Check, train the model and its raw-column baseline, write both with metrics and card."""
    config = config or TrainConfig()
    table = read_data(path)
    check_columns(table, label, schema)
    schema = infer_schema(table, label, schema)
    made = design(table, schema, reports=fraud_reports(table, label, schema))
    features, raw, stamps = made.features, made.raw, made.stamps_ns
    labels = labels_in_time_order(table, label, schema)
    scenarios = scenarios_in_time_order(table, schema)
    split = time_split(stamps, config)
    names, categorical = model_names(schema)
    model = fit(features, labels, split, names, categorical, config)
    baseline = fit(raw, labels, split, *raw_names(schema), config)
    save_model(model, out)
    save_model(baseline, out / BASELINE_DIR)
    if made.state is not None:
        made.state.snapshot(out / HISTORY_FILE)
    train_rows = features[split.train]
    save_reference(build_reference(names, train_rows, model.score(train_rows)), out)
    (out / SCHEMA_FILE).write_text(json.dumps(asdict(schema), indent=2) + "\n", encoding="utf-8")
    test = split.test
    metrics: dict[str, Any] = {
        "model_version": model.version_,
        "training": training_summary(labels, split),
        "test": evaluate_scores(
            labels[test],
            model.score(features[test]),
            model.review_threshold_,
            scenarios[test] if scenarios is not None else None,
        ),
        "raw_column_baseline_test": evaluate_scores(
            labels[test], baseline.score(raw[test]), baseline.review_threshold_
        ),
    }
    metrics["comparison"] = comparison(metrics["test"], metrics["raw_column_baseline_test"], schema)
    write_metrics(out, metrics)
    write_plots(out, labels[test], model.score(features[test]), _importance(model))
    (out / "model_card.md").write_text(
        model_card(model.version_, model.params, metrics), encoding="utf-8"
    )
    return model


def load_schema(model_dir: Path) -> DataSchema:
    path = Path(model_dir) / SCHEMA_FILE
    if not path.exists():
        raise InvalidInput(
            f"{path} is missing: this model was not trained with --data; evaluate it with --world",
            code="data_schema_missing",
        )
    document = json.loads(path.read_text(encoding="utf-8"))
    return DataSchema(
        time=str(document["time"]),
        amount=document.get("amount"),
        account=document.get("account"),
        counterparty=document.get("counterparty"),
        drop=tuple(document.get("drop", ())),
        features=tuple(document.get("features", ())),
        text=tuple(document.get("text", ())),
        scenario=document.get("scenario"),
        balance=document.get("balance"),
    )


def evaluate_data(model_dir: Path, path: Path, label: str, out: Path) -> dict[str, Any]:
    """Score unseen data with the model and its raw-column baseline; write the report."""
    schema = load_schema(model_dir)
    model, baseline = load_model(model_dir), load_model(Path(model_dir) / BASELINE_DIR)
    table = read_data(path)
    if schema.scenario not in table.column_names:
        schema = replace(schema, scenario=None)  # scenarios are optional in evaluated data
    check_columns(table, label, replace(schema, drop=schema.features))  # features must exist
    state, history = history_for(model_dir, table, schema)
    made = design(table, schema, state, fraud_reports(table, label, schema))
    features, raw = made.features, made.raw
    labels = labels_in_time_order(table, label, schema)
    scores = model.score(features)
    scenarios = scenarios_in_time_order(table, schema)
    metrics: dict[str, Any] = {
        "model_version": model.version_,
        "history": history,
        "model": evaluate_scores(labels, scores, model.review_threshold_, scenarios),
        "raw_column_baseline": evaluate_scores(
            labels, baseline.score(raw), baseline.review_threshold_
        ),
    }
    metrics["comparison"] = comparison(metrics["model"], metrics["raw_column_baseline"], schema)
    out.mkdir(parents=True, exist_ok=True)
    write_metrics(out, metrics)
    write_plots(out, labels, scores, _importance(model))
    return metrics


def live_features(model_dir: Path, path: Path) -> np.ndarray:
    """The model's features over a live file (no label needed), its behavioural features
    continuing the training history when the file follows it."""
    schema = load_schema(model_dir)
    table = read_data(path)
    check_columns(table, None, replace(schema, drop=schema.features, scenario=None))
    state, _ = history_for(model_dir, table, schema)
    return design(table, schema, state).features
