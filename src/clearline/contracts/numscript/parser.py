"""Numscript text to syntax tree (`parse`), with Lark.

Guarantees:
- `parse(text)` returns an immutable `syntax.Program` or raises `ParseError` with the line, the
  column and the tokens that would have been accepted there; it never returns a partial tree.
- The grammar (`grammar.lark`, package data) is a translation of upstream's ANTLR grammar
  (formancehq/numscript `Lexer.g4` + `Numscript.g4`); the file says where LALR(1) needed it
  written differently and why no well-typed program parses differently.
- The Lark parser is built once per process (LALR(1) with the contextual lexer) and is safe to
  share between threads.

Why Lark and not ANTLR's Python target: Lark's LALR parser is several times faster than the ANTLR
Python runtime, it builds from the `.lark` file at import time (no Java, no code-generation step
in the build), and it is one pure-Python package on PyPI. The contextual lexer gives upstream's
ACCOUNT_MODE (after `@` and `:` only account text or a variable is lexed) without lexer modes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from fractions import Fraction
from importlib import resources

import lark
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from clearline.contracts.numscript import syntax as ast
from clearline.contracts.numscript.errors import ParseError

GRAMMAR_FILE = "grammar.lark"
EXPECTED_TOKENS_SHOWN = 12
"""At most this many expected tokens are named in a parse error message."""


@functools.cache
def _parser() -> lark.Lark:
    text = resources.files(__package__).joinpath(GRAMMAR_FILE).read_text(encoding="utf-8")
    return lark.Lark(text, parser="lalr", lexer="contextual", propagate_positions=True)


def parse(text: str) -> ast.Program:
    """The syntax tree of `text`, or `ParseError` where the text stops being Numscript."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        raise _parse_error(error, text) from None
    return _Builder().program(tree)


def _token_name(name: str) -> str:
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return repr(pattern.value)
    return name.lower().replace("_", " ")


def _parse_error(error: UnexpectedInput, text: str) -> ParseError:
    expected: tuple[str, ...] = ()
    if isinstance(error, UnexpectedToken | UnexpectedEOF):
        expected = tuple(sorted(_token_name(name) for name in error.expected))
    elif isinstance(error, UnexpectedCharacters) and error.allowed:
        expected = tuple(sorted(_token_name(name) for name in error.allowed))
    at_end = isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    )
    if at_end:
        found = "end of the script"
    elif isinstance(error, UnexpectedToken):
        found = repr(str(error.token))
    elif isinstance(error, UnexpectedCharacters):
        found = repr(error.char)
    else:
        found = "input"
    shown = ", ".join(expected[:EXPECTED_TOKENS_SHOWN])
    more = ", ..." if len(expected) > EXPECTED_TOKENS_SHOWN else ""
    hint = f"; expected one of: {shown}{more}" if expected else ""
    if at_end:
        line = text.count("\n") + 1
        column = len(text) - (text.rfind("\n") + 1) + 1
    else:
        line = max(int(getattr(error, "line", 1) or 1), 1)
        column = max(int(getattr(error, "column", 1) or 1), 1)
    return ParseError(
        f"Numscript syntax error: unexpected {found}{hint}. Fix the script at this position",
        line=line,
        column=column,
        expected=expected,
    )


def _unquote(token: Token) -> str:
    return str(token)[1:-1].replace('\\"', '"')


def _position_error(message: str, token: Token) -> ParseError:
    return ParseError(message, line=int(token.line or 1), column=int(token.column or 1))


