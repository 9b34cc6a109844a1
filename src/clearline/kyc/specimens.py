"""Synthetic identity documents that pass every check: for tests, the demo and benchmarks.

Guarantees:
- `specimen_documents(seed, country, tier)` returns the documents `kyc.requirements` asks of a
  person at `tier` (none below tier 2; a passport, and from tier 3 an ID card too), as the
  bodies of `POST /v1/customers/{id}/documents`. They are ICAO 9303 MRZ lines built by
  `kyc.mrz` for the customer's country, so they exist for every country of the simulator.
- Deterministic: the document numbers are derived from `seed` (SHA-256), so a re-run of an
  idempotent setup sends the same documents; different seeds give different numbers (9
  characters of base 36: about 10^14 of them).
- Never real people: surnames are `SPECIMEN`, and the numbers are random-looking strings.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pycountry

from clearline.kyc.mrz import compose_td1, compose_td3

DOCUMENT_NUMBER_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SPECIMEN_BIRTH_DATE = date(1990, 1, 1)
SPECIMEN_EXPIRY_DATE = date(2099, 12, 31)


def specimen_number(seed: str, purpose: str) -> str:
    """Nine base-36 characters derived from `seed` and `purpose`."""
    value = int.from_bytes(hashlib.sha256(f"{purpose}:{seed}".encode()).digest()[:8], "big")
    characters = []
    for _ in range(9):
        value, digit = divmod(value, len(DOCUMENT_NUMBER_ALPHABET))
        characters.append(DOCUMENT_NUMBER_ALPHABET[digit])
    return "".join(characters)


def alpha3(country: str) -> str:
    """The ICAO 9303 code of an ISO 3166 alpha-2 country (Germany prints `D`)."""
    if country.upper() == "DE":
        return "D"
    found = pycountry.countries.get(alpha_2=country.upper())
    assert found is not None, f"unknown country {country}"
    return str(found.alpha_3)


def specimen_documents(seed: str, country: str, tier: int) -> list[dict[str, Any]]:
    """The document bodies a person at `tier` in `country` needs (see module docstring)."""
    if tier < 2:
        return []
    state = alpha3(country)
    fields: dict[str, Any] = {
        "issuing_state": state,
        "nationality": state,
        "birth_date": SPECIMEN_BIRTH_DATE,
        "expiry_date": SPECIMEN_EXPIRY_DATE,
        "sex": "<",
        "surname": "SPECIMEN",
        "given_names": "CUSTOMER",
    }
    passport = compose_td3(document_number=specimen_number(seed, "passport"), **fields)
    documents = [{"type": "passport_mrz", "issuing_country": country, "mrz_lines": passport}]
    if tier >= 3:
        card = compose_td1(document_number=specimen_number(seed, "id_card"), **fields)
        documents.append({"type": "id_card_mrz", "issuing_country": country, "mrz_lines": card})
    return documents
