"""The fraud model: a deterministic LightGBM binary classifier on a strictly time-ordered split.

Guarantees:
- Time-ordered split: every training row is earlier than every validation row, which is earlier
  than every test row (cut at timestamps, so equal timestamps never straddle a boundary).
- Deterministic: fixed seed, `deterministic=True`, `force_row_wise`, a fixed thread count; the same
  data and `TrainConfig` give the same version and bit-identical scores (tested).
- Class imbalance is handled by weighting positives (`scale_pos_weight`, capped) and by an L2
  penalty on leaf values, which keeps the few positives from being memorised.
- Thresholds are chosen on the validation slice, never on the test slice: the review threshold
  for an alert budget (a share of payments sent to review); the decline threshold either for a
  smaller budget (`threshold_by="budget"`) or for the least expected cost on validation
  (`threshold_by="cost"`: `false_decline_cost` per honest payment declined plus
  `missed_fraud_cost` per fraudulent payment not declined).
- `version_` is a SHA-256 over the parameters, the feature list and the training-data fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from clearline.core.errors import ClearlineError

PARALLEL_ROWS_MIN = 1_024
"""Below this many rows a prediction runs on one thread."""
FEW_POSITIVES = 500
"""Below this many frauds in the training slice a warning says to train on a longer history: on
the simulated worlds, 243 training frauds (30 days) ranked unseen worlds at PR-AUC 0.75, about
700 (90 days) at 0.83 (docs/risk.md)."""
POSITIVE_WEIGHT_MAX = 2.0
"""A weight of 50 (the raw imbalance) collapsed validation PR-AUC below 0.1 in a trial run."""


class MissingRuntime(ClearlineError, RuntimeError):
    """A system library the model needs is not installed."""

    code = "openmp_runtime_missing"


def lightgbm() -> Any:
    """The `lightgbm` module, or a typed error saying to install the OpenMP runtime."""
    try:
        import lightgbm as module
    except OSError as error:  # libgomp.so.1 missing
        raise MissingRuntime(
            f"LightGBM could not load the OpenMP runtime ({error}); install libgomp1 "
            "(apt-get install libgomp1) and try again"
        ) from error
    return module


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How a model is trained. Budgets are shares of validation payments alerted or declined."""

    seed: int = 7
    num_threads: int = 2
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 100
    num_boost_round: int = 300
    feature_fraction: float = 0.9
    lambda_l2: float = 10.0
    review_budget: float = 0.005
    decline_budget: float = 0.0005
    threshold_by: str = "budget"
    false_decline_cost: float = 1.0
    missed_fraud_cost: float = 100.0
    train_share: float = 0.6
    validation_share: float = 0.2


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Row indexes of the three slices, each in time order."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def time_split(timestamps_ns: np.ndarray, config: TrainConfig) -> TimeSplit:
    """Cut at the timestamps at the configured shares; ties stay on the earlier side."""
    order = np.argsort(timestamps_ns, kind="stable")
    ordered = timestamps_ns[order]
    first = ordered[int(len(ordered) * config.train_share)]
    second = ordered[int(len(ordered) * (config.train_share + config.validation_share))]
    return TimeSplit(
        train=order[ordered < first],
        validation=order[(ordered >= first) & (ordered < second)],
        test=order[ordered >= second],
    )


def training_summary(labels: np.ndarray, split: TimeSplit) -> dict[str, Any]:
    """Rows and frauds in the training slice, and a warning when the frauds are few."""
    positives = int(labels[split.train].sum())
    warning = (
        f"only {positives} fraudulent payments in the training slice (fewer than "
        f"{FEW_POSITIVES}): the model will rank unseen data worse; train on a longer history"
        if positives < FEW_POSITIVES
        else None
    )
    return {"rows": len(split.train), "positives": positives, "warning": warning}


