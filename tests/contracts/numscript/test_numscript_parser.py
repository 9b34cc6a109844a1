"""The Lark translation of upstream's grammar: tokens, account mode, precedence, positions."""

from __future__ import annotations

from fractions import Fraction

import pytest

from clearline.contracts.numscript import ParseError
from clearline.contracts.numscript import syntax as ast
from clearline.contracts.numscript.parser import parse


def origin(text: str) -> ast.Expression:
    """The origin expression of the single variable declared in `vars { number $x = text }`."""
    (declaration,) = parse(f"vars {{ number $x = {text} }}").variables
    assert declaration.origin is not None
    return declaration.origin


def shape(node: ast.Expression) -> object:
    """A compact picture of an expression tree."""
    if isinstance(node, ast.BinaryOperation):
        return (node.operator, shape(node.left), shape(node.right))
    if isinstance(node, ast.Negation):
        return ("neg", shape(node.operand))
    if isinstance(node, ast.NumberLiteral):
        return node.value
    if isinstance(node, ast.Variable):
        return "$" + node.name
    return type(node).__name__


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 - 2 - 3", ("-", ("-", 1, 2), 3)),
        ("1 + 2 / 3", ("+", 1, ("/", 2, 3))),
        ("1 / 2 / 3", ("/", ("/", 1, 2), 3)),
        ("-1 / 2", ("/", ("neg", 1), 2)),
        ("1 - -2", ("-", 1, ("neg", 2))),
        ("10 - ($n + $m)", ("-", 10, ("+", "$n", "$m"))),
        ("$n/$m + 1", ("+", ("/", "$n", "$m"), 1)),
    ],
)
def test_precedence_and_associativity(text: str, expected: object) -> None:
    assert shape(origin(text)) == expected


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("@users:001", ("users", "001")),
        ("@a:b-c_d", ("a", "b-c_d")),
        ("@A", ("A",)),
        ("@orders:1234:vouchers:2024-01-31", ("orders", "1234", "vouchers", "2024-01-31")),
        ("@world", ("world",)),
    ],
)
def test_account_mode_lexes_account_text(text: str, parts: tuple[str, ...]) -> None:
    node = origin(text)
    assert isinstance(node, ast.AccountLiteral)
    assert node.parts == parts


def test_account_interpolation_parts() -> None:
    node = origin("@users:$id:pending")
    assert isinstance(node, ast.AccountLiteral)
    assert node.parts[0] == "users" and node.parts[2] == "pending"
    variable = node.parts[1]
    assert isinstance(variable, ast.Variable)
    assert (variable.name, variable.line, variable.column) == ("id", 1, 27)


@pytest.mark.parametrize("text", ["@ users", "@users: 001", "@users:/* c */001"])
def test_nothing_separates_an_account_part_from_its_at_or_colon(text: str) -> None:
    with pytest.raises(ParseError):
        parse(f'set_tx_meta("k", {text})')


def test_literals_are_decoded() -> None:
    assert origin("1_000_000") == ast.NumberLiteral(1_000_000, 1, 20)
    percentage = origin("12.5%")
    assert isinstance(percentage, ast.PercentageLiteral)
    assert percentage.value == Fraction(1, 8)
    text = origin('"say \\"hi\\""')
    assert isinstance(text, ast.StringLiteral) and text.value == 'say "hi"'
    big = origin("99999223372036854775807")
    assert isinstance(big, ast.NumberLiteral) and big.value == 99999223372036854775807


@pytest.mark.parametrize("text", ["_100", "100_", "1__00"])
def test_misplaced_underscores_are_not_numbers(text: str) -> None:
    with pytest.raises(ParseError):
        parse(f"vars {{ number $x = {text} }}")


