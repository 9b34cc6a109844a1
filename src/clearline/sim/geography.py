"""Countries, currencies, local time and the daily FX rate table of the simulated world.

Guarantees:
- Every country has exactly one home currency, taken from `clearline.core.asset`, so minor-unit
  scales are the ISO 4217 ones and never typed here.
- FX rates are quoted as integers (`RATE_SCALE` = 10**8 per unit), fixed per day: a mid rate per
  currency against USD follows a small random walk from a plausible level (pegged currencies barely
  move), and a customer rate applies a spread by payment type. Conversion of integer minor units is
  exact integer arithmetic with round-half-even, so `amount_received` never carries float noise.
- Reporting thresholds are per currency in major units; structuring stays just below them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clearline.core import asset

RATE_SCALE = 10**8
"""FX rates are integers: 1 unit of the paid asset buys `rate / RATE_SCALE` units received."""


@dataclass(frozen=True, slots=True)
class Country:
    """One country of the world.

    code: ISO 3166 alpha-2 (`DE` stands for the euro area).
    currency: ISO 4217 code of the home asset.
    utc_offset_hours: local time minus UTC, used for daily rhythms.
    population_weight: share of people living there (normalised when used).
    price_level: local prices relative to the USD at market rate (0.5 is half as expensive).
    usd_rate: units of the home currency per USD at the start.
    daily_volatility: standard deviation of the daily log-change of `usd_rate`.
    reporting_threshold: amount (major units) at or above which a transaction is reported.
    qr_share: share of merchants accepting QR payments.
    participant_names: the banks and payment providers there (the first is the largest).
    """

    code: str
    currency: str
    utc_offset_hours: int
    population_weight: float
    price_level: float
    usd_rate: float
    daily_volatility: float
    reporting_threshold: int
    qr_share: float
    participant_names: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "CN",
        "CNY",
        8,
        0.27,
        0.55,
        7.10,
        0.0015,
        50_000,
        0.90,
        ("Red Lotus Bank", "Great Wall Commercial Bank", "Jade Wallet"),
    ),
    Country(
        "HK",
        "HKD",
        8,
        0.07,
        0.90,
        7.80,
        0.0002,
        80_000,
        0.45,
        ("Harbour Bank", "Victoria Trust", "Octo Pay"),
    ),
    Country(
        "TH",
        "THB",
        7,
        0.12,
        0.45,
        35.50,
        0.0030,
        350_000,
        0.80,
        ("Siam Golden Bank", "Chao Phraya Bank", "Tuk Pay"),
    ),
    Country(
        "AE",
        "AED",
        4,
        0.07,
        0.80,
        3.6725,
        0.0001,
        40_000,
        0.35,
        ("Gulf National Bank", "Falcon Exchange"),
    ),
    Country(
        "SA",
        "SAR",
        3,
        0.07,
        0.75,
        3.75,
        0.0001,
        40_000,
        0.40,
        ("Najd Bank", "Red Sea Bank", "Oasis Pay"),
    ),
    Country(
        "SG", "SGD", 8, 0.06, 0.95, 1.34, 0.0020, 20_000, 0.70, ("Lion City Bank", "Merlion Pay")
    ),
    Country(
        "MY",
        "MYR",
        8,
        0.10,
        0.50,
        4.60,
        0.0030,
        25_000,
        0.70,
        ("Petaling Bank", "Straits Bank", "Duit Pay"),
    ),
    Country(
        "US",
        "USD",
        -5,
        0.12,
        1.00,
        1.00,
        0.0,
        10_000,
        0.15,
        ("Hudson Bank", "Prairie Credit Union", "Beacon Pay"),
    ),
    Country(
        "DE",
        "EUR",
        1,
        0.12,
        0.95,
        0.92,
        0.0030,
        10_000,
        0.15,
        ("Rhine Bank", "Hansa Sparkasse", "Euro Wallet"),
    ),
)
"""The world's countries. Thresholds: CNY 50,000, MYR 25,000, SGD 20,000, USD and EUR 10,000 are
the published large-cash reporting levels; the others are illustrative round levels of similar
value."""

COUNTRY_CODES = tuple(country.code for country in COUNTRIES)
ASSET_CODES = tuple(country.currency for country in COUNTRIES)
SCALES = np.array([asset(country.currency).scale for country in COUNTRIES], dtype=np.int64)
PRICE_LEVELS = np.array([country.price_level for country in COUNTRIES])
USD_RATES = np.array([country.usd_rate for country in COUNTRIES])
UTC_OFFSETS_HOURS = np.array([country.utc_offset_hours for country in COUNTRIES], dtype=np.int64)
THRESHOLDS_MINOR = np.array(
    [country.reporting_threshold * 10 ** asset(country.currency).scale for country in COUNTRIES],
    dtype=np.int64,
)

SPREADS = {"remittance": 0.010, "trade": 0.003, "card": 0.015, "default": 0.008}
"""Customer spread against the mid rate, by payment type."""


def local_units_from_usd(usd_amounts: np.ndarray | float, country: np.ndarray) -> np.ndarray:
    """Float major units of local currency that buy what `usd_amounts` buy in the US."""
    return np.asarray(usd_amounts * USD_RATES[country] * PRICE_LEVELS[country])


@dataclass(frozen=True, slots=True)
class FxTable:
    """Mid rates per day: `usd_rates[day, currency]` units of the currency per USD."""

    usd_rates: np.ndarray

    @classmethod
    def simulate(cls, rng: np.random.Generator, days: int) -> FxTable:
        volatility = np.array([country.daily_volatility for country in COUNTRIES])
        steps = rng.normal(0.0, 1.0, size=(days, len(COUNTRIES))) * volatility
        steps[0] = 0.0
        return cls(USD_RATES * np.exp(np.cumsum(steps, axis=0)))

    def rate_scaled(self, day: int, paid: int, received: int, spread: float) -> int:
        """The customer rate from currency `paid` to `received` on `day`, times `RATE_SCALE`."""
        mid = self.usd_rates[day, received] / self.usd_rates[day, paid]
        return round(mid * (1.0 - spread) * RATE_SCALE)

    def rate_matrix(self, day: int, spread: float) -> np.ndarray:
        """All customer rates of `day` (scaled integers), `[paid, received]`."""
        count = len(COUNTRIES)
        return np.array(
            [[self.rate_scaled(day, i, j, spread) for j in range(count)] for i in range(count)],
            dtype=np.int64,
        )


def convert(units: np.ndarray, rate_scaled: np.ndarray, paid: np.ndarray, received: np.ndarray):
    """Exact conversion of integer minor units at scaled integer rates, rounding half to even.

    Python integers do the arithmetic (a product can exceed 64 bits); only cross-currency rows
    should be passed, which are a small minority.
    """
    out = np.empty(len(units), dtype=np.int64)
    shift = SCALES[received] - SCALES[paid]
    for index, (amount, rate, move) in enumerate(
        zip(units.tolist(), rate_scaled.tolist(), shift.tolist(), strict=True)
    ):
        numerator = amount * rate * 10 ** max(move, 0)
        denominator = RATE_SCALE * 10 ** max(-move, 0)
        quotient, remainder = divmod(numerator, denominator)
        if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2):
            quotient += 1
        out[index] = quotient
    return out
