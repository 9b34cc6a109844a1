"""The payment room's records and their errors.

Ids in the platform are 128-bit integers written as 32 lowercase hex digits outside; ledger
accounts and transfers use the same integers, so a payment's id is its ledger transfer's id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clearline.core.errors import ClearlineError, Conflict, NotFound
from clearline.core.ids import derive_id, format_id, parse_id

__all__ = [
    "CAPTURE_MODES",
    "CODE_PAYMENT",
    "CODE_REFUND",
    "CODE_TRANSFER",
    "OPEN_HOLD_STATUSES",
    "PAYMENT_STATUSES",
    "Conflict",
    "NotFound",
    "Payment",
    "PaymentRefused",
    "derive_id",
    "format_id",
    "parse_id",
]

CAPTURE_MODES = ("automatic", "manual")

# Ledger codes: what each transfer of the platform is for.
CODE_PAYMENT = 1  # a payment and its hold's steps (capture, void, review approval/rejection)
CODE_REFUND = 4
CODE_TRANSFER = 5  # operator transfers (funding, settlement)

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


class PaymentRefused(ClearlineError):
    """The ledger refused a money movement; nothing moved. `code` is the ledger's result."""

    code = "payment_refused"


@dataclass(slots=True)
class Payment:
    """A payment and its decision. `initiated_by`: the id of the API key that sent it (None for
    records recovered from the ledger after a crash, and those made before it was recorded)."""

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
    initiated_by: str | None = None
