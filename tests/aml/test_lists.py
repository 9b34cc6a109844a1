"""Screening lists in their real formats and their versions in the platform database.

The shipped files (../shared/data/sanctions) are parsed with counts equal to the files' (the
README's figures, which were counted with Python's csv module), specific real records are
checked field by field, and loads are versioned: a reload of a modified copy reports exactly
the record changed, removed and added; the same file again is unchanged; a bad file is refused
naming file and place, and nothing is stored."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.aml.screening import lists
from clearline.aml.screening.lists import (
    ListFileInvalid,
    country_code,
    load_internal,
    load_ofac,
    load_un,
    ofac_birth_date,
    read_internal,
    read_ofac,
    read_un,
)
from clearline.aml.screening.model import BirthDate, Entry, Identifier, Name
from clearline.aml.screening.store import SCHEMA, ScreeningLists
from clearline.core.clock import ManualClock
from clearline.core.errors import InvariantViolation
from clearline.db import PlatformStore
from clearline.trail import CLI, AuditTrail, EventFilter
from clearline.trail import SCHEMA as TRAIL_SCHEMA

DATA = Path(
    os.environ.get("CLEARLINE_SANCTIONS_DATA")
    or Path(__file__).resolve().parents[3] / "shared" / "data" / "sanctions"
)
UN = DATA / "un-consolidated-excerpt.xml"
SDN, ALT, ADD = DATA / "ofac-sdn.csv", DATA / "ofac-alt.csv", DATA / "ofac-add.csv"


@pytest.fixture(autouse=True)
def shipped_lists(needs) -> None:  # type: ignore[no-untyped-def]
    needs("the shipped sanctions lists", UN.exists() and SDN.exists(), f"a copy in {DATA}")


@pytest.fixture(scope="module")
def ofac() -> dict[str, Entry]:
    return {e.list_id: e for e in load_ofac(SDN, ALT, ADD)}


@pytest.fixture(scope="module")
def un() -> dict[str, Entry]:
    return {e.list_id: e for e in load_un(UN)}


@pytest.fixture
def screening(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = PlatformStore(tmp_path / "data", (TRAIL_SCHEMA, SCHEMA))
    trail = AuditTrail(store, ManualClock())
    yield ScreeningLists(store, trail, ManualClock())
    store.close()


# -- the UN list --------------------------------------------------------------------------------


def test_un_excerpt_has_its_40_records(un: dict[str, Entry]) -> None:
    assert len(un) == 40
    assert Counter(e.kind for e in un.values()) == {"person": 30, "organization": 10}
    root = ET.parse(UN).getroot()
    assert sorted(un) == sorted(r.text or "" for r in root.iter("REFERENCE_NUMBER"))
    with_script = [e for e in un.values() if any(n.role == "original_script" for n in e.names)]
    assert len(with_script) == 11  # the README: 11 of the 40, all Arabic-script individuals
    aliases = [n for e in un.values() for n in e.names if n.role in ("alias", "weak_alias")]
    assert len(aliases) == sum(1 for a in root.iter("ALIAS_NAME") if (a.text or "").strip())


def test_un_individual_with_original_script_and_birth_year(un: dict[str, Entry]) -> None:
    entry = un["IQi.014"]
    assert entry.list == "un" and entry.kind == "person"
    assert entry.names == (
        Name(
            "SAIF-AL-DIN FULAYYIH HASSAN TAHA AL-RAWI",
            "primary",
            ("SAIF-AL-DIN", "FULAYYIH", "HASSAN TAHA", "AL-RAWI"),
        ),
        Name("Ayad Futayyih Al-Rawi", "alias"),
        Name("سيف الدين فليح حسن طه الراوي", "original_script"),
    )
    assert entry.birth_dates == (BirthDate(year_from=1953, year_to=1953),)
    assert entry.nationalities == ("IQ",)
    assert entry.programs == ("Iraq",)
    assert entry.listed_on == "2003-06-27"
    assert entry.extra["dataid"] == "6908061"
    assert entry.extra["places_of_birth"] == ["Ramadi, Iraq"]


def test_un_between_dates_aliases_and_documents(un: dict[str, Entry]) -> None:
    between = un["TAi.083"]
    assert between.birth_dates == (BirthDate(year_from=1962, year_to=1963),)
    assert between.extra["titles"] == ["Maulavi"]
    gaye = un["CFi.007"]
    assert [n.role for n in gaye.names] == ["primary", "alias", "alias", "alias"]
    assert gaye.birth_dates == (BirthDate(exact="1968-01-30"), BirthDate(exact="1969-01-30"))
    assert gaye.countries == ("CF",)
    assert gaye.identifiers == (
        Identifier("passport", "Central African Republic number O00065772"),
    )
    hakizimana = un["CDi.039"]
    assert [(n.text, n.role) for n in hakizimana.names[1:]] == [
        ("AMIKWE LEPIC", "alias"),
        ("LE POÈTE", "weak_alias"),
        ("ADONIA", "weak_alias"),
    ]
    assert hakizimana.nationalities == ("RW",)


def test_un_entity(un: dict[str, Entry]) -> None:
    entry = un["IRe.002"]
    assert entry.kind == "organization"
    assert entry.names == (Name("ABZAR BORESH KAVEH CO. (BK CO.)"),)  # an empty alias is none
    assert entry.programs == ("Iran",) and entry.listed_on == "2008-03-03"
    assert entry.remarks.startswith("Involved in the production of centrifuge components.")


def test_un_issuing_countries_become_codes(un: dict[str, Entry]) -> None:
    identifiers = [i for e in un.values() for i in e.identifiers]
    assert Identifier("passport", "AAIN29392", "GW") in identifiers
    assert Identifier("national_id", "653225197110100533", "CN") in identifiers


# -- OFAC ---------------------------------------------------------------------------------------


def test_ofac_counts_equal_the_files(ofac: dict[str, Entry]) -> None:
    assert len(ofac) == 8_976
    assert Counter(e.kind for e in ofac.values()) == {
        "person": 4_620,
        "vessel": 406,
        "aircraft": 277,
        "organization": 3_673,
    }
    roles = Counter(n.role for e in ofac.values() for n in e.names)
    assert roles["alias"] + roles["former"] == 11_910  # every row of ofac-alt.csv
    assert roles["alias"] == 11_523 and roles["former"] == 369 + 18
    assert roles["primary"] == 8_976
    with_alias = sum(
        1 for e in ofac.values() if any(n.role in ("alias", "former") for n in e.names)
    )
    assert with_alias == 4_139


def test_ofac_counts_match_the_csv_module() -> None:
    """The README's counts, recounted from the files beside the parse."""
    with SDN.open(newline="", encoding="ascii") as file:
        rows = [r for r in csv.reader(file) if len(r) == 12]
    parsed = read_ofac(SDN, ALT, ADD)
    assert [e.list_id for e in parsed.entries] == [r[0] for r in rows]
    assert [f.name for f in parsed.files] == ["ofac-sdn.csv", "ofac-alt.csv", "ofac-add.csv"]


