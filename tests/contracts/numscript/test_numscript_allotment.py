"""Allotment rounding: floor every share, then leftover units one by one in clause order."""

from __future__ import annotations

import itertools
from fractions import Fraction as F

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline.contracts import numscript as ns
from clearline.contracts.numscript.allotment import resolve, split


@pytest.mark.parametrize(
    ("amount", "portions", "shares"),
    [
        (15, [F(80, 100), F(8, 100), F(12, 100)], [13, 1, 1]),  # upstream allocation.num
        (100, [F(60, 100), F(355, 1000), F(45, 1000)], [61, 35, 4]),  # source-allotment.num
        (100, [F(7, 8), F(1, 8)], [88, 12]),  # metadata.num: remaining 87.5% first
        (10, [F(1, 3), F(1, 3), F(1, 3)], [4, 3, 3]),
        (11, [F(1, 3), F(1, 3), F(1, 3)], [4, 4, 3]),
        (10, [F(0), F(1, 3), F(2, 3)], [1, 3, 6]),  # a 0% clause first still gets a unit
        (0, [F(1, 2), F(1, 2)], [0, 0]),
        (3, [F(1)], [3]),
        (10**30 + 1, [F(1, 2), F(1, 2)], [5 * 10**29 + 1, 5 * 10**29]),
    ],
)
def test_split(amount: int, portions: list[F], shares: list[int]) -> None:
    assert split(amount, portions) == shares


def test_resolve_replaces_remaining() -> None:
    assert resolve([F(1, 4), None, F(1, 2)]) == (F(1, 4), F(1, 4), F(1, 2))
    assert resolve([F(1), None]) == (F(1), F(0))


@pytest.mark.parametrize(
    "portions",
    [
        [F(1, 2)],
        [F(1, 2), F(2, 3)],
        [F(3, 2), None],
        [None, None],
        [F(-1, 2), F(3, 2)],
        [F(2), None],
    ],
)
def test_resolve_refuses(portions: list[F | None]) -> None:
    with pytest.raises(ValueError):
        resolve(portions)


@st.composite
def allotments(draw: st.DrawFn) -> tuple[int, list[F]]:
    denominator = draw(st.integers(1, 1000))
    cuts = sorted(draw(st.lists(st.integers(0, denominator), max_size=5)))
    bounds = [0, *cuts, denominator]
    portions = [F(b - a, denominator) for a, b in itertools.pairwise(bounds)]
    return draw(st.integers(0, 10**20)), portions


@given(allotments())
def test_shares_are_floors_plus_leftover_units_in_clause_order(case: tuple[int, list[F]]) -> None:
    amount, portions = case
    shares = split(amount, portions)
    assert sum(shares) == amount
    floors = [amount * p.numerator // p.denominator for p in portions]
    leftover = amount - sum(floors)
    assert 0 <= leftover < max(len(portions), 1)
    assert shares == [f + (1 if i < leftover else 0) for i, f in enumerate(floors)]
    assert all(type(share) is int for share in shares)


def test_destination_and_source_allotments_round_the_same_way() -> None:
    store = ns.MemoryStore({(n, "GEM", ""): 100 for n in "abc"})
    destination = ns.compile_program(
        "send [GEM 15] (source = @world destination = { 80% to @a 8% to @b 12% to @c })"
    ).run({}, store)
    source = ns.compile_program(
        "send [GEM 15] (source = { 80% from @a 8% from @b 12% from @c } destination = @world)"
    ).run({}, store)
    assert [p.amount for p in destination.postings] == [13, 1, 1]
    assert [p.amount for p in source.postings] == [13, 1, 1]


def test_a_source_clause_short_of_its_share_is_missing_funds() -> None:
    program = ns.compile_program(
        "send [COIN 100] (source = { 10% from @a remaining from @world } destination = @d)"
    )
    with pytest.raises(ns.MissingFunds) as raised:
        program.run({}, ns.MemoryStore({("a", "COIN", ""): 1}))
    assert (raised.value.account, raised.value.needed, raised.value.available) == ("a", 10, 1)


def test_portions_from_variables_are_checked_at_run_time() -> None:
    program = ns.compile_program(
        "vars { portion $p }\n"
        "send [COIN 9] (source = @world destination = { $p to @a remaining kept })"
    )
    assert [p.amount for p in program.run({"p": "1/3"}, ns.MemoryStore()).postings] == [3]
    program = ns.compile_program(
        "vars { number $n }\nsend [COIN 9] (source = @world destination = { $n/3 to @a 1/3 to @b })"
    )
    with pytest.raises(ns.InvalidAllotment):
        program.run({"n": "1"}, ns.MemoryStore())
    assert [p.amount for p in program.run({"n": "2"}, ns.MemoryStore()).postings] == [6, 3]
