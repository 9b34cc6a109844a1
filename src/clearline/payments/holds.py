"""The steps after a payment: capture and void of an authorization, approval and rejection of a
review hold, and refunds of settled money.

Guarantees:
- Each step is a ledger transfer whose id is derived from the payment's (`derive_id(payment,
  "capture")`, …), so a retried step is the same transfer (`exists`) and happens once; refunds
  take their id from the caller (derived from its idempotency key when it has one).
- Steps of one payment run one at a time (`PaymentLocks`) and only from the state they need
  (`payment_state_conflict` otherwise); a hold that expired first answers `hold_expired` and is
  recorded as expired.
- Each step is an audit event (`payment.capture`, `payment.void`, `review.approve`,
  `review.reject`, `payment.refund`) written in the same commit as the record's new state.
- Money given back (void, reject, expiry) is released from the customer's daily limit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from clearline.core.clock import Clock
from clearline.core.errors import Conflict, InvalidInput, NotFound
from clearline.core.ids import derive_id, format_id
from clearline.core.money import Money
from clearline.ledger import Ledger, Transfer, TransferFlags
from clearline.payments import model as m
from clearline.payments.concurrency import PaymentLocks
from clearline.payments.limits import DailySpend
from clearline.payments.model import Payment, PaymentRefused
from clearline.payments.records import PaymentRecords, insert_refund
from clearline.trail import Actor, AuditTrail

Lookup = Callable[[int, int | None], Awaitable[Payment]]
"""The payment a caller may see (customer scope), with a run-out hold shown as expired."""


class Holds:
    """Captures, voids, review decisions and refunds."""

    def __init__(
        self,
        ledger: Ledger,
        records: PaymentRecords,
        locks: PaymentLocks,
        spend: DailySpend,
        trail: AuditTrail,
        lookup: Lookup,
        clock: Clock,
    ) -> None:
        self.ledger, self.records, self.locks, self.spend = ledger, records, locks, spend
        self.trail, self.lookup, self.clock = trail, lookup, clock

    async def capture(
        self,
        payment_id: int,
        amount: int | None = None,
        *,
        actor: Actor,
        customer_scope: int | None = None,
    ) -> Payment:
        """Capture all (None) or part of an authorization; the rest is released."""
        async with self.locks.hold(payment_id):
            payment = await self._in_state(payment_id, ("authorized",), customer_scope)
            if amount is not None and not 0 < amount <= payment.amount:
                raise InvalidInput(
                    "capture amount must be more than zero and at most the authorized amount",
                    code="invalid_capture_amount",
                )
            name = await self._step(
                payment, "capture", TransferFlags.POST_PENDING_TRANSFER, amount or 0
            )
            settled = amount or payment.amount
            return await self._after(payment, name, "captured", settled, actor, "payment.capture")

    async def void(
        self, payment_id: int, *, actor: Actor, customer_scope: int | None = None
    ) -> Payment:
        async with self.locks.hold(payment_id):
            payment = await self._in_state(payment_id, ("authorized",), customer_scope)
            name = await self._step(payment, "void", TransferFlags.VOID_PENDING_TRANSFER, 0)
            return await self._after(payment, name, "voided", 0, actor, "payment.void")

    async def approve_review(self, payment_id: int, *, actor: Actor) -> Payment:
        async with self.locks.hold(payment_id):
            payment = await self._in_state(payment_id, ("in_review",), None)
            if payment.capture == "manual":  # the review hold becomes the authorization
                return await self.records.update(
                    payment,
                    self._audit(actor, "review.approve", payment, status="authorized"),
                    status="authorized",
                )
            name = await self._step(
                payment, "review-approve", TransferFlags.POST_PENDING_TRANSFER, 0
            )
            return await self._after(
                payment, name, "completed", payment.amount, actor, "review.approve"
            )

    async def reject_review(self, payment_id: int, *, actor: Actor) -> Payment:
        async with self.locks.hold(payment_id):
            payment = await self._in_state(payment_id, ("in_review",), None)
            name = await self._step(
                payment, "review-reject", TransferFlags.VOID_PENDING_TRANSFER, 0
            )
            return await self._after(payment, name, "rejected", 0, actor, "review.reject")

    async def refund(
        self,
        payment_id: int,
        amount: int | None,
        refund_id: int,
        *,
        actor: Actor,
        customer_scope: int | None = None,
    ) -> tuple[Payment, int, int]:
        """Refund settled money back to the payer: (payment, refund id, amount)."""
        async with self.locks.hold(payment_id):
            payment = await self.lookup(payment_id, customer_scope)
            if customer_scope is not None and customer_scope != payment.destination_customer_id:
                raise NotFound(f"no payment {format_id(payment_id)}", code="payment_not_found")
            wanted = _refundable(payment, amount)
            (result,) = await self.ledger.create_transfers_async(
                [
                    Transfer(
                        id=refund_id,
                        debit_account_id=payment.destination_account_id,
                        credit_account_id=payment.source_account_id,
                        amount=wanted,
                        code=m.CODE_REFUND,
                        user_data_128=payment.id,
                    )
                ]
            )
            name = str(result.result.value)
            if name not in ("ok", "exists"):
                raise PaymentRefused(f"the ledger refused the refund: {name}", code=name)
            refunded = payment.refunded + wanted
            now = self.clock.now_ns()
            audit = self._audit(
                actor, "payment.refund", payment, refund_id=format_id(refund_id), amount=wanted
            )

            def also(connection: sqlite3.Connection) -> None:
                insert_refund(connection, refund_id, payment.id, wanted, now)
                audit(connection)

            status = "refunded" if refunded == payment.captured else payment.status
            await self.records.update(payment, also, refunded=refunded, status=status)
            return payment, refund_id, wanted

    # -- the parts --------------------------------------------------------------------------

    async def _in_state(
        self, payment_id: int, wanted: tuple[str, ...], customer_scope: int | None
    ) -> Payment:
        payment = await self.lookup(payment_id, customer_scope)
        if payment.status not in wanted:
            raise Conflict(
                f"payment {format_id(payment_id)} is {payment.status}; this needs "
                f"{' or '.join(wanted)}",
                code="payment_state_conflict",
            )
        return payment

    async def _step(self, payment: Payment, label: str, flags: int, amount: int) -> str:
        """Post or void the payment's hold; the ledger's result name."""
        (result,) = await self.ledger.create_transfers_async(
            [
                Transfer(
                    id=derive_id(payment.id, label),
                    debit_account_id=payment.source_account_id,
                    credit_account_id=payment.destination_account_id,
                    amount=amount,
                    pending_id=payment.id,
                    code=m.CODE_PAYMENT,  # the ledger wants a hold's steps to keep its code
                    flags=flags,
                    user_data_128=payment.id,
                )
            ]
        )
        return str(result.result.value)

    async def _after(
        self, payment: Payment, name: str, status: str, settled: int, actor: Actor, action: str
    ) -> Payment:
        if name in ("ok", "exists"):
            if status in ("voided", "rejected"):
                self.spend.release_payment(payment)
            return await self.records.update(
                payment,
                self._audit(actor, action, payment, status=status, settled=settled),
                status=status,
                captured=settled,
                expires_ns=None,
            )
        if name == "pending_transfer_expired":
            self.spend.release_payment(payment)
            await self.records.update(payment, status="expired", expires_ns=None)
            raise Conflict(
                f"payment {format_id(payment.id)}'s hold expired before this step",
                code="hold_expired",
            )
        raise PaymentRefused(f"the ledger refused the step: {name}", code=name)

    def _audit(
        self, actor: Actor, action: str, payment: Payment, **details: Any
    ) -> Callable[[sqlite3.Connection], None]:
        def write(connection: sqlite3.Connection) -> None:
            self.trail.append(connection, actor, action, "payment", format_id(payment.id), details)

        return write


def _refundable(payment: Payment, amount: int | None) -> int:
    """How much of `payment` a refund of `amount` (None: all that is left) gives back."""
    if payment.status not in ("completed", "captured"):
        raise Conflict(
            f"payment {format_id(payment.id)} is {payment.status}; only completed or "
            "captured payments can be refunded",
            code="payment_state_conflict",
        )
    remaining = payment.captured - payment.refunded
    wanted = remaining if amount is None else amount
    if not 0 < wanted <= remaining:
        raise InvalidInput(
            f"refund amount must be more than zero and at most the unrefunded "
            f"{Money.of(remaining, payment.asset).format()} {payment.asset}",
            code="invalid_refund_amount",
        )
    return wanted
