"""Checked expressions compiled to closures over the run state (`Evaluate = Run -> Value`).

Guarantees:
- Compiling happens once per program; a run only calls closures (no tree walking, no type
  dispatch, no name lookups: variables are list slots, literals are constants, and expressions
  built from literals only are folded at compile time when that cannot raise).
- Runtime errors carry the position of the expression that failed: division by zero, monetaries
  of different assets combined, `balance()` of a negative balance, missing metadata, an
  interpolated account name that is not an account name.
- Function results follow upstream: `balance` and `overdraft` read the program's running
  balances (uncolored), `overdraft` is never negative, `meta` reads the store's metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import cast

from clearline.contracts.numscript import runtime
from clearline.contracts.numscript import syntax as ast
from clearline.contracts.numscript.checker import type_of
from clearline.contracts.numscript.errors import (
    DivisionByZero,
    InvalidAccountName,
    MetadataNotFound,
    MismatchedAssets,
    NegativeBalance,
    NumscriptError,
)
from clearline.contracts.numscript.runtime import Run
from clearline.contracts.numscript.values import ACCOUNT_NAME, Monetary, Type, Value

Evaluate = Callable[[Run], Value]


class ExpressionCompiler:
    """Compiles expressions of one checked program (`scope`: types, `slots`: value indexes)."""

    def __init__(self, scope: Mapping[str, Type], slots: Mapping[str, int]) -> None:
        self.scope = scope
        self.slots = slots

    def type_of(self, node: ast.Expression) -> Type:
        return type_of(node, self.scope)

    def number(self, node: ast.Expression) -> Callable[[Run], int]:
        return cast(Callable[[Run], int], self.compile(node))

    def text(self, node: ast.Expression) -> Callable[[Run], str]:
        """An account, asset or string expression."""
        return cast(Callable[[Run], str], self.compile(node))

    def portion(self, node: ast.Expression) -> Callable[[Run], Fraction]:
        return cast(Callable[[Run], Fraction], self.compile(node))

    def monetary(self, node: ast.Expression) -> Callable[[Run], Monetary]:
        return cast(Callable[[Run], Monetary], self.compile(node))

    def compile(self, node: ast.Expression) -> Evaluate:
        evaluate = self._compile(node)
        if is_constant(node):
            try:
                value = evaluate(cast(Run, None))
            except NumscriptError:
                return evaluate
            return _constant(value)
        return evaluate

    def _compile(self, node: ast.Expression) -> Evaluate:
        if isinstance(node, ast.Variable):
            return _slot(self.slots[node.name])
        if isinstance(node, ast.AssetLiteral | ast.StringLiteral | ast.NumberLiteral):
            return _constant(node.value)
        if isinstance(node, ast.PercentageLiteral):
            return _constant(node.value)
        if isinstance(node, ast.AccountLiteral):
            return self._account(node)
        if isinstance(node, ast.MonetaryLiteral):
            return _monetary(self.text(node.asset), self.number(node.amount))
        if isinstance(node, ast.Negation):
            return _negation(self.compile(node.operand))
        if isinstance(node, ast.BinaryOperation):
            return self._binary(node)
        return self._call(node)

    def _account(self, node: ast.AccountLiteral) -> Evaluate:
        if all(isinstance(part, str) for part in node.parts):
            return _constant(":".join(cast(tuple[str, ...], node.parts)))
        parts = [
            _constant(part) if isinstance(part, str) else self.compile(part) for part in node.parts
        ]
        line, column = node.line, node.column

        def account(run: Run) -> Value:
            name = ":".join(str(part(run)) for part in parts)
            if not ACCOUNT_NAME.fullmatch(name):
                raise InvalidAccountName(
                    f"The account literal makes {name!r}, which is not an account name "
                    "(segments of [a-zA-Z0-9_-] joined by ':'); fix the interpolated values",
                    line=line,
                    column=column,
                )
            return name

        return account

    def _binary(self, node: ast.BinaryOperation) -> Evaluate:
        left, right = self.compile(node.left), self.compile(node.right)
        line, column = node.line, node.column
        if node.operator == "/":
            return _division(left, right, line, column)
        if self.type_of(node.left) is Type.NUMBER:
            return _number_sum(left, right, node.operator == "-")
        return _monetary_sum(left, right, node.operator == "-", line, column)

    def _call(self, node: ast.FunctionCall) -> Evaluate:
        arguments = [self.compile(argument) for argument in node.arguments]
        line, column = node.line, node.column
        if node.name == "get_asset":
            (monetary,) = arguments
            return lambda run: cast(Monetary, monetary(run)).asset
        if node.name == "get_amount":
            (monetary,) = arguments
            return lambda run: cast(Monetary, monetary(run)).amount
        if node.name == "meta":
            return _meta(arguments[0], arguments[1], line, column)
        assert node.name in ("balance", "overdraft"), node.name
        return _balance(arguments[0], arguments[1], node.name == "overdraft", line, column)


def is_constant(node: ast.Expression) -> bool:
    if isinstance(node, ast.Variable | ast.FunctionCall):
        return False
    if isinstance(node, ast.AccountLiteral):
        return all(isinstance(part, str) for part in node.parts)
    if isinstance(node, ast.MonetaryLiteral):
        return is_constant(node.asset) and is_constant(node.amount)
    if isinstance(node, ast.Negation):
        return is_constant(node.operand)
    if isinstance(node, ast.BinaryOperation):
        return is_constant(node.left) and is_constant(node.right)
    return True


def _constant(value: Value) -> Evaluate:
    return lambda run: value


def _slot(index: int) -> Evaluate:
    return lambda run: run.values[index]


def _monetary(asset: Callable[[Run], str], amount: Callable[[Run], int]) -> Evaluate:
    return lambda run: Monetary(asset(run), amount(run))


def _negation(operand: Evaluate) -> Evaluate:
    def negate(run: Run) -> Value:
        value = operand(run)
        if isinstance(value, Monetary):
            return Monetary(value.asset, -value.amount)
        return -cast(int, value)

    return negate


def _division(left: Evaluate, right: Evaluate, line: int, column: int) -> Evaluate:
    def divide(run: Run) -> Value:
        denominator = cast(int, right(run))
        if denominator == 0:
            raise DivisionByZero(
                "Division by zero; make sure the divisor is not 0", line=line, column=column
            )
        return Fraction(cast(int, left(run)), denominator)

    return divide


def _number_sum(left: Evaluate, right: Evaluate, subtract: bool) -> Evaluate:
    if subtract:
        return lambda run: cast(int, left(run)) - cast(int, right(run))
    return lambda run: cast(int, left(run)) + cast(int, right(run))


def _monetary_sum(
    left: Evaluate, right: Evaluate, subtract: bool, line: int, column: int
) -> Evaluate:
    def add(run: Run) -> Value:
        a, b = cast(Monetary, left(run)), cast(Monetary, right(run))
        if a.asset != b.asset:
            raise MismatchedAssets(
                f"Cannot combine {a.asset} and {b.asset}; use monetaries of the same asset",
                line=line,
                column=column,
            )
        return Monetary(a.asset, a.amount - b.amount if subtract else a.amount + b.amount)

    return add


def _balance(
    account: Evaluate, asset: Evaluate, overdraft: bool, line: int, column: int
) -> Evaluate:
    def read(run: Run) -> Value:
        name, code = cast(str, account(run)), cast(str, asset(run))
        amount = runtime.balance(run, name, code, "")
        if overdraft:
            return Monetary(code, -amount if amount < 0 else 0)
        if amount < 0:
            raise NegativeBalance(
                f"balance(@{name}, {code}) is negative ({amount}); balance() only reads "
                "non-negative balances, use overdraft() for debts",
                line=line,
                column=column,
            )
        return Monetary(code, amount)

    return read


def _meta(account: Evaluate, key: Evaluate, line: int, column: int) -> Callable[[Run], str]:
    def read(run: Run) -> str:
        name, wanted = cast(str, account(run)), cast(str, key(run))
        value = runtime.account_metadata(run, name, wanted)
        if value is None:
            raise MetadataNotFound(
                f"Account @{name} has no metadata {wanted!r}; set it before running the script",
                line=line,
                column=column,
            )
        return value

    return read
