"""Identity and registration numbers: validated by the field's libraries, read for what they tell.

Guarantees:
- Each document type (`DOCUMENT_TYPES`) has a stable id (`cn_ric`, `passport_mrz`, …), the
  country whose numbers it validates (None: any country; the caller names the issuing country),
  and a kind (`identity`, `tax`, `registration`, `bank_account`, `bank`) that the tier rules in
  `kyc.requirements` read.
- `validate_document` returns the normalised ("compact") number and what the number tells
  (birth date, sex, region, expiry, name for MRZ) or raises `IdentifierInvalid`, whose `check`
  names the first check that failed: `length`, `format`, `checksum`, `birth_date`, `region`,
  `component`, `issuing_country`, `expired`, `mrz_check_digit:<field>` …
- National numbers are checked by python-stdnum, IBAN and BIC by schwifty, MRZ by `kyc.mrz`
  (ICAO 9303). Pure: `today` is passed in (expiry and MRZ birth centuries), nothing is stored.

The simulator's countries (CN, HK, TH, AE, SA, SG, MY, US, DE): stdnum 2.2 has no module for
Hong Kong, the UAE or Saudi Arabia; their residents identify with `passport_mrz` or
`id_card_mrz` (the Emirates ID card carries a TD1 MRZ).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from types import ModuleType
from typing import Literal

import pycountry
from schwifty import BIC, IBAN
from schwifty.exceptions import (
    InvalidAccountCode,
    InvalidBankCode,
    InvalidBBANChecksum,
    InvalidBranchCode,
    InvalidChecksumDigits,
    InvalidCountryCode,
    InvalidLength,
    InvalidStructure,
    SchwiftyException,
)
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric as cn_ric
from stdnum.cn import uscc as cn_uscc
from stdnum.de import idnr as de_idnr
from stdnum.id import nik as id_nik
from stdnum.my import nric as my_nric
from stdnum.sg import uen as sg_uen
from stdnum.th import moa as th_moa
from stdnum.th import pin as th_pin
from stdnum.us import ein as us_ein
from stdnum.us import ssn as us_ssn

from clearline.core.errors import InvalidInput
from clearline.kyc.mrz import Mrz, MrzInvalid, parse_td1, parse_td3

DocumentKind = Literal["identity", "tax", "registration", "bank_account", "bank"]
NUMBER_LENGTH_MAX = 64
"""No identifier here is longer; longer input is refused before any library sees it."""
ICAO_SPECIAL_STATES = {"D": "DE"}
"""ICAO 9303 codes that are not ISO 3166 alpha-3 (Germany prints `D`)."""


class IdentifierInvalid(InvalidInput):
    """An identifier failed a check: `check` names it, `document_type` the type checked."""

    code = "identifier_invalid"

    def __init__(self, document_type: str, check: str, message: str) -> None:
        super().__init__(f"{document_type}: {message} (check: {check})")
        self.document_type, self.check = document_type, check


@dataclass(frozen=True, slots=True)
class DocumentType:
    """A kind of identifier. `country`: the ISO 3166 alpha-2 country whose numbers it validates
    (None: issued anywhere, the caller names the issuing country). `kind`: what it proves.
    `machine_readable`: given as MRZ lines, not a number."""

    id: str
    label: str
    country: str | None
    kind: DocumentKind
    machine_readable: bool = False


@dataclass(frozen=True, slots=True)
class ValidDocument:
    """A validated identifier and what it tells (None: the number does not say).

    number: the compact form (no spaces or separators; for MRZ, the document number).
    birth_date, sex (`female`/`male`), region (where the number was issued or the holder born).
    expiry_date: from the MRZ. holder_name: from the MRZ (`SURNAME, GIVEN NAMES`).
    facts: further readings (bank code of an IBAN, nationality of an MRZ, …).
    """

    document_type: str
    issuing_country: str
    number: str
    birth_date: date | None = None
    sex: str | None = None
    region: str | None = None
    expiry_date: date | None = None
    holder_name: str | None = None
    facts: dict[str, str] = field(default_factory=dict)


_TYPES = (
    DocumentType("cn_ric", "China resident identity card", "CN", "identity"),
    DocumentType("cn_uscc", "China unified social credit code", "CN", "registration"),
    DocumentType("th_pin", "Thailand personal identification number", "TH", "identity"),
    DocumentType("th_moa", "Thailand company registration number (MOA)", "TH", "registration"),
    DocumentType("my_nric", "Malaysia national registration identity card", "MY", "identity"),
    DocumentType("sg_uen", "Singapore unique entity number", "SG", "registration"),
    DocumentType("id_nik", "Indonesia population identity number (NIK)", "ID", "identity"),
    DocumentType("us_ssn", "United States social security number", "US", "identity"),
    DocumentType("us_ein", "United States employer identification number", "US", "registration"),
    DocumentType("de_idnr", "Germany tax identification number", "DE", "tax"),
    DocumentType("iban", "International bank account number", None, "bank_account"),
    DocumentType("bic", "Business identifier code (SWIFT)", None, "bank"),
    DocumentType("passport_mrz", "Passport (ICAO 9303 TD3 MRZ)", None, "identity", True),
    DocumentType("id_card_mrz", "Identity card (ICAO 9303 TD1 MRZ)", None, "identity", True),
)
DOCUMENT_TYPES: dict[str, DocumentType] = {kind.id: kind for kind in _TYPES}
"""Every document type by id."""


def validate_document(
    type_id: str,
    issuing_country: str,
    *,
    today: date,
    number: str | None = None,
    mrz_lines: list[str] | None = None,
) -> ValidDocument:
    """Validate one identifier of `type_id` issued by `issuing_country` (ISO 3166 alpha-2)."""
    document_type = DOCUMENT_TYPES.get(type_id)
    if document_type is None:
        raise IdentifierInvalid(type_id, "document_type", "not a known document type")
    country = issuing_country.upper()
    if document_type.country is not None and country != document_type.country:
        raise IdentifierInvalid(
            type_id, "issuing_country", f"is issued by {document_type.country}, not {country}"
        )
    if document_type.machine_readable:
        if not mrz_lines:
            raise IdentifierInvalid(type_id, "format", "send the MRZ lines, not a number")
        return _mrz_document(type_id, country, mrz_lines, today)
    if number is None or not number.strip():
        raise IdentifierInvalid(type_id, "format", "send the number")
    if len(number) > NUMBER_LENGTH_MAX:
        raise IdentifierInvalid(type_id, "length", f"longer than {NUMBER_LENGTH_MAX} characters")
    if type_id in ("iban", "bic"):
        return _bank_identifier(type_id, country, number)
    return _NATIONAL[type_id](number)


# -- national numbers (python-stdnum) -------------------------------------------------------------

_STDNUM_CHECKS: tuple[tuple[type[Exception], str], ...] = (
    (stdnum_errors.InvalidChecksum, "checksum"),
    (stdnum_errors.InvalidLength, "length"),
    (stdnum_errors.InvalidFormat, "format"),
    (stdnum_errors.InvalidComponent, "component"),
)


def _validated(
    type_id: str, module: ModuleType, number: str, component: Callable[[], str] | None = None
) -> str:
    """`module.validate(number)`, its failure named as a check. `component`: tells what an
    `InvalidComponent` was about for this type (default `component`)."""
    try:
        compact: str = module.validate(number)
    except stdnum_errors.ValidationError as error:
        for error_type, check in _STDNUM_CHECKS:
            if isinstance(error, error_type):
                name = check
                if check == "component" and component is not None:
                    name = component()
                raise IdentifierInvalid(type_id, name, (str(error) or check).lower()) from None
        raise IdentifierInvalid(type_id, "format", "is not valid") from None
    return compact


def _birth_or_region(module: ModuleType, number: str) -> Callable[[], str]:
    """Which part an `InvalidComponent` of a number holding a birth date and a region was about
    (asked only after `validate` passed the length and format checks)."""

    def component() -> str:
        try:
            module.get_birth_date(number)
        except stdnum_errors.ValidationError:
            return "birth_date"
        return "region"

    return component


def _cn_ric(number: str) -> ValidDocument:
    compact = _validated("cn_ric", cn_ric, number, _birth_or_region(cn_ric, number))
    place = cn_ric.get_birth_place(compact)
    region = " ".join(place[part] for part in ("province", "prefecture", "county") if part in place)
    return ValidDocument(
        "cn_ric",
        "CN",
        compact,
        birth_date=cn_ric.get_birth_date(compact),
        sex="male" if int(compact[16]) % 2 else "female",
        region=f"{compact[:6]} {region}".strip(),
    )


def _my_nric(number: str) -> ValidDocument:
    compact = _validated("my_nric", my_nric, number, _birth_or_region(my_nric, number))
    place = my_nric.get_birth_place(compact)
    return ValidDocument(
        "my_nric",
        "MY",
        compact,
        birth_date=my_nric.get_birth_date(compact),
        sex="male" if int(compact[-1]) % 2 else "female",
        region=place.get("state") or place.get("country"),
    )


def _id_nik(number: str) -> ValidDocument:
    compact = _validated("id_nik", id_nik, number, _birth_or_region(id_nik, number))
    return ValidDocument(
        "id_nik",
        "ID",
        compact,
        birth_date=id_nik.get_birth_date(compact),
        sex="female" if int(compact[6:8]) > 40 else "male",
        region=compact[:6],
    )


def _plain(type_id: str, country: str, module: ModuleType) -> Callable[[str], ValidDocument]:
    def validate(number: str) -> ValidDocument:
        return ValidDocument(type_id, country, _validated(type_id, module, number))

    return validate


_NATIONAL: dict[str, Callable[[str], ValidDocument]] = {
    "cn_ric": _cn_ric,
    "my_nric": _my_nric,
    "id_nik": _id_nik,
    "cn_uscc": _plain("cn_uscc", "CN", cn_uscc),
    "th_pin": _plain("th_pin", "TH", th_pin),
    "th_moa": _plain("th_moa", "TH", th_moa),
    "sg_uen": _plain("sg_uen", "SG", sg_uen),
    "us_ssn": _plain("us_ssn", "US", us_ssn),
    "us_ein": _plain("us_ein", "US", us_ein),
    "de_idnr": _plain("de_idnr", "DE", de_idnr),
}


# -- IBAN and BIC (schwifty) ----------------------------------------------------------------------

_SCHWIFTY_CHECKS: tuple[tuple[type[Exception], str], ...] = (
    (InvalidChecksumDigits, "checksum"),
    (InvalidBBANChecksum, "national_checksum"),
    (InvalidLength, "length"),
    (InvalidCountryCode, "country_code"),
    (InvalidBankCode, "bank_code"),
    (InvalidBranchCode, "branch_code"),
    (InvalidAccountCode, "account_code"),
    (InvalidStructure, "format"),
)


def _bank_identifier(type_id: str, country: str, number: str) -> ValidDocument:
    try:
        parsed: IBAN | BIC = IBAN(number) if type_id == "iban" else BIC(number)
    except SchwiftyException as error:
        check = next((c for t, c in _SCHWIFTY_CHECKS if isinstance(error, t)), "format")
        # schwifty's messages quote the number: the problem document must not carry it
        raise IdentifierInvalid(type_id, check, f"the {check.replace('_', ' ')} is wrong") from None
    if parsed.country_code != country:
        raise IdentifierInvalid(
            type_id, "issuing_country", f"belongs to {parsed.country_code}, not {country}"
        )
    facts = {"bank_code": parsed.bank_code or ""}
    if isinstance(parsed, BIC):
        facts["location_code"] = parsed.location_code
    return ValidDocument(type_id, country, parsed.compact, facts=facts)


# -- machine readable zones (ICAO 9303) -----------------------------------------------------------


def _alpha2(icao_state: str) -> str | None:
    if icao_state in ICAO_SPECIAL_STATES:
        return ICAO_SPECIAL_STATES[icao_state]
    found = pycountry.countries.get(alpha_3=icao_state)
    return None if found is None else str(found.alpha_2)


def _mrz_document(type_id: str, country: str, lines: list[str], today: date) -> ValidDocument:
    try:
        read: Mrz = (
            parse_td3(lines, today) if type_id == "passport_mrz" else parse_td1(lines, today)
        )
    except MrzInvalid as error:
        raise IdentifierInvalid(type_id, error.check, error.message) from None
    issuer = _alpha2(read.issuing_state)
    if issuer != country:
        raise IdentifierInvalid(
            type_id,
            "issuing_country",
            f"the MRZ names issuing state {read.issuing_state}, which is not {country}",
        )
    if read.expiry_date < today:
        raise IdentifierInvalid(type_id, "expired", f"expired on {read.expiry_date.isoformat()}")
    return ValidDocument(
        type_id,
        country,
        read.document_number,
        birth_date=read.birth_date,
        sex=read.sex,
        expiry_date=read.expiry_date,
        holder_name=f"{read.surname}, {read.given_names}".strip(", "),
        facts={"nationality": read.nationality, "document_code": read.document_code},
    )
