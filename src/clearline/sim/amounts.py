"""Amounts: heavy-tailed sizes per payment type and the human habits of rounding.

Guarantees:
- Every amount in the world, honest or illicit, is made by `minor_units`: a float size in local
  major units becomes integer minor units at the asset's ISO 4217 scale, rounded by the habit of
  its payment type (prices are exact, P2P transfers are often whole tens, ATMs pay whole notes).
  Illicit payments of a type therefore carry exactly the round-number rates of honest ones.
- Sizes are lognormal per payment type (heavy right tail), scaled by each country's price level,
  and capped at `USD_MAX` so integer arithmetic can never overflow.
- `draw_usd` gives honest sizes; with `tilt` > 0 a share `tilt` of them is the larger of two honest
  draws, which is how illicit schemes choose sums: the same distribution, tilted up, never a new
  one (within one payment type a tilt t moves the AUC of amount alone to 0.5 + t/6).
"""

from __future__ import annotations

import numpy as np

from clearline.sim.geography import COUNTRIES, SCALES, local_units_from_usd
from clearline.sim.schema import PT

USD_MAX = 5_000_000.0
"""Largest single amount, in USD at US prices."""

USD_PROFILES = {
    PT["p2p"]: (45.0, 1.1),
    PT["remittance"]: (320.0, 0.7),
    PT["bill"]: (55.0, 0.7),
    PT["gig_income"]: (70.0, 0.7),
    PT["trade"]: (6_000.0, 1.2),
    PT["cash_in"]: (160.0, 0.9),
    PT["cash_out"]: (90.0, 0.8),
}
"""(median, log standard deviation) of the size in USD at US prices, by payment type. Merchant
payments take theirs from the merchant category; salaries and pensions are fixed per person."""

ROUNDING = {
    PT["merchant_payment"]: ((1, 0.20), (10, 0.05)),
    PT["refund"]: ((1, 0.20), (10, 0.05)),
    PT["p2p"]: ((1, 0.30), (10, 0.25), (100, 0.12)),
    PT["remittance"]: ((1, 0.30), (10, 0.25), (100, 0.15)),
    PT["bill"]: (),
    PT["salary"]: ((1, 0.30), (10, 0.20)),
    PT["gig_income"]: (),
    PT["pension"]: ((1, 0.50),),
    PT["trade"]: ((1, 0.10), (100, 0.20)),
}
"""Habits of rounding by payment type: (multiple in major units, probability); the rest is exact.
Cash is counted in notes instead (`CASH_NOTES`)."""

CASH_NOTES = {
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
"""The note an ATM pays out, in major units; deposits are counted in tenths of it (at least 1)."""
NOTE_MAJOR = np.array([CASH_NOTES[country.currency] for country in COUNTRIES], dtype=np.int64)


def draw_usd(
    rng: np.random.Generator, median: np.ndarray | float, sigma: np.ndarray | float, size: int
) -> np.ndarray:
    """Lognormal sizes in USD with the given median(s) and log standard deviation(s)."""
    values = np.asarray(median) * np.exp(rng.standard_normal(size) * np.asarray(sigma))
    return np.minimum(values, USD_MAX)


def draw_usd_tilted(
    rng: np.random.Generator,
    median: np.ndarray | float,
    sigma: np.ndarray | float,
    size: int,
    tilt: float,
) -> np.ndarray:
    """Honest draws, where a share `tilt` of them is the larger of two honest draws."""
    first = draw_usd(rng, median, sigma, size)
    if tilt <= 0:
        return first
    second = draw_usd(rng, median, sigma, size)
    return np.where(rng.random(size) < tilt, np.maximum(first, second), first)


def profile_usd(rng: np.random.Generator, payment_type: int, size: int, tilt: float = 0.0):
    """Sizes for a payment type that has a fixed profile in `USD_PROFILES`."""
    median, sigma = USD_PROFILES[payment_type]
    return draw_usd_tilted(rng, median, sigma, size, tilt)


def _round_down(units: np.ndarray, multiple: np.ndarray, is_cash: np.ndarray) -> np.ndarray:
    """Down to the multiple; below one multiple, cash is one note and anything else stays exact."""
    rounded = units - units % multiple
    return np.where(rounded > 0, rounded, np.where(is_cash, multiple, units))


def minor_units(
    rng: np.random.Generator, major: np.ndarray, country: np.ndarray, payment_type: np.ndarray | int
) -> np.ndarray:
    """Integer minor units (at least 1) for float `major` amounts in `country`'s currency.

    Rounding follows `ROUNDING` (or cash notes for cash), always down to the multiple, so an amount
    chosen below a limit stays below it; an amount smaller than its multiple is kept exact (cash
    becomes one note).
    """
    size = len(major)
    types = np.broadcast_to(np.asarray(payment_type, dtype=np.int64), (size,))
    scale_power = 10 ** SCALES[country]
    units = np.maximum(np.floor(major * scale_power).astype(np.int64), 1)
    draws = rng.random(size)
    multiple = np.ones(size, dtype=np.int64)
    for code, habits in ROUNDING.items():
        rows = types == code
        if not rows.any():
            continue
        threshold = 0.0
        for major_multiple, probability in habits:
            chosen = rows & (draws >= threshold) & (draws < threshold + probability)
            multiple[chosen] = major_multiple * scale_power[chosen]
            threshold += probability
    cash_out = types == PT["cash_out"]
    multiple[cash_out] = NOTE_MAJOR[country[cash_out]] * scale_power[cash_out]
    cash_in = types == PT["cash_in"]
    deposit_unit = np.maximum(NOTE_MAJOR[country[cash_in]] // 10, 1)
    multiple[cash_in] = deposit_unit * scale_power[cash_in]
    return _round_down(units, multiple, cash_out | cash_in)


def usd_to_minor(
    rng: np.random.Generator, usd: np.ndarray, country: np.ndarray, payment_type: np.ndarray | int
) -> np.ndarray:
    """`minor_units` of USD-at-US-prices sizes, converted at the country's price level."""
    return minor_units(rng, local_units_from_usd(usd, country), country, payment_type)
