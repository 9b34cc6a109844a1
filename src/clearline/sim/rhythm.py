"""Daily and weekly rhythms: when in the day and week each kind of payment happens.

Guarantees:
- Every timestamp in the world, honest or illicit, is made by `times_in_day`: an hour drawn from
  the payment type's local-time profile, shifted to UTC by the country's offset and wrapped into the
  same UTC day, plus a uniformly random offset within the hour at nanosecond resolution. So illicit
  payments keep honest clocks, every event of simulated day d lies in [d, d+1) UTC, and equal
  timestamps are practically impossible.
- Weekly multipliers average exactly 1, so a daily rate means the same thing on any weekday.
"""

from __future__ import annotations

import numpy as np

from clearline.core.clock import NANOSECONDS_PER_SECOND
from clearline.sim.geography import UTC_OFFSETS_HOURS
from clearline.sim.schema import PAYMENT_TYPES, PT

NANOSECONDS_PER_HOUR = 3_600 * NANOSECONDS_PER_SECOND
NANOSECONDS_PER_DAY = 24 * NANOSECONDS_PER_HOUR

_SHOPPING = [
    1,
    0.5,
    0.3,
    0.2,
    0.2,
    0.4,
    1.2,
    3,
    4,
    3.5,
    3.5,
    4.5,
    6,
    5,
    4,
    4,
    4.5,
    5.5,
    6.5,
    6,
    5,
    4,
    3,
    2,
]
_SOCIAL = [
    1,
    0.6,
    0.4,
    0.3,
    0.3,
    0.4,
    0.8,
    1.5,
    2.5,
    3,
    3.2,
    3.5,
    3.8,
    3.5,
    3.3,
    3.3,
    3.5,
    3.8,
    4,
    4.2,
    4.3,
    4,
    3,
    2,
]
_BATCH = [
    0.5,
    3,
    5,
    5,
    4,
    2,
    1,
    0.6,
    0.5,
    0.5,
    0.4,
    0.4,
    0.3,
    0.3,
    0.3,
    0.3,
    0.2,
    0.2,
    0.2,
    0.2,
    0.2,
    0.2,
    0.2,
    0.3,
]
_OFFICE = [
    0.1,
    0.1,
    0.1,
    0.1,
    0.1,
    0.2,
    0.5,
    1.5,
    4,
    5,
    5,
    4.5,
    3,
    4,
    5,
    5,
    4.5,
    3,
    1.5,
    0.8,
    0.5,
    0.3,
    0.2,
    0.1,
]
_ERRANDS = [
    0.2,
    0.1,
    0.1,
    0.1,
    0.1,
    0.2,
    0.8,
    2,
    3.5,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4.5,
    4.5,
    4,
    3.5,
    2.5,
    1.2,
    0.5,
]

HOURLY = {
    "merchant_payment": _SHOPPING,
    "refund": _ERRANDS,
    "p2p": _SOCIAL,
    "remittance": _SOCIAL,
    "bill": _ERRANDS,
    "salary": _BATCH,
    "gig_income": _ERRANDS,
    "pension": _BATCH,
    "trade": _OFFICE,
    "cash_in": _ERRANDS,
    "cash_out": _SHOPPING,
}
"""Relative activity per local hour (0..23), by payment type."""

WEEKLY = {
    "merchant_payment": [0.92, 0.92, 0.95, 1.0, 1.1, 1.15, 0.96],
    "p2p": [0.95, 0.95, 0.95, 1.0, 1.05, 1.1, 1.0],
    "remittance": [0.9, 0.9, 0.9, 0.95, 1.05, 1.2, 1.1],
    "gig_income": [1.0, 1.0, 1.0, 1.0, 1.1, 1.0, 0.9],
    "trade": [1.3, 1.3, 1.3, 1.3, 1.3, 0.3, 0.2],
    "cash_out": [0.95, 0.9, 0.9, 0.95, 1.15, 1.2, 0.95],
    "cash_in": [1.1, 1.1, 1.1, 1.1, 1.1, 0.8, 0.7],
}
"""Relative activity per weekday (Monday first), by payment type; others are flat."""

_CDF = np.zeros((len(PAYMENT_TYPES), 24))
_WEEK = np.ones((len(PAYMENT_TYPES), 7))
for _name, _profile in HOURLY.items():
    _weights = np.asarray(_profile, dtype=float)
    _CDF[PT[_name]] = np.cumsum(_weights) / _weights.sum()
for _name, _profile in WEEKLY.items():
    _weights = np.asarray(_profile, dtype=float)
    _WEEK[PT[_name]] = _weights / _weights.mean()


def weekday_factor(payment_type: str, weekday: int) -> float:
    """The multiplier of the daily rate of `payment_type` on `weekday` (0 is Monday)."""
    return float(_WEEK[PT[payment_type], weekday])


def local_hours(rng: np.random.Generator, payment_type: np.ndarray | int, size: int) -> np.ndarray:
    """Local hours (0..23) drawn from the profile of each row's payment type."""
    types = np.broadcast_to(np.asarray(payment_type, dtype=np.int64), (size,))
    draws = rng.random(size)
    hours = np.empty(size, dtype=np.int64)
    for code in np.unique(types):
        rows = types == code
        hours[rows] = np.searchsorted(_CDF[code], draws[rows], side="right")
    return np.minimum(hours, 23)


def times_in_day(
    rng: np.random.Generator, day_start_ns: int, country: np.ndarray, payment_type: np.ndarray | int
) -> np.ndarray:
    """Timestamps within the UTC day starting at `day_start_ns`, following local rhythms."""
    size = len(country)
    utc_hour = (local_hours(rng, payment_type, size) - UTC_OFFSETS_HOURS[country]) % 24
    within = rng.integers(0, NANOSECONDS_PER_HOUR, size=size, dtype=np.int64)
    return day_start_ns + utc_hour * NANOSECONDS_PER_HOUR + within


def time_after(
    rng: np.random.Generator,
    earliest_ns: int,
    country: int,
    payment_type: int,
    day_start_ns: int,
    last_ns: int,
) -> int:
    """A timestamp after `earliest_ns`, on its day or a later one, with the honest hour profile.

    Tries the day of `earliest_ns` and the following days; returns -1 when none before `last_ns`.
    """
    day = max((earliest_ns - day_start_ns) // NANOSECONDS_PER_DAY, 0)
    for _ in range(8):
        start = day_start_ns + day * NANOSECONDS_PER_DAY
        if start >= last_ns:
            return -1
        moment = int(times_in_day(rng, start, np.array([country]), payment_type)[0])
        if earliest_ns < moment < last_ns:
            return moment
        day += 1 if moment <= earliest_ns else 0
    return -1