class _Builder:
    """Turns Lark's tree into `syntax` nodes (one method per rule family)."""

    def program(self, tree: Tree[Token]) -> ast.Program:
        features: tuple[ast.FeatureDeclaration, ...] = ()
        variables: tuple[ast.VariableDeclaration, ...] = ()
        statements: list[ast.Statement] = []
        for child in tree.children:
            assert isinstance(child, Tree)
            if child.data == "feature_decl":
                features = tuple(
                    ast.FeatureDeclaration(_unquote(token), *_token_at(token))
                    for token in child.children
                    if isinstance(token, Token)
                )
            elif child.data == "vars_decl":
                variables = tuple(self.declaration(item) for item in _trees(child))
            else:
                statements.append(self.statement(child))
        return ast.Program(features, variables, tuple(statements))

    def declaration(self, tree: Tree[Token]) -> ast.VariableDeclaration:
        type_token, name_token, *rest = tree.children
        assert isinstance(type_token, Token) and isinstance(name_token, Token)
        origin = self.expression(_tree(rest[0])) if rest else None
        line, column = _at(tree)
        return ast.VariableDeclaration(str(type_token), str(name_token)[1:], origin, line, column)

    def statement(self, tree: Tree[Token]) -> ast.Statement:
        line, column = _at(tree)
        if tree.data == "send_statement":
            sent, source, destination = _trees(tree)
            return ast.Send(
                self.sent(sent), self.source(source), self.destination(destination), line, column
            )
        if tree.data == "save_statement":
            sent, account = _trees(tree)
            return ast.Save(self.sent(sent), self.expression(account), line, column)
        call = self.expression(tree)
        assert isinstance(call, ast.FunctionCall), tree.data
        return ast.CallStatement(call, line, column)

    def sent(self, tree: Tree[Token]) -> ast.Expression | ast.SendAll:
        if tree.data == "sent_all":
            return ast.SendAll(self.expression(_tree(tree.children[0])), *_at(tree))
        return self.expression(tree)

    # ---- expressions ----------------------------------------------------------------------

    def expression(self, tree: Tree[Token]) -> ast.Expression:
        line, column = _at(tree)
        kind = tree.data
        if kind in _LEAVES:
            token = tree.children[0]
            assert isinstance(token, Token)
            return _LEAVES[kind](token, line, column)
        if kind == "account_literal":
            return self.account(tree, line, column)
        if kind == "monetary_literal":
            asset, amount = _trees(tree)
            return ast.MonetaryLiteral(
                self.expression(asset), self.expression(amount), line, column
            )
        if kind == "prefix_minus":
            return ast.Negation(self.expression(_tree(tree.children[1])), line, column)
        if kind == "infix":
            left, operator, right = tree.children
            return ast.BinaryOperation(
                str(operator), self.expression(_tree(left)), self.expression(_tree(right)),
                line, column,
            )  # fmt: skip
        if kind == "function_call":
            name_tree, *arguments = tree.children
            name = _tree(name_tree).children[0]
            return ast.FunctionCall(
                str(name),
                tuple(self.expression(_tree(a)) for a in arguments if a is not None),
                line,
                column,
            )
        raise AssertionError(f"unhandled expression rule {kind}")

    def account(self, tree: Tree[Token], line: int, column: int) -> ast.AccountLiteral:
        """`@a:b:$c`; like upstream's ACCOUNT_MODE, nothing may separate a part from its `@`/`:`."""
        parts: list[str | ast.Variable] = []
        tokens = [token for token in tree.children if isinstance(token, Token)]
        for opener, part in zip(tokens[::2], tokens[1::2], strict=True):
            if part.start_pos != opener.end_pos:
                raise _position_error(
                    f"Numscript syntax error: {str(opener)!r} must be followed directly by the "
                    f"account name part {str(part)!r}, without spaces or comments. Join them",
                    part,
                )
            if part.type == "VARIABLE_NAME":
                parts.append(ast.Variable(str(part)[1:], *_token_at(part)))
            else:
                parts.append(str(part))
        return ast.AccountLiteral(tuple(parts), line, column)

    # ---- sources and destinations ---------------------------------------------------------

    def source(self, tree: Tree[Token]) -> ast.Source:
        line, column = _at(tree)
        kind = tree.data
        children = _trees(tree)
        if kind in ("src_account", "src_unbounded", "src_bounded"):
            colors = [c for c in children if c.data == "color_constraint"]
            rest = [c for c in children if c.data != "color_constraint"]
            address = self.expression(rest[0])
            color = self.expression(_tree(colors[0].children[0])) if colors else None
            if kind == "src_account":
                return ast.SourceAccount(address, color, line, column)
            bound = self.expression(rest[1]) if kind == "src_bounded" else None
            return ast.SourceOverdraft(address, color, bound, line, column)
        if kind == "src_scaling":
            account, swap = (self.expression(c) for c in children)
            return ast.SourceScaling(account, swap, line, column)
        if kind == "src_inorder":
            return ast.SourceInorder(tuple(self.source(c) for c in children), line, column)
        if kind == "src_oneof":
            return ast.SourceOneof(tuple(self.source(c) for c in children), line, column)
        if kind == "src_capped":
            cap, inner = children
            return ast.SourceCapped(self.expression(cap), self.source(inner), line, column)
        if kind == "src_allotment":
            clauses = tuple(
                ast.SourceAllotmentClause(
                    self.portion(_trees(c)[0]), self.source(_trees(c)[1]), *_at(c)
                )
                for c in children
            )
            return ast.SourceAllotment(clauses, line, column)
        raise AssertionError(f"unhandled source rule {kind}")

    def portion(self, tree: Tree[Token]) -> ast.Portion:
        if tree.data == "remaining":
            return ast.Remaining(*_at(tree))
        return self.expression(tree)

    def destination(self, tree: Tree[Token]) -> ast.Destination:
        line, column = _at(tree)
        kind = tree.data
        children = _trees(tree)
        if kind == "dest_account":
            return ast.DestinationAccount(self.expression(children[0]), line, column)
        if kind == "dest_allotment":
            clauses = tuple(
                ast.DestinationAllotmentClause(
                    self.portion(_trees(c)[0]), self.target(_trees(c)[1]), *_at(c)
                )
                for c in children
            )
            return ast.DestinationAllotment(clauses, line, column)
        capped = tuple(
            ast.DestinationCappedClause(
                self.expression(_trees(c)[0]), self.target(_trees(c)[1]), *_at(c)
            )
            for c in children[:-2]
        )
        remaining = self.target(children[-1])
        if kind == "dest_inorder":
            return ast.DestinationInorder(capped, remaining, line, column)
        assert kind == "dest_oneof", kind
        return ast.DestinationOneof(capped, remaining, line, column)

    def target(self, tree: Tree[Token]) -> ast.Destination | ast.Kept:
        if tree.data == "dest_kept":
            return ast.Kept(*_at(tree))
        return self.destination(_tree(tree.children[0]))


def _number(token: Token, line: int, column: int) -> ast.NumberLiteral:
    return ast.NumberLiteral(int(str(token).replace("_", "")), line, column)


def _percentage(token: Token, line: int, column: int) -> ast.PercentageLiteral:
    return ast.PercentageLiteral(Fraction(str(token)[:-1]) / 100, line, column)


_LEAVES: dict[str, Callable[[Token, int, int], ast.Expression]] = {
    "variable": lambda token, line, column: ast.Variable(str(token)[1:], line, column),
    "asset_literal": lambda token, line, column: ast.AssetLiteral(str(token), line, column),
    "string_literal": lambda token, line, column: ast.StringLiteral(_unquote(token), line, column),
    "number_literal": _number,
    "percentage_literal": _percentage,
}


def _tree(node: Tree[Token] | Token | None) -> Tree[Token]:
    assert isinstance(node, Tree), node
    return node


def _trees(tree: Tree[Token]) -> list[Tree[Token]]:
    return [child for child in tree.children if isinstance(child, Tree)]


def _token_at(token: Token) -> tuple[int, int]:
    return int(token.line or 1), int(token.column or 1)


def _at(tree: Tree[Token]) -> tuple[int, int]:
    return int(tree.meta.line), int(tree.meta.column)
