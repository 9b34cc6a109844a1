"""Screening lists in their real formats, read into `model.Entry` values.

Guarantees:
- One loader per format: `load_un` (the UN Security Council consolidated list XML), `load_ofac`
  (OFAC's legacy SDN CSVs: `sdn`, optional `alt` and `add`), `load_internal` (this project's own
  CSV or JSON for internal and PEP lists, documented in docs/screening.md). Each returns every
  record of the file: the entry count equals the file's record count, and every alternate name
  of the OFAC `alt` file is one `alias` or `former` name of its entry.
- Untrusted input stays input: the XML is parsed with defusedxml (no entities, no external
  references); a malformed file is refused with `ListFileInvalid`, which names the file and the
  line, row or record and says what is wrong. The internal formats report every problem of the
  file at once (up to `PROBLEMS_MAX`), not only the first.
- Country names become ISO 3166-1 alpha-2 codes through pycountry, plus `LIST_COUNTRY_NAMES`, the
  short names the lists use that ISO does not (`Russia`, `Korea, North`, `Burma`); a name neither
  knows is kept in the entry's `extra["unresolved_countries"]`, never guessed.
- `read_*` return the entries with the SHA-256 of the exact bytes parsed (`ParsedList`), which is
  what the store records for each version.

The OFAC remarks field is free text; `ofac_remarks` reads the parts screening needs (dates of
birth, nationality and citizenship, passports and other identifiers, weak a.k.a.s) with regular
expressions because no maintained library parses OFAC's legacy remarks. The whole text stays in
`Entry.remarks` (with its `Linked To:` references).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError

import pycountry
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from clearline.aml.screening.model import (
    KINDS,
    BirthDate,
    Entry,
    Identifier,
    Kind,
    Name,
    NameRole,
)
from clearline.core.errors import InvalidInput

PROBLEMS_MAX: Final = 100
"""At most this many problems of one file are reported."""
PROGRESS_EVERY: Final = 500
"""A parse reports progress every this many records."""
LIST_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""An internal list's name: lowercase letters, digits, `_` and `-`, at most 64 characters."""
RESERVED_LIST_NAMES: Final = frozenset({"un", "ofac"})

Progress = Callable[[int, int], None]
"""Called as `progress(records_done, records_total)` while a file is parsed."""


class ListFileInvalid(InvalidInput):
    """A list file is malformed: `problems` are `FILE:where: what` lines; nothing was loaded."""

    code = "list_file_invalid"

    def __init__(self, problems: Sequence[str]) -> None:
        shown = list(problems[:PROBLEMS_MAX])
        more = len(problems) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more" if more else ""))
        self.problems = tuple(problems)


