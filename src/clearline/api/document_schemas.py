"""The JSON shapes of identity documents on customers (pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from clearline.api.schemas import PERSONAL, Strict

DocumentTypeId = Literal[
    "cn_ric",
    "cn_uscc",
    "th_pin",
    "th_moa",
    "my_nric",
    "sg_uen",
    "id_nik",
    "us_ssn",
    "us_ein",
    "de_idnr",
    "iban",
    "bic",
    "passport_mrz",
    "id_card_mrz",
]
"""Every id of `clearline.kyc.DOCUMENT_TYPES` (a test keeps the two equal)."""
MRZ_LINE_LENGTH_MAX = 44
MRZ_LINES_MAX = 3


class DocumentIn(Strict):
    type: DocumentTypeId = Field(description="the document type (see docs/kyc.md)")
    issuing_country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2")
    number: str | None = Field(
        default=None, min_length=1, max_length=64, description=f"the number; {PERSONAL}"
    )
    mrz_lines: list[str] | None = Field(
        default=None,
        min_length=2,
        max_length=MRZ_LINES_MAX,
        description=f"passport_mrz: 2 lines of 44; id_card_mrz: 3 lines of 30; {PERSONAL}",
    )
    expiry_date: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        description="YYYY-MM-DD, for documents whose number does not carry it",
    )


class DocumentOut(BaseModel):
    id: str
    customer_id: str
    type: str
    issuing_country: str
    number: str = Field(description="masked: all but the last 4 characters are *")
    kind: str = Field(description="identity, tax, registration, bank_account or bank")
    details: dict[str, str] = Field(
        description="what the number tells (birth_date, sex, region, holder_name, …); "
        "auditors see only the fields that are not personal data"
    )
    expiry_date: str | None
    created_at: str


class DocumentsOut(BaseModel):
    data: list[DocumentOut]
