"""Identifier validation: every document type with valid numbers (published examples, or built to
the algorithm) and named invalid ones, each failure naming its check; ICAO 9303 MRZ with the
standard's own specimen lines and a mutation per check digit; the tier requirement table."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from clearline.core.errors import InvalidInput
from clearline.kyc import DOCUMENT_TYPES, IdentifierInvalid, missing_documents, validate_document
from clearline.kyc.mrz import (
    MrzInvalid,
    check_digit,
    compose_td1,
    compose_td3,
    parse_td1,
    parse_td3,
)
from clearline.kyc.specimens import specimen_documents

TODAY = date(2026, 12, 3)

# ICAO Doc 9303 part 4 (TD3) and part 5 (TD1) specimens, "Utopia".
TD3_SPECIMEN = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]
TD1_SPECIMEN = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]
SPECIMEN_DAY = date(2010, 1, 1)  # the specimens expire on 2012-04-15


def _ric(first_17: str) -> str:
    """A resident identity card number with its ISO 7064 MOD 11-2 check digit."""
    return first_17 + ric.calc_check_digit(first_17 + "0")


VALID = [
    # (type, country, number as entered, compact number)
    ("cn_ric", "CN", "360426199101010071", "360426199101010071"),  # stdnum's example
    ("cn_ric", "CN", _ric("11010519491231002"), _ric("11010519491231002")),  # GB 11643 sample
    ("cn_uscc", "CN", "91110000600037341L", "91110000600037341L"),
    ("th_pin", "TH", "3-1006-00445-63-5", "3100600445635"),
    ("th_moa", "TH", "0105536092641", "0105536092641"),
    ("my_nric", "MY", "770305-02-1234", "770305021234"),
    ("sg_uen", "SG", "00192200M", "00192200M"),
    ("sg_uen", "SG", "197401143C", "197401143C"),
    ("id_nik", "ID", "3171011708450001", "3171011708450001"),
    ("us_ssn", "US", "536-90-4399", "536904399"),
    ("us_ein", "US", "04-2103594", "042103594"),
    ("de_idnr", "DE", "36 574 261 809", "36574261809"),
    ("iban", "DE", "DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("iban", "GB", "GB29 NWBK 6016 1331 9268 19", "GB29NWBK60161331926819"),
    ("iban", "AE", "AE07 0331 2345 6789 0123 456", "AE070331234567890123456"),
    ("iban", "SA", "SA03 8000 0000 6080 1016 7519", "SA0380000000608010167519"),
    ("bic", "DE", "DEUTDEFF", "DEUTDEFF"),
    ("bic", "DE", "DEUTDEFF500", "DEUTDEFF500"),
]

INVALID = [
    # (type, country, number, check that must fail)
    ("cn_ric", "CN", "360426199101010072", "checksum"),
    ("cn_ric", "CN", "36042619910101007", "length"),
    ("cn_ric", "CN", "3604261991010100A1", "format"),
    ("cn_ric", "CN", _ric("36042619911301007"), "birth_date"),  # month 13, checksum right
    ("cn_ric", "CN", _ric("99042619910101007"), "region"),  # no region 990426, checksum right
    ("cn_uscc", "CN", "91110000600037341M", "checksum"),
    ("cn_uscc", "CN", "9111000060003734", "length"),
    ("cn_uscc", "CN", "9111000O600037341L", "format"),
    ("th_pin", "TH", "3100600445636", "checksum"),
    ("th_pin", "TH", "0100600445635", "component"),  # 0 is no person category
    ("th_pin", "TH", "310060044563", "length"),
    ("th_moa", "TH", "0105536092642", "checksum"),
    ("my_nric", "MY", "771305021234", "birth_date"),
    ("my_nric", "MY", "770305001234", "region"),
    ("my_nric", "MY", "77030502123", "length"),
    ("sg_uen", "SG", "00192200N", "checksum"),
    ("sg_uen", "SG", "0019220", "length"),
    ("id_nik", "ID", "9971011708450001", "region"),
    ("id_nik", "ID", "3171013002001234", "birth_date"),
    ("us_ssn", "US", "000-12-3456", "component"),
    ("us_ssn", "US", "53-690-43", "format"),
    ("us_ein", "US", "07-2103594", "component"),
    ("de_idnr", "DE", "36574261808", "checksum"),
    ("de_idnr", "DE", "3657426180", "length"),
    ("iban", "DE", "DE88 3704 0044 0532 0130 00", "checksum"),
    ("iban", "DE", "DE89 3704 0044 0532 0130 0", "length"),
    ("iban", "FR", "DE89 3704 0044 0532 0130 00", "issuing_country"),
    ("iban", "XX", "XX89 3704 0044 0532 0130 00", "country_code"),
    ("bic", "DE", "DEUTDEF", "length"),
    ("bic", "DE", "DEUT1EFF", "format"),
    ("bic", "FR", "DEUTDEFF", "issuing_country"),
    ("th_pin", "MY", "3100600445635", "issuing_country"),  # a Thai number is not Malaysian
    ("no_such_type", "TH", "3100600445635", "document_type"),
]


@pytest.mark.parametrize(("type_id", "country", "number", "compact"), VALID)
def test_valid_numbers_come_back_compact(
    type_id: str, country: str, number: str, compact: str
) -> None:
    document = validate_document(type_id, country, today=TODAY, number=number)
    assert (document.document_type, document.issuing_country) == (type_id, country)
    assert document.number == compact


@pytest.mark.parametrize(("type_id", "country", "number", "check"), INVALID)
def test_each_invalid_number_names_its_check(
    type_id: str, country: str, number: str, check: str
) -> None:
    with pytest.raises(IdentifierInvalid) as raised:
        validate_document(type_id, country, today=TODAY, number=number)
    assert raised.value.check == check
    assert raised.value.document_type == type_id
    assert isinstance(raised.value, InvalidInput) and raised.value.code == "identifier_invalid"
    assert number.replace(" ", "") not in raised.value.message  # the number is never echoed


def test_every_number_type_has_valid_and_invalid_cases() -> None:
    numbered = {kind for kind, t in DOCUMENT_TYPES.items() if not t.machine_readable}
    assert {case[0] for case in VALID} == numbered
    assert {case[0] for case in INVALID} - {"no_such_type"} == numbered


def test_numbers_tell_birth_date_sex_and_region() -> None:
    card = validate_document("cn_ric", "CN", today=TODAY, number="360426199101010071")
    assert (card.birth_date, card.sex) == (date(1991, 1, 1), "male")  # 17th digit 7: odd
    assert card.region is not None and card.region.startswith("360426 江西省")
    female = validate_document("cn_ric", "CN", today=TODAY, number=_ric("11010519491231002"))
    assert (female.birth_date, female.sex) == (date(1949, 12, 31), "female")
    nric = validate_document("my_nric", "MY", today=TODAY, number="770305-02-1234")
    assert (nric.birth_date, nric.sex, nric.region) == (date(1977, 3, 5), "female", "Kedah")
    nik = validate_document("id_nik", "ID", today=TODAY, number="3171015708450001")
    assert (nik.birth_date, nik.sex) == (date(1945, 8, 17), "female")  # day + 40: female
    iban = validate_document("iban", "DE", today=TODAY, number="DE89370400440532013000")
    assert iban.facts["bank_code"] == "37040044"


def test_a_number_or_lines_are_required_as_the_type_needs() -> None:
    for kwargs, type_id in (({}, "cn_ric"), ({"number": "  "}, "cn_ric"), ({}, "passport_mrz")):
        with pytest.raises(IdentifierInvalid) as raised:
            validate_document(type_id, "CN", today=TODAY, **kwargs)  # type: ignore[arg-type]
        assert raised.value.check == "format"
    with pytest.raises(IdentifierInvalid) as raised:
        validate_document("cn_ric", "CN", today=TODAY, number="1" * 65)
    assert raised.value.check == "length"


# -- ICAO 9303 machine readable zones -----------------------------------------------------------


def test_check_digits_of_the_standard() -> None:
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    assert check_digit("ZE184226B<<<<<") == "1"
    assert check_digit("D23145890") == "7"
    assert check_digit("<<<<<<") == "0"


def test_td3_specimen_parses() -> None:
    read = parse_td3(TD3_SPECIMEN, SPECIMEN_DAY)
    assert (read.document_code, read.issuing_state, read.nationality) == ("P", "UTO", "UTO")
    assert (read.surname, read.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert read.document_number == "L898902C3"
    assert (read.birth_date, read.expiry_date) == (date(1974, 8, 12), date(2012, 4, 15))
    assert (read.sex, read.optional_data) == ("female", "ZE184226B")


def test_td1_specimen_parses() -> None:
    read = parse_td1(TD1_SPECIMEN, SPECIMEN_DAY)
    assert (read.document_code, read.issuing_state, read.nationality) == ("I", "UTO", "UTO")
    assert (read.surname, read.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert read.document_number == "D23145890"
    assert (read.birth_date, read.expiry_date, read.sex) == (
        date(1974, 8, 12),
        date(2012, 4, 15),
        "female",
    )


def _replace(lines: list[str], line: int, position: int, character: str) -> list[str]:
    changed = list(lines)
    text = changed[line]
    assert text[position] != character
    changed[line] = text[:position] + character + text[position + 1 :]
    return changed


TD3_MUTATIONS = [
    # (line, position, new character, check that must fail)
    (1, 9, "7", "mrz_check_digit:document_number"),
    (1, 0, "M", "mrz_check_digit:document_number"),  # a flipped character of the number
    (1, 19, "3", "mrz_check_digit:birth_date"),
    (1, 14, "5", "mrz_check_digit:birth_date"),
    (1, 27, "0", "mrz_check_digit:expiry_date"),
    (1, 42, "2", "mrz_check_digit:personal_number"),
    (1, 43, "1", "mrz_check_digit:composite"),
    (1, 30, "F", "mrz_check_digit:personal_number"),
]


@pytest.mark.parametrize(("line", "position", "character", "check"), TD3_MUTATIONS)
def test_td3_mutations_fail_their_check(
    line: int, position: int, character: str, check: str
) -> None:
    with pytest.raises(MrzInvalid) as raised:
        parse_td3(_replace(TD3_SPECIMEN, line, position, character), SPECIMEN_DAY)
    assert raised.value.check == check


TD1_MUTATIONS = [
    (0, 14, "8", "mrz_check_digit:document_number"),
    (0, 6, "4", "mrz_check_digit:document_number"),
    (1, 6, "3", "mrz_check_digit:birth_date"),
    (1, 14, "8", "mrz_check_digit:expiry_date"),
    (1, 29, "7", "mrz_check_digit:composite"),
    # optional data is under the composite only (A for < would pass: 10 ≡ 0 mod 10, a known
    # blind spot of the 7-3-1 digit)
    (0, 20, "B", "mrz_check_digit:composite"),
]


@pytest.mark.parametrize(("line", "position", "character", "check"), TD1_MUTATIONS)
def test_td1_mutations_fail_their_check(
    line: int, position: int, character: str, check: str
) -> None:
    with pytest.raises(MrzInvalid) as raised:
        parse_td1(_replace(TD1_SPECIMEN, line, position, character), SPECIMEN_DAY)
    assert raised.value.check == check


@pytest.mark.parametrize(
    ("lines", "check"),
    [
        (TD3_SPECIMEN[:1], "length"),
        ([TD3_SPECIMEN[0], TD3_SPECIMEN[1][:-1]], "length"),
        ([TD3_SPECIMEN[0].replace("<", " ", 1), TD3_SPECIMEN[1]], "format"),
        (["V" + TD3_SPECIMEN[0][1:], TD3_SPECIMEN[1]], "format"),
        (_replace(TD3_SPECIMEN, 1, 20, "Q"), "format"),  # sex is F, M, X or <
    ],
)
def test_td3_shape_is_checked(lines: list[str], check: str) -> None:
    with pytest.raises(MrzInvalid) as raised:
        parse_td3(lines, SPECIMEN_DAY)
    assert raised.value.check == check


def test_an_impossible_date_with_a_right_check_digit_is_refused() -> None:
    lines = compose_td3(
        issuing_state="UTO",
        document_number="L898902C3",
        nationality="UTO",
        birth_date=date(1974, 8, 12),
        expiry_date=date(2030, 4, 15),
        sex="F",
        surname="ERIKSSON",
        given_names="ANNA",
    )
    second = lines[1][:13] + "741312" + check_digit("741312") + lines[1][20:43]
    second += check_digit(second[0:10] + second[13:20] + second[21:43])
    with pytest.raises(MrzInvalid) as raised:
        parse_td3([lines[0], second], TODAY)
    assert raised.value.check == "birth_date"


def test_td1_long_document_number_continues_in_the_optional_data() -> None:
    number = "D23145890123"
    rest = number[9:] + check_digit(number)
    first = ("I<UTO" + number[:9] + "<" + rest).ljust(30, "<")
    second = "7408122F1204159UTO<<<<<<<<<<<"
    second += check_digit(first[5:30] + second[0:7] + second[8:15] + second[18:29])
    read = parse_td1([first, second, TD1_SPECIMEN[2]], SPECIMEN_DAY)
    assert read.document_number == number
    wrong = first[:15] + rest[:-1] + str((int(rest[-1]) + 1) % 10) + first[15 + len(rest) :]
    with pytest.raises(MrzInvalid) as raised:
        parse_td1([wrong, second, TD1_SPECIMEN[2]], SPECIMEN_DAY)
    assert raised.value.check in ("mrz_check_digit:document_number", "mrz_check_digit:composite")


def test_mrz_documents_check_issuing_country_and_expiry() -> None:
    passport = specimen_documents("alice", "CN", 2)[0]
    valid = validate_document("passport_mrz", "CN", today=TODAY, mrz_lines=passport["mrz_lines"])
    assert valid.holder_name == "SPECIMEN, CUSTOMER" and valid.facts["nationality"] == "CHN"
    assert valid.number == passport["mrz_lines"][1][:9]
    for country, lines, today, check in (
        ("TH", passport["mrz_lines"], TODAY, "issuing_country"),
        ("CN", passport["mrz_lines"], date(2100, 1, 1), "expired"),
        ("UT", TD3_SPECIMEN, SPECIMEN_DAY, "issuing_country"),  # Utopia is in no ISO list
        (
            "CN",
            _replace(passport["mrz_lines"], 1, 9, "X"),
            TODAY,
            "mrz_check_digit:document_number",
        ),
    ):
        with pytest.raises(IdentifierInvalid) as raised:
            validate_document("passport_mrz", country, today=today, mrz_lines=lines)
        assert raised.value.check == check
    germany = specimen_documents("hans", "DE", 3)[1]  # Germany prints D, not DEU
    assert validate_document("id_card_mrz", "DE", today=TODAY, mrz_lines=germany["mrz_lines"])


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12)
numbers = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=9)
born = st.dates(min_value=date(1930, 1, 1), max_value=date(2025, 12, 31))
expires = st.dates(min_value=date(2027, 1, 1), max_value=date(2099, 12, 31))


@given(names, names, numbers, born, expires, st.sampled_from("FM<"))
def test_composed_lines_read_back_and_any_digit_flip_fails(
    surname: str, given_names: str, number: str, birth: date, expiry: date, sex: str
) -> None:
    fields = {
        "issuing_state": "THA",
        "nationality": "THA",
        "birth_date": birth,
        "expiry_date": expiry,
        "sex": sex,
        "surname": surname,
        "given_names": given_names,
        "document_number": number,
    }
    for compose, parse in ((compose_td3, parse_td3), (compose_td1, parse_td1)):
        lines = compose(**fields)
        read = parse(lines, TODAY)
        assert (read.document_number, read.birth_date, read.expiry_date) == (number, birth, expiry)
        assert (read.surname, read.given_names) == (surname, given_names)
        line = 1
        last = lines[line][-1]
        flipped = _replace(lines, line, len(lines[line]) - 1, str((int(last) + 1) % 10))
        with pytest.raises(MrzInvalid):
            parse(flipped, TODAY)


# -- what each tier needs ------------------------------------------------------------------------


def test_tier_requirements() -> None:
    assert missing_documents(1, "person", []) == []
    assert missing_documents(2, "person", []) == ["government_identity"]
    assert missing_documents(2, "person", ["cn_ric"]) == []
    assert missing_documents(2, "person", ["cn_uscc", "iban", "bic"]) == ["government_identity"]
    assert missing_documents(2, "merchant", ["cn_uscc"]) == []  # a business shows its registration
    assert missing_documents(3, "person", ["cn_ric"]) == ["second_document"]
    assert missing_documents(3, "person", ["cn_ric", "bic"]) == ["second_document"]
    assert missing_documents(3, "person", ["cn_ric", "iban"]) == []
    assert missing_documents(3, "person", ["passport_mrz", "id_card_mrz"]) == []
    assert missing_documents(3, "person", []) == ["government_identity", "second_document"]
    assert missing_documents(3, "enterprise", ["sg_uen", "iban"]) == []


def test_specimens_meet_their_tier() -> None:
    for tier in (0, 1, 2, 3):
        documents = specimen_documents("seed", "SG", tier)
        assert missing_documents(tier, "person", [d["type"] for d in documents]) == []
        for document in documents:
            validate_document(document["type"], "SG", today=TODAY, mrz_lines=document["mrz_lines"])
    assert specimen_documents("a", "SG", 3) != specimen_documents("b", "SG", 3)
