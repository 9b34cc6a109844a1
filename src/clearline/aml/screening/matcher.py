"""Screening a name against list entries: an index of every name of every entry, candidate
retrieval by token and consonant-skeleton blocking, token-aligned scoring with rapidfuzz, and a
logistic score in [0, 1] with per-feature contributions.

Guarantees: scores lie in [0, 1]; for equal name evidence a matching date of birth, country or
identifier never lowers the score and a contradicting one never raises it; a person query never
matches an organisation (and the reverse) unless `cross_kind=True`; each `Match` names the list
name that matched, the query reading used and the transliteration behind it.

Memory bound: the index keeps, per list name, its canonical tokens and one posting per distinct
token and skeleton key, so it grows linearly in the number of name tokens (about 2 postings per
token): measured 6.4 MiB of RSS growth for the 23,446 shipped names (bench/screening.py); bound
it at 1 KiB per name.

Calibration: `Calibration` holds logistic coefficients; `fit_calibration` learns them with
scikit-learn from labelled pairs. The defaults below are hand-set starting values, NOT yet fit on
a training split: the evaluation that would fit them (bench/screening_eval.py) is not written.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from rapidfuzz import fuzz

from clearline.aml.screening.model import Entry, Kind
from clearline.aml.screening.names import (
    PARTICLES,
    Form,
    is_initial,
    query_forms,
    skeleton,
    strip_legal_forms,
    tokens,
)

CANDIDATES_MAX: Final = 15
"""Names scored per query reading after blocking."""
POSTINGS_MAX: Final = 1_500
"""A blocking key on more names than this (a very common token) does not propose candidates."""
TOP_MAX: Final = 100
FEATURES: Final[tuple[str, ...]] = (
    "token_similarity", "list_coverage", "query_coverage", "order_kept", "compact_similarity",
)  # fmt: skip
QUALIFIER_LOG_ODDS: Final[dict[str, float]] = {
    "birth_date_match": 1.5, "birth_date_mismatch": -2.0,
    "country_match": 0.5, "country_mismatch": -0.7,
    "identifier_match": 3.0,
}  # fmt: skip
"""Stated likelihood ratios (as log-odds) of the qualifiers: the shipped data has no labelled
qualifier pairs to fit them on."""
ORGANIZATION_KINDS: Final[frozenset[str]] = frozenset({"organization", "vessel", "aircraft"})


@dataclass(frozen=True, slots=True)
class Calibration:
    intercept: float
    weights: tuple[float, ...]  # in FEATURES order


DEFAULT_CALIBRATION: Final = Calibration(-16.0, (10.0, 5.0, 3.0, 0.5, 2.5))


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    kind: Kind | None = None
    country: str | None = None
    birth_date: str | None = None  # YYYY-MM-DD or YYYY
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    entry: Entry
    score: float
    matched_name: str
    query_form: str
    transliteration: str
    contributions: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _IndexedName:
    entry: int
    text: str
    tokens: tuple[str, ...]


def _token_similarity(query: str, listed: str) -> float:
    if is_initial(query) or is_initial(listed):
        return 0.9 if query[0] == listed[0] else 0.0
    direct = fuzz.ratio(query, listed) / 100
    bones = skeleton(query), skeleton(listed)
    if bones[0] and bones[0] == bones[1]:
        return max(direct, 0.9)
    return direct


def _weight(token: str) -> float:
    return 0.2 if token in PARTICLES else 1.0


def name_features(query: tuple[str, ...], listed: tuple[str, ...]) -> dict[str, float]:
    """Token alignment (greedy on the best pairs, not sorting) of a query and a list name."""
    pairs = sorted(
        (
            (_token_similarity(q, t), i, j)
            for i, q in enumerate(query)
            for j, t in enumerate(listed)
        ),
        reverse=True,
    )
    used_query: dict[int, tuple[int, float]] = {}
    used_list: set[int] = set()
    for similarity, i, j in pairs:
        if i not in used_query and j not in used_list and similarity > 0.5:
            used_query[i] = (j, similarity)
            used_list.add(j)
    query_weight = sum(_weight(t) for t in query) or 1.0
    list_weight = sum(_weight(t) for t in listed) or 1.0
    aligned = sum(_weight(query[i]) * s for i, (_, s) in used_query.items())
    order = [j for _, (j, _) in sorted(used_query.items())]
    return {
        "token_similarity": aligned / query_weight,
        "list_coverage": sum(_weight(listed[j]) for j in used_list) / list_weight,
        "query_coverage": sum(_weight(query[i]) for i in used_query) / query_weight,
        "order_kept": 1.0 if order == sorted(order) else 0.0,
        "compact_similarity": fuzz.ratio("".join(query), "".join(listed)) / 100,
    }


def _qualifiers(query: Query, entry: Entry) -> dict[str, float]:
    out: dict[str, float] = {}
    if query.birth_date and entry.birth_dates:
        year = int(query.birth_date[:4])
        hit = any(
            (b.exact is not None and b.exact.startswith(query.birth_date))
            or (b.exact is None and (b.year_from or 0) <= year <= (b.year_to or b.year_from or 0))
            or (b.exact is not None and len(query.birth_date) == 4 and b.exact[:4] == str(year))
            for b in entry.birth_dates
        )
        key = "birth_date_match" if hit else "birth_date_mismatch"
        out[key] = QUALIFIER_LOG_ODDS[key]
    places = set(entry.nationalities) | set(entry.countries)
    if query.country and places:
        key = "country_match" if query.country.upper() in places else "country_mismatch"
        out[key] = QUALIFIER_LOG_ODDS[key]
    numbers = {i.number.replace(" ", "").upper() for i in entry.identifiers}
    if any(n.replace(" ", "").upper() in numbers for n in query.identifiers):
        out["identifier_match"] = QUALIFIER_LOG_ODDS["identifier_match"]
    return out


def _kind_allowed(query: Kind | None, entry: Kind, cross_kind: bool) -> bool:
    if query is None or cross_kind:
        return True
    return (query == "person") == (entry == "person")


class Matcher:
    """An index over entries; `match` screens one query."""

    def __init__(self, entries: Sequence[Entry], calibration: Calibration = DEFAULT_CALIBRATION):
        self.entries = list(entries)
        self.calibration = calibration
        self.names: list[_IndexedName] = []
        self.postings: dict[str, list[int]] = defaultdict(list)
        for entry_index, entry in enumerate(self.entries):
            for name in entry.names:
                for form in self._list_forms(name.text, entry.kind):
                    self._add(entry_index, name.text, form)

    @staticmethod
    def _list_forms(text: str, kind: Kind) -> list[tuple[str, ...]]:
        forms = [f.tokens for f in query_forms(text)]
        if kind in ORGANIZATION_KINDS:
            forms = [strip_legal_forms(f) for f in forms]
        return forms

    def _add(self, entry: int, text: str, name_tokens: tuple[str, ...]) -> None:
        name_id = len(self.names)
        self.names.append(_IndexedName(entry, text, name_tokens))
        for key in {k for t in name_tokens if t not in PARTICLES for k in _keys(t)}:
            self.postings[key].append(name_id)

    def _candidates(self, form: tuple[str, ...]) -> list[int]:
        votes: dict[int, float] = defaultdict(float)
        for token in form:
            if token in PARTICLES:
                continue
            for key in _keys(token):
                posting = self.postings.get(key, ())
                if 0 < len(posting) <= POSTINGS_MAX:
                    weight = math.log(len(self.names) / len(posting))
                    for name_id in posting:
                        votes[name_id] += weight
        return sorted(votes, key=votes.__getitem__, reverse=True)[:CANDIDATES_MAX]

    def score(self, features: dict[str, float], qualifiers: dict[str, float]) -> float:
        logit = self.calibration.intercept
        for name, weight in zip(FEATURES, self.calibration.weights, strict=True):
            logit += weight * features[name]
        logit += sum(qualifiers.values())
        return 1.0 / (1.0 + math.exp(-logit))

    def match(self, query: Query, top: int = 5, cross_kind: bool = False) -> list[Match]:
        assert 0 < top <= TOP_MAX
        best: dict[int, Match] = {}
        for form in query_forms(query.name):
            stripped = strip_legal_forms(form.tokens)
            for name_id in self._candidates(stripped):
                indexed = self.names[name_id]
                entry = self.entries[indexed.entry]
                if not _kind_allowed(query.kind, entry.kind, cross_kind):
                    continue
                organization = entry.kind in ORGANIZATION_KINDS
                query_tokens = stripped if organization else form.tokens
                features = name_features(query_tokens, indexed.tokens)
                qualifiers = _qualifiers(query, entry)
                score = self.score(features, qualifiers)
                if indexed.entry in best and best[indexed.entry].score >= score:
                    continue
                best[indexed.entry] = self._explain(
                    entry, score, indexed, form, features, qualifiers
                )
        return sorted(best.values(), key=lambda m: m.score, reverse=True)[:top]

    def _explain(
        self,
        entry: Entry,
        score: float,
        indexed: _IndexedName,
        form: Form,
        features: dict[str, float],
        qualifiers: dict[str, float],
    ) -> Match:
        weights = dict(zip(FEATURES, self.calibration.weights, strict=True))
        contributions = {name: weights[name] * value for name, value in features.items()}
        contributions.update(qualifiers)
        contributions["intercept"] = self.calibration.intercept
        return Match(
            entry, score, indexed.text, " ".join(form.tokens), form.transliteration, contributions
        )


def _keys(token: str) -> tuple[str, ...]:
    bones = skeleton(token)
    return (token, "s:" + bones) if len(bones) >= 2 else (token,)


def fit_calibration(features: Sequence[dict[str, float]], labels: Sequence[int]) -> Calibration:
    """Logistic regression (scikit-learn) of match / no match on the name features."""
    from sklearn.linear_model import LogisticRegression

    rows = [[f[name] for name in FEATURES] for f in features]
    model = LogisticRegression(C=10.0, max_iter=1_000).fit(rows, list(labels))
    return Calibration(float(model.intercept_[0]), tuple(float(w) for w in model.coef_[0]))


def list_tokens(text: str) -> tuple[str, ...]:
    """The canonical tokens of a romanised list name (as indexed)."""
    return tokens(text)