def test_ofac_vessel(ofac: dict[str, Entry]) -> None:
    entry = ofac["15036"]
    assert entry.kind == "vessel"
    assert entry.names == (
        Name("ARTAVIL"),
        Name("ABADAN", "former"),
        Name("SHONA", "former"),
        Name("ALPHA", "weak_alias"),  # f.k.a. 'ALPHA' in the remarks
    )
    assert entry.identifiers == (
        Identifier("call_sign", "T2EU4"),
        Identifier("imo", "9187629"),
        Identifier("mmsi", "572469210"),
    )
    assert entry.programs == ("IRAN",)
    assert entry.extra == {
        "call_sign": "T2EU4",
        "vessel_type": "Crude/Oil Products Tanker",
        "tonnage": "99,144",
        "gross_registered_tonnage": "56,068",
        "vessel_flag": "IR",
    }
    assert "Linked To: NATIONAL IRANIAN TANKER COMPANY." in entry.remarks


def test_ofac_individual_with_aliases_and_remarks(ofac: dict[str, Entry]) -> None:
    entry = ofac["7265"]
    assert entry.kind == "person"
    assert entry.names == (
        Name(
            "BINALSHIBH, Ramzi Mohammed Abdullah",
            "primary",
            ("BINALSHIBH", "Ramzi Mohammed Abdullah"),
        ),
        Name("BIN AL SHIBH, Ramzi", "alias", ("BIN AL SHIBH", "Ramzi")),
        Name(
            "BINALSHEIDAH, Ramzi Mohamed Abdullah",
            "alias",
            ("BINALSHEIDAH", "Ramzi Mohamed Abdullah"),
        ),
        Name("OMAR, Ramzi Mohammed Abdellah", "alias", ("OMAR", "Ramzi Mohammed Abdellah")),
    )
    assert entry.birth_dates == (BirthDate(exact="1972-05-01"), BirthDate(exact="1973-09-16"))
    assert entry.nationalities == ("YE",)
    assert entry.countries == ("DE",)  # ofac-add.csv: Hamburg, Germany
    assert entry.identifiers == (
        Identifier("passport", "R85243", "YE"),
        Identifier("passport", "A755350", "SA"),
        Identifier("passport", "00085243", "YE"),
    )
    assert entry.programs == ("SDGT",)
    assert entry.extra["places_of_birth"] == ["Hadramawt, Yemen", "Khartoum Sudan"]