def _invalid(file: str, where: str, what: str) -> ListFileInvalid:
    return ListFileInvalid([f"{file}:{where}: {what}"])


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file a list version was read from: its name, SHA-256 (hex) and size."""

    name: str
    sha256: str
    size_bytes: int

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size_bytes": self.size_bytes}


@dataclass(frozen=True, slots=True)
class ParsedList:
    """A list read from its files: `list` is its name (`un`, `ofac`, an internal list's),
    `source` its format (`un`, `ofac`, `csv`, `json`)."""

    list: str
    source: str
    files: tuple[SourceFile, ...]
    entries: tuple[Entry, ...]


def _read(path: Path) -> tuple[bytes, SourceFile]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _invalid(path.name, "0", f"cannot read it ({error.strerror})") from None
    return data, SourceFile(path.name, hashlib.sha256(data).hexdigest(), len(data))


# -- countries ----------------------------------------------------------------------------------

LIST_COUNTRY_NAMES: Final[dict[str, str]] = {
    "russia": "RU",
    "korea, north": "KP",
    "north korea": "KP",
    "korea, south": "KR",
    "south korea": "KR",
    "burma": "MM",
    "turkey": "TR",
    "iran (islamic republic of)": "IR",
    "congo, democratic republic of the": "CD",
    "congo, republic of the": "CG",
    "palestinian": "PS",
    "west bank": "PS",
    "region: gaza": "PS",
    "the gambia": "GM",
    "gambia, the": "GM",
    "bahamas, the": "BS",
    "macau": "MO",
    "brunei": "BN",
    "cote d ivoire": "CI",
    "kosovo": "XK",  # not in ISO 3166-1; XK is the code in common use (EU, IMF, SWIFT)
    "netherlands antilles": "AN",  # withdrawn from ISO 3166-1 in 2010 (ISO 3166-3: ANHH)
    "macedonia, the former yugoslav republic of": "MK",
    "cabo verde": "CV",
    "bosnia-herzegovina": "BA",
    "vietnam": "VN",
    "laos": "LA",
    "syria": "SY",
    "tanzania": "TZ",
}
"""Country names the UN and OFAC lists use that pycountry's ISO names do not match (lowercase)."""


NOT_COUNTRIES: Final = frozenset({"undetermined", "unknown"})
"""What OFAC writes where it knows no country."""


@lru_cache(maxsize=4096)
def country_code(name: str) -> str | None:
    """ISO 3166-1 alpha-2 for a country name as a list writes it; None if unknown."""
    text = " ".join(name.split()).strip(" .")
    text = re.sub(r"^possibly ", "", text, flags=re.IGNORECASE)
    text = re.split(r"\.\s+Previously ", text)[0]  # OFAC: "Cabo Verde.  Previously Cape Verde."
    if not text or text.lower() in NOT_COUNTRIES:
        return None
    known = LIST_COUNTRY_NAMES.get(text.lower())
    if known is not None:
        return known
    if len(text) <= 3:  # a code is not a name: "US" or "USA" stays unresolved in a name field
        return None
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        return None


def _countries(names: Iterable[str], unresolved: list[str]) -> tuple[str, ...]:
    codes: list[str] = []
    for name in names:
        code = country_code(name)
        if code is None:
            if name.strip().lower() in NOT_COUNTRIES:
                continue
            if name.strip() and name.strip() not in unresolved:
                unresolved.append(name.strip())
        elif code not in codes:
            codes.append(code)
    return tuple(codes)


# -- the UN consolidated list ------------------------------------------------------------------

UN_ALIAS_ROLES: Final[dict[str, NameRole]] = {
    "good": "alias",
    "a.k.a.": "alias",
    "low": "weak_alias",
    "f.k.a.": "former",
}
"""UN `QUALITY` → name role; an empty or other quality is an `alias` (screened, not dropped)."""
UN_DOCUMENT_TYPES: Final[dict[str, str]] = {
    "passport": "passport",
    "national identification number": "national_id",
}


def load_un(path: Path, progress: Progress | None = None) -> list[Entry]:
    """The UN Security Council consolidated list XML at `path`."""
    return list(read_un(path, progress).entries)


def read_un(path: Path, progress: Progress | None = None) -> ParsedList:
    data, source = _read(path)
    return ParsedList("un", "un", (source,), tuple(parse_un(data, source.name, progress)))


def parse_un(data: bytes, file: str, progress: Progress | None = None) -> list[Entry]:
    try:
        root = fromstring(data)
    except ParseError as error:
        line, column = error.position
        raise _invalid(file, f"{line}:{column}", f"not well-formed XML ({error})") from None
    except DefusedXmlException as error:
        raise _invalid(file, "0", f"refused XML construct ({error})") from None
    if root.tag != "CONSOLIDATED_LIST":
        raise _invalid(file, "1", f"the root is <{root.tag}>, not <CONSOLIDATED_LIST>")
    records: list[tuple[Kind, Element]] = [
        ("person", r) for r in root.iterfind("INDIVIDUALS/INDIVIDUAL")
    ]
    records += [("organization", r) for r in root.iterfind("ENTITIES/ENTITY")]
    entries: list[Entry] = []
    seen: set[str] = set()
    for index, (kind, record) in enumerate(records, 1):
        entry = _un_entry(file, index, kind, record)
        if entry.list_id in seen:
            raise _invalid(
                file, _un_where(index, record), f"REFERENCE_NUMBER {entry.list_id} twice"
            )
        seen.add(entry.list_id)
        entries.append(entry)
        if progress is not None and (index % PROGRESS_EVERY == 0 or index == len(records)):
            progress(index, len(records))
    return entries


def _text(element: Element | None) -> str:
    return " ".join((element.text or "").split()) if element is not None else ""


def _child(record: Element, tag: str) -> str:
    return _text(record.find(tag))


def _un_where(index: int, record: Element) -> str:
    return f"record {index} ({record.tag} DATAID {_child(record, 'DATAID') or '?'})"


def _un_entry(file: str, index: int, kind: Kind, record: Element) -> Entry:
    where = _un_where(index, record)
    reference = _child(record, "REFERENCE_NUMBER")
    if not reference:
        raise _invalid(file, where, "no REFERENCE_NUMBER")
    tags = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
    parts = tuple(p for p in (_child(record, t) for t in tags) if p)
    if not parts:
        raise _invalid(file, where, "no FIRST_NAME")
    primary = Name(" ".join(parts), "primary", parts if kind == "person" else ())
    names = [primary, *_un_aliases(record)]
    original = _child(record, "NAME_ORIGINAL_SCRIPT")
    if original:
        names.append(Name(original, "original_script"))
    unresolved: list[str] = []
    nationalities = _countries((_text(v) for v in record.iterfind("NATIONALITY/VALUE")), unresolved)
    addresses = [*record.iterfind("INDIVIDUAL_ADDRESS"), *record.iterfind("ENTITY_ADDRESS")]
    countries = _countries((_child(a, "COUNTRY") for a in addresses), unresolved)
    extra: dict[str, Any] = {"dataid": _child(record, "DATAID")}
    births = [_un_place(p) for p in record.iterfind("INDIVIDUAL_PLACE_OF_BIRTH")]
    if any(births):
        extra["places_of_birth"] = [p for p in births if p]
    for key, tag in (("designations", "DESIGNATION"), ("titles", "TITLE")):
        values = [_text(v) for v in record.iterfind(f"{tag}/VALUE") if _text(v)]
        if values:
            extra[key] = values
    if unresolved:
        extra["unresolved_countries"] = unresolved
    return Entry(
        list="un",
        list_id=reference,
        kind=kind,
        names=tuple(_unique_names(names)),
        birth_dates=tuple(_un_birth_dates(file, where, record)),
        nationalities=nationalities,
        countries=countries,
        identifiers=tuple(_un_documents(record)),
        programs=(_child(record, "UN_LIST_TYPE"),) if _child(record, "UN_LIST_TYPE") else (),
        listed_on=_child(record, "LISTED_ON") or None,
        remarks=_child(record, "COMMENTS1"),
        extra=extra,
    )


def _un_place(place: Element) -> str:
    tags = ("CITY", "STATE_PROVINCE", "COUNTRY")
    return ", ".join(p for p in (_child(place, t) for t in tags) if p)


def _un_aliases(record: Element) -> Iterator[Name]:
    for alias in [*record.iterfind("INDIVIDUAL_ALIAS"), *record.iterfind("ENTITY_ALIAS")]:
        text = _child(alias, "ALIAS_NAME")
        if text:
            yield Name(text, UN_ALIAS_ROLES.get(_child(alias, "QUALITY").lower(), "alias"))


def _unique_names(names: Iterable[Name]) -> Iterator[Name]:
    seen: set[tuple[str, str]] = set()
    for name in names:
        if (name.text, name.role) not in seen:
            seen.add((name.text, name.role))
            yield name


def _un_birth_dates(file: str, where: str, record: Element) -> Iterator[BirthDate]:
    for element in record.iterfind("INDIVIDUAL_DATE_OF_BIRTH"):
        exact, year = _child(element, "DATE"), _child(element, "YEAR")
        start, end = _child(element, "FROM_YEAR"), _child(element, "TO_YEAR")
        try:
            if exact:
                yield BirthDate(exact=_iso_date(exact))
            elif year:
                yield BirthDate(year_from=_year(year), year_to=_year(year))
            elif start or end:
                yield BirthDate(year_from=_year(start or end), year_to=_year(end or start))
        except ValueError as error:
            raise _invalid(file, where, f"INDIVIDUAL_DATE_OF_BIRTH: {error}") from None


def _iso_date(text: str) -> str:
    from datetime import date

    return date.fromisoformat(text[:10]).isoformat()


def _year(text: str) -> int:
    if not re.fullmatch(r"\d{4}", text):
        raise ValueError(f"{text!r} is not a year")
    return int(text)


def _un_documents(record: Element) -> Iterator[Identifier]:
    for document in record.iterfind("INDIVIDUAL_DOCUMENT"):
        number = _child(document, "NUMBER")
        if not number:
            continue
        kind = _child(document, "TYPE_OF_DOCUMENT")
        issuer = _child(document, "ISSUING_COUNTRY") or _child(document, "COUNTRY_OF_ISSUE")
        yield Identifier(
            UN_DOCUMENT_TYPES.get(kind.lower(), kind.lower().replace(" ", "_") or "document"),
            number,
            country_code(issuer) if issuer else None,
        )


# -- OFAC's legacy CSVs -------------------------------------------------------------------------

OFAC_NONE: Final = "-0-"
OFAC_EOF: Final = "\x1a"
OFAC_KINDS: Final[dict[str | None, Kind]] = {
    "individual": "person",
    "vessel": "vessel",
    "aircraft": "aircraft",
    None: "organization",
}
OFAC_ALT_ROLES: Final[dict[str, NameRole]] = {"aka": "alias", "fka": "former", "nka": "former"}
OFAC_COLUMNS: Final = {"sdn": 12, "alt": 5, "add": 6}


def load_ofac(
    sdn: Path, alt: Path | None = None, add: Path | None = None, progress: Progress | None = None
) -> list[Entry]:
    """The OFAC SDN list from its legacy CSVs: `sdn` (primary records), `alt` (alternate
    names), `add` (addresses)."""
    return list(read_ofac(sdn, alt, add, progress).entries)


def read_ofac(
    sdn: Path, alt: Path | None = None, add: Path | None = None, progress: Progress | None = None
) -> ParsedList:
    sdn_data, sdn_file = _read(sdn)
    files = [sdn_file]
    rows = list(_ofac_rows(sdn_data, sdn_file.name, "sdn"))
    names: dict[str, list[tuple[str, NameRole]]] = {}
    countries: dict[str, list[str]] = {}
    known = {ent_num for _, ent_num, _ in rows}
    if alt is not None:
        alt_data, alt_file = _read(alt)
        files.append(alt_file)
        for line, ent_num, row in _ofac_rows(alt_data, alt_file.name, "alt"):
            role = OFAC_ALT_ROLES.get((row[2] or "").lower())
            if role is None or row[3] is None:
                what = f"alt_type {row[2]!r} is not aka, fka or nka" if role is None else "no name"
                raise _invalid(alt_file.name, str(line), what)
            _known(known, alt_file.name, line, ent_num)
            names.setdefault(ent_num, []).append((row[3], role))
    if add is not None:
        add_data, add_file = _read(add)
        files.append(add_file)
        for line, ent_num, row in _ofac_rows(add_data, add_file.name, "add"):
            _known(known, add_file.name, line, ent_num)
            if row[4] is not None:
                countries.setdefault(ent_num, []).append(row[4])
    entries: list[Entry] = []
    for index, (line, ent_num, row) in enumerate(rows, 1):
        entry = _ofac_entry(sdn_file.name, line, ent_num, row, names, countries)
        entries.append(entry)
        if progress is not None and (index % PROGRESS_EVERY == 0 or index == len(rows)):
            progress(index, len(rows))
    return ParsedList("ofac", "ofac", tuple(files), tuple(entries))


def _known(known: set[str], file: str, line: int, ent_num: str) -> None:
    if ent_num not in known:
        raise _invalid(file, str(line), f"ent_num {ent_num} is not in the SDN file")


def _decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")  # OFAC's files predate UTF-8; some copies are Windows
        except UnicodeDecodeError as error:
            raise _invalid(file, f"byte {error.start}", "neither UTF-8 nor Windows-1252") from None


def _ofac_rows(data: bytes, file: str, kind: str) -> Iterator[tuple[int, str, list[str | None]]]:
    """(line, ent_num, fields) of an OFAC CSV, `-0-` as None; the end-of-file line is skipped."""
    reader = csv.reader(io.StringIO(_decode(data, file), newline=""))
    seen: set[str] = set()
    columns = OFAC_COLUMNS[kind]
    try:
        for raw in reader:
            if not raw or raw == [OFAC_EOF] or (len(raw) == 1 and not raw[0].strip()):
                continue
            if len(raw) != columns:
                what = f"{len(raw)} fields, an OFAC {kind} row has {columns}"
                raise _invalid(file, str(reader.line_num), what)
            row: list[str | None] = [None if f.strip() == OFAC_NONE else f.strip() for f in raw]
            ent_num = row[0]
            if ent_num is None or not ent_num.isdigit():
                raise _invalid(file, str(reader.line_num), f"ent_num {raw[0]!r} is not a number")
            key = ent_num if kind == "sdn" else f"{ent_num}/{row[1]}"
            if key in seen:
                raise _invalid(file, str(reader.line_num), f"record {key} appears twice")
            seen.add(key)
            yield reader.line_num, ent_num, row
    except csv.Error as error:
        raise _invalid(file, str(reader.line_num), f"not CSV ({error})") from None


def _last_first(text: str, kind: Kind) -> tuple[str, ...]:
    """OFAC's `LAST, First` as parts in the list's order (individuals only)."""
    if kind != "person" or text.count(",") != 1:
        return ()
    last, first = (p.strip() for p in text.split(","))
    return (last, first) if last and first else ()


MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
OFAC_REMARK_SEPARATOR = re.compile(r";\s*")
OFAC_DAY = re.compile(r"(\d{1,2}) ([A-Za-z]{3}) (\d{4})")
OFAC_YEAR = re.compile(r"(?:(?:\d{1,2} )?[A-Za-z]{3} )?(\d{4})")
OFAC_RANGE = re.compile(
    r"(?:(?:\d{1,2} )?[A-Za-z]{3} )?(\d{4})\s*(?:to|-)\s*(?:(?:\d{1,2} )?[A-Za-z]{3} )?(\d{4})"
)
OFAC_IDENTIFIER_LABELS: Final[tuple[tuple[str, str], ...]] = (
    ("Passport", "passport"),
    ("National ID No.", "national_id"),
    ("Identification Number", "national_id"),
    ("Cedula No.", "cedula"),
    ("D.N.I.", "dni"),
    ("C.U.R.P.", "curp"),
    ("R.F.C.", "rfc"),
    ("NIT #", "nit"),
    ("RUC #", "ruc"),
    ("Tax ID No.", "tax_id"),
    ("SSN", "ssn"),
    ("Registration ID", "registration_id"),
    ("Registration Number", "registration_id"),
    ("SWIFT/BIC", "bic"),
    ("Vessel Registration Identification IMO", "imo"),
    ("MMSI", "mmsi"),
    ("Aircraft Tail Number", "aircraft_tail_number"),
    ("Aircraft Manufacturer's Serial Number (MSN)", "aircraft_msn"),
    ("Aircraft Mode S Transponder Code", "aircraft_mode_s"),
)
"""Remarks labels of identifiers → `Identifier.type` (the number follows the label)."""
OFAC_IDENTIFIER = re.compile(
    r"(?:alt\. )?(?P<label>"
    + "|".join(re.escape(label) for label, _ in OFAC_IDENTIFIER_LABELS)
    + r") (?P<number>[^()]+?)(?: \((?P<country>[^()]*)\))?"
    r"(?: (?:issued|expires|Issue Date|Expiration Date)\b.*)?"
)
OFAC_REMARK_NAME = re.compile(r"(?:a\.k\.a\.|f\.k\.a\.|n\.k\.a\.) '([^']+)'")


@dataclass(slots=True)
class _Remarks:
    """What `_ofac_remarks` found in one remarks text (a private accumulator)."""

    birth_dates: list[BirthDate]
    unparsed_birth_dates: list[str]
    nationalities: list[str]
    places_of_birth: list[str]
    identifiers: list[Identifier]
    names: list[str]
    gender: str | None = None


def ofac_birth_date(text: str) -> BirthDate | None:
    """An OFAC remarks date of birth (`01 Jan 1960`, `Jan 1960`, `1960`, `circa 1960`,
    `1960 to 1962`, `01 Jan 1960 to 31 Dec 1962`); None if it is none of these."""
    text = text.strip()
    circa = text.startswith("circa ")
    text = text.removeprefix("circa ").strip()
    day = OFAC_DAY.fullmatch(text)
    if day and not circa and day.group(2).lower() in MONTHS:
        from datetime import date

        try:
            value = date(int(day.group(3)), MONTHS[day.group(2).lower()], int(day.group(1)))
        except ValueError:
            return None
        return BirthDate(exact=value.isoformat())
    if year := OFAC_YEAR.fullmatch(text):
        return BirthDate(year_from=int(year.group(1)), year_to=int(year.group(1)))
    if span := OFAC_RANGE.fullmatch(text):
        start, end = sorted((int(span.group(1)), int(span.group(2))))
        return BirthDate(year_from=start, year_to=end)
    return None


def ofac_remarks(remarks: str) -> _Remarks:
    found = _Remarks([], [], [], [], [], [])
    for raw in OFAC_REMARK_SEPARATOR.split(remarks.strip()):
        part = raw.strip().removesuffix(".").strip()
        plain = part.removeprefix("alt. ")
        if plain.startswith("DOB "):
            birth = ofac_birth_date(plain[4:])
            if birth is None:
                found.unparsed_birth_dates.append(plain[4:])
            else:
                found.birth_dates.append(birth)
        elif plain.startswith("POB "):
            found.places_of_birth.append(plain[4:])
        elif plain.startswith(("nationality ", "citizen ")):
            found.nationalities.append(plain.partition(" ")[2])
        elif plain.startswith("Gender "):
            found.gender = plain[7:].lower()
        elif identifier := OFAC_IDENTIFIER.fullmatch(part):
            label = identifier.group("label")
            country = identifier.group("country")
            found.identifiers.append(
                Identifier(
                    dict(OFAC_IDENTIFIER_LABELS)[label],
                    identifier.group("number").strip(),
                    country_code(country) if country else None,
                )
            )
        else:
            found.names.extend(OFAC_REMARK_NAME.findall(part))
    return found


def _ofac_entry(
    file: str,
    line: int,
    ent_num: str,
    row: list[str | None],
    alternates: dict[str, list[tuple[str, NameRole]]],
    addresses: dict[str, list[str]],
) -> Entry:
    primary, sdn_type = row[1], row[2]
    kind = OFAC_KINDS.get(sdn_type.lower() if sdn_type else None)
    if kind is None:
        raise _invalid(file, str(line), f"SDN_Type {sdn_type!r} is not individual/vessel/aircraft")
    if primary is None:
        raise _invalid(file, str(line), "no SDN_Name")
    remarks = row[11] or ""
    found = ofac_remarks(remarks)
    names = [Name(primary, "primary", _last_first(primary, kind))]
    names += [Name(t, role, _last_first(t, kind)) for t, role in alternates.get(ent_num, ())]
    given = {n.text for n in names}
    weak = dict.fromkeys(t for t in found.names if t not in given)
    names += [Name(t, "weak_alias", _last_first(t, kind)) for t in weak]
    unresolved: list[str] = []
    extra: dict[str, Any] = {}
    for key, index in (("title", 4), ("call_sign", 5), ("vessel_type", 6), ("tonnage", 7)):
        if row[index] is not None:
            extra[key] = row[index]
    for key, index in (("gross_registered_tonnage", 8), ("vessel_owner", 10)):
        if row[index] is not None:
            extra[key] = row[index]
    identifiers = list(found.identifiers)
    if row[5] is not None:
        identifiers.insert(0, Identifier("call_sign", row[5]))
    if row[9] is not None:
        extra["vessel_flag"] = country_code(row[9]) or row[9]
    if found.places_of_birth:
        extra["places_of_birth"] = found.places_of_birth
    if found.gender:
        extra["gender"] = found.gender
    if found.unparsed_birth_dates:
        extra["unparsed_birth_dates"] = found.unparsed_birth_dates
    nationalities = _countries(found.nationalities, unresolved)
    countries = _countries(addresses.get(ent_num, ()), unresolved)
    if unresolved:
        extra["unresolved_countries"] = unresolved
    programs = [p.strip() for p in (row[3] or "").strip("[] ").split("] [") if p.strip()]
    return Entry(
        list="ofac",
        list_id=ent_num,
        kind=kind,
        names=tuple(names),
        birth_dates=tuple(dict.fromkeys(found.birth_dates)),
        nationalities=nationalities,
        countries=countries,
        identifiers=tuple(dict.fromkeys(identifiers)),
        programs=tuple(programs),
        remarks=remarks,
        extra=extra,
    )


# -- internal and PEP lists ---------------------------------------------------------------------


def load_internal(path: Path, list_name: str) -> list[Entry]:
    """An internal or PEP list in this project's CSV (`.csv`) or JSON (`.json`) format."""
    return list(read_internal(path, list_name).entries)


def load_csv(path: Path, list_name: str) -> list[Entry]:
    return load_internal(path, list_name)


def read_internal(path: Path, list_name: str) -> ParsedList:
    if not LIST_NAME.fullmatch(list_name) or list_name in RESERVED_LIST_NAMES:
        raise InvalidInput(
            f"list name {list_name!r}: use 1-64 lowercase letters, digits, _ or -, "
            "and not un or ofac",
            code="list_name_invalid",
        )
    data, source = _read(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return ParsedList(
            list_name, "json", (source,), tuple(parse_json(data, source.name, list_name))
        )
    return ParsedList(list_name, "csv", (source,), tuple(parse_csv(data, source.name, list_name)))


INTERNAL_REQUIRED: Final = ("id", "name", "type")
INTERNAL_MULTI: Final = (
    "aliases",
    "original_script",
    "birth_date",
    "nationality",
    "country",
    "program",
    "identifiers",
)
"""Columns holding several values, `;`-separated in CSV (a JSON array or that same string)."""
INTERNAL_COLUMNS: Final = (*INTERNAL_REQUIRED, *INTERNAL_MULTI, "listed_on", "remarks")
INTERNAL_ROWS_MAX: Final = 1_000_000
BIRTH_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})|(\d{4})|(\d{4})-(\d{4})")


