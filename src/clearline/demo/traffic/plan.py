"""The world, read once: what to set up on the platform and which payments to replay.

Guarantees:
- Opening balances are the world's balances when the replay starts: its opening balance plus what
  the account received less what it paid before that day. A credit line is funded as money lent in
  advance (balance plus unused credit), because a platform wallet cannot go below zero.
- Only same-asset payments are replayed; cross-currency ones need FX, which the payment endpoint
  does not do, and are skipped and counted (`Plan.skipped_cross_currency`).
- Rows are in time order, each with the world's label (`labels.parquet` `is_fraud`,
  `fraud_scenario`), so every answer can be joined with the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DAY_NS = 86_400 * 1_000_000_000
CUSTOMER_KIND = {
    "person": "person",
    "merchant": "merchant",
    "enterprise": "enterprise",
    "participant": "agent",
}
"""World owner kind → platform customer kind (a bank's cash desk acts as a cash agent)."""


class Owner(NamedTuple):
    """One world account and its owner, as the platform will hold it.

    account_id: the world's account id. kind: platform customer kind. tier: KYC tier (3 for
    businesses). funding_units: minor units to credit before the replay (never negative).
    """

    account_id: int
    kind: str
    name: str
    country: str
    asset: str
    tier: int
    funding_units: int


class Row(NamedTuple):
    """One payment to replay, with its label."""

    transaction_id: int
    timestamp_ns: int
    from_account_id: int
    to_account_id: int
    amount: int
    asset: str
    payment_type: str
    channel: str
    merchant_category: str | None
    device_id: int | None
    to_country: str
    is_fraud: bool
    scenario: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What to set up and what to replay. start_ns: the first replayed day (UTC midnight)."""

    owners: list[Owner]
    rows: list[Row]
    start_ns: int
    skipped_cross_currency: int


def world_start_ns(world_dir: Path) -> int:
    """UTC midnight of the world's first day."""
    stamps = pq.read_table(Path(world_dir) / "transactions.parquet", columns=["timestamp"])
    first = pc.min(stamps.column("timestamp").cast(pa.int64())).as_py()
    return int(first) // DAY_NS * DAY_NS


def _strings(table: pa.Table, name: str) -> list[Any]:
    values: list[Any] = table.column(name).cast(pa.string()).to_pylist()
    return values


def _sums(table: pa.Table, key: str, value: str) -> dict[int, int]:
    grouped = table.group_by(key).aggregate([(value, "sum")])
    return dict(
        zip(
            grouped.column(key).to_pylist(), grouped.column(f"{value}_sum").to_pylist(), strict=True
        )
    )


def load_owners(world_dir: Path, start_ns: int) -> list[Owner]:
    """Every world account with its owner and its balance (plus unused credit) at `start_ns`."""
    directory = Path(world_dir)
    accounts = pq.read_table(directory / "accounts.parquet")
    people = pq.read_table(directory / "people.parquet", columns=["account_id", "kyc_tier"])
    tiers = dict(
        zip(
            people.column("account_id").to_pylist(),
            people.column("kyc_tier").to_pylist(),
            strict=True,
        )
    )
    names = _participant_names(directory)
    history = pq.read_table(
        directory / "transactions.parquet",
        columns=["timestamp", "from_account_id", "to_account_id", "amount_paid", "amount_received"],
    )
    history = history.filter(pc.less(history.column("timestamp").cast(pa.int64()), start_ns))
    paid = _sums(history, "from_account_id", "amount_paid")
    received = _sums(history, "to_account_id", "amount_received")
    owners = []
    for account_id, kind, owner_id, country, asset, credit, opening in zip(
        accounts.column("account_id").to_pylist(),
        _strings(accounts, "owner_kind"),
        accounts.column("owner_id").to_pylist(),
        _strings(accounts, "country"),
        _strings(accounts, "asset"),
        accounts.column("credit_limit").to_pylist(),
        accounts.column("opening_balance").to_pylist(),
        strict=True,
    ):
        balance = opening + received.get(account_id, 0) - paid.get(account_id, 0)
        name = names.get(account_id) or f"{kind} {owner_id & 0xFFFFFFFF:08x}"
        owners.append(
            Owner(
                account_id,
                CUSTOMER_KIND[kind],
                name,
                country,
                asset,
                int(tiers.get(account_id, 3)),
                max(0, balance + credit),
            )
        )
    return owners


def _participant_names(directory: Path) -> dict[int, str]:
    path = directory / "participants.parquet"
    if not path.exists():
        return {}
    table = pq.read_table(path, columns=["cash_account_id", "name"])
    return {
        account: f"{name} cash desk"
        for account, name in zip(
            table.column("cash_account_id").to_pylist(),
            table.column("name").to_pylist(),
            strict=True,
        )
    }


def load_rows(world_dir: Path, start_ns: int, until_ns: int | None = None) -> tuple[list[Row], int]:
    """Same-asset payments in [start_ns, until_ns) in time order, and how many cross-currency
    payments of that window were left out."""
    directory = Path(world_dir)
    table = pq.read_table(directory / "transactions.parquet")
    labels = pq.read_table(directory / "labels.parquet", columns=["is_fraud", "fraud_scenario"])
    stamps = table.column("timestamp").cast(pa.int64())
    keep = pc.greater_equal(stamps, start_ns)
    if until_ns is not None:
        keep = pc.and_(keep, pc.less(stamps, until_ns))
    table, labels = table.filter(keep), labels.filter(keep)
    same = pc.equal(
        table.column("asset_paid").cast(pa.string()),
        table.column("asset_received").cast(pa.string()),
    )
    skipped = len(table) - pc.sum(same.cast(pa.int64())).as_py() if len(table) else 0
    table, labels = table.filter(same), labels.filter(same)
    rows = [
        Row._make([*values, scenario or ""])
        for *values, scenario in zip(
            table.column("transaction_id").to_pylist(),
            table.column("timestamp").cast(pa.int64()).to_pylist(),
            table.column("from_account_id").to_pylist(),
            table.column("to_account_id").to_pylist(),
            table.column("amount_paid").to_pylist(),
            _strings(table, "asset_paid"),
            _strings(table, "payment_type"),
            _strings(table, "channel"),
            _strings(table, "merchant_category"),
            table.column("device_id").to_pylist(),
            _strings(table, "to_country"),
            labels.column("is_fraud").to_pylist(),
            _strings(labels, "fraud_scenario"),
            strict=True,
        )
    ]
    rows.sort(key=lambda row: row.timestamp_ns)
    return rows, int(skipped)


def load_plan(
    world_dir: Path, from_day: int, replay_days: int | None = None, payments: int | None = None
) -> Plan:
    """The setup and replay of a world whose days before `from_day` are history."""
    start_ns = world_start_ns(world_dir) + from_day * DAY_NS
    until_ns = None if replay_days is None else start_ns + replay_days * DAY_NS
    rows, skipped = load_rows(world_dir, start_ns, until_ns)
    if payments is not None:
        rows = rows[:payments]
    return Plan(load_owners(world_dir, start_ns), rows, start_ns, skipped)
