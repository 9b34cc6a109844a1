"""Evaluation metrics for a scored, labelled slice.

Guarantees:
- Every figure is computed from scores and labels passed in (scikit-learn where it has the metric);
  nothing is looked up or remembered.
- A metric that cannot be computed (one class only) is `None`, never a made-up number.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

FALSE_POSITIVE_RATES = (0.001, 0.01)


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr: float) -> float | None:
    """Largest recall reachable with a false-positive rate at most `fpr`."""
    if labels.min() == labels.max():
        return None
    rates, recalls, _ = roc_curve(labels, scores)
    allowed = recalls[rates <= fpr]
    return float(allowed.max()) if len(allowed) else 0.0


def threshold_report(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Alerts, precision, recall and false-positive rate of `score >= threshold`."""
    alerts = scores >= threshold
    positives = int(labels.sum())
    hits = int((alerts & (labels == 1)).sum())
    negatives = len(labels) - positives
    return {
        "threshold": float(threshold),
        "alert_rate": float(alerts.mean()) if len(labels) else 0.0,
        "precision": hits / int(alerts.sum()) if alerts.any() else 0.0,
        "recall": hits / positives if positives else 0.0,
        "false_positive_rate": int((alerts & (labels == 0)).sum()) / negatives
        if negatives
        else 0.0,
    }


def scenario_recall(
    scenarios: np.ndarray, scores: np.ndarray, threshold: float
) -> dict[str, dict[str, float]]:
    """Per fraud scenario: positives and the share of them alerted at `threshold`."""
    report: dict[str, dict[str, float]] = {}
    for name in sorted({str(value) for value in scenarios if value}):
        mask = scenarios == name
        report[name] = {
            "positives": int(mask.sum()),
            "recall": float((scores[mask] >= threshold).mean()),
        }
    return report


def evaluate_scores(
    labels: np.ndarray, scores: np.ndarray, threshold: float, scenarios: np.ndarray | None = None
) -> dict[str, object]:
    """The metrics block written to `metrics.json` for one model on one slice."""
    both = labels.min() != labels.max()
    return {
        "rows": len(labels),
        "positives": int(labels.sum()),
        "pr_auc": float(average_precision_score(labels, scores)) if both else None,
        "roc_auc": float(roc_auc_score(labels, scores)) if both else None,
        "recall_at_fpr": {
            str(rate): recall_at_fpr(labels, scores, rate) for rate in FALSE_POSITIVE_RATES
        },
        "at_alert_budget": threshold_report(labels, scores, threshold),
        "per_scenario_recall": scenario_recall(scenarios, scores, threshold)
        if scenarios is not None
        else {},
    }
