"""Drift: population stability index (PSI) per feature and for the score, training versus live.

Guarantees:
- PSI = Σ (a% − e%) · ln(a% / e%) over bins, e% from the training window (expected), a% from the
  live window (actual). Bands as in the industry's usual reading: below 0.1 stable, 0.1 to 0.25
  worth a look, above 0.25 significant (`STABLE_BELOW`, `SIGNIFICANT_ABOVE`).
- Bins are fixed on the training window only (its deciles, duplicates merged, so a feature with
  three values gets three bins), plus one bin for missing values (NaN); live values outside the
  training range fall in the outermost bins. The live window never moves the bin edges.
- No infinities: a share of zero on either side is floored at `SHARE_FLOOR` before the logarithm,
  so an empty bin contributes a large but finite amount. Identical distributions give 0.
- The reference (edges and expected shares per column) is a small JSON document stored in the
  model directory at training time (`reference.json`), so drift needs no training data later.
Written by hand: PSI is one formula over a histogram; no maintained library we use provides it
(optbinning computes it only inside its binning objects, and is not a dependency).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clearline.core.errors import InvalidInput

BIN_COUNT = 10
SHARE_FLOOR = 1e-4
"""Share used in place of zero (an empty bin) so ln(a%/e%) stays finite."""
STABLE_BELOW = 0.1
SIGNIFICANT_ABOVE = 0.25
REFERENCE_FILE = "reference.json"
SCORE_COLUMN = "score"


@dataclass(frozen=True, slots=True)
class ColumnReference:
    """A column's training-window histogram. edges: inner bin edges (ascending, unique).

    shares: expected share per bin, `len(edges) + 1` value bins then one bin for missing values.
    """

    name: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class DriftRow:
    """PSI of one column between the reference and a live window, and its reading."""

    name: str
    psi: float
    status: str


def _counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    bins = np.searchsorted(edges, values[~missing], side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1).astype(np.float64)
    return np.append(counts, float(missing.sum()))


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    if total == 0:
        raise InvalidInput("cannot compute drift on an empty window", code="drift_window_empty")
    return np.asarray(counts / total, dtype=np.float64)


def column_reference(name: str, values: np.ndarray, bin_count: int = BIN_COUNT) -> ColumnReference:
    """Bin edges at the training window's quantiles, and its share in each bin."""
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    quantiles = np.linspace(0, 1, bin_count + 1)[1:-1]
    edges = np.unique(np.quantile(present, quantiles)) if len(present) else np.array([])
    shares = _shares(_counts(values, edges))
    return ColumnReference(name, tuple(float(e) for e in edges), tuple(float(s) for s in shares))


def psi_against(reference: ColumnReference, live: np.ndarray) -> float:
    """PSI of `live` values against a column's reference histogram."""
    expected = np.maximum(np.asarray(reference.shares), SHARE_FLOOR)
    actual = np.maximum(_shares(_counts(live, np.asarray(reference.edges))), SHARE_FLOOR)
    value = float(np.sum((actual - expected) * np.log(actual / expected)))
    assert math.isfinite(value) and value >= -1e-12, value
    return max(value, 0.0)


def psi(expected: np.ndarray, actual: np.ndarray, bin_count: int = BIN_COUNT) -> float:
    """PSI between two samples, with bins fixed on `expected`."""
    return psi_against(column_reference("values", expected, bin_count), actual)


def status(value: float) -> str:
    """`stable`, `worth_a_look` or `significant`."""
    if value < STABLE_BELOW:
        return "stable"
    return "worth_a_look" if value <= SIGNIFICANT_ABOVE else "significant"


def build_reference(
    names: tuple[str, ...], features: np.ndarray, scores: np.ndarray
) -> list[ColumnReference]:
    """References for every feature column and for the score."""
    columns = [column_reference(name, features[:, i]) for i, name in enumerate(names)]
    return [*columns, column_reference(SCORE_COLUMN, scores)]


def drift_rows(
    references: list[ColumnReference],
    names: tuple[str, ...],
    features: np.ndarray,
    scores: np.ndarray,
) -> list[DriftRow]:
    """PSI per feature and for the score, most drifted first."""
    index = {name: i for i, name in enumerate(names)}
    rows = []
    for reference in references:
        is_score = reference.name == SCORE_COLUMN
        live = scores if is_score else features[:, index[reference.name]]
        value = psi_against(reference, live)
        rows.append(DriftRow(reference.name, value, status(value)))
    return sorted(rows, key=lambda row: (-row.psi, row.name))


def save_reference(references: list[ColumnReference], directory: Path) -> None:
    document = [
        {"name": r.name, "edges": list(r.edges), "shares": list(r.shares)} for r in references
    ]
    (Path(directory) / REFERENCE_FILE).write_text(json.dumps(document) + "\n", encoding="utf-8")


def load_reference(directory: Path) -> list[ColumnReference]:
    path = Path(directory) / REFERENCE_FILE
    if not path.exists():
        raise InvalidInput(
            f"{path} is missing: the model was trained before drift references were kept; "
            "train it again with clearline risk train",
            code="drift_reference_missing",
        )
    document: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return [
        ColumnReference(item["name"], tuple(item["edges"]), tuple(item["shares"]))
        for item in document
    ]
