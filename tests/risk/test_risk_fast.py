"""The single-row fast path scores exactly as `Booster.predict` does."""

from __future__ import annotations

import numpy as np
import pytest

from clearline.risk.fast import MatrixScorer, SingleRowScorer
from clearline.risk.model import lightgbm


@pytest.fixture(scope="module")
def booster():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    features = rng.normal(size=(2000, 6))
    features[rng.random(features.shape) < 0.05] = np.nan
    labels = (np.nan_to_num(features[:, 0]) + rng.normal(scale=0.5, size=2000) > 1).astype(int)
    data = lightgbm().Dataset(features, labels)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1}
    return lightgbm().train(params, data, num_boost_round=40)


def test_fast_scores_equal_booster_predict(booster) -> None:  # type: ignore[no-untyped-def]
    scorer = SingleRowScorer(booster, 6)
    assert scorer.fast
    rows = np.random.default_rng(9).normal(size=(300, 6))
    rows[::4, 1] = np.nan
    expected = booster.predict(rows, num_threads=1)
    assert np.array_equal(np.array([scorer.score(row) for row in rows]), expected)


def test_wrong_width_is_refused(booster) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="expected 6 features"):
        SingleRowScorer(booster, 6).score(np.zeros(5))


def test_fast_contributions_equal_pred_contrib(booster) -> None:  # type: ignore[no-untyped-def]
    scorer = SingleRowScorer(booster, 6, contributions=True)
    rows = np.random.default_rng(5).normal(size=(100, 6))
    rows[::3, 2] = np.nan
    expected = booster.predict(rows, num_threads=1, pred_contrib=True)
    mine = np.array([scorer.contributions(row) for row in rows])
    assert np.allclose(mine, expected, rtol=0, atol=1e-12)


def test_matrix_scores_equal_booster_predict(booster) -> None:  # type: ignore[no-untyped-def]
    rows = np.random.default_rng(11).normal(size=(700, 6))
    rows[::5, 3] = np.nan
    scorer = MatrixScorer(booster, 6)
    expected = booster.predict(rows, num_threads=1)
    assert np.array_equal(scorer.score(rows), expected)
    assert np.array_equal(scorer.score(np.asfortranarray(rows[:10])), expected[:10])
    assert scorer.score(np.empty((0, 6))).shape == (0,)
    with pytest.raises(ValueError, match="expected rows of 6 features"):
        scorer.score(np.zeros((3, 5)))
