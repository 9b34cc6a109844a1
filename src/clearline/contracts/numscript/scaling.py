"""`@account with scaling through @swap` (experimental-asset-scaling): send an asset at one scale
from the account's funds at every scale of that asset.

Guarantees:
- The account's own funds at the sent scale are used first, without conversion. What is still
  missing is converted from the other scales, the highest scale (smallest unit) first: a higher
  scale converts only in whole units of the sent scale (`EUR/3 21` gives `EUR/2 2`, the `1` stays),
  a lower scale converts whole units of its own and may give more than needed (`EUR 1` gives
  `EUR/2 100`, the surplus stays with the account).
- Each conversion is a posting account -> swap in the converted scale; then one posting swap ->
  account of their total in the sent scale, both made at once (before the statement's other
  postings), with the balances of both accounts updated. The swap account may go negative.
- Send-all converts everything convertible. Nothing is converted when nothing is missing.
- Which scales an account holds comes from the store's optional `asset_scales(account, base)`
  (`ScaledStore`) when it has one, plus the scales this run has already touched; a store without
  it is asked for scales 0 to `MAX_PROBED_SCALE`.

The order (own funds, then the other scales from the highest down) fits every upstream case;
upstream does not document it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from clearline.contracts.numscript import runtime
from clearline.contracts.numscript.errors import UnboundedSendAll
from clearline.contracts.numscript.runtime import WORLD, Posting, Run
from clearline.contracts.numscript.values import scaled_asset, split_asset

MAX_PROBED_SCALE = 18
"""Highest scale looked up on a store that cannot list an account's scales (18: ETH's wei)."""


@runtime_checkable
class ScaledStore(Protocol):
    """A store that can say at which scales an account may hold an asset (a superset is fine)."""

    def asset_scales(self, account: str, base_asset: str) -> Iterable[int]: ...


def _scales(run: Run, account: str, base: str, target: int) -> list[int]:
    """The account's other scales of `base`, highest first."""
    store = run.store
    if isinstance(store, ScaledStore):
        scales = set(store.asset_scales(account, base))
    else:
        scales = set(range(MAX_PROBED_SCALE + 1))
    for known, asset, color in (*run.balances, *run.pending):
        if known == account and not color:
            known_base, scale = split_asset(asset)
            if known_base == base:
                scales.add(scale)
    scales.discard(target)
    return sorted(scales, reverse=True)


def _conversion(held: int, scale: int, target: int, needed: int | None) -> tuple[int, int]:
    """(units taken at `scale`, units given at `target`) for `needed` (None: all)."""
    if scale > target:
        factor = 10 ** (scale - target)
        given = held // factor
        if needed is not None and given > needed:
            given = needed
        return given * factor, given
    factor = 10 ** (target - scale)
    taken = held if needed is None else min(held, -(-needed // factor))
    return taken, taken * factor


def convert(run: Run, account: str, swap: str, needed: int | None) -> int:
    """Convert up to `needed` (None: all) units of the sent asset into `account`; the total."""
    base, target = split_asset(run.asset)
    conversions: list[tuple[str, int]] = []
    total = 0
    for scale in _scales(run, account, base, target):
        if needed is not None and total >= needed:
            break
        asset = scaled_asset(base, scale)
        held = runtime.balance(run, account, asset, "")
        if held <= 0:
            continue
        taken, given = _conversion(held, scale, target, None if needed is None else needed - total)
        if taken > 0:
            conversions.append((asset, taken))
            total += given
    for asset, taken in conversions:
        run.balances[(account, asset, "")] -= taken
        runtime.credit(run, (swap, asset, ""), taken)
        run.postings.append(Posting(account, swap, taken, asset, ""))
    if total:
        runtime.credit(run, (swap, run.asset, ""), -total)
        runtime.credit(run, (account, run.asset, ""), total)
        run.postings.append(Posting(swap, account, total, run.asset, ""))
    return total


@dataclass(frozen=True, slots=True)
class ScalingSource:
    """`@account with scaling through @swap`."""

    address: Callable[[Run], str]
    swap: Callable[[Run], str]
    line: int
    column: int

    def single_account(self, run: Run) -> str | None:
        return self.address(run)

    def up_to(self, run: Run, amount: int) -> int:
        account, swap = self.address(run), self.swap(run)
        if amount <= 0:
            return 0
        if account == WORLD:
            runtime.push(run, account, "", amount, None)
            return amount
        own = runtime.balance(run, account, run.asset, "")
        available = own if own > 0 else 0
        if available < amount:
            convert(run, account, swap, amount - available)
            current = runtime.balance(run, account, run.asset, "")
            available = current if current > 0 else 0
        sent = amount if amount < available else available
        if sent > 0:
            runtime.push(run, account, "", sent, runtime.balance(run, account, run.asset, ""))
        return sent

    def all(self, run: Run) -> int:
        account, swap = self.address(run), self.swap(run)
        if account == WORLD:
            raise UnboundedSendAll(
                "Cannot send all from @world: its overdraft is unbounded. Send an amount",
                line=self.line,
                column=self.column,
            )
        convert(run, account, swap, None)
        current = runtime.balance(run, account, run.asset, "")
        if current <= 0:
            return 0
        runtime.push(run, account, "", current, current)
        return current
