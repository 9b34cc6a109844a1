"""Reading a simulated world (or its tables) into what the risk room needs.

Guarantees:
- Only facts known before the first payment enter the `FeatureContext`: KYC tier, age band and
  account tenure at the start, and the FX mid rates of the first day (the reference rates).
- Labels are read from `labels.parquet` and joined by `transaction_id`; they never enter features.
- A missing file or column is a typed `InvalidInput` naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from clearline.core.assets import asset as asset_of
from clearline.core.errors import InvalidInput
from clearline.risk.features import AccountProfile, FeatureContext

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
WORLD_TABLES = ("transactions", "labels", "accounts", "people", "fx_rates")


@dataclass(frozen=True, slots=True)
class LabelledWorld:
    """Transactions in time order, their fraud labels and scenarios, and the entity context."""

    transactions: pa.Table
    is_fraud: np.ndarray
    scenario: np.ndarray
    context: FeatureContext


def read_world(directory: Path) -> LabelledWorld:
    """Read the Parquet tables written by `clearline simulate --out DIRECTORY`."""
    tables: dict[str, pa.Table] = {}
    for name in WORLD_TABLES:
        path = Path(directory) / f"{name}.parquet"
        if not path.exists():
            raise InvalidInput(
                f"{path} is missing: point --world at a directory written by clearline simulate",
                code="world_table_missing",
            )
        tables[name] = pq.read_table(path)
    return world_from_tables(tables)


def world_from_tables(tables: dict[str, pa.Table]) -> LabelledWorld:
    """The same, from the dict returned by `clearline.sim.all_tables`."""
    transactions, labels = tables["transactions"], tables["labels"]
    if (
        transactions.column("transaction_id").to_pylist()
        != labels.column("transaction_id").to_pylist()
    ):
        raise InvalidInput("labels do not match transactions row for row", code="labels_mismatch")
    scenario = labels.column("fraud_scenario").cast(pa.string()).to_pylist()
    return LabelledWorld(
        transactions=transactions,
        is_fraud=np.asarray(labels.column("is_fraud").to_pylist(), dtype=np.int8),
        scenario=np.array([value or "" for value in scenario], dtype=object),
        context=context_from_tables(tables),
    )


def context_from_tables(tables: dict[str, pa.Table]) -> FeatureContext:
    """Profiles for every account and USD rates of the first day."""
    rates = tables["fx_rates"].to_pandas()
    first = rates[rates["date"] == rates["date"].min()]
    usd_per_unit = {
        str(row.asset): 1.0 / float(row.units_per_usd_mid) / 10 ** asset_of(str(row.asset)).scale
        for row in first.itertuples()
    }
    start = first["date"].iloc[0]
    reference_ns = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) * (
        10**9
    )
    return FeatureContext(_profiles(tables), reference_ns, usd_per_unit)


def _profiles(tables: dict[str, pa.Table]) -> dict[int, AccountProfile]:
    people = tables["people"].to_pandas()
    person = {
        int(row.account_id): (int(row.kyc_tier), AGE_BANDS.index(str(row.age_band)))
        for row in people.itertuples()
    }
    profiles: dict[int, AccountProfile] = {}
    for row in tables["accounts"].to_pandas().itertuples():
        tier, band = person.get(int(row.account_id), (0, -1))
        tenure = float(row.tenure_days) if row.tenure_days is not None else math.nan
        profiles[int(row.account_id)] = AccountProfile(tier, tenure, band, str(row.owner_kind))
    return profiles
