"""Customers and their accounts: the records, what each field means, and the limits that apply.

Personal data (`name`, `identity_number`, `address`, `phone`) lives here in clear only in
memory; the platform database holds it encrypted (`customers.directory`), and no log line ever
carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from clearline.kyc import TIER_LIMITS, Limits

CUSTOMER_KINDS = ("person", "merchant", "enterprise", "agent")
ACCOUNT_KINDS = ("wallet", "omnibus")
ACCOUNT_CODE = {"wallet": 100, "omnibus": 1}
"""The ledger code of each kind of account."""
PERSONAL_FIELDS = ("name", "identity_number", "address", "phone")
"""The fields held encrypted at rest."""


@dataclass(slots=True)
class Customer:
    """A person or business the platform serves. `tier`: KYC tier 0–3. `per_payment_limit_usd`,
    `per_day_limit_usd`: explicit limits set by an operator (decimal strings, None: the tier's).
    `identity_number`, `address`, `phone`: personal data, optional."""

    id: int
    name: str
    kind: str
    tier: int
    country: str
    per_payment_limit_usd: str | None
    per_day_limit_usd: str | None
    created_ns: int
    identity_number: str | None = None
    address: str | None = None
    phone: str | None = None

    def override(self) -> Limits | None:
        """The customer's own limits, when an operator set any."""
        if self.per_payment_limit_usd is None and self.per_day_limit_usd is None:
            return None
        return Limits(_decimal(self.per_payment_limit_usd), _decimal(self.per_day_limit_usd))


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """The limits that apply to a customer's payments, and where each comes from: `customer`
    (set for this customer by an operator) or `tier` (the KYC tier's default)."""

    per_payment_usd: Decimal | None
    per_day_usd: Decimal | None
    source: Literal["tier", "customer"]
    tier_per_payment_usd: Decimal | None
    tier_per_day_usd: Decimal | None


def effective_limits(customer: Customer) -> EffectiveLimits:
    tier = TIER_LIMITS[customer.tier]
    own = customer.override()
    chosen = tier if own is None else own
    return EffectiveLimits(
        chosen.per_payment_usd,
        chosen.per_day_usd,
        "tier" if own is None else "customer",
        tier.per_payment_usd,
        tier.per_day_usd,
    )


@dataclass(slots=True)
class AccountInfo:
    """A ledger account the platform opened: its owner (None for an omnibus account, the
    platform's own side of money entering and leaving), asset and kind."""

    id: int
    customer_id: int | None
    asset: str
    kind: str
    created_ns: int


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """What an operator sends to onboard a customer (validated by `Directory`)."""

    name: str
    kind: str = "person"
    tier: int = 1
    country: str = "US"
    limits: Limits | None = None
    identity_number: str | None = None
    address: str | None = None
    phone: str | None = None


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
