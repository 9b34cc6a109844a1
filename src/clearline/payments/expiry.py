"""Holds nobody acted on: the ledger releases a pending transfer when its timeout passes, and the
payment records follow.

Guarantees:
- The ledger decides: a hold is `expired` only when the ledger says its pending transfer
  expired (by the ledger's own clock, after `Ledger.tick`), never because a record's time ran
  out alone; a record changes under its payment's lock, only from an open hold status, so a
  capture or review racing the expiry sees one or the other.
- An expired hold gives its amount back to the customer's daily limit.
- The background task (`run`) syncs every `every_s`; reading a payment whose hold ran out syncs
  it at once (`PaymentService.payment`), so nobody sees a stale `in_review`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from clearline.core.clock import Clock
from clearline.ledger import Ledger
from clearline.payments import model as m
from clearline.payments.concurrency import PaymentLocks
from clearline.payments.limits import DailySpend
from clearline.payments.model import Payment
from clearline.payments.records import PaymentRecords

log = logging.getLogger(__name__)


class Expiry:
    """Keeps payment statuses in step with the ledger's expiries."""

    def __init__(
        self,
        ledger: Ledger,
        records: PaymentRecords,
        locks: PaymentLocks,
        spend: DailySpend,
        clock: Clock,
    ) -> None:
        self.ledger, self.records, self.locks, self.spend, self.clock = (
            ledger,
            records,
            locks,
            spend,
            clock,
        )

    async def sync(self, payments: Sequence[Payment] | None = None) -> int:
        """Mark holds the ledger has expired as `expired` (all due ones when `payments` is
        None); how many changed."""
        if payments is None:
            payments = self.records.open_holds_due(self.clock.now_ns())
        if not payments:
            return 0
        await asyncio.to_thread(self.ledger.tick)
        statuses = await asyncio.to_thread(
            self.ledger.pending_statuses, [payment.id for payment in payments]
        )
        changed = 0
        for payment, status in zip(payments, statuses, strict=True):
            if status != "expired":
                continue
            async with self.locks.hold(payment.id):
                current = self.records.find(payment.id)
                if current is not None and current.status in m.OPEN_HOLD_STATUSES:
                    self.spend.release_payment(current)
                    await self.records.update(current, status="expired", expires_ns=None)
                    changed += 1
        return changed

    async def run(self, every_s: float = 1.0) -> None:
        """Background task: sync every `every_s` seconds (a failed round is retried)."""
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.sync()
            except Exception:  # keep serving; the next round retries
                log.exception("expiry sync failed")
