"""A checked program compiled to plans: variable bindings and statements as closures.

Guarantees:
- Only checked programs are compiled (the checker found no error), so every expression has a
  static type and every name a slot; compiling never raises.
- Each variable binding reads its given value (`MissingVariable`, `BadVariableValue`) or evaluates
  its origin; `meta(...)` as a whole origin reads the metadata text as a value of the variable's
  type, as upstream.
- A send evaluates its amount, refuses a negative one (`NegativeAmount`), sends from the source
  (`MissingFunds` when it cannot provide the exact amount), then pays the destination.
- `save` makes that much of the account's balance (all of it for `[ASSET *]`) unavailable to later
  sends, never taking the balance below zero, as upstream.
- `set_tx_meta` / `set_account_meta` render their value as upstream renders it; a later write of
  the same key wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction

from clearline.contracts.numscript import destinations as dst
from clearline.contracts.numscript import runtime
from clearline.contracts.numscript import sources as src
from clearline.contracts.numscript import syntax as ast
from clearline.contracts.numscript.errors import (
    BadVariableValue,
    MissingVariable,
    NegativeAmount,
)
from clearline.contracts.numscript.expressions import ExpressionCompiler, is_constant
from clearline.contracts.numscript.runtime import Run
from clearline.contracts.numscript.scaling import ScalingSource
from clearline.contracts.numscript.values import ACCOUNT_NAME, Type, Value, parse_value, render

Binding = Callable[[Run, Mapping[str, str]], None]
StatementPlan = Callable[[Run], None]


class Compiler:
    """Compiles one checked program."""

    def __init__(self, program: ast.Program, scope: Mapping[str, Type]) -> None:
        self.slots = {d.name: index for index, d in enumerate(program.variables)}
        self.expressions = ExpressionCompiler(scope, self.slots)

    # ---- variables ------------------------------------------------------------------------

    def binding(self, declaration: ast.VariableDeclaration) -> Binding:
        index = self.slots[declaration.name]
        type_ = Type(declaration.type_name)
        name, line, column = declaration.name, declaration.line, declaration.column
        origin = declaration.origin
        if origin is None and type_ is Type.ACCOUNT:
            fullmatch = ACCOUNT_NAME.fullmatch

            def given_account(run: Run, variables: Mapping[str, str]) -> None:
                text = variables.get(name)
                if text is None:
                    raise MissingVariable(
                        f"No value for ${name} ({type_}); pass it in the variables",
                        name=name,
                        line=line,
                        column=column,
                    )
                # `parse_value` for an account: the text itself once it is a name; else its error
                valid = isinstance(text, str) and fullmatch(text)
                run.values[index] = (
                    text if valid else _parsed(type_, text, name, line, column, "given")
                )

            return given_account
        if origin is None:

            def given(run: Run, variables: Mapping[str, str]) -> None:
                text = variables.get(name)
                if text is None:
                    raise MissingVariable(
                        f"No value for ${name} ({type_}); pass it in the variables",
                        name=name,
                        line=line,
                        column=column,
                    )
                run.values[index] = _parsed(type_, text, name, line, column, "given")

            return given
        evaluate = self.expressions.compile(origin)
        if isinstance(origin, ast.FunctionCall) and origin.name == "meta":

            def from_metadata(run: Run, variables: Mapping[str, str]) -> None:
                text = str(evaluate(run))
                run.values[index] = _parsed(type_, text, name, line, column, "metadata")

            return from_metadata

        def computed(run: Run, variables: Mapping[str, str]) -> None:
            run.values[index] = evaluate(run)

        return computed

    # ---- statements -----------------------------------------------------------------------

    def statement(self, statement: ast.Statement) -> StatementPlan:
        if isinstance(statement, ast.Send):
            return self.send(statement)
        if isinstance(statement, ast.Save):
            return self.save(statement)
        return self.call(statement.call)

    def send(self, statement: ast.Send) -> StatementPlan:
        source = self.source(statement.source)
        destination = self.destination(statement.destination)
        if isinstance(statement.amount, ast.SendAll):
            asset = self.expressions.text(statement.amount.asset)

            def send_all(run: Run) -> None:
                runtime.start_send(run, asset(run))
                destination.receive(run, source.all(run))
                runtime.finish_send(run)

            return send_all
        monetary = self.expressions.monetary(statement.amount)
        line, column = statement.amount.line, statement.amount.column

        def send(run: Run) -> None:
            asset, amount = monetary(run)
            if amount < 0:
                raise _negative(asset, amount, line, column)
            runtime.start_send(run, asset)
            sent = source.up_to(run, amount)
            if sent != amount:
                raise src.missing_funds(run, source, amount, sent)
            destination.receive(run, amount)
            runtime.finish_send(run)

        return send

    def save(self, statement: ast.Save) -> StatementPlan:
        account = self.expressions.text(statement.account)
        if isinstance(statement.amount, ast.SendAll):
            asset = self.expressions.text(statement.amount.asset)

            def save_all(run: Run) -> None:
                code, name = asset(run), account(run)
                runtime.balance(run, name, code, "")
                run.balances[(name, code, "")] = 0

            return save_all
        monetary = self.expressions.monetary(statement.amount)
        line, column = statement.amount.line, statement.amount.column

        def save(run: Run) -> None:
            code, amount = monetary(run)
            if amount < 0:
                raise _negative(code, amount, line, column)
            name = account(run)
            left = runtime.balance(run, name, code, "") - amount
            run.balances[(name, code, "")] = left if left > 0 else 0

        return save

    def call(self, call: ast.FunctionCall) -> StatementPlan:
        arguments = [self.expressions.compile(argument) for argument in call.arguments]
        if call.name == "set_tx_meta":
            key, value = arguments

            def set_tx_meta(run: Run) -> None:
                run.tx_meta[str(key(run))] = render(value(run))

            return set_tx_meta
        assert call.name == "set_account_meta", call.name
        account, key, value = arguments

        def set_account_meta(run: Run) -> None:
            written = run.account_meta.setdefault(str(account(run)), {})
            written[str(key(run))] = render(value(run))

        return set_account_meta

    # ---- sources and destinations ---------------------------------------------------------

    def source(self, node: ast.Source) -> src.SourcePlan:
        e = self.expressions
        line, column = node.line, node.column
        if isinstance(node, ast.SourceAccount):
            color = None if node.color is None else e.text(node.color)
            return src.AccountSource(e.text(node.address), color, None, False, line, column)
        if isinstance(node, ast.SourceOverdraft):
            color = None if node.color is None else e.text(node.color)
            bound = None if node.bound is None else e.monetary(node.bound)
            return src.AccountSource(
                e.text(node.address), color, bound, node.bound is None, line, column
            )
        if isinstance(node, ast.SourceScaling):
            return ScalingSource(e.text(node.address), e.text(node.swap), line, column)
        if isinstance(node, ast.SourceInorder):
            return src.InorderSource(tuple(self.source(s) for s in node.sources), line, column)
        if isinstance(node, ast.SourceOneof):
            return src.OneofSource(tuple(self.source(s) for s in node.sources), line, column)
        if isinstance(node, ast.SourceCapped):
            return src.CappedSource(e.monetary(node.cap), self.source(node.source), line, column)
        portions = self.portions([clause.portion for clause in node.clauses], line, column)
        inner = tuple(self.source(clause.source) for clause in node.clauses)
        return src.AllotmentSource(portions, inner, line, column)

    def portions(self, portions: list[ast.Portion], line: int, column: int) -> src.Portions:
        compiled: list[Callable[[Run], Fraction] | None] = [
            None if isinstance(p, ast.Remaining) else self.expressions.portion(p) for p in portions
        ]
        constant = all(isinstance(p, ast.Remaining) or is_constant(p) for p in portions)
        return src.portions_plan(compiled, constant, line, column)

    def destination(self, node: ast.Destination | ast.Kept) -> dst.DestinationPlan:
        if isinstance(node, ast.Kept):
            return dst.KeptDestination()
        if isinstance(node, ast.DestinationAccount):
            return dst.AccountDestination(self.expressions.text(node.address))
        if isinstance(node, ast.DestinationAllotment):
            portions = self.portions(
                [clause.portion for clause in node.clauses], node.line, node.column
            )
            targets = tuple(self.destination(clause.target) for clause in node.clauses)
            return dst.AllotmentDestination(portions, targets)
        clauses = tuple(
            dst.CappedClause(
                self.expressions.monetary(clause.cap),
                self.destination(clause.target),
                clause.line,
                clause.column,
            )
            for clause in node.clauses
        )
        remaining = self.destination(node.remaining)
        if isinstance(node, ast.DestinationInorder):
            return dst.InorderDestination(clauses, remaining)
        return dst.OneofDestination(clauses, remaining)


def _parsed(type_: Type, text: str, name: str, line: int, column: int, origin: str) -> Value:
    try:
        return parse_value(type_, text)
    except ValueError as error:
        raise BadVariableValue(
            f"The {origin} value {text!r} of ${name} is not a {type_}: {error}",
            name=name,
            value=text,
            line=line,
            column=column,
        ) from None


def _negative(asset: str, amount: int, line: int, column: int) -> NegativeAmount:
    return NegativeAmount(
        f"Cannot move a negative amount ([{asset} {amount}]); use an amount of 0 or more",
        amount=amount,
        line=line,
        column=column,
    )
