"""Machine readable zones of travel documents (ICAO Doc 9303): TD3 passports and TD1 ID cards.

Guarantees:
- `parse_td3` and `parse_td1` check the shape (line count and length: `length`; characters
  `A-Z 0-9 <` and the document code: `format`), every check digit (`mrz_check_digit:<field>` for
  `document_number`, `birth_date`, `expiry_date`, `personal_number` (TD3), and `composite`), and
  the dates (`birth_date`, `expiry_date`: a real calendar date), then return the fields parsed.
  The first failure raises `MrzInvalid` naming its check; nothing is guessed or repaired.
- A TD1 document number longer than 9 characters continues in the optional data as 9303 part 5
  allows (the check-digit position holds `<`); it is read and checked like any other.
- Pure functions of their arguments: the century of a birth date is chosen against `today`
  (passed in, never read from a clock here).

Written by hand: the check digit is a ten-line weighted sum (7, 3, 1) fixed by the standard, and
the fields are fixed-width slices. The one PyPI library that checks MRZ lines (`mrz`) has had no
release since 2020; OCR libraries (`fastmrz`, PassportEye) read images, which this is not about.
`compose_td3` and `compose_td1` build valid lines (tests, the demo's synthetic customers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from clearline.core.errors import InvalidInput

TD3_LINES, TD3_LINE_LENGTH = 2, 44
TD1_LINES, TD1_LINE_LENGTH = 3, 30
DOCUMENT_NUMBER_LENGTH = 9
"""The document number field's width; longer numbers continue in TD1's optional data."""
WEIGHTS = (7, 3, 1)
FILLER = "<"
_MRZ_LINE = re.compile(r"[A-Z0-9<]+")


class MrzInvalid(InvalidInput):
    """A machine readable zone failed a check; `check` names it (`mrz_check_digit:birth_date`)."""

    code = "mrz_invalid"

    def __init__(self, check: str, message: str) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True, slots=True)
class Mrz:
    """The fields of a machine readable zone.

    document_code: `P` (passport, TD3) or `I`/`A`/`C` (ID card, TD1), with its second letter if any.
    issuing_state, nationality: ICAO 9303 three-letter codes (`UTO`, `D` for Germany, as printed).
    document_number: without fillers. surname, given_names: as printed, `<` read as spaces.
    birth_date, expiry_date: dates. sex: `female`, `male` or None (`<`, unspecified).
    optional_data: TD3's personal number or TD1's optional fields, without fillers.
    """

    document_code: str
    issuing_state: str
    document_number: str
    nationality: str
    birth_date: date
    expiry_date: date
    sex: str | None
    surname: str
    given_names: str
    optional_data: str


def check_digit(field: str) -> str:
    """The ICAO 9303 check digit of `field`: digits as themselves, A–Z as 10–35, `<` as 0, weighted
    7, 3, 1 repeating, summed modulo 10."""
    total = 0
    for index, character in enumerate(field):
        if character.isdigit():
            value = int(character)
        elif "A" <= character <= "Z":
            value = ord(character) - ord("A") + 10
        elif character == FILLER:
            value = 0
        else:
            raise MrzInvalid("format", f"{character!r} is not an MRZ character (A-Z, 0-9, <)")
        total += value * WEIGHTS[index % 3]
    return str(total % 10)


def parse_td3(lines: list[str], today: date) -> Mrz:
    """Check and read a passport's two 44-character lines (ICAO 9303 part 4)."""
    first, second = _shape(lines, TD3_LINES, TD3_LINE_LENGTH)
    if first[0] != "P":
        raise MrzInvalid("format", "a TD3 passport MRZ starts with P")
    _check(second[0:9], second[9], "document_number")
    _check(second[13:19], second[19], "birth_date")
    _check(second[21:27], second[27], "expiry_date")
    personal = second[28:42]
    if not (second[42] == FILLER and personal == FILLER * 14):
        _check(personal, second[42], "personal_number")
    _check(second[0:10] + second[13:20] + second[21:43], second[43], "composite")
    surname, given = _names(first[5:44])
    return Mrz(
        document_code=first[0:2].rstrip(FILLER),
        issuing_state=first[2:5].rstrip(FILLER),
        document_number=second[0:9].rstrip(FILLER),
        nationality=second[10:13].rstrip(FILLER),
        birth_date=_birth_date(second[13:19], today),
        expiry_date=_expiry_date(second[21:27]),
        sex=_sex(second[20]),
        surname=surname,
        given_names=given,
        optional_data=personal.rstrip(FILLER),
    )


def parse_td1(lines: list[str], today: date) -> Mrz:
    """Check and read an ID card's three 30-character lines (ICAO 9303 part 5)."""
    first, second, third = _shape(lines, TD1_LINES, TD1_LINE_LENGTH)
    if first[0] not in "IAC":
        raise MrzInvalid("format", "a TD1 ID card MRZ starts with I, A or C")
    number, optional = _td1_number(first)
    _check(second[0:6], second[6], "birth_date")
    _check(second[8:14], second[14], "expiry_date")
    _check(first[5:30] + second[0:7] + second[8:15] + second[18:29], second[29], "composite")
    surname, given = _names(third)
    return Mrz(
        document_code=first[0:2].rstrip(FILLER),
        issuing_state=first[2:5].rstrip(FILLER),
        document_number=number,
        nationality=second[15:18].rstrip(FILLER),
        birth_date=_birth_date(second[0:6], today),
        expiry_date=_expiry_date(second[8:14]),
        sex=_sex(second[7]),
        surname=surname,
        given_names=given,
        optional_data=(optional + second[18:29]).strip(FILLER),
    )


