"""Screening queries in any script against romanised entries."""

from __future__ import annotations

from clearline.aml.screening.matcher import Matcher, Query
from clearline.aml.screening.model import BirthDate, Entry, Identifier, Name

ENTRIES = [
    Entry("ofac", "11447", "person", (Name("LI, Fangwei"),), (BirthDate("1972-09-18"),), ("CN",)),
    Entry(
        "ofac",
        "16641",
        "person",
        (Name("YANUKOVYCH, Viktor Fedorovych"),),
        nationalities=("UA",),
        identifiers=(Identifier("passport", "EK123456"),),
    ),
    Entry("un", "IQi.014", "person", (Name("SAIF-AL-DIN FULAYYIH HASSAN TAHA AL-RAWI"),)),
    Entry("un", "TAi.007", "person", (Name("ABDUL LATIF MANSUR"),)),
    Entry(
        "ofac", "20564", "organization", (Name("DANDONG HONGXIANG INDUSTRIAL DEVELOPMENT CO LTD"),)
    ),
    Entry("ofac", "900", "organization", (Name("LI FANGWEI TRADING LLC"),)),
    Entry("ofac", "901", "person", (Name("WANG, Guoying"),), (BirthDate(year_from=1950),)),
]
MATCHER = Matcher(ENTRIES)


def top(query: Query) -> str:
    return MATCHER.match(query, top=1)[0].entry.list_id


def test_original_scripts_find_their_romanised_entries() -> None:
    assert top(Query("李方伟", kind="person")) == "11447"
    assert top(Query("Виктор Федорович Янукович")) == "16641"
    assert top(Query("سيف الدين فليح حسن طه الراوي")) == "IQi.014"
    assert top(Query("عبد اللطيف منصور")) == "TAi.007"


def test_reordered_missing_parts_and_initials() -> None:
    assert top(Query("Fedorovych Viktor Yanukovych")) == "16641"
    assert top(Query("Viktor Yanukovych")) == "16641"
    assert top(Query("V. F. Yanukovych")) == "16641"
    full = MATCHER.match(Query("Viktor Fedorovych Yanukovych"))[0].score
    missing = MATCHER.match(Query("Viktor Yanukovych"))[0].score
    assert missing < full


def test_organisation_legal_forms_do_not_matter() -> None:
    match = MATCHER.match(Query("Dandong Hongxiang Industrial Development Co., Ltd."), top=1)[0]
    assert match.entry.list_id == "20564" and match.score > 0.9


def test_a_person_never_matches_an_organisation_by_default() -> None:
    ids = {m.entry.list_id for m in MATCHER.match(Query("Li Fangwei", kind="person"), top=10)}
    assert "900" not in ids and "11447" in ids
    crossed = MATCHER.match(Query("Li Fangwei", kind="person"), top=10, cross_kind=True)
    assert "900" in {m.entry.list_id for m in crossed}


def test_qualifiers_raise_and_lower_the_score() -> None:
    def score(**qualifiers: str) -> float:
        return MATCHER.match(Query("Li Fang Wei", kind="person", **qualifiers), top=1)[0].score

    plain = score()
    assert score(birth_date="1972-09-18") > plain > score(birth_date="1980-01-01")
    assert score(country="CN") > plain > score(country="RU")
    passport = MATCHER.match(Query("Viktor Yanukovich", identifiers=("EK 123456",)), top=1)[0]
    assert passport.contributions["identifier_match"] > 0


def test_scores_are_in_unit_interval_and_explanations_name_the_entry() -> None:
    for query in ("李方伟", "Wang Guoying", "zzz qqq", "Dandong"):
        for match in MATCHER.match(Query(query), top=5):
            assert 0.0 <= match.score <= 1.0
            assert match.matched_name in {n.text for n in match.entry.names}
    match = MATCHER.match(Query("李方伟"), top=1)[0]
    assert match.matched_name == "LI, Fangwei"
    assert match.transliteration.startswith("pinyin")
    assert set(match.contributions) >= {"token_similarity", "list_coverage", "intercept"}


def test_an_unrelated_name_scores_low() -> None:
    matches = MATCHER.match(Query("Maria Gonzalez Herrera"))
    assert all(m.score < 0.5 for m in matches)
