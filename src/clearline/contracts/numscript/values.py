"""Numscript's value types, the literal syntax of variable values, and how values render.

Guarantees:
- Amounts and numbers are arbitrary-precision `int`s and portions exact `Fraction`s; no float is
  ever made from a value.
- `parse_value(type, text)` accepts exactly the literal syntax the spec files use ("EUR/2 100",
  "100", "users:001", "1/3", "42%", "12.5%", "EUR/2", any string) and raises `ValueError` with a
  reason otherwise; a portion must lie in [0, 1].
- `render(value)` is how upstream renders values in metadata: a portion as "11/2" (always
  numerator/denominator), a number as "9", a monetary as "USD/2 7", an asset as "ABC", an account
  without `@`.
- The feature flags this implementation knows are `KNOWN_FEATURES`.
"""

from __future__ import annotations

import enum
import re
from fractions import Fraction
from typing import NamedTuple


class Type(enum.StrEnum):
    """The static type of a Numscript expression (`ANY` only for function parameters)."""

    MONETARY = "monetary"
    ACCOUNT = "account"
    NUMBER = "number"
    STRING = "string"
    ASSET = "asset"
    PORTION = "portion"
    ANY = "any"


DECLARABLE_TYPES = frozenset(t.value for t in Type if t is not Type.ANY)
"""Type names a `vars` block may use."""


class Monetary(NamedTuple):
    """An amount of an asset, in the asset's minor units (`USD/2 150` is 1.50 USD)."""

    asset: str
    amount: int


Value = int | str | Fraction | Monetary
"""A runtime value: number (int), portion (Fraction), monetary, or account/asset/string (str)."""

# ---- feature flags ----------------------------------------------------------------------------

ONEOF = "experimental-oneof"
ASSET_COLORS = "experimental-asset-colors"
ASSET_SCALING = "experimental-asset-scaling"
MID_SCRIPT_FUNCTION_CALL = "experimental-mid-script-function-call"
OVERDRAFT_FUNCTION = "experimental-overdraft-function"
ACCOUNT_INTERPOLATION = "experimental-account-interpolation"
GET_ASSET_FUNCTION = "experimental-get-asset-function"
GET_AMOUNT_FUNCTION = "experimental-get-amount-function"

KNOWN_FEATURES = frozenset(
    {
        ONEOF,
        ASSET_COLORS,
        ASSET_SCALING,
        MID_SCRIPT_FUNCTION_CALL,
        OVERDRAFT_FUNCTION,
        ACCOUNT_INTERPOLATION,
        GET_ASSET_FUNCTION,
        GET_AMOUNT_FUNCTION,
    }
)
"""Every feature flag this implementation builds (upstream's names)."""

# ---- literal syntax ---------------------------------------------------------------------------

ACCOUNT_NAME = re.compile(r"[a-zA-Z0-9_-]+(?::[a-zA-Z0-9_-]+)*")
ASSET_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:/[0-9]+)?")
COLOR_NAME = re.compile(r"[A-Z]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_MONETARY = re.compile(r"([A-Z][A-Z0-9]*(?:/[0-9]+)?) ([+-]?[0-9]+)")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%")
_RATIO = re.compile(r"([0-9]+)/([0-9]+)")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_value(type_: Type, text: str) -> Value:
    """`text` (Numscript literal syntax, as in spec files and metadata) as a value of `type_`."""
    if type_ is Type.STRING:
        return text
    if type_ is Type.NUMBER:
        if not _INTEGER.fullmatch(text):
            raise ValueError("a number is an integer such as 100 or -5")
        return int(text)
    if type_ is Type.MONETARY:
        match = _MONETARY.fullmatch(text)
        if match is None:
            raise ValueError('a monetary is an asset and an integer amount, such as "EUR/2 100"')
        return Monetary(match[1], int(match[2]))
    if type_ is Type.ACCOUNT:
        if not ACCOUNT_NAME.fullmatch(text):
            raise ValueError('an account is segments of [a-zA-Z0-9_-] joined by ":", without @')
        return text
    if type_ is Type.ASSET:
        if not ASSET_NAME.fullmatch(text):
            raise ValueError('an asset is upper-case letters and digits with an optional "/scale"')
        return text
    if type_ is Type.PORTION:
        return _parse_portion(text)
    raise ValueError(f"values of type {type_} cannot be given")


def _parse_portion(text: str) -> Fraction:
    if match := _PERCENT.fullmatch(text):
        portion = Fraction(match[1]) / 100
    elif match := _RATIO.fullmatch(text):
        if int(match[2]) == 0:
            raise ValueError("a portion's denominator cannot be 0")
        portion = Fraction(int(match[1]), int(match[2]))
    elif _DECIMAL.fullmatch(text):
        portion = Fraction(text)
    else:
        raise ValueError('a portion is a ratio such as "1/3" or a percentage such as "12.5%"')
    if portion > 1:
        raise ValueError("a portion lies between 0% and 100%")
    return portion


def render(value: Value) -> str:
    """`value` as upstream writes it into transaction or account metadata."""
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, Monetary):
        return f"{value.asset} {value.amount}"
    return str(value)


def split_asset(asset: str) -> tuple[str, int]:
    """`EUR/2` -> ("EUR", 2); `EUR` -> ("EUR", 0)."""
    base, _, scale = asset.partition("/")
    return base, int(scale) if scale else 0


def scaled_asset(base: str, scale: int) -> str:
    """("EUR", 2) -> "EUR/2"; ("EUR", 0) -> "EUR"."""
    return f"{base}/{scale}" if scale else base
