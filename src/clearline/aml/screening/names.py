"""Names normalised and transliterated into the Latin forms lists use, so that a query in Han,
Arabic or Cyrillic script meets the romanised list entry.

Guarantees: every function is pure; `fold` output is lower-case ASCII letters, digits and single
spaces; `query_forms` returns at least one form for any non-empty name, each labelled with the
transliteration that made it (shown in match explanations).

Libraries: pypinyin (Han → pinyin), anyascii (base romanisation of any other script).
Written by hand, and why:
- Cyrillic systems (ICAO 9303, BGN/PCGN, GOST/scientific): lists mix them, so the matcher needs
  every system's spelling at once; the libraries each give one system per call, and the table
  differs only in a dozen letters, written here below.
- Arabic: anyascii drops short vowels (محمد → "mhmd"); no library has the romanisation variants
  lists use for common given names (Muhammad/Mohammed/Mohamed, Abd al/Abdul), so a small
  variant table and a consonant skeleton (`skeleton`) that both scripts reduce to are written
  here.
- Legal forms of organisations (`Co., Ltd.`, `LLC`, `GmbH`, `有限公司`, `شركة`, `ООО`): a short
  stop-word list; no maintained library covers these scripts together.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from anyascii import anyascii
from pypinyin import Style, lazy_pinyin

LEGAL_FORMS: Final[frozenset[str]] = frozenset(
    [
        "co",
        "ltd",
        "llc",
        "inc",
        "corp",
        "corporation",
        "company",
        "limited",
        "gmbh",
        "ag",
        "sa",
        "s",
        "a",
        "plc",
        "lp",
        "llp",
        "bv",
        "nv",
        "srl",
        "spa",
        "jsc",
        "ojsc",
        "cjsc",
        "pjsc",
        "ooo",
        "zao",
        "oao",
        "pao",
        "fze",
        "fzco",
        "est",
        "establishment",
        "trading",
        "group",
        "holding",
        "holdings",
        "the",
        "of",
        "and",
    ]
)
SCRIPT_LEGAL_FORMS: Final[tuple[str, ...]] = (
    "有限责任公司", "股份有限公司", "有限公司", "集团", "公司",
    "شركة", "مؤسسة", "ООО", "ОАО", "ЗАО", "ПАО", "АО",
)  # fmt: skip
PARTICLES: Final[frozenset[str]] = frozenset({"al", "el", "ul", "bin", "ibn", "ben", "bint", "abu"})
CANONICAL: Final[dict[str, str]] = {
    **dict.fromkeys(
        ["mohammed", "mohamed", "mohammad", "muhammed", "mohamad", "muhamad", "mohamud", "mahomed"],
        "muhammad",
    ),
    **dict.fromkeys(["ahmed", "ahmet"], "ahmad"),
    **dict.fromkeys(["hussein", "husain", "husayn", "hussain"], "husayn"),
    **dict.fromkeys(["hassan", "hasan"], "hasan"),
    **dict.fromkeys(["yusuf", "youssef", "yousef", "yusef"], "yusuf"),
    **dict.fromkeys(["abdul", "abdel", "abdal", "abdoul", "abdur", "abdu"], "abd"),
    **dict.fromkeys(["ibn", "ben", "bin"], "bin"),
    **dict.fromkeys(["abou", "abo"], "abu"),
    **dict.fromkeys(["el", "ul"], "al"),
}
"""Spelling variants lists use for one Arabic name or particle, mapped to one canonical token
on both the list and the query side."""

ARABIC_WORDS: Final[dict[str, str]] = {
    "محمد": "muhammad", "احمد": "ahmad", "أحمد": "ahmad", "عبد": "abd", "الله": "allah",
    "حسن": "hasan", "حسين": "husayn", "علي": "ali", "يوسف": "yusuf", "بن": "bin", "ابن": "bin",
    "ابو": "abu", "أبو": "abu", "منصور": "mansur", "مصطفى": "mustafa", "ابراهيم": "ibrahim",
    "إبراهيم": "ibrahim", "سالم": "salim", "خالد": "khalid", "عمر": "umar", "طه": "taha",
}  # fmt: skip
ARABIC_LETTERS: Final[dict[str, str]] = {
    "ا": "a", "أ": "a", "إ": "i", "آ": "a", "ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "h",
    "خ": "kh", "د": "d", "ذ": "dh", "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s", "ض": "d",
    "ط": "t", "ظ": "z", "ع": "", "غ": "gh", "ف": "f", "ق": "q", "ك": "k", "ک": "k", "ل": "l",
    "م": "m", "ن": "n", "ه": "h", "ة": "a", "و": "u", "ي": "i", "ی": "i", "ى": "a", "ء": "",
    "ئ": "i", "ؤ": "u", "پ": "p", "چ": "ch", "گ": "g", "ژ": "zh",
}  # fmt: skip

_CYRILLIC_BASE: Final[dict[str, str]] = dict(
    zip(
        "абвгдезийклмнопрстуфцчшъыьэюяё",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "ts",
            "ch",
            "sh",
            "_",
            "y",
            "_",
            "e",
            "yu",
            "ya",
            "e",
        ],
        strict=True,
    )
)
CYRILLIC_SYSTEMS: Final[dict[str, dict[str, str]]] = {
    "icao-9303": {"х": "kh", "ж": "zh", "щ": "shch", "й": "i", "ю": "iu", "я": "ia", "ц": "ts"},
    "bgn-pcgn": {"х": "kh", "ж": "zh", "щ": "shch", "й": "y", "ю": "yu", "я": "ya"},
    "gost-scientific": {"х": "h", "ж": "zh", "щ": "sch", "й": "j", "ю": "ju", "я": "ja", "ц": "c"},
    "simple": {"х": "h", "ж": "j", "щ": "sch", "й": "y", "ц": "tz", "ч": "tch"},
}
"""The Cyrillic letters whose romanisation differs between the systems lists use; the rest is
`_CYRILLIC_BASE` (`_` marks letters the systems drop)."""
CYRILLIC_ENDINGS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("iy", ("iy", "y", "ii", "i")),
    ("yy", ("yy", "y", "iy")),
)

_NON_WORD = re.compile(r"[^0-9a-z]+")
_VOWELS = re.compile(r"[aeiouyw]")
_DIGRAPHS: Final[tuple[tuple[str, str], ...]] = (
    ("kh", "h"), ("gh", "g"), ("sh", "s"), ("ch", "s"), ("th", "t"), ("dh", "d"), ("ph", "f"),
    ("q", "k"), ("c", "k"), ("z", "s"), ("j", "g"), ("x", "ks"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Form:
    """One Latin reading of a name: its canonical tokens and the transliteration that made it."""

    tokens: tuple[str, ...]
    transliteration: str


def script_of(text: str) -> str:
    """`han`, `arabic`, `cyrillic` or `latin`: the first non-Latin script found in the text."""
    for char in text:
        if "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf":
            return "han"
        if "\u0600" <= char <= "\u06ff":
            return "arabic"
        if "\u0400" <= char <= "\u04ff":
            return "cyrillic"
    return "latin"


def fold(text: str) -> str:
    """Latin text with diacritics folded, lower case, punctuation as single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", anyascii(plain).lower()).strip()