def test_monetary_literal_with_a_negative_amount() -> None:
    node = origin("[USD/2 -50]")
    assert isinstance(node, ast.MonetaryLiteral)
    assert isinstance(node.asset, ast.AssetLiteral) and node.asset.value == "USD/2"
    assert shape(node.amount) == ("neg", 50)
    infix = origin("[COIN 10 - 5]")
    assert isinstance(infix, ast.MonetaryLiteral) and shape(infix.amount) == ("-", 10, 5)


def test_keywords_are_not_identifiers_but_longer_words_are() -> None:
    node = origin("maxi(1)")
    assert isinstance(node, ast.FunctionCall) and node.name == "maxi"
    call = origin("overdraft(@a, COIN)")
    assert isinstance(call, ast.FunctionCall) and call.name == "overdraft"


def test_newlines_are_optional_and_comments_are_skipped() -> None:
    program = parse(
        "/* block\ncomment */ send [USD/2 100] ( source = { @a @b } destination = "
        "{ remaining kept } ) // trailing comment without newline"
    )
    (send,) = program.statements
    assert isinstance(send, ast.Send)
    assert isinstance(send.source, ast.SourceInorder)
    assert isinstance(send.destination, ast.DestinationAllotment)


def test_every_source_and_destination_form() -> None:
    program = parse(
        """
        send [COIN *] (
          source = {
            @a \\ "RED" allowing unbounded overdraft
            @b allowing overdraft up to [COIN 10]
            @c with scaling through @swap
            max [COIN 5] from oneof { @d @e }
            @f
          }
          destination = oneof {
            max [COIN 1] to { 1/2 to @g remaining kept }
            max [COIN 2] kept
            remaining to { max [COIN 3] to @h remaining to @i }
          }
        )
        save [COIN 5] from @a
        save [COIN *] from @a
        set_account_meta(@a, "k", 1)
        """
    )
    send, save, save_all, call = program.statements
    assert isinstance(send, ast.Send) and isinstance(send.amount, ast.SendAll)
    assert isinstance(send.source, ast.SourceInorder)
    kinds = [type(s).__name__ for s in send.source.sources]
    assert kinds == [
        "SourceOverdraft",
        "SourceOverdraft",
        "SourceScaling",
        "SourceCapped",
        "SourceAccount",
    ]
    first = send.source.sources[0]
    assert isinstance(first, ast.SourceOverdraft) and first.bound is None
    assert first.color is not None
    assert isinstance(send.destination, ast.DestinationOneof)
    assert isinstance(send.destination.remaining, ast.DestinationInorder)
    assert isinstance(save, ast.Save) and isinstance(save_all, ast.Save)
    assert isinstance(save_all.amount, ast.SendAll)
    assert isinstance(call, ast.CallStatement) and call.call.name == "set_account_meta"


def test_feature_declaration() -> None:
    program = parse('#![feature("a", "b")]\nset_tx_meta("k", 1)')
    assert [(f.flag, f.line, f.column) for f in program.features] == [("a", 1, 12), ("b", 1, 17)]


def test_positions_are_one_based() -> None:
    program = parse("vars {\n  account $a\n}\n\n  send [COIN 1] (source = $a destination = @b)")
    (declaration,) = program.variables
    assert (declaration.line, declaration.column) == (2, 3)
    (send,) = program.statements
    assert isinstance(send, ast.Send)
    assert (send.line, send.column) == (5, 3)
    assert (send.source.line, send.source.column) == (5, 27)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("send [COIN 1] (source = @a)", 1, 27),
        ("vars { number }", 1, 15),
        ("send [COIN 1] (source = { 1/2 from @a @b } destination = @c)", 1, 42),
        ("send [COIN 1] (\n  source = @a\n  destination = @b\n) ;", 4, 3),
    ],
)
def test_parse_errors_point_at_the_offending_token(text: str, line: int, column: int) -> None:
    with pytest.raises(ParseError) as raised:
        parse(text)
    assert (raised.value.line, raised.value.column) == (line, column)
    assert raised.value.code == "parse_error"