def parse_csv(data: bytes, file: str, list_name: str) -> list[Entry]:
    """The internal CSV format: a header row naming columns of `INTERNAL_COLUMNS` (`id`, `name`
    and `type` required), UTF-8 (a BOM is allowed)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _invalid(file, f"byte {error.start}", "not UTF-8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = list(reader.fieldnames or ())
        problems = _header_problems(file, header)
        if problems:
            raise ListFileInvalid(problems)
        records: list[tuple[str, dict[str, Any]]] = []
        for row in reader:
            if None in row:
                problems.append(f"{file}:row {reader.line_num}: more fields than the header")
                continue
            records.append((f"row {reader.line_num}", {k: v for k, v in row.items() if k}))
            if len(records) > INTERNAL_ROWS_MAX:
                raise _invalid(file, f"row {reader.line_num}", f"over {INTERNAL_ROWS_MAX} rows")
    except csv.Error as error:
        raise _invalid(file, f"row {reader.line_num}", f"not CSV ({error})") from None
    return _internal_entries(file, list_name, records, "column", problems)


def parse_json(data: bytes, file: str, list_name: str) -> list[Entry]:
    """The internal JSON format: an array of objects with the CSV format's columns as keys."""
    import json

    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise _invalid(file, f"byte {error.start}", "not UTF-8") from None
    except json.JSONDecodeError as error:
        raise _invalid(file, f"{error.lineno}:{error.colno}", f"not JSON ({error.msg})") from None
    if not isinstance(document, list):
        raise _invalid(file, "1", "the document is not an array of entries")
    if len(document) > INTERNAL_ROWS_MAX:
        raise _invalid(file, "1", f"over {INTERNAL_ROWS_MAX} entries")
    problems: list[str] = []
    records: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(document, 1):
        if not isinstance(item, dict):
            problems.append(f"{file}:entry {index}: not an object")
            continue
        unknown = sorted(set(item) - set(INTERNAL_COLUMNS))
        if unknown:
            problems.append(f"{file}:entry {index}: unknown fields {', '.join(unknown)}")
        records.append((f"entry {index}", item))
    return _internal_entries(file, list_name, records, "field", problems)