def test_ofac_weak_aliases_and_citizenship_from_remarks(ofac: dict[str, Entry]) -> None:
    entry = ofac["9564"]
    assert [(n.text, n.role) for n in entry.names[1:]] == [
        ("LUCAS", "weak_alias"),
        ("EL INGENIERO", "weak_alias"),
        ("DON TOMAS", "weak_alias"),
    ]
    assert entry.nationalities == ("CO",)
    assert Identifier("cedula", "14881147", "CO") in entry.identifiers
    assert Identifier("passport", "AE048871", "CO") in entry.identifiers


def test_ofac_sdn_alone_has_no_alternate_names() -> None:
    entries = load_ofac(SDN)
    assert len(entries) == 8_976
    assert not any(n.role in ("alias", "former") for e in entries for n in e.names)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01 Jan 1960", BirthDate(exact="1960-01-01")),
        ("1960", BirthDate(year_from=1960, year_to=1960)),
        ("Jan 1960", BirthDate(year_from=1960, year_to=1960)),
        ("circa 1960", BirthDate(year_from=1960, year_to=1960)),
        ("circa 01 Jan 1960", BirthDate(year_from=1960, year_to=1960)),
        ("1960 to 1962", BirthDate(year_from=1960, year_to=1962)),
        ("circa 1960-1962", BirthDate(year_from=1960, year_to=1962)),
        ("01 Jan 1960 to 31 Dec 1962", BirthDate(year_from=1960, year_to=1962)),
        ("31 Feb 1960", None),
        ("unknown", None),
    ],
)
def test_ofac_birth_dates(text: str, expected: BirthDate | None) -> None:
    assert ofac_birth_date(text) == expected


def test_every_ofac_birth_date_is_parsed(ofac: dict[str, Entry]) -> None:
    assert not [e.list_id for e in ofac.values() if "unparsed_birth_dates" in e.extra]
    remarks_dobs = sum(
        1
        for e in ofac.values()
        for part in e.remarks.split(";")
        if part.strip().removeprefix("alt. ").startswith("DOB ")
    )
    assert sum(len(e.birth_dates) for e in ofac.values()) <= remarks_dobs
    assert sum(len(e.birth_dates) for e in ofac.values()) > 0.95 * remarks_dobs


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Russia", "RU"),
        ("Korea, North", "KP"),
        ("Democratic People's Republic of Korea", "KP"),
        ("Iran (Islamic Republic of)", "IR"),
        ("Burma", "MM"),
        ("Germany", "DE"),
        ("Cabo Verde.  Previously Cape Verde.", "CV"),
        ("possibly Palestinian", "PS"),
        ("undetermined", None),
        ("Region: Crimea", None),
        ("US", None),
    ],
)
def test_country_names_become_alpha_2(name: str, code: str | None) -> None:
    assert country_code(name) == code


