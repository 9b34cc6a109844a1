"""Money, assets (ISO 4217 and custom), ids, the injected clock and base errors.

Everything here is small, pure and dependency-light; every other room imports from it.
"""

from clearline.core.assets import Asset, asset, iso_currencies
from clearline.core.clock import Clock, ManualClock, SystemClock
from clearline.core.errors import AssetMismatch, ClearlineError, InvalidInput, InvariantViolation
from clearline.core.ids import ID_MAX, new_id
from clearline.core.money import Money, allocate

__all__ = [
    "ID_MAX",
    "Asset",
    "AssetMismatch",
    "ClearlineError",
    "Clock",
    "InvalidInput",
    "InvariantViolation",
    "ManualClock",
    "Money",
    "SystemClock",
    "allocate",
    "asset",
    "iso_currencies",
    "new_id",
]
