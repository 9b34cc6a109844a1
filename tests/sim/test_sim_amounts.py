"""Amounts, rounding habits, FX conversion and rhythms."""

from __future__ import annotations

import numpy as np

from clearline.core import asset
from clearline.sim.amounts import NOTE_MAJOR, draw_usd_tilted, minor_units
from clearline.sim.geography import (
    ASSET_CODES,
    COUNTRIES,
    RATE_SCALE,
    SCALES,
    THRESHOLDS_MINOR,
    FxTable,
    convert,
)
from clearline.sim.rhythm import NANOSECONDS_PER_DAY, times_in_day
from clearline.sim.schema import PT


def test_scales_come_from_iso_4217() -> None:
    for index, code in enumerate(ASSET_CODES):
        assert SCALES[index] == asset(code).scale
    assert len(set(ASSET_CODES)) == len(COUNTRIES) >= 9


def test_minor_units_are_positive_integers_rounded_down_by_habit() -> None:
    rng = np.random.default_rng(1)
    size = 20_000
    country = rng.integers(0, len(COUNTRIES), size)
    major = rng.uniform(0.001, 5_000, size)
    for kind in ("merchant_payment", "p2p", "trade", "cash_out", "cash_in", "bill"):
        units = minor_units(rng, major, country, PT[kind])
        assert units.dtype == np.int64 and (units >= 1).all()
        exact = np.maximum(np.floor(major * 10.0 ** SCALES[country]), 1)
        if not kind.startswith("cash"):
            assert (units <= exact).all()
    cash = minor_units(rng, major, country, PT["cash_out"])
    assert (cash % (NOTE_MAJOR[country] * 10 ** SCALES[country]) == 0).all()
    p2p = minor_units(rng, major + 200, country, PT["p2p"])
    round_tens = np.mean(p2p % (10 * 10 ** SCALES[country]) == 0)
    assert 0.3 < round_tens < 0.45  # the habit, not every amount: no round-number artefact


def test_rounding_down_never_crosses_a_threshold() -> None:
    rng = np.random.default_rng(2)
    country = np.arange(len(COUNTRIES))
    major = THRESHOLDS_MINOR / 10.0**SCALES * 0.995
    for kind in ("cash_in", "p2p", "merchant_payment"):
        assert (minor_units(rng, major, country, PT[kind]) < THRESHOLDS_MINOR).all()


def test_tilt_moves_sizes_up_but_keeps_the_support() -> None:
    rng = np.random.default_rng(3)
    honest = draw_usd_tilted(rng, 50.0, 1.0, 50_000, 0.0)
    tilted = draw_usd_tilted(rng, 50.0, 1.0, 50_000, 0.3)
    assert np.median(tilted) > np.median(honest)
    assert np.median(tilted) < np.quantile(honest, 0.65)


def test_conversion_is_exact_half_even() -> None:
    units = np.array([1, 3, 5, 10_000_000_000])
    rate = np.full(4, RATE_SCALE // 2)
    same = np.zeros(4, dtype=np.int64)
    assert convert(units, rate, same, same).tolist() == [0, 2, 2, 5_000_000_000]


def test_fx_rates_are_plausible_and_pegs_hold() -> None:
    fx = FxTable.simulate(np.random.default_rng(4), 60)
    codes = list(ASSET_CODES)
    start = np.array([country.usd_rate for country in COUNTRIES])
    assert np.all(np.abs(fx.usd_rates / start - 1) < 0.1)
    for pegged in ("AED", "SAR", "USD"):
        column = fx.usd_rates[:, codes.index(pegged)]
        assert np.ptp(column) / column[0] < 0.005
    matrix = fx.rate_matrix(10, 0.0)
    assert (
        abs(matrix[codes.index("USD"), codes.index("CNY")] / RATE_SCALE - fx.usd_rates[10, 0])
        < 1e-6
    )


def test_times_stay_inside_their_utc_day_and_follow_local_hours() -> None:
    rng = np.random.default_rng(5)
    country = rng.integers(0, len(COUNTRIES), 50_000)
    start = 100 * NANOSECONDS_PER_DAY
    moments = times_in_day(rng, start, country, PT["merchant_payment"])
    assert ((moments >= start) & (moments < start + NANOSECONDS_PER_DAY)).all()
    china = country == 0
    local_hour = ((moments[china] - start) // (3_600 * 10**9) + 8) % 24
    night, evening = (
        np.mean((local_hour >= 2) & (local_hour < 5)),
        np.mean((local_hour >= 18) & (local_hour < 21)),
    )
    assert evening > 5 * night
