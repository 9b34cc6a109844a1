"""The payment room's records and their errors.

Ids in the platform are 128-bit integers written as 32 lowercase hex digits outside; ledger
accounts and transfers use the same integers, so a payment's id is its ledger transfer's id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from clearline.core.errors import ClearlineError, InvalidInput

ACCOUNT_KINDS = ("wallet", "omnibus")
CUSTOMER_KINDS = ("person", "merchant", "enterprise", "agent")
CAPTURE_MODES = ("automatic", "manual")

# Ledger codes: what each transfer of the platform is for.
CODE_PAYMENT = 1  # a payment and its hold's steps (capture, void, review approval/rejection)
CODE_REFUND = 4
CODE_TRANSFER = 5  # operator transfers (funding, settlement)

ACCOUNT_CODE = {"wallet": 100, "omnibus": 1}

PAYMENT_STATUSES = (
    "completed",  # approved and posted
    "authorized",  # approved, funds held until captured or voided (manual capture)
    "in_review",  # held until an analyst approves or rejects it, or it expires
    "captured",  # an authorization captured (in full or in part)
    "voided",  # an authorization voided
    "rejected",  # an analyst rejected it in review
    "expired",  # the hold ran out before anyone acted
    "declined",  # the risk decision declined it; nothing moved
    "failed",  # the ledger refused it (for example insufficient funds); nothing moved
    "refunded",  # everything that was settled has been refunded
)
OPEN_HOLD_STATUSES = ("authorized", "in_review")


class NotFound(ClearlineError):
    """The resource does not exist (or the caller may not see it)."""

    code = "not_found"


class Conflict(ClearlineError):
    """The request conflicts with the resource's state (capture of a completed payment, …)."""

    code = "conflict"


class PaymentRefused(ClearlineError):
    """The ledger refused a money movement; nothing moved. `code` is the ledger's result."""

    code = "payment_refused"


def parse_id(text: str, what: str) -> int:
    """A 32-hex-digit id from outside; `InvalidInput` naming `what` otherwise."""
    if not isinstance(text, str) or len(text) != 32:
        raise InvalidInput(
            f"{what} must be 32 lowercase hex digits, got {text!r}", code=f"invalid_{what}"
        )
    try:
        value = int(text, 16)
    except ValueError:
        raise InvalidInput(
            f"{what} must be 32 lowercase hex digits, got {text!r}", code=f"invalid_{what}"
        ) from None
    if value == 0 or value == (1 << 128) - 1:
        raise InvalidInput(f"{what} {text!r} is reserved", code=f"invalid_{what}")
    return value


def format_id(value: int) -> str:
    return f"{value:032x}"


def derive_id(parent: int, label: str) -> int:
    """A deterministic id for the `label` step of `parent` (its capture, void, …), so a retried
    step is the same ledger transfer and the ledger's idempotency makes it happen once."""
    digest = hashlib.sha256(parent.to_bytes(16, "big") + label.encode()).digest()
    value = int.from_bytes(digest[:16], "big")
    return value if 0 < value < (1 << 128) - 1 else 1


@dataclass(slots=True)
class Customer:
    id: int
    name: str
    kind: str
    tier: int
    country: str
    per_payment_limit_usd: str | None
    per_day_limit_usd: str | None
    created_ns: int


@dataclass(slots=True)
class AccountInfo:
    id: int
    customer_id: int | None
    asset: str
    kind: str
    created_ns: int


@dataclass(slots=True)
class Payment:
    id: int
    customer_id: int
    source_account_id: int
    destination_account_id: int
    destination_customer_id: int | None
    amount: int
    asset: str
    payment_type: str
    channel: str
    capture: str
    status: str
    action: str
    score: float
    model_version: str
    rules_version: str
    reasons: list[str]
    refusal: str | None
    captured: int
    refunded: int
    expires_ns: int | None
    reference: str | None
    details: dict[str, object] = field(default_factory=dict)
    created_ns: int = 0
    updated_ns: int = 0
    seq: int = 0