def _header_problems(file: str, header: list[str]) -> list[str]:
    problems = [f"{file}:row 1: no {c} column" for c in INTERNAL_REQUIRED if c not in header]
    unknown = [c for c in header if c not in INTERNAL_COLUMNS]
    if unknown:
        known = ", ".join(INTERNAL_COLUMNS)
        problems.append(f"{file}:row 1: unknown columns {', '.join(unknown)} (known: {known})")
    if len(set(header)) != len(header):
        problems.append(f"{file}:row 1: a column appears twice")
    return problems


def _internal_entries(
    file: str,
    list_name: str,
    records: list[tuple[str, dict[str, Any]]],
    word: str,
    problems: list[str],
) -> list[Entry]:
    entries: list[Entry] = []
    seen: dict[str, str] = {}
    for where, values in records:
        issues: list[tuple[str, str]] = []
        entry = _internal_entry(list_name, values, issues)
        identifier = values.get("id")
        if isinstance(identifier, str) and identifier.strip():
            if identifier.strip() in seen:
                issues.append(("id", f"{identifier.strip()} is also {seen[identifier.strip()]}"))
            seen.setdefault(identifier.strip(), where)
        problems += [f"{file}:{where}, {word} {column}: {what}" for column, what in issues]
        if entry is not None and not issues:
            entries.append(entry)
    if problems:
        raise ListFileInvalid(problems)
    return entries