def _td1_number(first: str) -> tuple[str, str]:
    """The document number (checked) and the optional data after it, from TD1's first line."""
    if first[14] != FILLER:
        _check(first[5:14], first[14], "document_number")
        return first[5:14].rstrip(FILLER), first[15:30]
    rest = first[15:30]
    end = rest.find(FILLER)
    if end <= 0:
        raise MrzInvalid(
            "mrz_check_digit:document_number",
            "the document number's check digit is missing (a filler at its place and no "
            "continuation in the optional data)",
        )
    number = first[5:14] + rest[: end - 1]
    _check(number, rest[end - 1], "document_number")
    return number, rest[end:]


def _shape(lines: list[str], count: int, length: int) -> list[str]:
    cleaned = [line.strip().upper() for line in lines]
    if len(cleaned) != count or any(len(line) != length for line in cleaned):
        raise MrzInvalid(
            "length", f"this MRZ has {count} lines of {length} characters; got {len(cleaned)}"
        )
    for line in cleaned:
        if _MRZ_LINE.fullmatch(line) is None:
            raise MrzInvalid("format", "an MRZ line holds only A-Z, 0-9 and <")
    return cleaned


def _check(field: str, digit: str, name: str) -> None:
    if check_digit(field) != digit:
        raise MrzInvalid(
            f"mrz_check_digit:{name}", f"the check digit of the {name.replace('_', ' ')} is wrong"
        )


def _yymmdd(text: str, century: int, check: str) -> date:
    if not text.isdigit():
        raise MrzInvalid(check, f"the {check.replace('_', ' ')} is not a date (YYMMDD)")
    try:
        return date(century + int(text[0:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise MrzInvalid(check, f"the {check.replace('_', ' ')} is not a calendar date") from None


def _birth_date(text: str, today: date) -> date:
    """A birth date is in the past: the latest century that does not put it after `today`."""
    born = _yymmdd(text, 2000, "birth_date")
    if born > today:
        born = _yymmdd(text, 1900, "birth_date")
    return born


def _expiry_date(text: str) -> date:
    """Expiry dates are read in 2000–2099 (the first MRZ passports expired long before)."""
    return _yymmdd(text, 2000, "expiry_date")


def _sex(character: str) -> str | None:
    if character not in "FMX<":
        raise MrzInvalid("format", "the sex field holds F, M, X or <")
    return {"F": "female", "M": "male"}.get(character)


def _names(field: str) -> tuple[str, str]:
    surname, _, given = field.partition(FILLER * 2)
    return surname.replace(FILLER, " ").strip(), given.replace(FILLER, " ").strip()


# -- building valid lines (tests, synthetic customers) ---------------------------------------------


def _field(text: str, width: int) -> str:
    padded = text.upper().replace(" ", FILLER).ljust(width, FILLER)
    assert len(padded) == width, (text, width)
    return padded


def _name_field(surname: str, given_names: str, width: int) -> str:
    return _field(f"{surname}<<{given_names}", width)


def compose_td3(
    *,
    issuing_state: str,
    document_number: str,
    nationality: str,
    birth_date: date,
    expiry_date: date,
    sex: str,
    surname: str,
    given_names: str,
    personal_number: str = "",
) -> list[str]:
    """Two valid TD3 lines for these fields (`sex`: F, M or <)."""
    number = _field(document_number, 9)
    born, expires = birth_date.strftime("%y%m%d"), expiry_date.strftime("%y%m%d")
    personal = _field(personal_number, 14)
    personal_digit = check_digit(personal) if personal_number else FILLER
    second = (
        f"{number}{check_digit(number)}{_field(nationality, 3)}{born}{check_digit(born)}{sex}"
        f"{expires}{check_digit(expires)}{personal}{personal_digit}"
    )
    second += check_digit(second[0:10] + second[13:20] + second[21:43])
    first = "P<" + _field(issuing_state, 3) + _name_field(surname, given_names, 39)
    return [first, second]


def compose_td1(
    *,
    issuing_state: str,
    document_number: str,
    nationality: str,
    birth_date: date,
    expiry_date: date,
    sex: str,
    surname: str,
    given_names: str,
) -> list[str]:
    """Three valid TD1 lines for these fields (a document number of at most 9 characters)."""
    number = _field(document_number, 9)
    first = f"I<{_field(issuing_state, 3)}{number}{check_digit(number)}{FILLER * 15}"
    born, expires = birth_date.strftime("%y%m%d"), expiry_date.strftime("%y%m%d")
    second = (
        f"{born}{check_digit(born)}{sex}{expires}{check_digit(expires)}"
        f"{_field(nationality, 3)}{FILLER * 11}"
    )
    second += check_digit(first[5:30] + second[0:7] + second[8:15] + second[18:29])
    return [first, second, _name_field(surname, given_names, 30)]