def canonical(token: str) -> str:
    return CANONICAL.get(token, token)


def tokens(latin: str) -> tuple[str, ...]:
    """Canonical tokens of a Latin name: folded, `al-x` split, variants mapped to one spelling."""
    out: list[str] = []
    for token in fold(latin).split():
        if len(token) > 4 and token[:2] in ("al", "el") and "-" in latin:
            out.extend(("al", token[2:]))
        else:
            out.append(canonical(token))
    return tuple(out)


def strip_legal_forms(name_tokens: tuple[str, ...]) -> tuple[str, ...]:
    """An organisation's tokens without legal forms and stop words (all of them if nothing else)."""
    kept = tuple(t for t in name_tokens if t not in LEGAL_FORMS)
    return kept or name_tokens


def skeleton(latin_token: str) -> str:
    """The consonant skeleton of a Latin token: digraphs merged, vowels, w and y dropped, doubles
    collapsed. Arabic script writes few vowels, so its readings and the list's meet here."""
    text = latin_token
    for digraph, single in _DIGRAPHS:
        text = text.replace(digraph, single)
    text = _VOWELS.sub("", text)
    return re.sub(r"(.)\1+", r"\1", text)


def is_initial(token: str) -> bool:
    return len(token) == 1 and token.isalpha()


def _han_forms(text: str) -> list[Form]:
    for legal in SCRIPT_LEGAL_FORMS:
        text = text.replace(legal, " ")
    words = [w for w in text.split() if w]
    syllables = [lazy_pinyin(w) for w in words]
    if len(words) == 1 and len(syllables[0]) in (2, 3, 4):
        surname_length = 2 if len(syllables[0]) == 4 else 1
        surname = "".join(syllables[0][:surname_length])
        given = syllables[0][surname_length:]
        toned = " ".join(lazy_pinyin(words[0], style=Style.TONE))
        return [
            Form((surname, "".join(given)), f"pinyin surname-first (tones: {toned})"),
            Form(("".join(given), surname), "pinyin given-first"),
            Form((surname, *given), "pinyin syllables spaced"),
        ]
    joined = tuple(s for word in syllables for s in word)
    return [Form(joined, "pinyin syllables spaced"), Form(("".join(joined),), "pinyin joined")]


