"""Exact money: integer minor units of one asset.

Guarantees:
- An amount is a Python `int` of minor units; floats are refused with `TypeError` wherever money is
  made, so no binary rounding ever enters a balance.
- Parsing a decimal string is exact at the asset's scale: more decimals than the asset has is an
  error (`too_many_decimals`), never a silent rounding.
- Arithmetic refuses mixed assets (`AssetMismatch`).
- `allocate` floors each share and hands the leftover units out one at a time in declaration order,
  so the parts always sum to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from clearline.core.assets import Asset, asset
from clearline.core.errors import AssetMismatch, InvalidInput

_DECIMAL_TEXT = re.compile(r"^([+-]?)([0-9]+)(?:\.([0-9]+))?$")
"""ASCII digits only: an amount is never read from another script's digits by accident."""


def _require_int(value: object, what: str) -> int:
    if isinstance(value, float):
        raise TypeError(f"{what} must be an integer of minor units; floats are refused: {value!r}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int of minor units, not {type(value).__name__}")
    return value


def _as_asset(value: Asset | str) -> Asset:
    return value if isinstance(value, Asset) else asset(value)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount.

    units: the amount in minor units of `asset` (1234 CNY units is 12.34 CNY); may be negative.
    asset: the asset the amount is counted in.
    """

    units: int
    asset: Asset

    def __post_init__(self) -> None:
        _require_int(self.units, "Money.units")
        if not isinstance(self.asset, Asset):
            object.__setattr__(self, "asset", _as_asset(self.asset))

    @classmethod
    def of(cls, units: int, asset_spec: Asset | str) -> Money:
        """Money from minor units: `Money.of(1234, "CNY")` is 12.34 CNY."""
        return cls(_require_int(units, "units"), _as_asset(asset_spec))

    @classmethod
    def parse(cls, text: str, asset_spec: Asset | str) -> Money:
        """Parse a decimal string exactly: `Money.parse("12.34", "CNY")`.

        Raises `InvalidInput` with code `invalid_amount` for malformed text and `too_many_decimals`
        when the text has more decimal places than the asset's scale.
        """
        if isinstance(text, float):
            raise TypeError(f"amounts are parsed from strings, never floats: {text!r}")
        if not isinstance(text, str):
            raise TypeError(f"amount text must be a str, not {type(text).__name__}")
        target = _as_asset(asset_spec)
        match = _DECIMAL_TEXT.match(text.strip())
        if match is None:
            raise InvalidInput(
                f"invalid amount {text!r}: write digits with an optional '.' and decimals, "
                f"like '12.34'",
                code="invalid_amount",
            )
        sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
        if len(fraction) > target.scale:
            raise InvalidInput(
                f"amount {text!r} has {len(fraction)} decimals but {target.spec} allows "
                f"{target.scale}",
                code="too_many_decimals",
            )
        units = int(whole) * 10**target.scale + int(fraction.ljust(target.scale, "0") or "0")
        return cls(-units if sign == "-" else units, target)

    @classmethod
    def from_decimal(cls, value: Decimal, asset_spec: Asset | str, rounding: str) -> Money:
        """Money from a `Decimal` (rates, interest), rounded with the named `rounding` mode."""
        if not isinstance(value, Decimal):
            raise TypeError(f"from_decimal takes a Decimal, not {type(value).__name__}")
        target = _as_asset(asset_spec)
        if not value.is_finite():
            raise InvalidInput(f"amount {value} is not a finite number", code="invalid_amount")
        digits = max(len(value.as_tuple().digits) + target.scale + 2, 28)
        with localcontext(Context(prec=digits)):
            quantum = Decimal(1).scaleb(-target.scale)
            units = value.quantize(quantum, rounding=rounding).scaleb(target.scale)
        return cls(int(units), target)

    def to_decimal(self) -> Decimal:
        """The exact decimal value in major units."""
        # From the text, not `scaleb`: arithmetic rounds to the context's 28 digits.
        return Decimal(self.format())

    def format(self) -> str:
        """The exact decimal text at the asset's scale: `12.34`, `-0.05`, `1000` (JPY)."""
        return format_units(self.units, self.asset.scale)

    def __str__(self) -> str:
        return f"{self.format()} {self.asset.spec}"

    def _same_asset(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.asset != self.asset:
            raise AssetMismatch(
                f"cannot combine {self.asset.spec} with {other.asset.spec}; convert first"
            )
        return other

    def __add__(self, other: object) -> Money:
        return Money(self.units + self._same_asset(other).units, self.asset)

    def __sub__(self, other: object) -> Money:
        return Money(self.units - self._same_asset(other).units, self.asset)

    def __neg__(self) -> Money:
        return Money(-self.units, self.asset)

    def __mul__(self, factor: object) -> Money:
        return Money(self.units * _require_int(factor, "factor"), self.asset)

    __rmul__ = __mul__

    def __lt__(self, other: object) -> bool:
        return self.units < self._same_asset(other).units

    def __le__(self, other: object) -> bool:
        return self.units <= self._same_asset(other).units

    def __gt__(self, other: object) -> bool:
        return self.units > self._same_asset(other).units

    def __ge__(self, other: object) -> bool:
        return self.units >= self._same_asset(other).units

    def is_zero(self) -> bool:
        return self.units == 0

    def allocate(self, ratios: Sequence[int]) -> list[Money]:
        """Split by integer `ratios`; see `allocate`."""
        return [Money(units, self.asset) for units in allocate(self.units, ratios)]


def format_units(units: int, scale: int) -> str:
    """`units` minor units as exact decimal text at `scale` (what `Money.format` prints), for
    callers that hold the units and the scale and need no `Money` (a response renders several)."""
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(scale + 1, "0")
    if scale == 0:
        return f"{sign}{digits}"
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def allocate(units: int, ratios: Sequence[int]) -> list[int]:
    """Split `units` by non-negative integer `ratios` so the parts sum to `units` exactly.

    Each share is floored (towards zero for negative amounts); the leftover units are handed out
    one at a time in declaration order to the parts with a non-zero ratio.
    """
    _require_int(units, "units")
    if not ratios:
        raise InvalidInput("allocate needs at least one ratio", code="invalid_ratios")
    for ratio in ratios:
        _require_int(ratio, "ratio")
        if ratio < 0:
            raise InvalidInput("ratios must not be negative", code="invalid_ratios")
    total = sum(ratios)
    if total == 0:
        raise InvalidInput("ratios must not all be zero", code="invalid_ratios")
    sign = -1 if units < 0 else 1
    magnitude = abs(units)
    parts = [magnitude * ratio // total for ratio in ratios]
    leftover = magnitude - sum(parts)
    index = 0
    while leftover > 0:
        if ratios[index % len(ratios)] > 0:
            parts[index % len(ratios)] += 1
            leftover -= 1
        index += 1
    return [sign * part for part in parts]


def sum_money(amounts: Sequence[Money], asset_spec: Asset | str) -> Money:
    """Sum amounts of one asset; an empty sequence sums to zero of `asset_spec`."""
    total = Money(0, _as_asset(asset_spec))
    for amount in amounts:
        total = total + amount
    return total


HALF_EVEN = ROUND_HALF_EVEN
"""Banker's rounding, the default mode for rates and interest at the edges."""
