"""Champion and challenger: compare the shadow log a `Decider` wrote.

Guarantees:
- Reads only the JSON-lines log (`shadow.jsonl`): one record per decided event with both
  models' versions, actions and scores. The challenger's actions were never enforced.
- Agreement is the share of events where both actions are equal, with the action counts of each.
- When labels are given (transaction id → 0/1), both models get the same metrics block
  (`clearline.risk.metrics.evaluate_scores`) on the labelled events, at their own thresholds.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from clearline.core.errors import InvalidInput
from clearline.risk.metrics import evaluate_scores, threshold_report


def read_shadow_log(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise InvalidInput(
            f"{path} does not exist: run with a challenger first", code="shadow_log_missing"
        )
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def compare_shadow(
    path: Path,
    labels: dict[int, int] | None = None,
    alert_actions: tuple[str, ...] = ("review", "decline"),
) -> dict[str, Any]:
    """Agreement between champion and challenger, and both models' metrics when labelled."""
    records = read_shadow_log(path)
    if not records:
        raise InvalidInput(f"{path} holds no decisions", code="shadow_log_empty")
    champion = [r["champion"]["action"] for r in records]
    challenger = [r["challenger"]["action"] for r in records]
    report: dict[str, Any] = {
        "events": len(records),
        "champion_version": records[-1]["champion"]["version"],
        "challenger_version": records[-1]["challenger"]["version"],
        "agreement": float(np.mean([a == b for a, b in zip(champion, challenger, strict=True)])),
        "champion_actions": dict(Counter(champion)),
        "challenger_actions": dict(Counter(challenger)),
    }
    if labels:
        known = [r for r in records if r["transaction_id"] in labels]
        truth = np.array([labels[r["transaction_id"]] for r in known], dtype=np.int8)
        for side in ("champion", "challenger"):
            scores = np.array([r[side]["score"] for r in known])
            alerted = np.array([r[side]["action"] in alert_actions for r in known], dtype=float)
            block = evaluate_scores(truth, scores, 0.5, None)
            block["at_alert_budget"] = threshold_report(truth, alerted, 0.5)
            report[side] = block
    return report
