"""Evaluation artefacts: metrics.json, a Markdown model card and PNG plots.

Guarantees:
- Every number written is taken from the metrics passed in; the card states the data it was
  measured on. Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(
    directory: Path, labels: np.ndarray, scores: np.ndarray, importance: dict[str, float]
) -> list[str]:
    """precision_recall.png, score_distribution.png, feature_importance.png."""
    from sklearn.metrics import precision_recall_curve

    plt = _pyplot()
    precision, recall, _ = precision_recall_curve(labels, scores)
    figure, axes = plt.subplots(figsize=(5, 4))
    axes.plot(recall, precision)
    axes.set(xlabel="recall", ylabel="precision", title="Precision-recall (held out)")
    figure.savefig(directory / "precision_recall.png", dpi=100)
    plt.close(figure)
    figure, axes = plt.subplots(figsize=(5, 4))
    bins = np.linspace(0, 1, 41)
    axes.hist(scores[labels == 0], bins=bins, alpha=0.6, label="honest", log=True)
    axes.hist(scores[labels == 1], bins=bins, alpha=0.6, label="fraud", log=True)
    axes.set(xlabel="score", ylabel="payments", title="Score distribution")
    axes.legend()
    figure.savefig(directory / "score_distribution.png", dpi=100)
    plt.close(figure)
    top = sorted(importance.items(), key=lambda item: item[1])[-20:]
    figure, axes = plt.subplots(figsize=(6, 6))
    axes.barh([name for name, _ in top], [value for _, value in top])
    axes.set(xlabel="total gain", title="Feature importance")
    figure.tight_layout()
    figure.savefig(directory / "feature_importance.png", dpi=100)
    plt.close(figure)
    return ["precision_recall.png", "score_distribution.png", "feature_importance.png"]


def write_metrics(directory: Path, metrics: dict[str, Any], name: str = "metrics.json") -> None:
    (directory / name).write_text(
        json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def model_card(version: str, params: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The Markdown model card."""
    lines = [
        f"# Clearline fraud model {version}",
        "",
        "LightGBM binary classifier on Clearline's online/offline features "
        "(`clearline.risk.features`). Label: `is_fraud`.",
        "",
        "## Training",
        f"- Parameters: `{json.dumps(params, sort_keys=True)}`",
        "- Split: strictly time-ordered train / validation / test; thresholds from validation.",
    ]
    training = metrics.get("training")
    if isinstance(training, dict):
        lines.append(
            f"- Training slice: {training['rows']} rows, {training['positives']} fraudulent."
        )
        if training.get("warning"):
            lines.append(f"- **Warning:** {training['warning']}.")
    lines += ["", "## Measured"]
    for slice_name, block in metrics.items():
        if isinstance(block, dict) and "pr_auc" in block:
            lines.append(
                f"- {slice_name}: rows {block['rows']}, positives {block['positives']}, "
                f"PR-AUC {block['pr_auc']}, ROC-AUC {block['roc_auc']}, "
                f"recall at FPR {block['recall_at_fpr']}, "
                f"at alert budget {block['at_alert_budget']}"
            )
    lines += [
        "",
        "## Limits",
        "- Trained on a simulated world; fraud shapes of real institutions differ.",
        "- Scores are not calibrated probabilities when positives are weighted.",
    ]
    return "\n".join(lines) + "\n"
