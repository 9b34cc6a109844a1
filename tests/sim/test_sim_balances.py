"""Balances: no account without credit ever goes below zero, at any point of the output order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from clearline.sim.config import preset
from clearline.sim.engine import SimResult, World


def running_minimum(result: SimResult) -> np.ndarray:
    """The lowest balance each account reaches, replaying every payment in output order."""
    events, accounts = result.events, result.population.accounts
    size = len(events)
    account = np.concatenate([events.from_account, events.to_account])
    delta = np.concatenate([-events.amount_paid, events.amount_received])
    position = np.concatenate([np.arange(size) * 2, np.arange(size) * 2 + 1])
    order = np.lexsort((position, account))
    account, delta = account[order], delta[order]
    running = np.cumsum(delta)
    starts = np.flatnonzero(np.r_[True, account[1:] != account[:-1]])
    before = np.r_[0, running[starts[1:] - 1]] if len(starts) > 1 else np.zeros(1, dtype=np.int64)
    running -= np.repeat(before, np.diff(np.r_[starts, len(account)]))
    running += accounts.opening_balance[account]
    lowest = accounts.opening_balance.copy()
    np.minimum.at(lowest, account, running)
    return lowest


def test_no_account_without_credit_goes_negative(rich_result: SimResult) -> None:
    accounts = rich_result.population.accounts
    lowest = running_minimum(rich_result)
    no_credit = accounts.credit_limit == 0
    assert no_credit.sum() > 0.8 * len(accounts)
    assert (lowest[no_credit] >= 0).all()
    assert (lowest >= -accounts.credit_limit).all()


def test_the_check_itself_can_fail(small_result: SimResult) -> None:
    accounts = small_result.population.accounts
    events = small_result.events
    spender = int(
        events.from_account[np.flatnonzero(accounts.credit_limit[events.from_account] == 0)[0]]
    )
    emptied = accounts.opening_balance.copy()
    emptied[spender] = 0
    population = replace(
        small_result.population, accounts=replace(accounts, opening_balance=emptied)
    )
    assert running_minimum(replace(small_result, population=population))[spender] < 0


def test_refusals_are_rare_and_counted(small_result: SimResult) -> None:
    assert small_result.candidates == len(small_result.events) + small_result.refused
    assert 0 < small_result.refused < 0.05 * small_result.candidates


@pytest.mark.slow
def test_a_year_stays_solvent_and_refusals_stay_rare() -> None:
    result = World(preset("li", people=800, days=365, seed=12)).generate()
    accounts = result.population.accounts
    assert (running_minimum(result)[accounts.credit_limit == 0] >= 0).all()
    assert result.refused < 0.03 * result.candidates
    months = (result.events.timestamp_ns - result.events.timestamp_ns[0]) // (30 * 86_400 * 10**9)
    volume = np.bincount(months)[:12]
    assert volume.min() > 0.8 * volume.max()
