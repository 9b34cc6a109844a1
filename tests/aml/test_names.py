"""Normalisation and transliteration of names across scripts."""

from __future__ import annotations

from clearline.aml.screening.names import (
    fold,
    query_forms,
    script_of,
    skeleton,
    strip_legal_forms,
    tokens,
)


def test_scripts_are_detected() -> None:
    assert [script_of(t) for t in ("李方伟", "محمد", "Иван", "José")] == [
        "han",
        "arabic",
        "cyrillic",
        "latin",
    ]


def test_fold_removes_diacritics_and_punctuation() -> None:
    assert fold("José  Ñúñez-Müller") == "jose nunez muller"


def test_han_gives_pinyin_in_both_orders_and_spacings() -> None:
    forms = {f.tokens for f in query_forms("李方伟")}
    assert {("li", "fangwei"), ("fangwei", "li"), ("li", "fang", "wei")} <= forms


def test_cyrillic_gives_every_system() -> None:
    forms = {" ".join(f.tokens) for f in query_forms("Хрущёв")}
    assert {"khrushchev", "hrusch" + "ev"} <= forms
    endings = {" ".join(f.tokens) for f in query_forms("Юрий")}
    assert {"yuriy", "yury", "yurii"} <= endings


def test_arabic_common_names_and_particles() -> None:
    (form,) = query_forms("محمد عبد الله الراوي")
    assert form.tokens == ("muhammad", "abdullah", "al", "rawi")


def test_latin_variants_share_one_canonical_spelling() -> None:
    assert tokens("Mohammed AL-RAWI") == tokens("Muhammad al-Rawi") == ("muhammad", "al", "rawi")
    assert skeleton("huwaysh") == skeleton("hwysh") == "hs"


def test_legal_forms_are_stripped_from_organisations() -> None:
    assert strip_legal_forms(tokens("Dandong Hongxiang Co., Ltd.")) == ("dandong", "hongxiang")
    (form,) = query_forms("شركة النور")
    assert form.tokens == ("al", "nur")
