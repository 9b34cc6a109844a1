"""What a screening list holds, whatever its source format: entries with their names in every
script and spelling the list gives, and the qualifiers (dates of birth, nationalities,
identifiers) that raise or lower a match.

Every loader (`lists`) produces `Entry` values; the matcher (`matcher`) indexes and scores them.
The shapes are plain frozen dataclasses with a JSON `document()` form, so a stored list version
and a reloaded one compare by value (a reload's diff: added, changed, removed by `list_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

Kind = Literal["person", "organization", "vessel", "aircraft"]
KINDS: Final[tuple[Kind, ...]] = ("person", "organization", "vessel", "aircraft")

NameRole = Literal["primary", "alias", "weak_alias", "former", "original_script"]
"""How the list gives a name: its primary name; an alias (a.k.a., UN quality Good); a weak alias
(UN quality Low, OFAC "weak a.k.a." in remarks); a former name (f.k.a., n.k.a. of the past); the
name in its original script (the UN's NAME_ORIGINAL_SCRIPT)."""


@dataclass(frozen=True, slots=True)
class Name:
    text: str
    role: NameRole = "primary"
    # name parts where the list separates them (the UN's FIRST_NAME … FOURTH_NAME; OFAC's
    # "LAST, First"), in the list's order; empty when the list gives one string
    parts: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        return {"text": self.text, "role": self.role, "parts": list(self.parts)}

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Name:
        return cls(data["text"], data["role"], tuple(data.get("parts") or ()))


@dataclass(frozen=True, slots=True)
class BirthDate:
    """A date of birth as lists give them: exact (`YYYY-MM-DD`), a year, or a range of years."""

    exact: str | None = None
    year_from: int | None = None
    year_to: int | None = None

    def document(self) -> dict[str, Any]:
        return {"exact": self.exact, "year_from": self.year_from, "year_to": self.year_to}

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> BirthDate:
        return cls(data.get("exact"), data.get("year_from"), data.get("year_to"))


@dataclass(frozen=True, slots=True)
class Identifier:
    """A document or registration number the list gives (passport, national id, IMO number…)."""

    type: str
    number: str
    country: str | None = None  # ISO 3166-1 alpha-2 where known

    def document(self) -> dict[str, Any]:
        return {"type": self.type, "number": self.number, "country": self.country}

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Identifier:
        return cls(data["type"], data["number"], data.get("country"))


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of a list: `list_id` is the list's own reference (the UN's REFERENCE_NUMBER,
    OFAC's ent_num, an internal list's id), unique within `list`."""

    list: str
    list_id: str
    kind: Kind
    names: tuple[Name, ...]
    birth_dates: tuple[BirthDate, ...] = ()
    nationalities: tuple[str, ...] = ()  # ISO 3166-1 alpha-2
    countries: tuple[str, ...] = ()  # of addresses, ISO 3166-1 alpha-2
    identifiers: tuple[Identifier, ...] = ()
    programs: tuple[str, ...] = ()
    listed_on: str | None = None
    remarks: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return next((n.text for n in self.names if n.role == "primary"), self.names[0].text)

    def document(self) -> dict[str, Any]:
        return {
            "list": self.list,
            "list_id": self.list_id,
            "kind": self.kind,
            "names": [n.document() for n in self.names],
            "birth_dates": [b.document() for b in self.birth_dates],
            "nationalities": list(self.nationalities),
            "countries": list(self.countries),
            "identifiers": [i.document() for i in self.identifiers],
            "programs": list(self.programs),
            "listed_on": self.listed_on,
            "remarks": self.remarks,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Entry:
        return cls(
            list=data["list"],
            list_id=data["list_id"],
            kind=data["kind"],
            names=tuple(Name.from_document(n) for n in data["names"]),
            birth_dates=tuple(BirthDate.from_document(b) for b in data.get("birth_dates") or ()),
            nationalities=tuple(data.get("nationalities") or ()),
            countries=tuple(data.get("countries") or ()),
            identifiers=tuple(Identifier.from_document(i) for i in data.get("identifiers") or ()),
            programs=tuple(data.get("programs") or ()),
            listed_on=data.get("listed_on"),
            remarks=data.get("remarks") or "",
            extra=dict(data.get("extra") or {}),
        )
