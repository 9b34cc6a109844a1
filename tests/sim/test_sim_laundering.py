"""Every laundering typology has its defining shape."""

from __future__ import annotations

import numpy as np
from sim_helpers import attempts_of

from clearline.sim.config import LAUNDERING_TYPOLOGIES
from clearline.sim.geography import THRESHOLDS_MINOR
from clearline.sim.laundering import reserves
from clearline.sim.schema import LAUNDERING_CODE

MINUTE_NS = 60 * 10**9


def _attempts(result, typology: str):
    events = result.events
    found = list(attempts_of(result, "laundering", LAUNDERING_CODE[typology]))
    assert found, typology
    for _, rows in found:
        yield events.take(rows)


def test_fan_out_and_fan_in(rich_result) -> None:
    window = rich_result.config.laundering.window_days_max * 86_400 * 10**9
    for attempt in _attempts(rich_result, "fan_out"):
        assert len(set(attempt.from_account.tolist())) == 1
        assert len(set(attempt.to_account.tolist())) >= 3
        assert np.ptp(attempt.timestamp_ns) < window
    for attempt in _attempts(rich_result, "fan_in"):
        assert len(set(attempt.to_account.tolist())) == 1
        assert len(set(attempt.from_account.tolist())) >= 3
        assert np.ptp(attempt.timestamp_ns) < window


def _is_chain(attempt) -> bool:
    """Each payment leaves the account the previous one reached, later in time."""
    return bool(
        (attempt.from_account[1:] == attempt.to_account[:-1]).all()
        and (np.diff(attempt.timestamp_ns) > 0).all()
    )


def test_cycle_returns_to_its_origin_and_random_walks_chain(rich_result) -> None:
    for attempt in _attempts(rich_result, "cycle"):
        assert len(attempt) >= 3 and _is_chain(attempt)
        assert attempt.to_account[-1] == attempt.from_account[0]
        assert len(set(attempt.from_account.tolist())) == len(attempt)
    for attempt in _attempts(rich_result, "random"):
        assert len(attempt) >= 2 and _is_chain(attempt)


def test_chains_forward_no_more_than_arrived(rich_result) -> None:
    fee = rich_result.config.laundering.fee_max
    for typology in ("cycle", "random"):
        for attempt in _attempts(rich_result, typology):
            assert (attempt.amount_paid[1:] <= attempt.amount_received[:-1]).all()
            assert (attempt.amount_paid[1:] >= (1 - fee) * attempt.amount_received[:-1] * 0.5).all()


def _layers(attempt) -> tuple[set, set, set]:
    sources = set(attempt.from_account.tolist()) - set(attempt.to_account.tolist())
    sinks = set(attempt.to_account.tolist()) - set(attempt.from_account.tolist())
    middles = set(attempt.from_account.tolist()) & set(attempt.to_account.tolist())
    return sources, middles, sinks


def test_scatter_gather_and_gather_scatter(rich_result) -> None:
    for attempt in _attempts(rich_result, "scatter_gather"):
        sources, middles, sinks = _layers(attempt)
        assert len(sources) == 1 and len(sinks) == 1 and len(middles) >= 3
    for attempt in _attempts(rich_result, "gather_scatter"):
        sources, middles, sinks = _layers(attempt)
        assert len(middles) == 1 and len(sources) >= 3 and len(sinks) >= 3
        hub = middles.pop()
        assert (
            attempt.timestamp_ns[attempt.to_account == hub].max()
            < attempt.timestamp_ns[attempt.from_account == hub].min()
        )


def test_bipartite_and_stack_are_layered(rich_result) -> None:
    for attempt in _attempts(rich_result, "bipartite"):
        sources, middles, sinks = _layers(attempt)
        assert not middles and sources and sinks
    for attempt in _attempts(rich_result, "stack"):
        sources, middles, sinks = _layers(attempt)
        assert sources and middles and sinks
        for middle in middles:
            arrived = attempt.timestamp_ns[attempt.to_account == middle]
            left = attempt.timestamp_ns[attempt.from_account == middle]
            assert arrived.max() < left.min()
        first_layer = np.isin(attempt.from_account, list(sources))
        assert np.isin(attempt.to_account[first_layer], list(middles)).all()


def test_structuring_stays_just_under_the_threshold(rich_result) -> None:
    accounts = rich_result.population.accounts
    for attempt in _attempts(rich_result, "structuring"):
        assert len(set(attempt.to_account.tolist())) == 1 and len(attempt) >= 3
        threshold = THRESHOLDS_MINOR[accounts.country[attempt.from_account]]
        assert (attempt.amount_paid < threshold).all()
        assert (attempt.amount_paid >= 0.75 * threshold).all()


def test_rapid_movement_passes_money_through_within_minutes(rich_result) -> None:
    for attempt in _attempts(rich_result, "rapid_movement"):
        touched = [
            {int(a), int(b)} for a, b in zip(attempt.from_account, attempt.to_account, strict=True)
        ]
        common = set.intersection(*touched)
        assert len(common) == 1 and len(attempt) >= 2
        middle = common.pop()
        outgoing = np.flatnonzero(attempt.from_account == middle)
        for index in outgoing:
            before = attempt.timestamp_ns[
                (attempt.to_account == middle)
                & (attempt.timestamp_ns < attempt.timestamp_ns[index])
            ]
            assert len(before) and attempt.timestamp_ns[index] - before.max() <= 90 * MINUTE_NS


def test_lone_transactions_are_alone(rich_result) -> None:
    for attempt in _attempts(rich_result, "lone"):
        assert len(attempt) == 1


def test_all_typologies_are_checked_and_reserves_fund_exactly_the_senders(rich_result) -> None:
    assert len(LAUNDERING_TYPOLOGIES) == 11
    events = rich_result.events.take(rich_result.events.laundering > 0)
    reserve = rich_result.laundering_plan.reserve
    assert (reserve >= 0).all() and reserve.sum() > 0
    funded = np.flatnonzero(reserve)
    assert np.isin(funded, events.from_account).all()
    assert np.array_equal(reserves(events, rich_result.economy), reserve)
