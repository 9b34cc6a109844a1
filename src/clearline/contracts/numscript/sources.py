"""Compiled sources: how much each kind of source sends, and from whom.

Guarantees (upstream's semantics, formancehq/numscript `trySendingUpTo` / `sendAll`):
- `up_to(run, amount)` sends at most `amount` and returns what it sent (never negative); only an
  allotment, whose every clause must provide its exact share, raises `MissingFunds` itself.
- An account sends up to its balance plus its overdraft allowance, never below zero; a negative
  allowance counts as none. `@world` and `allowing unbounded overdraft` send whatever is asked.
- In-order sources are tried in turn until the amount is reached (the rest are not evaluated).
  `oneof` takes the first branch that can send everything, undoing the branches that could not;
  the last branch sends what it can. `max cap from` sends at most the cap (a negative cap: 0).
- `all(run)` sends everything available: balance plus the bounded overdraft (never negative).
  `@world` and unbounded overdraft raise `UnboundedSendAll`, an allotment `AllotmentInSendAll`;
  `oneof` sends all from its first branch; `max cap from` sends up to the cap.
- A color restriction reads and moves only funds of that color (`""` is uncolored).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, cast

from clearline.contracts.numscript import allotment, runtime
from clearline.contracts.numscript.errors import (
    AllotmentInSendAll,
    InvalidAllotment,
    InvalidColor,
    MismatchedAssets,
    MissingFunds,
    NumscriptError,
    UnboundedSendAll,
)
from clearline.contracts.numscript.runtime import WORLD, Run
from clearline.contracts.numscript.values import COLOR_NAME, Monetary


class SourcePlan(Protocol):
    """A compiled source."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...

    def up_to(self, run: Run, amount: int) -> int: ...

    def all(self, run: Run) -> int: ...

    def single_account(self, run: Run) -> str | None: ...


def amount_in_asset(
    run: Run, evaluate: Callable[[Run], Monetary], what: str, line: int, column: int
) -> int:
    """A cap or bound's amount, which must be in the asset being sent."""
    monetary = evaluate(run)
    if monetary.asset != run.asset:
        raise MismatchedAssets(
            f"This {what} is in {monetary.asset} but the statement sends {run.asset}; "
            f"write the {what} in {run.asset}",
            line=line,
            column=column,
        )
    return monetary.amount


def missing_funds(run: Run, source: SourcePlan, needed: int, sent: int) -> MissingFunds:
    account = source.single_account(run)
    origin = f" from @{account}" if account is not None else ""
    return MissingFunds(
        f"Not enough funds: needed [{run.asset} {needed}] but only [{run.asset} {sent}] is "
        f"available{origin}. Add funds, allow an overdraft, or add another source",
        account=account,
        asset=run.asset,
        needed=needed,
        available=sent,
        line=source.line,
        column=source.column,
    )


@dataclass(frozen=True, slots=True)
class AccountSource:
    """`@a`, `@a \\ color`, `@a allowing overdraft up to b`, `@a allowing unbounded overdraft`."""

    address: Callable[[Run], str]
    color: Callable[[Run], str] | None
    overdraft: Callable[[Run], Monetary] | None
    unbounded: bool
    line: int
    column: int

    def single_account(self, run: Run) -> str | None:
        return self.address(run)

    def _color(self, run: Run) -> str:
        if self.color is None:
            return ""
        color = self.color(run)
        if not COLOR_NAME.fullmatch(color):
            raise InvalidColor(
                f'The color {color!r} is not upper-case letters A-Z; use such a name, or "" '
                "for uncolored funds",
                line=self.line,
                column=self.column,
            )
        return color

    def _allowance(self, run: Run) -> int:
        if self.overdraft is None:
            return 0
        bound = amount_in_asset(run, self.overdraft, "overdraft bound", self.line, self.column)
        return bound if bound > 0 else 0

    def up_to(self, run: Run, amount: int) -> int:
        allowance = 0 if self.overdraft is None else self._allowance(run)
        account = self.address(run)
        color = "" if self.color is None else self._color(run)
        if self.unbounded or account == WORLD:
            if amount <= 0:
                return 0
            runtime.push(run, account, color, amount, None)
            return amount
        current = runtime.balance(run, account, run.asset, color)
        available = current + allowance
        sent = amount if amount < available else available
        if sent <= 0:
            return 0
        runtime.push(run, account, color, sent, current)
        return sent

    def all(self, run: Run) -> int:
        allowance = self._allowance(run)
        account = self.address(run)
        color = self._color(run)
        if self.unbounded or account == WORLD:
            raise UnboundedSendAll(
                f"Cannot send all from @{account}: its overdraft is unbounded, so there is no "
                "'all'. Send an amount, or bound the overdraft",
                line=self.line,
                column=self.column,
            )
        current = runtime.balance(run, account, run.asset, color)
        available = current + allowance
        if available <= 0:
            return 0
        runtime.push(run, account, color, available, current)
        return available


