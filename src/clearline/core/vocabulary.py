"""The payment vocabulary every room shares: payment types and channels, in a fixed order.

The order is part of the contract: the simulator stores these as small integer codes and the risk
features encode them by position, so appending is safe and reordering is not.
"""

from __future__ import annotations

PAYMENT_TYPES = (
    "merchant_payment",
    "refund",
    "p2p",
    "remittance",
    "bill",
    "salary",
    "gig_income",
    "pension",
    "trade",
    "cash_in",
    "cash_out",
)
"""What a payment is for."""

CHANNELS = ("qr", "card", "mobile_app", "web", "api", "atm", "agent", "branch")
"""How a payment was made."""
