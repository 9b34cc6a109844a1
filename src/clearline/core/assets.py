"""Assets and their scales.

An asset is a code and a scale (the number of decimal places of its minor unit). ISO 4217 currencies
take their scale from the `iso4217` package, which is generated from the official ISO 4217 list, so
no exponent is typed by hand here. Anything else (stablecoins, points, metals by weight) is written
`CODE/scale`, for example `USDC/6` or `POINTS/0`. Assets are interned:
`asset("USD") is asset("USD")`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import iso4217

from clearline.core.errors import InvalidInput

SCALE_MAX = 18
"""Largest scale a custom asset may have: 10**18 minor units per major unit."""

CODE_LENGTH_MAX = 12
_CUSTOM_CODE = re.compile(r"^[A-Z][A-Z0-9]{0,11}$")


@dataclass(frozen=True, slots=True)
class Asset:
    """An asset that money is counted in.

    code: the ISO 4217 alphabetic code (`CNY`) or a custom code (`USDC`).
    scale: decimal places of the minor unit (CNY 2, JPY 0, KWD 3, CLF 4, USDC/6 6).
    numeric: the ISO 4217 numeric code, or 0 for custom assets.
    iso: True when the asset is an ISO 4217 currency.
    """

    code: str
    scale: int
    numeric: int = 0
    iso: bool = False

    def __str__(self) -> str:
        return self.spec

    @property
    def spec(self) -> str:
        """The canonical written form: `USD` for ISO currencies, `USDC/6` for custom assets."""
        return self.code if self.iso else f"{self.code}/{self.scale}"


def _iso_currency(code: str) -> iso4217.Currency | None:
    try:
        return iso4217.Currency(code)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def asset(spec: str) -> Asset:
    """Parse `USD` (ISO 4217) or `USDC/6` (custom) into an interned `Asset`.

    Raises `InvalidInput` (code `unknown_asset` or `invalid_asset`) with a hint on what to write.
    """
    if not isinstance(spec, str):
        raise TypeError(f"asset must be given as a string like 'USD' or 'USDC/6', not {spec!r}")
    text = spec.strip().upper()
    code, slash, scale_text = text.partition("/")
    currency = _iso_currency(code)
    if not slash:
        if currency is None:
            raise InvalidInput(
                f"unknown asset {spec!r}: not an ISO 4217 currency; write custom assets as "
                f"CODE/scale, for example 'USDC/6'",
                code="unknown_asset",
            )
        if currency.exponent is None:
            raise InvalidInput(
                f"{code} has no minor unit in ISO 4217; write it with an explicit scale, "
                f"for example '{code}/6'",
                code="invalid_asset",
            )
        return Asset(code, currency.exponent, currency.number, True)
    if not (scale_text.isascii() and scale_text.isdigit()) or not 0 <= int(scale_text) <= SCALE_MAX:
        raise InvalidInput(
            f"invalid asset {spec!r}: the scale after '/' must be a whole number 0..{SCALE_MAX}",
            code="invalid_asset",
        )
    scale = int(scale_text)
    if not _CUSTOM_CODE.match(code):
        raise InvalidInput(
            f"invalid asset {spec!r}: a code is 1..{CODE_LENGTH_MAX} letters and digits, "
            f"starting with a letter",
            code="invalid_asset",
        )
    if currency is not None and currency.exponent is not None:
        if currency.exponent != scale:
            raise InvalidInput(
                f"{code} is an ISO 4217 currency with scale {currency.exponent}, not {scale}; "
                f"write '{code}'",
                code="invalid_asset",
            )
        return Asset(code, currency.exponent, currency.number, True)
    return Asset(code, scale, 0, False)


def iso_currencies() -> list[Asset]:
    """Every ISO 4217 currency that has a minor unit, sorted by code."""
    return sorted(
        (asset(currency.code) for currency in iso4217.Currency if currency.exponent is not None),
        key=lambda item: item.code,
    )
