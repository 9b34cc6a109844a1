"""Where a Numscript address lives in the ledger.

Guarantees:
- Every Numscript address with an asset and a color is exactly one ledger account, whose id is
  derived from the three (`script_account_id`): the same address is the same account in every
  process and after every restart, without a lookup table. These accounts belong to the
  contracts room (ledger code `SCRIPT_ACCOUNT_CODE`), are created on first use, carry no
  balance bounds (Numscript decides overdrafts itself: only its executor moves them) and may
  go negative as `@world` does.
- `@ledger:<32 hex digits>` is not a script account but the existing ledger account with that
  id (a customer's wallet, an omnibus account): its balance is the ledger's spendable balance
  and the ledger's own bounds decide at commit, so a program can never overdraw it, whatever
  it says. Its asset must be the account's asset; colors are refused on it.
- Numscript assets map onto Clearline assets (`ledger_asset`): `USD/2`, `EUR/2` and bare ISO
  codes (`USD`, counted in minor units, as `USD/2`) are the ISO currencies; anything else is a
  custom asset (`COIN` is `COIN/0`, `USDC/6` stays `USDC/6`). A scale that contradicts ISO 4217
  (`USD/3`) is refused.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Final

from clearline.core.assets import Asset, asset
from clearline.core.errors import InvalidInput

SCRIPT_ACCOUNT_CODE: Final = 700
"""Ledger code of the accounts the contracts room creates for Numscript addresses."""
SCRIPT_TRANSFER_CODE: Final = 70
"""Ledger code of the transfers a Numscript program's postings become."""
BOUND_PREFIX: Final = "ledger:"
"""`@ledger:<id>` names an existing ledger account by its 32-hex-digit id."""

_BOUND = re.compile(r"^ledger:([0-9a-f]{32})$")
ID_MAX = (1 << 128) - 1


class AddressError(InvalidInput):
    """An address or asset that has no place in the ledger."""

    code = "invalid_address"


@lru_cache(maxsize=65_536)
def ledger_asset(numscript_asset: str) -> Asset:
    """The Clearline asset a Numscript asset is counted in (see the module's guarantees)."""
    code, slash, _ = numscript_asset.partition("/")
    try:
        if slash:
            return asset(numscript_asset)
        try:
            found = asset(code)
        except InvalidInput:
            return asset(f"{code}/0")
        return found
    except InvalidInput as error:
        raise AddressError(
            f"asset {numscript_asset!r} cannot be held in the ledger: {error}",
            code="invalid_asset",
        ) from None


@lru_cache(maxsize=65_536)
def bound_account(address: str) -> int | None:
    """The ledger id `@ledger:<id>` names, or None for a script account."""
    if not address.startswith(BOUND_PREFIX):
        return None
    match = _BOUND.match(address)
    if match is None:
        raise AddressError(
            f"@{address} is not a ledger account: write @ledger: and the account's id "
            "as 32 lowercase hex digits",
            code="invalid_ledger_address",
        )
    value = int(match.group(1), 16)
    if not 0 < value < ID_MAX:
        raise AddressError(f"@{address}: no ledger account has id 0", code="invalid_ledger_address")
    return value


@lru_cache(maxsize=262_144)
def script_account_id(address: str, numscript_asset: str, color: str) -> int:
    """The ledger id of script account `address` holding `numscript_asset` in `color`."""
    digest = hashlib.sha256(
        b"clearline.numscript\0"
        + address.encode()
        + b"\0"
        + numscript_asset.encode()
        + b"\0"
        + color.encode()
    ).digest()
    value = int.from_bytes(digest[:16], "big")
    return value if 0 < value < ID_MAX else 1


def account_id(address: str, numscript_asset: str, color: str) -> int:
    """The ledger id holding `address`'s funds of `numscript_asset` in `color`."""
    bound = bound_account(address)
    if bound is None:
        return script_account_id(address, numscript_asset, color)
    if color:
        raise AddressError(
            f"@{address} is a ledger account: colored funds live only in script accounts",
            code="color_on_ledger_account",
        )
    return bound
