"""Leakage check: can any single raw column of `transactions` tell the labels apart?

Guarantees:
- For each column, a depth-2 decision tree (at most four leaves, Gini splits with class-balanced
  weights so the rare class counts) is fitted on half of the rows and scored on the other half by
  ROC AUC; labelled rows are split by attempt, so whole attempts are held out. An AUC near 0.5
  means the column alone does not reveal the label.
- Columns are used raw: integers and timestamps as numbers, ids as numbers, categorical columns as
  codes ordered by how common each value is (an order that knows nothing of the labels), nulls as
  -1. `category_auc` is a stricter extra: it scores each category by its training label rate,
  which no ordering of codes can beat.
- Pure numpy; the split and everything else is seeded, so a check gives the same figures each run.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

SPLIT_CANDIDATES_MAX = 512
"""Thresholds tried per split (quantiles of the column); bounds the work on large tables."""


@dataclass(frozen=True, slots=True)
class ColumnLeakage:
    """Held-out AUC of one column: `tree_auc` (depth-2 tree), `category_auc` (categoricals only)."""

    column: str
    tree_auc: float
    category_auc: float | None


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC with ties counted half (Mann-Whitney U)."""
    positives = int(label.sum())
    negatives = len(label) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    ranks = np.empty(len(score))
    _, first, counts = np.unique(sorted_score, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _best_split(x: np.ndarray, y: np.ndarray, weight: np.ndarray) -> float | None:
    """Threshold minimising weighted Gini impurity of (x <= t, x > t), or None."""
    if len(x) < 2:
        return None
    candidates = np.unique(np.quantile(x, np.linspace(0, 1, SPLIT_CANDIDATES_MAX)))
    if len(candidates) < 2:
        return None
    bins = np.searchsorted(candidates, x, side="left")
    positive = np.bincount(bins, weights=weight * y, minlength=len(candidates) + 1)
    total = np.bincount(bins, weights=weight, minlength=len(candidates) + 1)
    left_positive, left_total = np.cumsum(positive)[:-1], np.cumsum(total)[:-1]
    right_positive, right_total = positive.sum() - left_positive, total.sum() - left_total
    with np.errstate(divide="ignore", invalid="ignore"):
        left_rate = np.where(left_total > 0, left_positive / left_total, 0)
        right_rate = np.where(right_total > 0, right_positive / right_total, 0)
    impurity = left_total * left_rate * (1 - left_rate) + right_total * right_rate * (
        1 - right_rate
    )
    usable = (left_total > 0) & (right_total > 0)
    if not usable.any():
        return None
    return float(candidates[np.flatnonzero(usable)[np.argmin(impurity[usable])]])


def tree_scores(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Fit a depth-2 tree on one column and return leaf label rates for `x_test`."""
    positives = max(int(y_train.sum()), 1)
    weight = np.where(y_train, (len(y_train) - positives) / positives, 1.0)
    root = _best_split(x_train, y_train, weight)
    if root is None:
        return np.full(len(x_test), 0.5)
    leaves_train = np.zeros(len(x_train), dtype=np.int64)
    leaves_test = np.zeros(len(x_test), dtype=np.int64)
    for side, (train_rows, test_rows) in enumerate(
        ((x_train <= root, x_test <= root), (x_train > root, x_test > root))
    ):
        child = _best_split(x_train[train_rows], y_train[train_rows], weight[train_rows])
        leaves_train[train_rows] = 2 * side + (
            x_train[train_rows] > child if child is not None else 0
        )
        leaves_test[test_rows] = 2 * side + (x_test[test_rows] > child if child is not None else 0)
    rate = np.zeros(4)
    for leaf in range(4):
        rows = leaves_train == leaf
        if rows.any():
            rate[leaf] = (weight[rows] * y_train[rows]).sum() / weight[rows].sum()
    return rate[leaves_test]


def numeric_column(column: pa.ChunkedArray) -> tuple[np.ndarray, bool]:
    """Column as floats (categoricals as frequency-ordered codes), and whether it is categorical."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_string(column.type) or pa.types.is_boolean(column.type):
        counts = pc.value_counts(column).to_pylist()
        ordered = sorted(counts, key=lambda item: (-item["counts"], str(item["values"])))
        lookup = pa.array([item["values"] for item in ordered], column.type)
        codes = pc.index_in(column, value_set=lookup)
        return np.asarray(codes.fill_null(-1).to_numpy(), dtype=float), True
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    values = column.fill_null(-1).to_numpy()
    return np.asarray(values, dtype=float), False


def split_by_group(group: np.ndarray, seed: int) -> np.ndarray:
    """True for training rows: half of the groups (attempts), each whole; group 0 rows at random."""
    rng = np.random.default_rng(seed)
    train = rng.random(len(group)) < 0.5
    groups = np.unique(group[group != 0])
    chosen = groups[rng.random(len(groups)) < 0.5]
    grouped = group != 0
    train[grouped] = np.isin(group[grouped], chosen)
    return train


def column_leakage(
    table: pa.Table, label: np.ndarray, group: np.ndarray | None = None, seed: int = 0
) -> list[ColumnLeakage]:
    """Held-out AUC of every column of `table` for predicting the boolean `label`.

    With `group` (the attempt id, 0 for none), whole attempts are held out, so the score measures
    what generalises to unseen attempts rather than memory of the accounts of seen ones.
    """
    train = split_by_group(np.zeros(len(label), dtype=np.int64) if group is None else group, seed)
    out = []
    for name in table.column_names:
        x, categorical = numeric_column(table.column(name))
        scores = tree_scores(x[train], label[train], x[~train])
        category = None
        if categorical:
            codes = x.astype(np.int64) + 1
            hits = np.bincount(codes[train], weights=label[train], minlength=codes.max() + 1)
            seen = np.bincount(codes[train], minlength=codes.max() + 1)
            rate = np.where(seen > 0, hits / np.maximum(seen, 1), 0.0)
            category = auc(rate[codes[~train]], label[~train])
        out.append(ColumnLeakage(name, auc(scores, label[~train]), category))
    return out


def report(directory: Path, seed: int = 1) -> dict[str, list[ColumnLeakage]]:
    """The check for a world written by `clearline simulate`, for laundering and for fraud."""
    transactions = pq.read_table(directory / "transactions.parquet")
    labels = pq.read_table(directory / "labels.parquet")
    attempt = labels.column("attempt_id").fill_null(0).to_numpy()
    out = {}
    for name in ("is_laundering", "is_fraud"):
        label = labels.column(name).to_numpy()
        out[name] = column_leakage(transactions, label, np.where(label, attempt, 0), seed)
    return out


def main() -> None:
    """`python -m clearline.sim.leakage DIR`: print the check for a written world."""
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    results = report(directory)
    table = Table(title=f"Single-column leakage, held-out AUC ({directory})")
    table.add_column("column", no_wrap=True)
    for name in results:
        table.add_column(f"{name.removeprefix('is_')} tree", justify="right")
        table.add_column(f"{name.removeprefix('is_')} category", justify="right")
    columns = [item.column for item in results["is_laundering"]]
    for index, column in enumerate(columns):
        cells = []
        for items in results.values():
            item = items[index]
            category = "" if item.category_auc is None else f"{item.category_auc:.3f}"
            cells += [f"{item.tree_auc:.3f}", category]
        table.add_row(column, *cells)
    Console().print(table)


if __name__ == "__main__":
    main()
