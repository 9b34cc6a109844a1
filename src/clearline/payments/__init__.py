"""The payment lifecycle: limits → risk → ledger → log, reviews, captures, voids and refunds."""

from clearline.payments.model import Conflict, NotFound, Payment, PaymentRefused
from clearline.payments.service import PaymentRequest, PaymentService, payment_id_for

__all__ = [
    "Conflict",
    "NotFound",
    "Payment",
    "PaymentRefused",
    "PaymentRequest",
    "PaymentService",
    "payment_id_for",
]