def _arabic_token(word: str) -> list[str]:
    if word in ARABIC_WORDS:
        return [ARABIC_WORDS[word]]
    if word.startswith("ال") and len(word) > 3:
        return ["al", *_arabic_token(word[2:])]
    letters = []
    for index, char in enumerate(word):
        consonantal = index == 0 or word[index - 1] in "اأآ"  # و and ي after alif or first
        if char == "و" and consonantal:
            letters.append("w")
        elif char in "يی" and consonantal:
            letters.append("y")
        else:
            letters.append(ARABIC_LETTERS.get(char, anyascii(char).lower()))
    return ["".join(letters)]


def _arabic_forms(text: str) -> list[Form]:
    for legal in SCRIPT_LEGAL_FORMS:
        text = text.replace(legal, " ")
    out = [t for word in text.split() for t in _arabic_token(word)]
    merged: list[str] = []
    for token in out:  # عبد الله / عبد اللطيف: lists write "abdullah", "abd al latif"
        if merged and merged[-1] == "abd" and token == "allah":
            merged[-1] = "abdullah"
        else:
            merged.append(token)
    return [Form(tuple(t for t in merged if t), "arabic name table + letters")]


def _cyrillic_forms(text: str) -> list[Form]:
    for legal in SCRIPT_LEGAL_FORMS:
        text = text.replace(legal, " ")
    lower = text.lower()
    forms: list[Form] = []
    for system, letters in CYRILLIC_SYSTEMS.items():
        table = {**_CYRILLIC_BASE, **letters}
        latin = "".join(table.get(c, c) for c in lower).replace("_", "")
        forms.append(Form(tokens(latin), f"cyrillic {system}"))
    base = forms[1].tokens
    for ending, variants in CYRILLIC_ENDINGS:
        if any(t.endswith(ending) for t in base):
            for variant in variants[1:]:
                changed = tuple(
                    t[: -len(ending)] + variant if t.endswith(ending) else t for t in base
                )
                forms.append(Form(changed, f"cyrillic bgn-pcgn, -{ending} as -{variant}"))
    return forms


def query_forms(name: str) -> list[Form]:
    """Every Latin reading of a query name, de-duplicated, in the order tried."""
    script = script_of(name)
    if script == "han":
        forms = _han_forms(name)
    elif script == "arabic":
        forms = _arabic_forms(name)
    elif script == "cyrillic":
        forms = _cyrillic_forms(name)
    else:
        forms = [Form(tokens(name), "latin folded")]
    seen: set[tuple[str, ...]] = set()
    unique = []
    for form in forms:
        if form.tokens and form.tokens not in seen:
            seen.add(form.tokens)
            unique.append(form)
    return unique or [Form(tuple(fold(name).split()) or ("?",), "anyascii")]
