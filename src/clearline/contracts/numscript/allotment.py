"""Splitting an amount by portions, exactly as upstream rounds.

Guarantees:
- `resolve(portions)` turns the clause portions (`None` for `remaining`) into exact fractions
  that sum to 1, or raises `ValueError` saying why they cannot: a portion outside [0, 1], more
  than one `remaining`, a sum other than 1 without `remaining`, or above 1 with it.
- `split(amount, portions)` returns one integer share per clause, summing exactly to `amount`:
  each share is floored (`amount * p`, rounded down), then the units left over are handed out one
  at a time to the clauses in order, starting with the first (upstream's rule; a 15-unit split by
  80/8/12% gives 13, 1, 1).
- Pure functions on ints and Fractions: no floats, no state.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

_ZERO = Fraction(0)
_ONE = Fraction(1)


def resolve(portions: Sequence[Fraction | None]) -> tuple[Fraction, ...]:
    """The portions with `remaining` (None) replaced by what the others leave."""
    remaining = [index for index, portion in enumerate(portions) if portion is None]
    if len(remaining) > 1:
        raise ValueError("an allotment may have only one 'remaining' clause")
    total = _ZERO
    for portion in portions:
        if portion is not None:
            if portion < 0 or portion > 1:
                raise ValueError(f"the portion {portion} is not between 0% and 100%")
            total += portion
    if not remaining:
        if total != _ONE:
            raise ValueError(f"the portions sum to {total}, not 1")
        return tuple(p for p in portions if p is not None)
    if total > _ONE:
        raise ValueError(f"the portions sum to {total}, more than 1, before 'remaining'")
    rest = _ONE - total
    return tuple(rest if p is None else p for p in portions)


def split(amount: int, portions: Sequence[Fraction]) -> list[int]:
    """`amount` split by `portions` (which sum to 1): floors, then leftover units in order."""
    shares = [amount * p.numerator // p.denominator for p in portions]
    leftover = amount - sum(shares)
    for index in range(min(leftover, len(shares))):
        shares[index] += 1
    return shares
