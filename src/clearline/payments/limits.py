"""Daily limit reservations: what each customer paid or holds today, in US dollars.

Guarantees:
- Check and reserve are one step (`reserve`), taken before the risk decision within one
  event-loop step, so two concurrent payments of one customer cannot both slip under a daily
  limit; a payment that ends declined, failed, voided, rejected or expired gives its amount back
  (`release`).
- Amounts are exact `Decimal` US dollars at the reference rates, rounded up (`kyc.limits`), so
  rounding never lets a payment through.
- A restart rebuilds today's totals from the payment records (`load`).
- Bounded: totals are kept for today and yesterday only (yesterday's for releases of holds made
  before midnight); older days are dropped at the first payment of a new day.
"""

from __future__ import annotations

from decimal import Decimal

from clearline.customers import Customer
from clearline.kyc import ReferenceRates, check_payment, limits_for
from clearline.payments.model import Payment
from clearline.payments.records import PaymentRecords

DAY_NS = 86_400 * 1_000_000_000


class DailySpend:
    """USD paid or held per (customer id, day number)."""

    def __init__(self, rates: ReferenceRates) -> None:
        self.rates = rates
        self._spent: dict[tuple[int, int], Decimal] = {}
        self._day = 0

    def load(self, records: PaymentRecords, now_ns: int) -> None:
        """Today's totals from the records (at start, after any recovery)."""
        day = now_ns // DAY_NS
        self._spent, self._day = {}, day
        for customer_id, amount, asset_spec in records.spent_since(day * DAY_NS):
            key = (int(customer_id, 16), day)
            self._spent[key] = self._spent.get(key, Decimal(0)) + self.rates.to_usd(
                amount, asset_spec
            )

    def reserve(self, customer: Customer, amount: int, asset_spec: str, now_ns: int) -> Decimal:
        """Check the payment against the customer's limits and today's spend, and reserve it;
        the reserved USD (give it back with `release`). `LimitExceeded` names the limit."""
        day = now_ns // DAY_NS
        if day != self._day:  # a new day: yesterday's totals no longer limit anything
            self._spent = {k: v for k, v in self._spent.items() if k[1] >= day - 1}
            self._day = day
        amount_usd = self.rates.to_usd(amount, asset_spec)
        key = (customer.id, day)
        spent = self._spent.get(key, Decimal(0))
        check_payment(
            limits_for(customer.tier, customer.override()), customer.tier, amount_usd, spent
        )
        self._spent[key] = spent + amount_usd
        return amount_usd

    def release(self, customer_id: int, amount_usd: Decimal, created_ns: int) -> None:
        """Give back what a payment created at `created_ns` reserved."""
        key = (customer_id, created_ns // DAY_NS)
        if key in self._spent:
            self._spent[key] -= amount_usd

    def release_payment(self, payment: Payment) -> None:
        self.release(
            payment.customer_id,
            self.rates.to_usd(payment.amount, payment.asset),
            payment.created_ns,
        )

    def spent_today(self, customer_id: int, now_ns: int) -> Decimal:
        return self._spent.get((customer_id, now_ns // DAY_NS), Decimal(0))