# -- bad files ----------------------------------------------------------------------------------


def test_malformed_xml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(UN.read_bytes()[:5_000])
    with pytest.raises(ListFileInvalid) as raised:
        load_un(path)
    assert raised.value.code == "list_file_invalid"
    assert raised.value.problems[0].startswith("bad.xml:")
    assert "not well-formed XML" in raised.value.message


def test_xml_entities_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        "<CONSOLIDATED_LIST><INDIVIDUALS/>&b;</CONSOLIDATED_LIST>",
        encoding="utf-8",
    )
    with pytest.raises(ListFileInvalid, match="refused XML construct"):
        load_un(path)


def test_un_record_without_reference_is_refused(tmp_path: Path) -> None:
    text = UN.read_text(encoding="utf-8").replace(
        "<REFERENCE_NUMBER>CFi.007</REFERENCE_NUMBER>", ""
    )
    path = tmp_path / "un.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ListFileInvalid, match=r"un\.xml:record 2 \(INDIVIDUAL DATAID 6908495\)"):
        load_un(path)


def test_ofac_bad_rows_name_the_line(tmp_path: Path) -> None:
    lines = SDN.read_bytes().split(b"\r\n")
    lines[4] = b'475,"CASA DE CUBA",-0- ,"CUBA"'
    path = tmp_path / "sdn.csv"
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(ListFileInvalid, match=r"sdn\.csv:5: 4 fields, an OFAC sdn row has 12"):
        load_ofac(path)
    alt = tmp_path / "alt.csv"
    alt.write_bytes(ALT.read_bytes().rstrip(b"\x1a") + b'99999999,1,"aka","NOBODY",-0- \r\n\x1a')
    with pytest.raises(ListFileInvalid, match=r"alt\.csv:\d+: ent_num 99999999 is not in"):
        load_ofac(SDN, alt)
    kinds = tmp_path / "kind.csv"
    kinds.write_bytes(b'1,"X","ship","P",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n')
    with pytest.raises(ListFileInvalid, match=r"kind\.csv:1: SDN_Type 'ship'"):
        load_ofac(kinds)


# -- internal and PEP lists ---------------------------------------------------------------------

PEPS_CSV = (
    "id,name,type,aliases,original_script,birth_date,nationality,country,program,identifiers,"
    "listed_on,remarks\n"
    "pep-1,ZHANG Wei,person,Wei Zhang; Chang Wei,张伟,1961-04-02,CN,Hong Kong,PEP,"
    "national_id:110101196104020011:CN,2024-01-05,provincial official\n"
    'pep-2,Example Trading LLC,organization,,,,,"United Arab Emirates",internal,,,\n'
    "pep-3,Olga IVANOVA,person,,Ольга Иванова,1970-1972,Russia,,PEP,,,\n"
)


def test_internal_csv(tmp_path: Path) -> None:
    path = tmp_path / "peps.csv"
    path.write_text(PEPS_CSV, encoding="utf-8")
    entries = {e.list_id: e for e in load_internal(path, "peps")}
    assert list(entries) == ["pep-1", "pep-2", "pep-3"]
    zhang = entries["pep-1"]
    assert zhang.list == "peps" and zhang.kind == "person"
    assert zhang.names == (
        Name("ZHANG Wei"),
        Name("Wei Zhang", "alias"),
        Name("Chang Wei", "alias"),
        Name("张伟", "original_script"),
    )
    assert zhang.birth_dates == (BirthDate(exact="1961-04-02"),)
    assert zhang.nationalities == ("CN",) and zhang.countries == ("HK",)
    assert zhang.identifiers == (Identifier("national_id", "110101196104020011", "CN"),)
    assert zhang.programs == ("PEP",) and zhang.listed_on == "2024-01-05"
    assert zhang.remarks == "provincial official"
    assert entries["pep-2"].countries == ("AE",) and entries["pep-2"].kind == "organization"
    assert entries["pep-3"].birth_dates == (BirthDate(year_from=1970, year_to=1972),)
    assert entries["pep-3"].nationalities == ("RU",)


