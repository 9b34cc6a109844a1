"""Know your customer: tiers and the payment limits each tier allows, identity documents
validated (`identity`, `mrz`), and the documents each tier needs (`requirements`)."""

from clearline.kyc.identity import (
    DOCUMENT_TYPES,
    DocumentType,
    IdentifierInvalid,
    ValidDocument,
    validate_document,
)
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
from clearline.kyc.requirements import TIER_REQUIREMENTS, missing_documents

__all__ = [
    "DOCUMENT_TYPES",
    "TIERS",
    "TIER_LIMITS",
    "TIER_REQUIREMENTS",
    "DocumentType",
    "IdentifierInvalid",
    "LimitExceeded",
    "Limits",
    "RateUnknown",
    "ReferenceRates",
    "ValidDocument",
    "check_payment",
    "limits_for",
    "missing_documents",
    "validate_document",
]
