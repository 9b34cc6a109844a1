"""Reading a simulated world (or its tables) into what the risk room needs.

Guarantees:
- Only facts known before the first payment enter the `FeatureContext`: KYC tier, age band,
  account tenure at the start, the credit line the account was granted, and the FX mid rates of
  the first day (the reference rates).
- Labels are read from `labels.parquet` and joined by `transaction_id`; they never enter features.
- Each payment's `payer_available` (what the payer could spend just before it: balance plus unused
  credit line) is rebuilt point-in-time from the accounts' opening balances and credit limits and
  the payments strictly earlier in table order, the order the simulator settled them in. Every
  movement of money in a world is a transaction row (no fees; FX sits inside `amount_received`;
  refunds, cash and laundering are rows too), so this is the simulator's own running balance,
  which settlement never lets a payment exceed (tested). Without opening balances the column is
  not added and the field stays None.
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
from clearline.risk.features import AVAILABLE_COLUMN, AccountProfile, FeatureContext

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
    available = payer_available(transactions, tables["accounts"])
    if available is not None:
        transactions = transactions.append_column(AVAILABLE_COLUMN, available)
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
    accounts = tables["accounts"].to_pandas()
    credit = accounts["credit_limit"] if "credit_limit" in accounts else [0] * len(accounts)
    for row, line in zip(accounts.itertuples(), credit, strict=True):
        tier, band = person.get(int(row.account_id), (0, -1))
        tenure = float(row.tenure_days) if row.tenure_days is not None else math.nan
        profiles[int(row.account_id)] = AccountProfile(
            tier, tenure, band, str(row.owner_kind), int(line)
        )
    return profiles


def payer_available(transactions: pa.Table, accounts: pa.Table) -> pa.Array | None:
    """Per payment, the payer's balance plus credit line just before it (int64 minor units of
    the payer's asset; null for a payer the accounts table does not know). None when `accounts`
    has no `opening_balance` column.

    Vectorised: every row contributes −amount_paid to its payer (at position 2·row) and
    +amount_received to its payee (2·row + 1); a stable sort by (account, position) and a
    cumulative sum per account give each account's running balance, and the payer's entry minus
    its own change is the balance strictly before the row."""
    if "opening_balance" not in accounts.column_names:
        return None
    ids = np.asarray(accounts.column("account_id").to_numpy(), dtype=np.int64)
    opening = np.asarray(accounts.column("opening_balance").to_numpy(), dtype=np.int64)
    credit = (
        np.asarray(accounts.column("credit_limit").to_numpy(), dtype=np.int64)
        if "credit_limit" in accounts.column_names
        else np.zeros(len(ids), dtype=np.int64)
    )
    order = np.argsort(ids, kind="stable")
    ids, start = ids[order], (opening + credit)[order]
    payer, payer_known = _index(ids, transactions.column("from_account_id"))
    payee, payee_known = _index(ids, transactions.column("to_account_id"))
    rows = len(payer)
    account = np.concatenate([payer, payee])
    change = np.concatenate(
        [
            -np.asarray(transactions.column("amount_paid").to_numpy(), dtype=np.int64),
            np.asarray(transactions.column("amount_received").to_numpy(), dtype=np.int64),
        ]
    )
    change[:rows][~payer_known] = 0
    change[rows:][~payee_known] = 0
    position = np.concatenate([2 * np.arange(rows), 2 * np.arange(rows) + 1])
    by_account = np.lexsort((position, account))
    running = np.cumsum(change[by_account])
    sorted_account = account[by_account]
    first = np.flatnonzero(np.r_[True, sorted_account[1:] != sorted_account[:-1]])
    offset = np.r_[0, running[first[1:] - 1]] if len(first) else np.zeros(0, dtype=np.int64)
    running -= np.repeat(offset, np.diff(np.r_[first, len(sorted_account)]))
    before = np.empty(2 * rows, dtype=np.int64)
    before[by_account] = running - change[by_account] + start[sorted_account]
    return pa.array(before[:rows], type=pa.int64(), mask=~payer_known)


def _index(sorted_ids: np.ndarray, column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of `column`'s ids in `sorted_ids` (0 where absent) and whether each is there."""
    wanted = np.asarray(column.to_numpy(), dtype=np.int64)
    found = np.clip(np.searchsorted(sorted_ids, wanted), 0, max(len(sorted_ids) - 1, 0))
    known = sorted_ids[found] == wanted if len(sorted_ids) else np.zeros(len(wanted), dtype=bool)
    return np.where(known, found, 0), known