def test_internal_json_is_the_same_format(tmp_path: Path) -> None:
    csv_path = tmp_path / "peps.csv"
    csv_path.write_text(PEPS_CSV, encoding="utf-8")
    with csv_path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    json_path = tmp_path / "peps.json"
    for row in rows:
        row["aliases"] = [a.strip() for a in row["aliases"].split(";") if a.strip()]  # type: ignore[assignment]
    json_path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    assert load_internal(json_path, "peps") == load_internal(csv_path, "peps")
    assert read_internal(json_path, "peps").source == "json"


def test_internal_csv_reports_every_problem_by_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,name,type,birth_date,nationality,identifiers\n"
        "a,,person,1960-13-01,ZZ,passport\n"
        "b,Bob,robot,,,\n"
        "b,Bob,person,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ListFileInvalid) as raised:
        load_internal(path, "internal")
    assert raised.value.problems == (
        "bad.csv:row 2, column name: empty",
        "bad.csv:row 2, column birth_date: '1960-13-01' is not YYYY-MM-DD, YYYY or YYYY-YYYY",
        "bad.csv:row 2, column nationality: 'ZZ' is not an ISO 3166-1 alpha-2 code",
        "bad.csv:row 2, column identifiers: 'passport' is not type:number or type:number:CC",
        "bad.csv:row 3, column type: 'robot' is not one of person, organization, vessel, aircraft",
        "bad.csv:row 4, column id: b is also row 3",
    )