def _values(raw: Any) -> list[str] | None:
    """A multi-valued field's values: `a; b` or a JSON array of strings (None: malformed)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return [v.strip() for v in raw.split(";") if v.strip()]
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return [v.strip() for v in raw if v.strip()]
    return None


def _internal_entry(
    list_name: str, values: dict[str, Any], issues: list[tuple[str, str]]
) -> Entry | None:
    """One internal record, or None with `(column, what)` in `issues`."""
    fields: dict[str, list[str]] = {}
    for column in INTERNAL_COLUMNS:
        parsed = _values(values.get(column))
        if parsed is None or (column not in INTERNAL_MULTI and len(parsed) > 1):
            issues.append((column, "not text") if parsed is None else (column, "one value only"))
            parsed = []
        fields[column] = parsed if column in INTERNAL_MULTI else [" ".join(parsed)]
    single = {
        c: fields[c][0] if fields[c] else "" for c in INTERNAL_COLUMNS if c not in INTERNAL_MULTI
    }
    for column in INTERNAL_REQUIRED:
        if not single[column]:
            issues.append((column, "empty"))
    kind = single["type"].lower()
    if kind and kind not in KINDS:
        issues.append(("type", f"{single['type']!r} is not one of {', '.join(KINDS)}"))
    birth_dates = [_internal_birth_date(v, issues) for v in fields["birth_date"]]
    nationalities = [_internal_country("nationality", v, issues) for v in fields["nationality"]]
    countries = [_internal_country("country", v, issues) for v in fields["country"]]
    identifiers = [_internal_identifier(v, issues) for v in fields["identifiers"]]
    listed_on = single["listed_on"] or None
    if listed_on is not None and not _is_date(listed_on):
        issues.append(("listed_on", f"{listed_on!r} is not YYYY-MM-DD"))
    if issues:
        return None
    names = [Name(single["name"], "primary")]
    names += [Name(a, "alias") for a in fields["aliases"]]
    names += [Name(a, "original_script") for a in fields["original_script"]]
    return Entry(
        list=list_name,
        list_id=single["id"],
        kind=_kind(kind),
        names=tuple(_unique_names(names)),
        birth_dates=tuple(b for b in birth_dates if b is not None),
        nationalities=tuple(dict.fromkeys(c for c in nationalities if c)),
        countries=tuple(dict.fromkeys(c for c in countries if c)),
        identifiers=tuple(i for i in identifiers if i is not None),
        programs=tuple(fields["program"]),
        listed_on=listed_on,
        remarks=single["remarks"],
    )


def _kind(text: str) -> Kind:
    for kind in KINDS:
        if kind == text:
            return kind
    raise AssertionError(f"{text!r} was checked to be a kind")


def _is_date(text: str) -> bool:
    from datetime import date

    try:
        return len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _internal_birth_date(text: str, issues: list[tuple[str, str]]) -> BirthDate | None:
    """`YYYY-MM-DD` (exact), `YYYY` (a year) or `YYYY-YYYY` (a range of years)."""
    match = BIRTH_DATE.fullmatch(text)
    if match is None or (match.group(1) and not _is_date(text)):
        issues.append(("birth_date", f"{text!r} is not YYYY-MM-DD, YYYY or YYYY-YYYY"))
        return None
    if match.group(1):
        return BirthDate(exact=text)
    if match.group(4):
        return BirthDate(year_from=int(text), year_to=int(text))
    start, end = int(match.group(5)), int(match.group(6))
    if start > end:
        issues.append(("birth_date", f"{text!r}: the range ends before it starts"))
        return None
    return BirthDate(year_from=start, year_to=end)


def _internal_country(column: str, text: str, issues: list[tuple[str, str]]) -> str | None:
    """An ISO 3166-1 alpha-2 code (or XK) or a country name pycountry knows."""
    if re.fullmatch(r"[A-Za-z]{2}", text):
        code = text.upper()
        if code == "XK" or pycountry.countries.get(alpha_2=code) is not None:
            return code
        issues.append((column, f"{text!r} is not an ISO 3166-1 alpha-2 code"))
        return None
    resolved = country_code(text)
    if resolved is None:
        issues.append((column, f"{text!r} is not a country code or a country name"))
    return resolved


def _internal_identifier(text: str, issues: list[tuple[str, str]]) -> Identifier | None:
    """`type:number` or `type:number:CC` (CC: the issuing country's alpha-2 code)."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        issues.append(("identifiers", f"{text!r} is not type:number or type:number:CC"))
        return None
    country = _internal_country("identifiers", parts[2], issues) if len(parts) == 3 else None
    return Identifier(parts[0].lower(), parts[1], country)
