"""Writing a generated world to a directory: Parquet (and CSV on request) plus `manifest.json`.

Guarantees:
- The same result writes byte-identical files: Parquet written from Arrow tables with fixed
  options, and a manifest that holds no wall-clock time or machine detail.
- `manifest.json` records the configuration, seed, row counts, candidate and refused payments,
  configured and measured label rates per fraud scenario and laundering typology, and the SHA-256
  of every data file, so a copy can be checked against it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from clearline import __version__
from clearline.sim.config import FRAUD_SCENARIOS, LAUNDERING_TYPOLOGIES
from clearline.sim.engine import SimResult
from clearline.sim.schema import FRAUD_CODE, LAUNDERING_CODE
from clearline.sim.tables import all_tables


def label_rates(result: SimResult) -> dict[str, Any]:
    """Configured and measured shares of transactions, per scenario and typology."""
    events, config = result.events, result.config
    total = max(len(events), 1)

    def block(codes: dict[str, int], column: np.ndarray, configured) -> dict[str, Any]:
        rows = {}
        for name, code in codes.items():
            chosen = column == code
            rows[name] = {
                "configured": configured(name),
                "measured": float(chosen.sum()) / total,
                "transactions": int(chosen.sum()),
                "attempts": len(np.unique(events.attempt[chosen])),
            }
        return rows

    fraud = block(FRAUD_CODE, events.fraud, config.fraud.share)
    laundering = block(LAUNDERING_CODE, events.laundering, config.laundering.typology_share)
    return {
        "fraud": {
            "configured": sum(config.fraud.share(name) for name in FRAUD_SCENARIOS),
            "measured": float((events.fraud > 0).sum()) / total,
            "scenarios": fraud,
        },
        "laundering": {
            "configured": config.laundering.illicit_share,
            "measured": float((events.laundering > 0).sum()) / total,
            "typologies": {name: laundering[name] for name in LAUNDERING_TYPOLOGIES},
        },
    }


def manifest(
    result: SimResult, tables: dict[str, pa.Table], files: dict[str, str]
) -> dict[str, Any]:
    return {
        "generator": "clearline.sim",
        "version": __version__,
        "seed": result.config.seed,
        "config": result.config.to_dict(),
        "counts": {name: table.num_rows for name, table in tables.items()},
        "payments": {
            "candidates": result.candidates,
            "refused_insufficient_funds": result.refused,
            "settled": len(result.events),
            "expected_candidates": round(result.expected_daily_candidates * result.config.days, 1),
        },
        "label_rates": label_rates(result),
        "files_sha256": files,
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_world(result: SimResult, out: Path, csv: bool = False) -> dict[str, Any]:
    """Write every table (and CSV copies when asked) and the manifest into `out`; return it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = all_tables(result)
    files: dict[str, str] = {}
    for name, table in tables.items():
        path = out / f"{name}.parquet"
        pq.write_table(table, path, compression="zstd", write_statistics=True)
        files[path.name] = _sha256(path)
        if csv:
            csv_path = out / f"{name}.csv"
            plain = table.cast(
                pa.schema(
                    [
                        field.with_type(field.type.value_type)
                        if pa.types.is_dictionary(field.type)
                        else field
                        for field in table.schema
                    ]
                )
            )
            pacsv.write_csv(plain, csv_path)
            files[csv_path.name] = _sha256(csv_path)
    document = manifest(result, tables, files)
    (out / "manifest.json").write_text(
        json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return document
