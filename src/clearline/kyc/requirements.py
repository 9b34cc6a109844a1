"""The documents each KYC tier needs before a customer may hold it.

Guarantees:
- `missing_documents(tier, customer_kind, held)` lists, in a stable order, the requirement names
  the customer's documents do not meet yet (empty: the tier may be set). Pure.
- The table (`TIER_REQUIREMENTS`), chosen after the common risk-based practice (FATF
  Recommendation 10, the EU AMLD and JMLSG guidance: verify identity from a reliable,
  independent source; for higher limits, a second independent source):
  - tier 0 and 1: none (tier 1 is basic phone-number KYC with small limits);
  - tier 2: `government_identity`: one validated government identity document (national
    identity number, passport or ID card MRZ); a merchant or enterprise may show its business
    registration (`cn_uscc`, `sg_uen`, `us_ein`, `th_moa`) instead;
  - tier 3: `government_identity` and `second_document`: a second document of another type
    (another identity document, a tax number, a business registration, or an IBAN: a bank
    account that a regulated bank has verified). A BIC identifies a bank, not the customer,
    and counts for nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clearline.kyc.identity import DOCUMENT_TYPES

BUSINESS_KINDS = frozenset({"merchant", "enterprise"})


@dataclass(frozen=True, slots=True)
class Requirement:
    """One thing a tier needs: `name` (what a refusal names), the document kinds that meet it
    for a person and for a business, and the number of distinct document types it counts
    towards (`second_document` needs two types in all)."""

    name: str
    person_kinds: frozenset[str]
    business_kinds: frozenset[str]
    distinct_types: int


GOVERNMENT_IDENTITY = Requirement(
    "government_identity", frozenset({"identity"}), frozenset({"identity", "registration"}), 1
)
SECOND_DOCUMENT = Requirement(
    "second_document",
    frozenset({"identity", "tax", "registration", "bank_account"}),
    frozenset({"identity", "tax", "registration", "bank_account"}),
    2,
)
TIER_REQUIREMENTS: dict[int, tuple[Requirement, ...]] = {
    0: (),
    1: (),
    2: (GOVERNMENT_IDENTITY,),
    3: (GOVERNMENT_IDENTITY, SECOND_DOCUMENT),
}
"""What each KYC tier needs."""


def missing_documents(tier: int, customer_kind: str, held: Iterable[str]) -> list[str]:
    """The requirements of `tier` that documents of the types `held` do not meet."""
    types = set(held)
    missing = []
    for requirement in TIER_REQUIREMENTS[tier]:
        kinds = (
            requirement.business_kinds
            if customer_kind in BUSINESS_KINDS
            else requirement.person_kinds
        )
        meeting = {t for t in types if t in DOCUMENT_TYPES and DOCUMENT_TYPES[t].kind in kinds}
        if len(meeting) < requirement.distinct_types:
            missing.append(requirement.name)
    return missing
