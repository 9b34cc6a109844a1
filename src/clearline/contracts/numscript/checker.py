"""The static checks of a parsed Numscript program, run once before it is ever executed.

Guarantees:
- `check(program, flags)` returns every error it finds (in source order, not only the first):
  unknown or duplicate variables, variables used before their declaration, unknown type names,
  wrong types anywhere a type is known, unknown functions, wrong argument counts or types,
  experimental constructs without their feature flag, unknown feature flags, and allotments
  whose literal portions cannot sum to 1.
- A program with no errors has a static type for every expression (`type_of`), which the
  compiler relies on; what only the run can know (balances, variable values, portions held in
  variables, amounts of different assets) is checked by the run.
- Feature flags come from the caller and from the program's `#![feature(...)]` line alike.

Function calls in the `vars` block are always allowed (`balance`, `meta`, ...); anywhere else,
and any other kind of expression as a variable's origin, needs
`experimental-mid-script-function-call`, as upstream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from clearline.contracts.numscript import syntax as ast
from clearline.contracts.numscript import values as v
from clearline.contracts.numscript.errors import (
    BadArity,
    DuplicateVariable,
    FeatureNotEnabled,
    InvalidAllotment,
    NumscriptError,
    NumscriptTypeError,
    UnknownFeature,
    UnknownFunction,
    UnknownVariable,
)
from clearline.contracts.numscript.values import Type


@dataclass(frozen=True, slots=True)
class Signature:
    """A built-in function: parameter types, result (`None`: a statement), and its flag."""

    parameters: tuple[Type, ...]
    result: Type | None
    feature: str | None = None


FUNCTIONS: Mapping[str, Signature] = {
    "balance": Signature((Type.ACCOUNT, Type.ASSET), Type.MONETARY),
    "meta": Signature((Type.ACCOUNT, Type.STRING), Type.STRING),
    "overdraft": Signature((Type.ACCOUNT, Type.ASSET), Type.MONETARY, v.OVERDRAFT_FUNCTION),
    "get_asset": Signature((Type.MONETARY,), Type.ASSET, v.GET_ASSET_FUNCTION),
    "get_amount": Signature((Type.MONETARY,), Type.NUMBER, v.GET_AMOUNT_FUNCTION),
    "set_tx_meta": Signature((Type.STRING, Type.ANY), None),
    "set_account_meta": Signature((Type.ACCOUNT, Type.STRING, Type.ANY), None),
}
"""Numscript's functions. `meta` gives a string, except as a variable's whole origin, where its
text is read as a value of the variable's type."""

INTERPOLABLE = frozenset({Type.ACCOUNT, Type.NUMBER, Type.STRING})
"""Types a variable may have inside an account literal (`@users:$id`)."""


def enabled_features(program: ast.Program, flags: Iterable[str]) -> frozenset[str]:
    """The caller's flags plus those the program declares with `#![feature(...)]`."""
    return frozenset(flags) | {feature.flag for feature in program.features}


def check(program: ast.Program, flags: Iterable[str]) -> list[NumscriptError]:
    """Every static error of `program` with the feature `flags` on (empty: it may run)."""
    features = enabled_features(program, flags)
    errors: list[NumscriptError] = [
        UnknownFeature(
            f"Unknown feature flag {declared.flag!r}; known flags: "
            f"{', '.join(sorted(v.KNOWN_FEATURES))}. Remove it or fix its spelling",
            line=declared.line,
            column=declared.column,
        )
        for declared in program.features
        if declared.flag not in v.KNOWN_FEATURES
    ]
    checker = _Checker(features, errors)
    checker.declarations(program.variables)
    for statement in program.statements:
        checker.statement(statement)
    return errors


def variable_types(program: ast.Program) -> dict[str, Type]:
    """The declared type of each variable of a checked program."""
    return {
        d.name: Type(d.type_name) for d in program.variables if d.type_name in v.DECLARABLE_TYPES
    }


def type_of(expression: ast.Expression, scope: Mapping[str, Type]) -> Type:
    """The static type of an expression of a checked program."""
    result = _Checker(v.KNOWN_FEATURES, [], dict(scope)).infer(expression)
    assert result is not None, expression
    return result


