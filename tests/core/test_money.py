"""Money: exact parsing and formatting, no floats, no mixed assets, allocation that sums exactly."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline.core.assets import asset
from clearline.core.errors import AssetMismatch, InvalidInput
from clearline.core.money import Money, allocate, format_units, sum_money

# -- parsing and formatting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec", "units"),
    [
        ("12.34", "CNY", 1234),
        ("12.3", "CNY", 1230),
        ("12", "CNY", 1200),
        ("0.05", "USD", 5),
        ("-0.05", "USD", -5),
        ("+7.10", "EUR", 710),
        ("1000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        ("0.0001", "CLF", 1),
        ("1.000001", "USDC/6", 1_000_001),
        ("42", "POINTS/0", 42),
        (" 3.50 ", "USD", 350),
        ("123456789012345678901234567890.12", "USD", 12345678901234567890123456789012),
    ],
)
def test_parse_is_exact(text: str, spec: str, units: int) -> None:
    parsed = Money.parse(text, spec)
    assert parsed == Money(units, asset(spec))
    assert type(parsed.units) is int


@pytest.mark.parametrize(
    ("units", "spec", "text"),
    [
        (1234, "CNY", "12.34"),
        (-5, "USD", "-0.05"),
        (0, "USD", "0.00"),
        (1000, "JPY", "1000"),
        (-1, "JPY", "-1"),
        (1, "KWD", "0.001"),
        (12345, "CLF", "1.2345"),
        (1, "USDC/6", "0.000001"),
        (10**20, "USD", "1000000000000000000.00"),
    ],
)
def test_format_is_exact(units: int, spec: str, text: str) -> None:
    money = Money(units, asset(spec))
    assert money.format() == text
    assert str(money) == f"{text} {asset(spec).spec}"
    assert Money.parse(text, spec) == money


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("12.345", "CNY"),
        ("1.5", "JPY"),
        ("1.0", "JPY"),
        ("0.0000001", "USDC/6"),
        ("1.00001", "CLF"),
    ],
)
def test_too_many_decimals_is_refused_not_rounded(text: str, spec: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money.parse(text, spec)
    assert refused.value.code == "too_many_decimals"


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1,5", "1.", ".5", "1e3", "--1", "1 000", "1_000", "0x10", "NaN", "Infinity"],
)
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Money.parse(text, "USD")
    assert refused.value.code == "invalid_amount"


ASSETS = ["USD", "JPY", "KWD", "CLF", "USDC/6", "POINTS/0", "WEI/18"]


@given(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=0, max_value=18))
def test_format_units_is_the_exact_decimal(units: int, scale: int) -> None:
    """The text `format_units` (and so `Money.format`) prints is the exact value at the scale."""
    with localcontext() as context:
        context.prec = 100
        expected = format(Decimal(units).scaleb(-scale), "f")
    assert format_units(units, scale) == expected


@given(units=st.integers(min_value=-(10**30), max_value=10**30), spec=st.sampled_from(ASSETS))
def test_format_parse_round_trip(units: int, spec: str) -> None:
    money = Money(units, asset(spec))
    text = money.format()
    assert Money.parse(text, spec) == money
    assert Decimal(text) == money.to_decimal()


@given(
    whole=st.integers(min_value=0, max_value=10**20),
    fraction=st.text(alphabet="0123456789", min_size=1, max_size=2),
    negative=st.booleans(),
)
def test_parse_format_round_trip_of_canonical_text(
    whole: int, fraction: str, negative: bool
) -> None:
    fraction = fraction.ljust(2, "0")
    text = f"{'-' if negative and (whole or int(fraction)) else ''}{whole}.{fraction}"
    assert Money.parse(text, "USD").format() == text


# -- floats are refused ----------------------------------------------------------------------------


def test_floats_are_refused_everywhere() -> None:
    usd = Money(100, asset("USD"))
    with pytest.raises(TypeError):
        Money(1.0, asset("USD"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.of(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money.parse(12.34, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        usd * 1.5
    with pytest.raises(TypeError):
        allocate(100.0, [1, 1])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        allocate(100, [0.5, 0.5])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        Money.from_decimal(1.5, "USD", ROUND_HALF_EVEN)  # type: ignore[arg-type]


@pytest.mark.parametrize("units", [True, "100", None, Decimal(100)])
def test_units_must_be_an_int(units: object) -> None:
    with pytest.raises(TypeError):
        Money(units, asset("USD"))  # type: ignore[arg-type]


# -- arithmetic ------------------------------------------------------------------------------------


def test_arithmetic_in_one_asset() -> None:
    a, b = Money.of(1050, "USD"), Money.of(-75, "USD")
    assert a + b == Money.of(975, "USD")
    assert a - b == Money.of(1125, "USD")
    assert -a == Money.of(-1050, "USD")
    assert a * 3 == 3 * a == Money.of(3150, "USD")
    assert b < a and a > b and a >= a and b <= b
    assert Money.of(0, "USD").is_zero()
    assert sum_money([a, b, a], "USD") == Money.of(2025, "USD")
    assert sum_money([], "JPY") == Money.of(0, "JPY")


def test_mixed_assets_are_refused() -> None:
    usd, eur = Money.of(100, "USD"), Money.of(100, "EUR")
    for operation in (
        lambda: usd + eur,
        lambda: usd - eur,
        lambda: usd < eur,
        lambda: usd <= eur,
        lambda: usd > eur,
        lambda: usd >= eur,
        lambda: sum_money([usd, eur], "USD"),
        lambda: sum_money([usd], "EUR"),
    ):
        with pytest.raises(AssetMismatch):
            operation()
    assert usd != eur


def test_custom_assets_with_different_scales_do_not_mix() -> None:
    with pytest.raises(AssetMismatch):
        Money.of(1, "USDC/6") + Money.of(1, "USDC/2")


def test_money_combines_only_with_money() -> None:
    with pytest.raises(TypeError):
        Money.of(1, "USD") + 1
    with pytest.raises(TypeError):
        Money.of(1, "USD") * Money.of(1, "USD")


@pytest.mark.parametrize(
    ("value", "spec", "rounding", "units"),
    [
        ("1.005", "USD", ROUND_HALF_EVEN, 100),
        ("1.015", "USD", ROUND_HALF_EVEN, 102),
        ("1.005", "USD", ROUND_HALF_UP, 101),
        ("-1.009", "USD", ROUND_DOWN, -100),
        ("2.5", "JPY", ROUND_HALF_EVEN, 2),
        ("0.0000005", "USDC/6", ROUND_HALF_UP, 1),
    ],
)
def test_from_decimal_rounds_with_the_named_mode(
    value: str, spec: str, rounding: str, units: int
) -> None:
    money = Money.from_decimal(Decimal(value), spec, rounding)
    assert money == Money.of(units, spec)
    assert type(money.units) is int


def test_to_decimal_is_exact() -> None:
    assert Money.of(1234, "KWD").to_decimal() == Decimal("1.234")
    assert Money.of(-1, "USDC/6").to_decimal() == Decimal("-0.000001")
    assert str(Money.of(0, "USD").to_decimal()) == "0.00"
    # more digits than the default decimal context's 28: must not be rounded
    assert Money.of(10**28 + 1, "USD").to_decimal() == Decimal("100000000000000000000000000.01")


# -- allocation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "ratios", "parts"),
    [
        (100, [1, 1, 1], [34, 33, 33]),
        (101, [1, 1, 1], [34, 34, 33]),
        (-100, [1, 1, 1], [-34, -33, -33]),
        (5, [0, 1, 1], [0, 3, 2]),
        (1, [0, 0, 1], [0, 0, 1]),
        (10, [3, 7], [3, 7]),
        (1, [1, 1, 1, 1], [1, 0, 0, 0]),
        (0, [1, 2], [0, 0]),
        (7, [5], [7]),
        (100, [70, 20, 10], [70, 20, 10]),
        (11, [70, 20, 10], [8, 2, 1]),
    ],
)
def test_allocate_examples(units: int, ratios: list[int], parts: list[int]) -> None:
    assert allocate(units, ratios) == parts
    assert sum(parts) == units


def test_money_allocate_keeps_the_asset() -> None:
    parts = Money.of(1000, "JPY").allocate([1, 2])
    assert parts == [Money.of(334, "JPY"), Money.of(666, "JPY")]


@pytest.mark.parametrize("ratios", [[], [0, 0], [1, -1]])
def test_allocate_refuses_bad_ratios(ratios: list[int]) -> None:
    with pytest.raises(InvalidInput) as refused:
        allocate(10, ratios)
    assert refused.value.code == "invalid_ratios"


@given(
    units=st.integers(min_value=-(10**18), max_value=10**18),
    ratios=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(any),
)
def test_allocate_sums_to_the_whole_and_stays_within_one_unit(
    units: int, ratios: list[int]
) -> None:
    parts = allocate(units, ratios)
    assert len(parts) == len(ratios)
    assert sum(parts) == units
    total = sum(ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        exact = Fraction(units * ratio, total)
        # Each part is its floored share, plus at most one leftover unit handed out in declaration
        # order, so it is within one unit of the exact share (exactly one when the exact share is
        # whole and a leftover still lands on it, e.g. 32 by [198, 1, 6137] -> [2, 0, 30]).
        assert abs(part - exact) <= 1
        assert abs(part) in (abs(units) * ratio // total, abs(units) * ratio // total + 1)
        if ratio == 0:
            assert part == 0


@given(
    units=st.integers(min_value=0, max_value=10**9),
    ratios=st.lists(st.integers(min_value=1, max_value=100), min_size=2, max_size=8),
)
def test_leftover_goes_out_in_declaration_order(units: int, ratios: list[int]) -> None:
    parts = allocate(units, ratios)
    floors = [units * ratio // sum(ratios) for ratio in ratios]
    extra = [part - floor for part, floor in zip(parts, floors, strict=True)]
    assert set(extra) <= {0, 1}
    assert extra == sorted(extra, reverse=True)  # the ones come first
