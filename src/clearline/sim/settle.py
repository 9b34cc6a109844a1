"""FX conversion and settlement of candidate payments, in time order.

Guarantees:
- `apply_fx` fills `amount_received`: equal to `amount_paid` inside one currency, otherwise the
  exact integer conversion at that day's customer rate for the payment type (see `geography`).
- `settle` walks a day's candidates in their final output order and keeps a balance per account.
  An honest or fraudulent payment is refused when it would take the payer below
  `-credit_limit` (zero for agents without credit) without touching laundered funds held in
  reserve; a payment with `requires` set is refused when the payment it depends on was refused.
  Laundered funds (`illicit_funds`) move between reserves that the laundering plan funded in
  advance, so they never fail; an assertion checks that on every such payment.
- Therefore, after settlement, no account without credit is ever below zero at any point in the
  output order: honest spending never exceeds the honest part of a balance, and the laundered part
  is never negative by construction.
"""

from __future__ import annotations

import numpy as np

from clearline.sim.geography import SPREADS, FxTable, convert
from clearline.sim.rhythm import NANOSECONDS_PER_DAY
from clearline.sim.schema import CH, PT, EventBatch
from clearline.sim.world import Accounts

_SPREAD_KINDS = ("default", "remittance", "trade", "card")


def _spread_kind(batch: EventBatch) -> np.ndarray:
    kind = np.zeros(len(batch), dtype=np.int64)
    kind[batch.payment_type == PT["remittance"]] = 1
    kind[batch.payment_type == PT["trade"]] = 2
    kind[batch.channel == CH["card"]] = 3
    return kind


def apply_fx(batch: EventBatch, accounts: Accounts, fx: FxTable, start_ns: int) -> None:
    """Fill `amount_received` where it is still -1 (in place; the arrays are the batch's own)."""
    pending = batch.amount_received < 0
    if not pending.any():
        return
    paid_currency = accounts.country[batch.from_account]
    received_currency = accounts.country[batch.to_account]
    same = pending & (paid_currency == received_currency)
    batch.amount_received[same] = batch.amount_paid[same]
    cross = np.flatnonzero(pending & ~same)
    if not len(cross):
        return
    day = np.clip(
        (batch.timestamp_ns[cross] - start_ns) // NANOSECONDS_PER_DAY, 0, len(fx.usd_rates) - 1
    )
    kind = _spread_kind(batch)[cross]
    rates = np.empty(len(cross), dtype=np.int64)
    for one_day in np.unique(day):
        for spread_code, spread_name in enumerate(_SPREAD_KINDS):
            rows = (day == one_day) & (kind == spread_code)
            if rows.any():
                matrix = fx.rate_matrix(int(one_day), SPREADS[spread_name])
                rates[rows] = matrix[paid_currency[cross[rows]], received_currency[cross[rows]]]
    batch.amount_received[cross] = convert(
        batch.amount_paid[cross], rates, paid_currency[cross], received_currency[cross]
    )


class Balances:
    """Running balances of every account while a world settles (internal, mutable)."""

    def __init__(self, opening: np.ndarray, reserve: np.ndarray, credit_limit: np.ndarray) -> None:
        self.balance: list[int] = opening.tolist()
        self.reserve: list[int] = reserve.tolist()
        self.credit_limit: list[int] = credit_limit.tolist()
        self.refused_keys: set[int] = set()

    def available(self) -> np.ndarray:
        """Spendable honest balance per account (balance minus laundered reserve)."""
        return np.array(self.balance, dtype=np.int64) - np.array(self.reserve, dtype=np.int64)

    def settle(self, batch: EventBatch) -> np.ndarray:
        """Accept or refuse each row of `batch`, which must already be in output order."""
        balance, reserve, limit = self.balance, self.reserve, self.credit_limit
        refused_keys = self.refused_keys
        accepted = np.ones(len(batch), dtype=bool)
        rows = zip(
            batch.from_account.tolist(),
            batch.to_account.tolist(),
            batch.amount_paid.tolist(),
            batch.amount_received.tolist(),
            batch.illicit_funds.tolist(),
            batch.requires.tolist(),
            batch.key.tolist(),
            strict=True,
        )
        for index, (payer, payee, paid, received, illicit, requires, key) in enumerate(rows):
            if illicit:
                assert balance[payer] + limit[payer] >= paid, "laundering reserve overdrawn"
                balance[payer] -= paid
                reserve[payer] = max(reserve[payer] - paid, 0)
                balance[payee] += received
                reserve[payee] += received
            elif (requires and requires in refused_keys) or (
                balance[payer] - reserve[payer] + limit[payer] < paid
            ):
                accepted[index] = False
                if key:
                    refused_keys.add(key)
            else:
                balance[payer] -= paid
                balance[payee] += received
        return accepted