def constant_portion(expression: ast.Expression) -> Fraction | None:
    """The value of a portion written with literals only (`1/3`, `12.5%`), else None."""
    if isinstance(expression, ast.PercentageLiteral):
        return expression.value
    if (
        isinstance(expression, ast.BinaryOperation)
        and expression.operator == "/"
        and isinstance(expression.left, ast.NumberLiteral)
        and isinstance(expression.right, ast.NumberLiteral)
        and expression.right.value != 0
    ):
        return Fraction(expression.left.value, expression.right.value)
    return None


class _Checker:
    """One pass over the tree; `errors` collects what it finds."""

    def __init__(
        self,
        features: frozenset[str],
        errors: list[NumscriptError],
        scope: dict[str, Type] | None = None,
    ) -> None:
        self.features = features
        self.errors = errors
        self.scope: dict[str, Type] = scope if scope is not None else {}
        self.declared_later: set[str] = set()
        self.in_origin = False

    def feature(self, feature: str, what: str, node: _Positioned) -> None:
        if feature not in self.features:
            self.errors.append(
                FeatureNotEnabled(
                    f"{what} needs the feature flag {feature!r}: pass it in feature_flags or "
                    f'start the script with #![feature("{feature}")]',
                    feature=feature,
                    line=node.line,
                    column=node.column,
                )
            )

    def mismatch(self, node: _Positioned, expected: str, actual: Type) -> None:
        self.errors.append(
            NumscriptTypeError(
                f"Expected {expected} here, but this expression is {_article(actual)}. "
                "Use an expression of the expected type",
                line=node.line,
                column=node.column,
            )
        )

    # ---- declarations and statements ------------------------------------------------------

    def declarations(self, declarations: tuple[ast.VariableDeclaration, ...]) -> None:
        self.declared_later = {d.name for d in declarations}
        for declaration in declarations:
            self.declared_later.discard(declaration.name)
            if declaration.origin is not None:
                self.origin(declaration)
            if declaration.name in self.scope:
                self.errors.append(
                    DuplicateVariable(
                        f"${declaration.name} is declared twice; rename or remove one of them",
                        line=declaration.line,
                        column=declaration.column,
                    )
                )
            elif declaration.type_name not in v.DECLARABLE_TYPES:
                self.errors.append(
                    NumscriptTypeError(
                        f"Unknown type {declaration.type_name!r}; use one of "
                        f"{', '.join(sorted(v.DECLARABLE_TYPES))}",
                        line=declaration.line,
                        column=declaration.column,
                    )
                )
            else:
                self.scope[declaration.name] = Type(declaration.type_name)

    def origin(self, declaration: ast.VariableDeclaration) -> None:
        origin = declaration.origin
        assert origin is not None
        if not isinstance(origin, ast.FunctionCall):
            self.feature(
                v.MID_SCRIPT_FUNCTION_CALL, "An origin that is not a function call", origin
            )
        self.in_origin = True
        try:
            actual = self.infer(origin)
        finally:
            self.in_origin = False
        is_meta = isinstance(origin, ast.FunctionCall) and origin.name == "meta"
        declared = declaration.type_name
        if actual is None or is_meta or declared not in v.DECLARABLE_TYPES:
            return
        if actual != Type(declared):
            self.mismatch(
                origin, f"{_article(Type(declared))} (the type of ${declaration.name})", actual
            )

    def statement(self, statement: ast.Statement) -> None:
        if isinstance(statement, ast.Send):
            self.sent(statement.amount)
            self.source(statement.source)
            self.destination(statement.destination)
        elif isinstance(statement, ast.Save):
            self.sent(statement.amount)
            self.expect(statement.account, Type.ACCOUNT)
        else:
            self.call(statement.call, as_statement=True)

    def sent(self, amount: ast.Expression | ast.SendAll) -> None:
        if isinstance(amount, ast.SendAll):
            self.expect(amount.asset, Type.ASSET)
        else:
            self.expect(amount, Type.MONETARY)

    # ---- expressions ----------------------------------------------------------------------

    def expect(self, expression: ast.Expression, expected: Type) -> None:
        actual = self.infer(expression)
        if actual is not None and expected is not Type.ANY and actual != expected:
            self.mismatch(expression, _article(expected), actual)

    def infer(self, node: ast.Expression) -> Type | None:
        """The type of `node`, or None when an error (already recorded) hides it."""
        if isinstance(node, ast.Variable):
            return self.variable(node)
        if isinstance(node, ast.AccountLiteral):
            self.account(node)
            return Type.ACCOUNT
        if isinstance(node, ast.MonetaryLiteral):
            self.expect(node.asset, Type.ASSET)
            self.expect(node.amount, Type.NUMBER)
            return Type.MONETARY
        if isinstance(node, ast.Negation):
            operand = self.infer(node.operand)
            if operand is not None and operand not in (Type.NUMBER, Type.MONETARY):
                self.mismatch(node.operand, "a number or a monetary after '-'", operand)
                return None
            return operand
        if isinstance(node, ast.BinaryOperation):
            return self.binary(node)
        if isinstance(node, ast.FunctionCall):
            return self.call(node, as_statement=False)
        return _LITERAL_TYPES[type(node)]

    def variable(self, node: ast.Variable) -> Type | None:
        found = self.scope.get(node.name)
        if found is None:
            later = " before its declaration" if node.name in self.declared_later else ""
            self.errors.append(
                UnknownVariable(
                    f"${node.name} is used{later} but not declared earlier in the vars block; "
                    "declare it (type and name) before this use",
                    name=node.name,
                    line=node.line,
                    column=node.column,
                )
            )
        return found

    def account(self, node: ast.AccountLiteral) -> None:
        for part in node.parts:
            if isinstance(part, ast.Variable):
                self.feature(v.ACCOUNT_INTERPOLATION, "A variable inside an account name", part)
                found = self.variable(part)
                if found is not None and found not in INTERPOLABLE:
                    self.mismatch(part, "an account, a number or a string", found)

    def binary(self, node: ast.BinaryOperation) -> Type | None:
        left = self.infer(node.left)
        right = self.infer(node.right)
        if left is None or right is None:
            return None
        if node.operator == "/":
            if left is Type.NUMBER and right is Type.NUMBER:
                return Type.PORTION
            wrong = node.left if left is not Type.NUMBER else node.right
            self.mismatch(
                wrong, "a number on each side of '/'", right if wrong is node.right else left
            )
            return None
        if left in (Type.NUMBER, Type.MONETARY):
            if right != left:
                self.mismatch(node.right, f"{_article(left)} after {node.operator!r}", right)
                return None
            return left
        self.mismatch(node.left, f"a number or a monetary before {node.operator!r}", left)
        return None

    def call(self, node: ast.FunctionCall, *, as_statement: bool) -> Type | None:
        signature = FUNCTIONS.get(node.name)
        if signature is None or (signature.result is None) != as_statement:
            self.unknown_function(node, signature, as_statement)
            for argument in node.arguments:
                self.infer(argument)
            return None
        if signature.feature is not None:
            self.feature(signature.feature, f"The function {node.name}()", node)
        if not as_statement and not self.in_origin:
            self.feature(v.MID_SCRIPT_FUNCTION_CALL, "A function call outside the vars block", node)
        if len(node.arguments) != len(signature.parameters):
            self.errors.append(
                BadArity(
                    f"{node.name}() takes {len(signature.parameters)} argument(s) "
                    f"({', '.join(signature.parameters)}), not {len(node.arguments)}",
                    line=node.line,
                    column=node.column,
                )
            )
            for argument in node.arguments:
                self.infer(argument)
            return signature.result
        for argument, parameter in zip(node.arguments, signature.parameters, strict=True):
            self.expect(argument, parameter)
        return signature.result

    def unknown_function(
        self, node: ast.FunctionCall, signature: Signature | None, as_statement: bool
    ) -> None:
        if signature is None:
            message = (
                f"Unknown function {node.name}(); Numscript has {', '.join(sorted(FUNCTIONS))}"
            )
        elif as_statement:
            message = f"{node.name}() gives a value and cannot be a statement; use it in one"
        else:
            message = f"{node.name}() is a statement and gives no value; call it on its own line"
        self.errors.append(UnknownFunction(message, line=node.line, column=node.column))

    # ---- sources and destinations ---------------------------------------------------------

    def source(self, node: ast.Source) -> None:
        if isinstance(node, ast.SourceAccount | ast.SourceOverdraft):
            self.expect(node.address, Type.ACCOUNT)
            if node.color is not None:
                self.feature(v.ASSET_COLORS, "A color restriction (\\)", node.color)
                self.expect(node.color, Type.STRING)
            if isinstance(node, ast.SourceOverdraft) and node.bound is not None:
                self.expect(node.bound, Type.MONETARY)
        elif isinstance(node, ast.SourceScaling):
            self.feature(v.ASSET_SCALING, "'with scaling through'", node)
            self.expect(node.address, Type.ACCOUNT)
            self.expect(node.swap, Type.ACCOUNT)
        elif isinstance(node, ast.SourceInorder | ast.SourceOneof):
            if isinstance(node, ast.SourceOneof):
                self.feature(v.ONEOF, "'oneof'", node)
            for inner in node.sources:
                self.source(inner)
        elif isinstance(node, ast.SourceCapped):
            self.expect(node.cap, Type.MONETARY)
            self.source(node.source)
        else:
            self.portions(node, [clause.portion for clause in node.clauses])
            for clause in node.clauses:
                self.source(clause.source)

    def destination(self, node: ast.Destination) -> None:
        if isinstance(node, ast.DestinationAccount):
            self.expect(node.address, Type.ACCOUNT)
        elif isinstance(node, ast.DestinationAllotment):
            self.portions(node, [clause.portion for clause in node.clauses])
            for clause in node.clauses:
                self.target(clause.target)
        else:
            if isinstance(node, ast.DestinationOneof):
                self.feature(v.ONEOF, "'oneof'", node)
            for capped in node.clauses:
                self.expect(capped.cap, Type.MONETARY)
                self.target(capped.target)
            self.target(node.remaining)

    def target(self, node: ast.Destination | ast.Kept) -> None:
        if not isinstance(node, ast.Kept):
            self.destination(node)

    def portions(self, node: _Positioned, portions: list[ast.Portion]) -> None:
        remaining = [p for p in portions if isinstance(p, ast.Remaining)]
        for portion in portions:
            if not isinstance(portion, ast.Remaining):
                self.expect(portion, Type.PORTION)
        if len(remaining) > 1:
            self.allotment_error(remaining[1], "it has more than one 'remaining'; keep one")
            return
        constants = [constant_portion(p) for p in portions if not isinstance(p, ast.Remaining)]
        if any(c is None for c in constants):
            return
        total = sum((c for c in constants if c is not None), Fraction(0))
        if any(c is not None and c > 1 for c in constants):
            self.allotment_error(node, "a portion is above 100%")
        elif remaining and total > 1:
            self.allotment_error(
                node, f"the portions sum to {total} before 'remaining'; lower them"
            )
        elif not remaining and total != 1:
            self.allotment_error(
                node, f"the portions sum to {total}, not 1; fix them or add a 'remaining' clause"
            )

    def allotment_error(self, node: _Positioned, problem: str) -> None:
        self.errors.append(
            InvalidAllotment(f"Invalid allotment: {problem}", line=node.line, column=node.column)
        )


def _article(type_: Type) -> str:
    return f"an {type_}" if type_ in (Type.ACCOUNT, Type.ASSET) else f"a {type_}"


_Positioned = ast.Expression | ast.Source | ast.Destination | ast.Remaining

_LITERAL_TYPES: Mapping[type, Type] = {
    ast.AssetLiteral: Type.ASSET,
    ast.StringLiteral: Type.STRING,
    ast.NumberLiteral: Type.NUMBER,
    ast.PercentageLiteral: Type.PORTION,
}
