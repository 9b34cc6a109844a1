"""Rebuilding payment records lost between the ledger's commit and the platform's.

A payment commits twice: its transfer in the ledger, then its record in the platform database.
A process killed between the two leaves a transfer without a record. The ledger is the source
of truth for money, so on start the service finds such transfers among the ledger's newest
(`Ledger.latest_transfers`: at most the payments in flight at the crash, within
`RECOVERY_WINDOW_NS` of the newest record) and rebuilds their records from what the transfer
carries: the payment type, channel, capture mode and action are written into its
`user_data_32` (`facts_word`) for exactly this; the decision's score and reasons were only in
the lost record, and the rebuilt record says so.
"""

from __future__ import annotations

import logging

from clearline.core.vocabulary import CHANNELS, PAYMENT_TYPES
from clearline.customers import AccountInfo
from clearline.ledger import Ledger, Transfer, TransferFlags
from clearline.payments import model as m
from clearline.payments.model import Payment
from clearline.payments.records import PaymentRecords

log = logging.getLogger(__name__)

RECOVERY_WINDOW_NS = 60 * 1_000_000_000
"""How far before the newest payment record recovery looks for transfers without a record."""

ACTIONS = ("approve", "review", "decline")


def facts_word(payment_type: str, channel: str, capture: str, action: str) -> int:
    """What a payment's record needs that its transfer does not say, in the transfer's
    `user_data_32`: payment type (bits 0–7), channel (8–15), manual capture (16), action
    (17–18). Recovery reads it back."""
    return (
        PAYMENT_TYPES.index(payment_type)
        | CHANNELS.index(channel) << 8
        | (capture == "manual") << 16
        | ACTIONS.index(action) << 17
    )


def recovered_payment(
    transfer: Transfer, accounts: dict[int, AccountInfo], review_timeout_s: int
) -> Payment:
    """A payment's record rebuilt from its ledger transfer after a crash."""
    word = transfer.user_data_32
    action = ACTIONS[(word >> 17) & 3]
    hold = bool(transfer.flags & TransferFlags.PENDING)
    source, destination = accounts[transfer.debit_account_id], accounts[transfer.credit_account_id]
    status = ("in_review" if action == "review" else "authorized") if hold else "completed"
    assert source.customer_id is not None
    return Payment(
        id=transfer.id,
        customer_id=source.customer_id,
        source_account_id=source.id,
        destination_account_id=destination.id,
        destination_customer_id=destination.customer_id,
        amount=transfer.amount,
        asset=source.asset,
        payment_type=PAYMENT_TYPES[word & 0xFF],
        channel=CHANNELS[(word >> 8) & 0xFF],
        capture="manual" if word >> 16 & 1 else "automatic",
        status=status,
        action=action,
        score=0.0,
        model_version="unknown",
        rules_version="unknown",
        reasons=["recovered from the ledger after a crash: the decision's reasons were lost"],
        refusal=None,
        captured=0 if hold else transfer.amount,
        refunded=0,
        expires_ns=transfer.timestamp + transfer.timeout * 1_000_000_000 if hold else None,
        reference=None,
        details={"recovered": True},
        created_ns=transfer.timestamp,
        updated_ns=transfer.timestamp,
    )


def recover(
    records: PaymentRecords,
    ledger: Ledger,
    accounts: dict[int, AccountInfo],
    review_timeout_s: int,
) -> int:
    """Rebuild the records of payments whose transfer committed while their record did not;
    how many were rebuilt."""
    cutoff = records.newest_created_ns() - RECOVERY_WINDOW_NS
    candidates = [
        t
        for t in ledger.latest_transfers()
        if t.timestamp >= cutoff
        and t.code == m.CODE_PAYMENT
        and t.pending_id == 0
        and t.user_data_128 == t.id
        and t.debit_account_id in accounts
        and t.credit_account_id in accounts
    ]
    known = records.known([t.id for t in candidates])
    missing = [t for t in candidates if t.id not in known]
    for transfer in missing:
        records.insert_sync(recovered_payment(transfer, accounts, review_timeout_s))
        log.warning("recovered the record of payment %032x from the ledger", transfer.id)
    return len(missing)
