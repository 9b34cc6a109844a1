"""Tiered KYC limits: how much a customer may pay per payment and per day.

Guarantees:
- Limits are exact: they are held as `Decimal` US dollars and compared against a payment converted
  to US dollars at a reference rate with `ROUND_CEILING`, so a payment is never let through by
  rounding. An asset without a reference rate is refused (`RateUnknown`), never guessed.
- Tier 0 (unverified) may receive but not pay; tiers 1–3 follow common mobile-money practice
  (basic phone-number KYC, verified identity, full due diligence). A customer may carry explicit
  limits that override the tier's.
- `LimitExceeded.code` names the limit that was hit (`per_payment_limit_exceeded`,
  `daily_limit_exceeded`, `tier_may_not_pay`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from clearline.core.assets import asset as asset_of
from clearline.core.errors import ClearlineError


class LimitExceeded(ClearlineError):
    """A payment would exceed the customer's tier limits."""

    code = "limit_exceeded"


class RateUnknown(ClearlineError):
    """No reference rate converts this asset to US dollars for the limit check."""

    code = "reference_rate_unknown"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-payment and per-day limits in US dollars (None: unlimited)."""

    per_payment_usd: Decimal | None
    per_day_usd: Decimal | None


TIER_LIMITS: dict[int, Limits] = {
    0: Limits(Decimal(0), Decimal(0)),
    1: Limits(Decimal(500), Decimal(1000)),
    2: Limits(Decimal(5000), Decimal(20000)),
    3: Limits(Decimal(100000), Decimal(500000)),
}
"""Default limits per KYC tier, US dollars."""

TIERS = tuple(sorted(TIER_LIMITS))

DEFAULT_UNITS_PER_USD: dict[str, Decimal] = {
    "USD": Decimal(1),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CNY": Decimal("7.2"),
    "INR": Decimal("83.5"),
    "IDR": Decimal("15800"),
    "PHP": Decimal("56.5"),
    "THB": Decimal("36"),
    "VND": Decimal("25000"),
    "MYR": Decimal("4.7"),
    "SGD": Decimal("1.35"),
    "KES": Decimal("130"),
    "NGN": Decimal("1500"),
    "GHS": Decimal("15"),
    "ZAR": Decimal("18.5"),
    "BRL": Decimal("5.4"),
    "MXN": Decimal("17"),
    "JPY": Decimal("150"),
    "KWD": Decimal("0.31"),
    "AED": Decimal("3.6725"),
    "SAR": Decimal("3.75"),
    "HKD": Decimal("7.8"),
    "CAD": Decimal("1.37"),
    "AUD": Decimal("1.52"),
    "CHF": Decimal("0.88"),
    "KRW": Decimal("1380"),
    "TWD": Decimal("32"),
    "LKR": Decimal("300"),
    "NPR": Decimal("133"),
    "ETB": Decimal("57"),
    "RWF": Decimal("1300"),
    "XOF": Decimal("605"),
    "XAF": Decimal("605"),
    "MAD": Decimal("10"),
    "TRY": Decimal("32"),
    "COP": Decimal("3900"),
    "PEN": Decimal("3.75"),
    "CLP": Decimal("930"),
    "ARS": Decimal("870"),
    "BDT": Decimal("118"),
    "PKR": Decimal("280"),
    "EGP": Decimal("48"),
    "TZS": Decimal("2600"),
    "UGX": Decimal("3750"),
    "USDC/6": Decimal(1),
}
"""Reference units of each asset per US dollar, for limit checks only (not for conversion)."""


class ReferenceRates:
    """Converts minor units of an asset to US dollars for limit checks."""

    def __init__(self, units_per_usd: Mapping[str, Decimal] | None = None) -> None:
        self._units_per_usd = dict(
            DEFAULT_UNITS_PER_USD if units_per_usd is None else units_per_usd
        )

    def to_usd(self, amount_minor: int, asset_spec: str) -> Decimal:
        rate = self._units_per_usd.get(asset_spec)
        if rate is None:
            raise RateUnknown(
                f"no reference rate for {asset_spec}: limits cannot be checked; add the asset's "
                "units per USD to the reference rates (CLEARLINE reference_rates.json)"
            )
        major = Decimal(amount_minor).scaleb(-asset_of(asset_spec).scale)
        return (major / rate).quantize(Decimal("0.000001"), rounding=ROUND_CEILING)


def limits_for(tier: int, override: Limits | None = None) -> Limits:
    """The limits of a customer of KYC `tier`, or its explicit `override`."""
    if override is not None:
        return override
    return TIER_LIMITS[tier]


def check_payment(limits: Limits, tier: int, amount_usd: Decimal, spent_today_usd: Decimal) -> None:
    """Raise `LimitExceeded` if paying `amount_usd` breaks `limits`, given today's spend."""
    if limits.per_payment_usd is not None and limits.per_payment_usd == 0:
        raise LimitExceeded(
            f"KYC tier {tier} may not make payments: verify the customer's identity to raise "
            "the tier",
            code="tier_may_not_pay",
        )
    if limits.per_payment_usd is not None and amount_usd > limits.per_payment_usd:
        raise LimitExceeded(
            f"the payment (USD {amount_usd:.2f}) is above the per-payment limit of "
            f"USD {limits.per_payment_usd} for KYC tier {tier}",
            code="per_payment_limit_exceeded",
        )
    if limits.per_day_usd is not None and spent_today_usd + amount_usd > limits.per_day_usd:
        raise LimitExceeded(
            f"the payment would bring today's payments to USD {spent_today_usd + amount_usd:.2f}, "
            f"above the daily limit of USD {limits.per_day_usd} for KYC tier {tier}",
            code="daily_limit_exceeded",
        )
