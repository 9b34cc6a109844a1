"""Customers and their accounts: onboarding, KYC tiers and limits, personal data encrypted at
rest, and the ledger accounts each customer holds."""

from clearline.customers.directory import (
    ENCRYPTED_COLUMNS,
    SCHEMA,
    Directory,
    TierDocumentsMissing,
)
from clearline.customers.documents import Document, DocumentConflict, Documents
from clearline.customers.model import (
    ACCOUNT_CODE,
    ACCOUNT_KINDS,
    CUSTOMER_KINDS,
    AccountInfo,
    Customer,
    EffectiveLimits,
    NewCustomer,
    effective_limits,
)

__all__ = [
    "ACCOUNT_CODE",
    "ACCOUNT_KINDS",
    "CUSTOMER_KINDS",
    "ENCRYPTED_COLUMNS",
    "SCHEMA",
    "AccountInfo",
    "Customer",
    "Directory",
    "Document",
    "DocumentConflict",
    "Documents",
    "EffectiveLimits",
    "NewCustomer",
    "TierDocumentsMissing",
    "effective_limits",
]
