"""Every Numscript error type: its stable code, its position in the source, and its facts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from clearline.contracts import numscript as ns
from clearline.core.errors import ClearlineError

STORE = ns.MemoryStore(
    {("a", "COIN", ""): 5, ("debtor", "COIN", ""): -3}, {"a": {"seller": "users:001"}}
)

Case = tuple[str, tuple[str, ...], Mapping[str, str], type[ns.NumscriptError], str, int, int]
"""(script, feature flags, variables, error class, code, line, column)."""

CASES: list[Case] = [
    (
        "send [COIN 10] (\n  source = @a\n  destination =\n)",
        (),
        {},
        ns.ParseError,
        "parse_error",
        4,
        1,
    ),
    (
        'send [COIN 1] (source = "a" destination = @b)',
        (),
        {},
        ns.NumscriptTypeError,
        "type_error",
        1,
        25,
    ),
    (
        "send [COIN 1] (source = $x destination = @b)",
        (),
        {},
        ns.UnknownVariable,
        "unknown_variable",
        1,
        25,
    ),
    (
        "vars {\n  account $a\n  account $a\n}",
        (),
        {},
        ns.DuplicateVariable,
        "duplicate_variable",
        3,
        3,
    ),
    ("vars { monetary $m = balance(@a) }", (), {}, ns.BadArity, "bad_arity", 1, 22),
    ("vars { monetary $m = foo(@a) }", (), {}, ns.UnknownFunction, "unknown_function", 1, 22),
    (
        "send [COIN 1] (\n  source = oneof { @a @world }\n  destination = @b\n)",
        (),
        {},
        ns.FeatureNotEnabled,
        "feature_not_enabled",
        2,
        12,
    ),
    ('#![feature("experimental-nope")]', (), {}, ns.UnknownFeature, "unknown_feature", 1, 12),
    (
        "send [COIN 10] (source = @world destination = { 1/2 to @a 1/3 to @b })",
        (),
        {},
        ns.InvalidAllotment,
        "invalid_allotment",
        1,
        47,
    ),
    (
        "vars { portion $p }\nsend [COIN 10] (source = @world destination = { $p to @a 1/3 to @b})",
        (),
        {"p": "1/2"},
        ns.InvalidAllotment,
        "invalid_allotment",
        2,
        47,
    ),
    ("vars {\n  account $acc\n}", (), {}, ns.MissingVariable, "missing_variable", 2, 3),
    ("vars { number $n }", (), {"n": "abc"}, ns.BadVariableValue, "bad_variable_value", 1, 8),
    (
        "send [COIN 10] (\n  source = @a\n  destination = @b\n)",
        (),
        {},
        ns.MissingFunds,
        "missing_funds",
        2,
        12,
    ),
    (
        "send [COIN -5] (source = @a destination = @b)",
        (),
        {},
        ns.NegativeAmount,
        "negative_amount",
        1,
        6,
    ),
    ("save [COIN -5] from @a", (), {}, ns.NegativeAmount, "negative_amount", 1, 6),
    (
        'vars { number $n }\nset_tx_meta("k", 1/$n)',
        (),
        {"n": "0"},
        ns.DivisionByZero,
        "division_by_zero",
        2,
        18,
    ),
    (
        'set_tx_meta("k", [COIN 1] + [USD 1])',
        (),
        {},
        ns.MismatchedAssets,
        "mismatched_assets",
        1,
        18,
    ),
    (
        "send [COIN 1] (source = max [USD 1] from @a destination = @b)",
        (),
        {},
        ns.MismatchedAssets,
        "mismatched_assets",
        1,
        25,
    ),
    (
        "vars { monetary $m = balance(@debtor, COIN) }",
        (),
        {},
        ns.NegativeBalance,
        "negative_balance",
        1,
        22,
    ),
    (
        'vars { string $m = meta(@a, "nope") }',
        (),
        {},
        ns.MetadataNotFound,
        "metadata_not_found",
        1,
        20,
    ),
    (
        "send [COIN *] (source = @world destination = @b)",
        (),
        {},
        ns.UnboundedSendAll,
        "invalid_unbounded_in_send_all",
        1,
        25,
    ),
    (
        "send [COIN *] (source = { 1/2 from @a remaining from @b } destination = @c)",
        (),
        {},
        ns.AllotmentInSendAll,
        "invalid_allotment_in_send_all",
        1,
        25,
    ),
    (
        'vars { string $s }\nset_tx_meta("k", @x:$s)',
        ("experimental-account-interpolation",),
        {"s": "!"},
        ns.InvalidAccountName,
        "invalid_account_name",
        2,
        18,
    ),
    (
        'send [COIN 1] (source = @a \\ "red" destination = @b)',
        ("experimental-asset-colors",),
        {},
        ns.InvalidColor,
        "invalid_color",
        1,
        25,
    ),
]


@pytest.mark.parametrize(
    ("text", "flags", "variables", "error", "code", "line", "column"),
    CASES,
    ids=[case[4] + f"-{index}" for index, case in enumerate(CASES)],
)
def test_error_code_and_position(
    text: str,
    flags: tuple[str, ...],
    variables: Mapping[str, str],
    error: type[ns.NumscriptError],
    code: str,
    line: int,
    column: int,
) -> None:
    with pytest.raises(error) as raised:
        ns.compile_program(text, flags).run(variables, STORE)
    assert isinstance(raised.value, ClearlineError)
    assert (raised.value.code, raised.value.line, raised.value.column) == (code, line, column)
    assert f"(line {line}, column {column})" in raised.value.message


def test_every_error_class_has_a_distinct_code() -> None:
    errors: list[type[ns.NumscriptError]] = []
    for name in ns.__all__:
        exported = getattr(ns, name)
        if isinstance(exported, type) and issubclass(exported, ns.NumscriptError):
            errors.append(exported)
    codes = [c.code for c in errors if c is not ns.NumscriptError]
    assert len(codes) == len(set(codes))
    tested = {case[3] for case in CASES}
    assert set(errors) - tested == {ns.NumscriptError}


def test_missing_funds_carries_its_facts() -> None:
    program = ns.compile_program("send [COIN 10] (source = @a destination = @b)")
    with pytest.raises(ns.MissingFunds) as raised:
        program.run({}, STORE)
    assert (raised.value.account, raised.value.asset) == ("a", "COIN")
    assert (raised.value.needed, raised.value.available) == (10, 5)


def test_missing_funds_of_a_compound_source_names_no_account() -> None:
    program = ns.compile_program("send [COIN 10] (source = { @a @b } destination = @c)")
    with pytest.raises(ns.MissingFunds) as raised:
        program.run({}, STORE)
    assert raised.value.account is None
    assert raised.value.available == 5


def test_unknown_feature_passed_by_the_caller_has_no_position() -> None:
    with pytest.raises(ns.UnknownFeature) as raised:
        ns.compile_program("send [COIN 1] (source = @world destination = @b)", ["nope"])
    assert raised.value.line is None


def test_the_checker_reports_every_error_not_only_the_first() -> None:
    text = "vars { number $n }\nsend [COIN 1] (source = $n destination = $missing)\nfoo()"
    errors = ns.check_program(text)
    assert [e.code for e in errors] == ["type_error", "unknown_variable", "unknown_function"]
    with pytest.raises(ns.NumscriptTypeError) as raised:
        ns.compile_program(text)
    assert [e.code for e in raised.value.all_errors] == [e.code for e in errors]


def test_parse_error_names_the_expected_tokens() -> None:
    with pytest.raises(ns.ParseError) as raised:
        ns.compile_program("send [COIN 1] (source = @a destination = @b")
    assert "')'" in raised.value.expected
    assert (raised.value.line, raised.value.column) == (1, 44)


def test_a_variable_used_before_its_declaration_is_unknown() -> None:
    with pytest.raises(ns.UnknownVariable, match="before its declaration") as raised:
        ns.compile_program("vars {\n  monetary $m = balance($acc, COIN)\n  account $acc\n}")
    assert (raised.value.name, raised.value.line, raised.value.column) == ("acc", 2, 25)


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        ('send [COIN 1] (source = @a \\ "X" destination = @b)', "experimental-asset-colors"),
        (
            "send [COIN 1] (source = @a with scaling through @s destination = @b)",
            "experimental-asset-scaling",
        ),
        ("vars { number $n = 1 + 2 }", "experimental-mid-script-function-call"),
        (
            "send balance(@a, COIN) (source = @world destination = @b)",
            "experimental-mid-script-function-call",
        ),
        ("vars { monetary $m = overdraft(@a, COIN) }", "experimental-overdraft-function"),
        ("vars { asset $x = get_asset([COIN 1]) }", "experimental-get-asset-function"),
        ("vars { number $x = get_amount([COIN 1]) }", "experimental-get-amount-function"),
        ('vars { number $id }\nset_tx_meta("k", @users:$id)', "experimental-account-interpolation"),
        (
            "send [COIN 1] (source = @world destination = oneof { remaining kept })",
            "experimental-oneof",
        ),
    ],
)
def test_each_experimental_construct_needs_its_flag(text: str, feature: str) -> None:
    with pytest.raises(ns.FeatureNotEnabled) as raised:
        ns.compile_program(text)
    assert raised.value.feature == feature
    ns.compile_program(text, [feature])  # the flag is all it needed
    ns.compile_program(f'#![feature("{feature}")]\n{text}')


@pytest.mark.parametrize(
    "text",
    [
        "send [COIN 1] (source = @a destination = { 1/2 to @a remaining to @b remaining kept })",
        "send [COIN 1] (source = @a destination = { 3/2 to @a remaining kept })",
        "send [COIN 1] (source = @a destination = { 50% to @a 60% to @b })",
    ],
)
def test_static_allotment_errors(text: str) -> None:
    with pytest.raises(ns.InvalidAllotment):
        ns.compile_program(text)


@pytest.mark.parametrize(
    ("declaration", "value"),
    [
        ("monetary", "EUR/2"),
        ("monetary", "eur 100"),
        ("account", "@users:001"),
        ("account", "users::001"),
        ("asset", "eur"),
        ("portion", "3/0"),
        ("portion", "150%"),
        ("portion", "half"),
        ("number", "1.5"),
    ],
)
def test_bad_variable_values(declaration: str, value: str) -> None:
    program = ns.compile_program(f"vars {{ {declaration} $x }}")
    with pytest.raises(ns.BadVariableValue) as raised:
        program.run({"x": value}, STORE)
    assert (raised.value.name, raised.value.value) == ("x", value)


def test_metadata_read_as_a_variable_of_the_wrong_type() -> None:
    program = ns.compile_program('vars { number $n = meta(@a, "seller") }')
    with pytest.raises(ns.BadVariableValue, match="metadata"):
        program.run({}, STORE)