def test_internal_csv_header_and_name_checks(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,nam,type\n1,x,person\n", encoding="utf-8")
    with pytest.raises(ListFileInvalid) as raised:
        load_internal(path, "internal")
    assert raised.value.problems[0] == "bad.csv:row 1: no name column"
    assert raised.value.problems[1].startswith("bad.csv:row 1: unknown columns nam")
    for name in ("un", "ofac", "Bad Name", ""):
        with pytest.raises(lists.InvalidInput, match="list name"):
            load_internal(path, name)


# -- versions in the platform database ---------------------------------------------------------


def _modified_un(tmp_path: Path) -> Path:
    """The excerpt with CFi.007 changed (an alias), IRe.002 removed and a copy of CDi.039 added
    as XXi.001."""
    tree = ET.parse(UN)
    root = tree.getroot()
    individuals, entities = root.find("INDIVIDUALS"), root.find("ENTITIES")
    assert individuals is not None and entities is not None
    by_reference = {
        r.findtext("REFERENCE_NUMBER"): r for r in root.iter() if r.find("DATAID") is not None
    }
    alias = by_reference["CFi.007"].find("INDIVIDUAL_ALIAS/ALIAS_NAME")
    assert alias is not None
    alias.text = "Haroun Gueye"
    entities.remove(by_reference["IRe.002"])
    copy = ET.fromstring(ET.tostring(by_reference["CDi.039"]))
    reference = copy.find("REFERENCE_NUMBER")
    assert reference is not None
    reference.text = "XXi.001"
    individuals.append(copy)
    path = tmp_path / "un-modified.xml"
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path


def test_reload_reports_added_changed_removed(screening: ScreeningLists, tmp_path: Path) -> None:
    first = screening.load(read_un(UN), CLI)
    assert (first.version, first.unchanged, first.added_count) == (1, False, 40)
    assert first.counts["entries"] == 40 and first.counts["kind.person"] == 30
    assert first.files[0].sha256 == __import__("hashlib").sha256(UN.read_bytes()).hexdigest()
    second = screening.load(read_un(_modified_un(tmp_path)), CLI)
    assert (second.version, second.unchanged) == (2, False)
    assert second.added == ("XXi.001",)
    assert second.changed == ("CFi.007",)
    assert second.removed == ("IRe.002",)
    current = {e.list_id: e for e in screening.current("un")}
    assert len(current) == 40 and "IRe.002" not in current
    assert Name("Haroun Gueye", "alias") in current["CFi.007"].names
    old = {e.list_id: e for e in screening.at_version("un", 1)}
    assert old == {e.list_id: e for e in load_un(UN)}


def test_the_same_file_again_is_unchanged(screening: ScreeningLists) -> None:
    screening.load(read_un(UN), CLI)
    again = screening.load(read_un(UN), CLI)
    assert (again.version, again.unchanged) == (1, True)
    assert (again.added_count, again.changed_count, again.removed_count) == (0, 0, 0)
    [version] = screening.versions()
    assert (version.list, version.version, version.source) == ("un", 1, "un")
    assert version.counts["entries"] == 40 and version.loaded_by == "cli"
    events = screening.trail.page(0, 10, EventFilter(action="screening.list_load"))
    assert [e.details["unchanged"] for e in events] == [False, True]
    assert events[0].resource_id == "un" and events[0].details["entries"] == 40


def test_current_reads_back_what_was_loaded(screening: ScreeningLists) -> None:
    parsed = read_ofac(SDN, ALT, ADD)
    result = screening.load(parsed, CLI)
    assert result.added_count == 8_976
    screening.load(read_un(UN), CLI)
    assert screening.current("ofac") == sorted(parsed.entries, key=lambda e: e.list_id)
    assert len(screening.current_all()) == 8_976 + 40
    assert [v.list for v in screening.versions()] == ["ofac", "un"]


def test_a_refused_load_stores_nothing(screening: ScreeningLists, tmp_path: Path) -> None:
    screening.load(read_un(UN), CLI)
    bad = tmp_path / "bad.xml"
    bad.write_bytes(UN.read_bytes()[:1_000])
    with pytest.raises(ListFileInvalid):
        screening.load(read_un(bad), CLI)
    entry = load_un(UN)[0]
    twice = lists.ParsedList("un", "un", (), (entry, entry))
    with pytest.raises(InvariantViolation):
        screening.load(twice, CLI)
    assert [v.version for v in screening.versions()] == [1]
    assert len(screening.trail.page(0, 10)) == 1


def test_a_failing_write_rolls_back_the_whole_load(
    screening: ScreeningLists, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("disk full")

    monkeypatch.setattr(screening.trail, "append", broken)
    with pytest.raises(sqlite3.OperationalError):
        screening.load(read_un(UN), CLI)
    assert screening.current("un") == [] and screening.versions() == []


ids = st.sets(st.integers(0, 30), max_size=12)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(loads=st.lists(st.tuples(ids, ids), min_size=1, max_size=4))
def test_every_version_reads_back_and_diffs_are_set_differences(
    tmp_path_factory: pytest.TempPathFactory, loads: list[tuple[set[int], set[int]]]
) -> None:
    """Each load: present ids, and which of them have a changed name; the diff is the set
    difference and every version reads back exactly."""
    store = PlatformStore(tmp_path_factory.mktemp("prop"), (TRAIL_SCHEMA, SCHEMA))
    screening = ScreeningLists(store, AuditTrail(store, ManualClock()), ManualClock())
    try:
        before: dict[str, Entry] = {}
        versions: list[list[Entry]] = []
        for present, renamed in loads:
            entries = {
                f"{i:02d}": Entry(
                    "t", f"{i:02d}", "person", (Name(f"n{i}{'x' if i in renamed else ''}"),)
                )
                for i in sorted(present)
            }
            result = screening.load(lists.ParsedList("t", "csv", (), tuple(entries.values())), CLI)
            added = sorted(set(entries) - set(before))
            removed = sorted(set(before) - set(entries))
            changed = sorted(i for i in entries if i in before and entries[i] != before[i])
            assert (list(result.added), list(result.removed), list(result.changed)) == (
                added,
                removed,
                changed,
            )
            assert result.unchanged == (bool(versions) and not (added or removed or changed))
            if not result.unchanged:
                versions.append(list(entries.values()))
            assert result.version == len(versions)
            before = entries
        for number, expected in enumerate(versions, 1):
            assert screening.at_version("t", number) == expected
    finally:
        store.close()
