"""Know your customer: tiers and the payment limits each tier allows."""

from clearline.kyc.limits import (
    TIER_LIMITS,
    TIERS,
    LimitExceeded,
    Limits,
    RateUnknown,
    ReferenceRates,
    check_payment,
    limits_for,
)

__all__ = [
    "TIERS",
    "TIER_LIMITS",
    "LimitExceeded",
    "Limits",
    "RateUnknown",
    "ReferenceRates",
    "check_payment",
    "limits_for",
]