def fingerprint(features: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the training matrix and labels (shape, dtype and bytes)."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(features, dtype=np.float64), labels.astype(np.int8)):
        digest.update(repr((array.shape, str(array.dtype))).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def booster_params(config: TrainConfig, positive_weight: float) -> dict[str, Any]:
    """LightGBM parameters: every source of nondeterminism pinned."""
    return {
        "objective": "binary",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": config.feature_fraction,
        "lambda_l2": config.lambda_l2,
        "scale_pos_weight": positive_weight,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": config.num_threads,
        "verbosity": -1,
    }


@dataclass(frozen=True, slots=True)
class RiskModel:
    """A trained model with its thresholds and identity (learned state ends in `_`)."""

    booster_: Any
    feature_names: tuple[str, ...]
    categorical: tuple[str, ...]
    params: dict[str, Any]
    review_threshold_: float
    decline_threshold_: float
    fingerprint_: str
    version_: str
    _single_row: list[Any] = field(default_factory=list, compare=False, repr=False)

    def score_one(self, row: np.ndarray) -> float:
        """Fraud probability of one row through LightGBM's fast single-row path (equal to
        `score`, about 6× cheaper per call; see risk/fast.py). One thread at a time."""
        if not self._single_row:
            from clearline.risk.fast import SingleRowScorer

            self._single_row.append(SingleRowScorer(self.booster_, len(self.feature_names)))
        scorer: Any = self._single_row[0]
        return float(scorer.score(row))

    def contributions_one(self, row: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions of one row (then the bias), through the same fast path."""
        if len(self._single_row) < 2:
            from clearline.risk.fast import SingleRowScorer

            if not self._single_row:
                self.score_one(row)
            self._single_row.append(
                SingleRowScorer(self.booster_, len(self.feature_names), contributions=True)
            )
        scorer: Any = self._single_row[1]
        return np.asarray(scorer.contributions(row))

    def score(self, features: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """Fraud probability per row. Small inputs use one thread (OpenMP workers around a
        few-row predict only spin and, on a busy machine, wait to be scheduled: see
        docs/benchmarks.md); `num_threads` overrides. Scores do not depend on the thread count."""
        rows = np.atleast_2d(features)
        threads = num_threads or (1 if len(rows) < PARALLEL_ROWS_MIN else None)
        extra = {"num_threads": threads} if threads else {}
        return np.asarray(self.booster_.predict(rows, **extra), dtype=np.float64)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Per-row, per-feature contributions (log-odds, TreeSHAP); last column is the bias."""
        return np.asarray(
            self.booster_.predict(np.atleast_2d(features), pred_contrib=True, num_threads=1),
            dtype=np.float64,
        )


def model_version(params: dict[str, Any], names: tuple[str, ...], data_fingerprint: str) -> str:
    """Hash of parameters, feature list and training-data fingerprint."""
    document = json.dumps(
        {"params": params, "features": list(names), "data": data_fingerprint}, sort_keys=True
    )
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def budget_threshold(scores: np.ndarray, budget: float) -> float:
    """The score above which about `budget` of these (validation) payments fall."""
    return float(np.quantile(scores, 1.0 - budget, method="higher"))


def cost_threshold(
    labels: np.ndarray, scores: np.ndarray, false_decline_cost: float, missed_fraud_cost: float
) -> float:
    """The score threshold (decline at or above it) of least total cost on these (validation)
    rows: false_decline_cost per honest row declined + missed_fraud_cost per fraud not declined.
    Ties in cost go to the highest threshold (fewest declines)."""
    order = np.argsort(-scores, kind="stable")
    ordered, hits = scores[order], labels[order].astype(np.int64)
    caught, declined = np.cumsum(hits), np.arange(1, len(hits) + 1)
    last = np.r_[ordered[1:] != ordered[:-1], True]  # cut only between distinct scores
    cost = (declined - caught) * false_decline_cost + (hits.sum() - caught) * missed_fraud_cost
    cost = np.where(last, cost, np.inf)
    nothing = float(hits.sum()) * missed_fraud_cost
    best = int(np.argmin(cost))
    if cost[best] >= nothing:
        return float(np.nextafter(ordered[0], np.inf))  # declining nothing is cheapest
    return float(ordered[best])


def choose_thresholds(
    labels: np.ndarray, scores: np.ndarray, config: TrainConfig
) -> tuple[float, float]:
    """(review, decline) thresholds from validation labels and scores (see module docstring)."""
    review = budget_threshold(scores, config.review_budget)
    if config.threshold_by == "budget":
        return review, budget_threshold(scores, config.decline_budget)
    if config.threshold_by != "cost":
        raise ValueError(f"threshold_by must be 'budget' or 'cost', not {config.threshold_by!r}")
    decline = cost_threshold(labels, scores, config.false_decline_cost, config.missed_fraud_cost)
    return min(review, decline), decline


def fit(
    features: np.ndarray,
    labels: np.ndarray,
    split: TimeSplit,
    names: tuple[str, ...],
    categorical: tuple[str, ...] = (),
    config: TrainConfig | None = None,
) -> RiskModel:
    """Train on `split.train`; pick thresholds on `split.validation` (never on `split.test`)."""
    config = config or TrainConfig()
    module = lightgbm()
    train_x, train_y = features[split.train], labels[split.train]
    positives = max(int(train_y.sum()), 1)
    weight = min((len(train_y) - positives) / positives, POSITIVE_WEIGHT_MAX)
    params = booster_params(config, round(weight, 6))
    common = {"feature_name": list(names), "categorical_feature": list(categorical)}
    train_set = module.Dataset(train_x, train_y, free_raw_data=False, **common)
    booster = module.train(params, train_set, num_boost_round=config.num_boost_round)
    validation_scores = booster.predict(features[split.validation])
    review, decline = choose_thresholds(labels[split.validation], validation_scores, config)
    data_fingerprint = fingerprint(train_x, train_y)
    return RiskModel(
        booster_=booster,
        feature_names=names,
        categorical=categorical,
        params={**params, "train_config": asdict(config)},
        review_threshold_=review,
        decline_threshold_=decline,
        fingerprint_=data_fingerprint,
        version_=model_version({**params, "train_config": asdict(config)}, names, data_fingerprint),
    )
