"""Compiled destinations: who receives how much of what the sources sent.

Guarantees (upstream's semantics, formancehq/numscript `receiveFrom`):
- `receive(run, amount)` hands out exactly `amount`, taking the sources' funds in the order they
  were sent; a zero share makes no posting.
- An allotment splits by its portions (floors, then leftover units in clause order).
- In-order clauses take `min(left, cap)` each in turn (a negative cap takes nothing) and
  `remaining` takes the rest; once nothing is left, later caps are not evaluated.
- `oneof` gives everything to the first clause whose cap is at least the amount, else to
  `remaining`.
- `kept` takes its share off the queue and gives it back to its senders: no posting.
- Caps must be in the asset being sent (`MismatchedAssets` otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from clearline.contracts.numscript import allotment, runtime
from clearline.contracts.numscript.runtime import Run
from clearline.contracts.numscript.sources import Portions, amount_in_asset
from clearline.contracts.numscript.values import Monetary


class DestinationPlan(Protocol):
    """A compiled destination (or `kept`)."""

    def receive(self, run: Run, amount: int) -> None: ...


@dataclass(frozen=True, slots=True)
class AccountDestination:
    """`@account`."""

    address: Callable[[Run], str]

    def receive(self, run: Run, amount: int) -> None:
        runtime.receive(run, self.address(run), amount)


@dataclass(frozen=True, slots=True)
class KeptDestination:
    """`kept`."""

    def receive(self, run: Run, amount: int) -> None:
        runtime.receive(run, None, amount)


@dataclass(frozen=True, slots=True)
class AllotmentDestination:
    """`{ 1/3 to @a  remaining kept }`."""

    portions: Portions
    targets: tuple[DestinationPlan, ...]

    def receive(self, run: Run, amount: int) -> None:
        shares = allotment.split(amount, self.portions(run))
        for target, share in zip(self.targets, shares, strict=True):
            target.receive(run, share)


@dataclass(frozen=True, slots=True)
class CappedClause:
    """`max cap to destination` / `max cap kept`."""

    cap: Callable[[Run], Monetary]
    target: DestinationPlan
    line: int
    column: int

    def amount(self, run: Run) -> int:
        cap = amount_in_asset(run, self.cap, "cap", self.line, self.column)
        return cap if cap > 0 else 0


@dataclass(frozen=True, slots=True)
class InorderDestination:
    """`{ max cap to @a ... remaining to @b }`."""

    clauses: tuple[CappedClause, ...]
    remaining: DestinationPlan

    def receive(self, run: Run, amount: int) -> None:
        left = amount
        for clause in self.clauses:
            cap = clause.amount(run)
            if left == 0:
                break
            taken = left if left < cap else cap
            left -= taken
            clause.target.receive(run, taken)
        self.remaining.receive(run, left)


@dataclass(frozen=True, slots=True)
class OneofDestination:
    """`oneof { max cap to @a ... remaining kept }`."""

    clauses: tuple[CappedClause, ...]
    remaining: DestinationPlan

    def receive(self, run: Run, amount: int) -> None:
        for clause in self.clauses:
            if clause.amount(run) >= amount:
                clause.target.receive(run, amount)
                return
        self.remaining.receive(run, amount)
