"""The world reader's `payer_available`: the simulator's own running funds, point-in-time."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clearline.risk.features import AVAILABLE_COLUMN, FEATURE_INDEX, events_from_table, replay
from clearline.risk.world import payer_available, world_from_tables
from clearline.sim import World
from clearline.sim.config import SimConfig
from clearline.sim.settle import Balances


def _available(tables: dict[str, pa.Table]) -> np.ndarray:
    column = payer_available(tables["transactions"], tables["accounts"])
    assert column is not None and column.null_count == 0
    return np.asarray(column.to_numpy(zero_copy_only=False))


def test_available_is_the_simulators_own_running_balance(
    stream_config: SimConfig, stream_tables: dict[str, pa.Table]
) -> None:
    """Settle the world again, payment by payment, with the simulator's `Balances`: before each
    payment its payer's balance plus credit line is exactly the reconstruction."""
    world = World(stream_config)
    accounts = world.population.accounts
    balances = Balances(
        accounts.opening_balance, world.laundering_plan.reserve, accounts.credit_limit
    )
    expected = []
    for settled in world.days():
        for row in range(len(settled.events)):
            payment = settled.events.take(np.array([row]))
            payer = int(payment.from_account[0])
            expected.append(balances.balance[payer] + balances.credit_limit[payer])
            assert balances.settle(payment).all()  # the same order, so the same acceptance
    assert np.array_equal(_available(stream_tables), np.array(expected))


def test_no_payment_exceeds_what_the_payer_had(stream_tables: dict[str, pa.Table]) -> None:
    """Settlement's guarantee (balance + credit ≥ amount on every accepted payment), read back
    from the reconstruction; accounts without credit never go below zero."""
    transactions, accounts = stream_tables["transactions"], stream_tables["accounts"]
    after = _available(stream_tables) - np.asarray(transactions.column("amount_paid").to_numpy())
    assert (after >= 0).all()
    assert (after == 0).mean() < 0.01  # not trivially satisfied: the money really moves
    # the check fails when the reconstruction is wrong: forget one account's opening balance
    payer = transactions.column("from_account_id")[0].as_py()
    opening = pc.if_else(
        pc.equal(accounts.column("account_id"), payer), 0, accounts.column("opening_balance")
    )
    emptied = accounts.set_column(
        accounts.schema.get_field_index("opening_balance"), "opening_balance", opening
    )
    broken = _available({"transactions": transactions, "accounts": emptied})
    assert (broken - np.asarray(transactions.column("amount_paid").to_numpy()) < 0).any()


def test_available_uses_only_earlier_payments(stream_tables: dict[str, pa.Table]) -> None:
    full = _available(stream_tables)
    cut = len(full) // 3
    prefix = {**stream_tables, "transactions": stream_tables["transactions"].slice(0, cut)}
    assert np.array_equal(_available(prefix), full[:cut])


def test_without_opening_balances_the_field_stays_unknown(
    stream_tables: dict[str, pa.Table],
) -> None:
    accounts = stream_tables["accounts"].drop_columns(["opening_balance"])
    world = world_from_tables({**stream_tables, "accounts": accounts})
    assert AVAILABLE_COLUMN not in world.transactions.column_names
    first = next(events_from_table(world.transactions))
    assert first.payer_available is None
    features = replay(events_from_table(world.transactions.slice(0, 200)), world.context)
    assert np.isnan(features[:, FEATURE_INDEX["amount_to_available"]]).all()


def test_a_payer_missing_from_the_accounts_is_unknown(stream_tables: dict[str, pa.Table]) -> None:
    transactions = stream_tables["transactions"]
    payer = transactions.column("from_account_id")[0].as_py()
    accounts = stream_tables["accounts"].filter(pc.not_equal(pc.field("account_id"), payer))
    column = payer_available(transactions, accounts)
    assert column is not None
    unknown = np.asarray(pc.is_null(column).to_numpy(zero_copy_only=False))
    payers = np.asarray(transactions.column("from_account_id").to_numpy())
    assert np.array_equal(unknown, payers == payer) and unknown.any()


def test_profiles_carry_the_granted_credit_lines(stream_tables: dict[str, pa.Table]) -> None:
    world = world_from_tables(stream_tables)
    accounts = stream_tables["accounts"].to_pandas()
    lines = dict(zip(accounts["account_id"], accounts["credit_limit"], strict=True))
    assert any(line > 0 for line in lines.values())
    for account_id, line in lines.items():
        assert world.context.profiles[int(account_id)].credit_limit == line
