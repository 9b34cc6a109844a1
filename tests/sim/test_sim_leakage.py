"""No label leaks through a single raw column: the leakage check, and the check of the check."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from clearline.sim.leakage import auc, column_leakage, split_by_group, tree_scores

LEAKAGE_AUC_MAX = 0.65
"""A depth-2 tree on any single raw column must stay below this held-out AUC for laundering."""


def test_auc_counts_ties_half_and_orders_correctly() -> None:
    label = np.array([False, False, True, True])
    assert auc(np.array([0.1, 0.2, 0.3, 0.4]), label) == 1.0
    assert auc(np.array([0.4, 0.3, 0.2, 0.1]), label) == 0.0
    assert auc(np.zeros(4), label) == 0.5


def test_the_tree_finds_a_leak_when_there_is_one() -> None:
    rng = np.random.default_rng(0)
    label = rng.random(40_000) < 0.01
    leaky = np.where(label, rng.normal(3, 1, 40_000), rng.normal(0, 1, 40_000))
    noise = rng.normal(0, 1, 40_000)
    table = pa.table(
        {
            "leaky": leaky,
            "noise": noise,
            "kind": np.where(label & (rng.random(40_000) < 0.8), "x", "y"),
        }
    )
    found = {item.column: item for item in column_leakage(table, label, seed=1)}
    assert found["leaky"].tree_auc > 0.9
    assert abs(found["noise"].tree_auc - 0.5) < 0.08
    assert found["kind"].tree_auc > 0.85 and found["kind"].category_auc > 0.85
    scores = tree_scores(leaky[:20_000], label[:20_000], leaky[20_000:])
    assert len(np.unique(scores)) <= 4


def test_group_split_holds_out_whole_attempts() -> None:
    group = np.repeat(np.arange(1, 201), 5)
    train = split_by_group(group, seed=3)
    for attempt in range(1, 201):
        assert len(set(train[group == attempt].tolist())) == 1
    assert 0.3 < train.mean() < 0.7


def test_no_single_column_detects_laundering(rich_tables) -> None:
    labels = rich_tables["labels"]
    is_laundering = labels.column("is_laundering").to_numpy()
    attempt = labels.column("attempt_id").fill_null(0).to_numpy()
    results = column_leakage(
        rich_tables["transactions"], is_laundering, np.where(is_laundering, attempt, 0), seed=1
    )
    assert len(results) == rich_tables["transactions"].num_columns
    worst = max(results, key=lambda item: item.tree_auc)
    assert worst.tree_auc < LEAKAGE_AUC_MAX, worst
    by_name = {item.column: item.tree_auc for item in results}
    for column in ("transaction_id", "from_account_id", "device_id"):
        assert by_name[column] < 0.6, column
