"""The payment lifecycle: limits → risk → ledger → log, reviews, captures, voids and refunds.

Modules: `service` (creation, queries, operator transfers), `holds` (capture, void, review
decisions, refunds), `expiry` (holds nobody acted on), `limits` (daily limit reservations),
`records` (the payment tables), `recovery` (records lost in a crash, rebuilt from the ledger),
`concurrency` (per-payment locks, transfer coalescing), `risk_gate` (the model or the rules),
`proofs` (checkpoints and inclusion proofs of a running node), `model` (records and errors).
"""

from clearline.payments.model import Conflict, NotFound, Payment, PaymentRefused
from clearline.payments.records import SCHEMA
from clearline.payments.service import PaymentRequest, PaymentService, payment_id_for

__all__ = [
    "SCHEMA",
    "Conflict",
    "NotFound",
    "Payment",
    "PaymentRefused",
    "PaymentRequest",
    "PaymentService",
    "payment_id_for",
]
