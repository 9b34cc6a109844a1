"""Output tables: schema, integer minor units at each asset's scale, features apart from labels."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clearline.core import asset
from clearline.sim.geography import RATE_SCALE, SPREADS
from clearline.sim.schema import MCC_CODES, PAYMENT_TYPES
from clearline.sim.tables import TABLE_NAMES

TRANSACTION_COLUMNS = {
    "transaction_id": pa.int64(),
    "timestamp": pa.timestamp("ns", tz="UTC"),
    "from_account_id": pa.int64(),
    "from_participant_id": pa.int64(),
    "to_account_id": pa.int64(),
    "to_participant_id": pa.int64(),
    "amount_paid": pa.int64(),
    "asset_paid": pa.string(),
    "amount_received": pa.int64(),
    "asset_received": pa.string(),
    "channel": pa.string(),
    "payment_type": pa.string(),
    "merchant_category": pa.string(),
    "device_id": pa.int64(),
    "from_country": pa.string(),
    "to_country": pa.string(),
}
LABEL_COLUMNS = {
    "transaction_id": pa.int64(),
    "is_fraud": pa.bool_(),
    "fraud_scenario": pa.string(),
    "is_laundering": pa.bool_(),
    "laundering_typology": pa.string(),
    "attempt_id": pa.int64(),
}


def _plain(field_type: pa.DataType) -> pa.DataType:
    return field_type.value_type if pa.types.is_dictionary(field_type) else field_type


def test_every_table_is_there_and_transactions_carry_no_labels(small_tables) -> None:
    assert set(small_tables) == set(TABLE_NAMES)
    transactions, labels = small_tables["transactions"], small_tables["labels"]
    assert {f.name: _plain(f.type) for f in transactions.schema} == TRANSACTION_COLUMNS
    assert {f.name: _plain(f.type) for f in labels.schema} == LABEL_COLUMNS
    assert transactions.column("transaction_id").equals(labels.column("transaction_id"))
    for table in small_tables.values():
        assert table.num_rows > 0


def test_amounts_are_positive_and_same_asset_amounts_match(small_tables) -> None:
    transactions = small_tables["transactions"].to_pandas()
    assert (transactions.amount_paid > 0).all() and (transactions.amount_received > 0).all()
    same = transactions.asset_paid.astype(str) == transactions.asset_received.astype(str)
    assert (transactions.amount_paid[same] == transactions.amount_received[same]).all()
    assert set(transactions.payment_type.astype(str)) <= set(PAYMENT_TYPES)
    assert set(transactions.merchant_category.dropna().astype(str)) <= set(MCC_CODES)


def test_cross_currency_amounts_follow_that_days_rate(small_result, small_tables) -> None:
    transactions = small_tables["transactions"].to_pandas()
    rates = small_tables["fx_rates"].to_pandas()
    cross = transactions[
        transactions.asset_paid.astype(str) != transactions.asset_received.astype(str)
    ]
    assert len(cross) > 10
    day = cross.timestamp.dt.date
    lookup = {(row.date, str(row.asset)): row.units_per_usd_mid for row in rates.itertuples()}
    for row, when in zip(cross.itertuples(), day, strict=True):
        paid_scale = asset(str(row.asset_paid)).scale
        received_scale = asset(str(row.asset_received)).scale
        mid = lookup[(when, str(row.asset_received))] / lookup[(when, str(row.asset_paid))]
        expected = row.amount_paid / 10**paid_scale * mid * 10**received_scale
        spread = 1 - row.amount_received / expected
        assert -1e-6 - 1 / expected <= spread <= max(SPREADS.values()) + 1 / expected + 1e-6
    assert RATE_SCALE == 10**8


def test_cash_is_counted_in_whole_notes(small_tables) -> None:
    transactions = small_tables["transactions"]
    cash_out = pc.equal(transactions.column("payment_type").cast(pa.string()), "cash_out")
    rows = transactions.filter(cash_out).to_pandas()
    notes = {
        "CNY": 100,
        "HKD": 100,
        "THB": 100,
        "AED": 50,
        "SAR": 50,
        "SGD": 10,
        "MYR": 10,
        "USD": 20,
        "EUR": 10,
    }
    multiple = rows.asset_paid.astype(str).map(lambda code: notes[code] * 10 ** asset(code).scale)
    assert len(rows) > 0 and (rows.amount_paid % multiple == 0).all()


def test_entities_are_consistent(small_tables) -> None:
    accounts = small_tables["accounts"].to_pandas()
    assert accounts.account_id.is_unique
    for name, key in (
        ("people", "person_id"),
        ("merchants", "merchant_id"),
        ("enterprises", "enterprise_id"),
    ):
        table = small_tables[name].to_pandas()
        assert table[key].is_unique
        assert set(table.account_id) <= set(accounts.account_id)
    assert set(accounts.participant_id) == set(
        small_tables["participants"].column("participant_id").to_pylist()
    )
    owner_kinds = set(accounts.owner_kind.astype(str))
    assert owner_kinds == {"person", "merchant", "enterprise", "participant"}
    assert (accounts.credit_limit >= 0).all() and (accounts.opening_balance >= 0).all()
    transactions = small_tables["transactions"].to_pandas()
    assert set(transactions.from_account_id) | set(transactions.to_account_id) <= set(
        accounts.account_id
    )


def test_ids_carry_no_order(small_tables) -> None:
    transactions = small_tables["transactions"].column("transaction_id").to_numpy()
    assert abs(np.corrcoef(np.arange(len(transactions)), transactions.astype(float))[0, 1]) < 0.05
    accounts = small_tables["accounts"].to_pandas()
    by_kind = accounts.groupby(accounts.owner_kind.astype(str)).account_id.median()
    assert (by_kind / 2**62).between(0.5, 1.5).all()
