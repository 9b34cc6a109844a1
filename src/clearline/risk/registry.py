"""The model registry: one directory per trained model, named and checked by its version.

Guarantees:
- A model directory holds `model.txt` (LightGBM text format), `features.json`, `params.json`,
  `fingerprint.txt`, `thresholds.json` and `version.txt`; loading recomputes the version from the
  parameters, features and fingerprint and refuses a directory whose files disagree.
- Writing goes to files inside the directory only; nothing outside it is touched.
"""

from __future__ import annotations

import json
from pathlib import Path

from clearline.core.errors import InvalidInput
from clearline.risk.model import RiskModel, lightgbm, model_version


def save_model(model: RiskModel, directory: Path) -> Path:
    """Write `model` into `directory` (created if needed); return the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.booster_.save_model(str(directory / "model.txt"))
    _write(
        directory / "features.json",
        {"features": list(model.feature_names), "categorical": list(model.categorical)},
    )
    _write(directory / "params.json", model.params)
    _write(
        directory / "thresholds.json",
        {"review": model.review_threshold_, "decline": model.decline_threshold_},
    )
    (directory / "fingerprint.txt").write_text(model.fingerprint_ + "\n", encoding="utf-8")
    (directory / "version.txt").write_text(model.version_ + "\n", encoding="utf-8")
    return directory


def load_model(directory: Path) -> RiskModel:
    """Read a model directory written by `save_model`, checking its version."""
    directory = Path(directory)
    if not (directory / "model.txt").exists():
        raise InvalidInput(
            f"{directory} holds no model.txt: train a model first", code="model_missing"
        )
    features = json.loads((directory / "features.json").read_text(encoding="utf-8"))
    params = json.loads((directory / "params.json").read_text(encoding="utf-8"))
    thresholds = json.loads((directory / "thresholds.json").read_text(encoding="utf-8"))
    data = (directory / "fingerprint.txt").read_text(encoding="utf-8").strip()
    names = tuple(features["features"])
    version = (directory / "version.txt").read_text(encoding="utf-8").strip()
    if model_version(params, names, data) != version:
        raise InvalidInput(
            f"{directory}: files do not match version {version}", code="model_version_mismatch"
        )
    booster = lightgbm().Booster(model_file=str(directory / "model.txt"))
    return RiskModel(
        booster,
        names,
        tuple(features["categorical"]),
        params,
        float(thresholds["review"]),
        float(thresholds["decline"]),
        data,
        version,
    )


def _write(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