@dataclass(frozen=True, slots=True)
class InorderSource:
    """`{ source source ... }`."""

    sources: tuple[SourcePlan, ...]
    line: int
    column: int

    def single_account(self, run: Run) -> str | None:
        return None

    def up_to(self, run: Run, amount: int) -> int:
        left = amount
        for source in self.sources:
            if left <= 0:
                break
            left -= source.up_to(run, left)
        return amount - left if amount > 0 else 0

    def all(self, run: Run) -> int:
        return sum(source.all(run) for source in self.sources)


@dataclass(frozen=True, slots=True)
class OneofSource:
    """`oneof { source ... }`."""

    sources: tuple[SourcePlan, ...]
    line: int
    column: int

    def single_account(self, run: Run) -> str | None:
        return None

    def up_to(self, run: Run, amount: int) -> int:
        *leading, last = self.sources
        for source in leading:
            saved = runtime.snapshot(run)
            if source.up_to(run, amount) == amount:
                return amount
            runtime.restore(run, saved)
        return last.up_to(run, amount)

    def all(self, run: Run) -> int:
        return self.sources[0].all(run)


@dataclass(frozen=True, slots=True)
class CappedSource:
    """`max cap from source`."""

    cap: Callable[[Run], Monetary]
    source: SourcePlan
    line: int
    column: int

    def single_account(self, run: Run) -> str | None:
        return self.source.single_account(run)

    def _cap(self, run: Run) -> int:
        cap = amount_in_asset(run, self.cap, "cap", self.line, self.column)
        return cap if cap > 0 else 0

    def up_to(self, run: Run, amount: int) -> int:
        cap = self._cap(run)
        return self.source.up_to(run, amount if amount < cap else cap)

    def all(self, run: Run) -> int:
        return self.source.up_to(run, self._cap(run))


Portions = Callable[[Run], tuple[Fraction, ...]]
"""An allotment's portions, resolved (`remaining` replaced) and checked to sum to 1."""


def portions_plan(
    portions: list[Callable[[Run], Fraction] | None], constant: bool, line: int, column: int
) -> Portions:
    """The portions resolver: resolved once now when all are `constant`, else on every run."""

    def resolve(run: Run) -> tuple[Fraction, ...]:
        try:
            return allotment.resolve([None if p is None else p(run) for p in portions])
        except ValueError as error:
            raise InvalidAllotment(
                f"Invalid allotment: {error}. Make the portions sum to 1",
                line=line,
                column=column,
            ) from None

    if not constant:
        return resolve
    try:
        resolved = resolve(cast(Run, None))
    except NumscriptError:
        return resolve  # raises again, at run time, as upstream
    return lambda run: resolved


@dataclass(frozen=True, slots=True)
class AllotmentSource:
    """`{ 1/3 from @a  remaining from @b }`: each clause sends exactly its share."""

    portions: Portions
    sources: tuple[SourcePlan, ...]
    line: int
    column: int

    def single_account(self, run: Run) -> str | None:
        return None

    def up_to(self, run: Run, amount: int) -> int:
        if amount <= 0:
            return 0
        shares = allotment.split(amount, self.portions(run))
        for source, share in zip(self.sources, shares, strict=True):
            sent = source.up_to(run, share)
            if sent != share:
                raise missing_funds(run, source, share, sent)
        return amount

    def all(self, run: Run) -> int:
        raise AllotmentInSendAll(
            "Cannot send all from an allotment: its portions need a known total. Send an "
            "amount, or use an in-order source",
            line=self.line,
            column=self.column,
        )
