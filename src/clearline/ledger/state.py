"""In-memory state the single writer owns: accounts with live balances, and pending transfers.

The writer mutates these objects while it decides a group of batches. A failed linked chain or a
failed commit is undone by applying the inverse of each row the group produced (engine.py), so the
hot path keeps no per-change journal. Nothing here touches the disk.
"""

from __future__ import annotations

from clearline.ledger.types import AccountFlags, TransferFlags

CLOSED = int(AccountFlags.CLOSED)
CLOSE_DEBIT = int(TransferFlags.CLOSING_DEBIT)
CLOSE_CREDIT = int(TransferFlags.CLOSING_CREDIT)


class AccountState:
    """A live account: static fields and the four balances, plus its transfer-list head."""

    __slots__ = (
        "asset",
        "checkpoint_count",
        "closed",
        "closing_count",
        "code",
        "credits_pending",
        "credits_posted",
        "debits_pending",
        "debits_posted",
        "flags",
        "id",
        "id_bytes",
        "last_transfer_timestamp",
        "timestamp",
        "transfer_count",
        "user_data_32",
        "user_data_64",
        "user_data_128",
    )

    def __init__(
        self,
        id: int,
        id_bytes: bytes,
        asset: str,
        code: int,
        flags: int,
        user_data_128: int,
        user_data_64: int,
        user_data_32: int,
        timestamp: int,
    ) -> None:
        self.id = id
        self.id_bytes = id_bytes
        self.asset = asset
        self.code = code
        self.flags = flags
        self.user_data_128 = user_data_128
        self.user_data_64 = user_data_64
        self.user_data_32 = user_data_32
        self.timestamp = timestamp
        self.debits_pending = 0
        self.debits_posted = 0
        self.credits_pending = 0
        self.credits_posted = 0
        self.last_transfer_timestamp = 0
        self.transfer_count = 0
        self.closing_count = 0
        self.checkpoint_count = 0  # transfer_count when balances were last checkpointed
        self.closed = bool(flags & CLOSED)

    def add_closing(self, delta: int) -> None:
        """A closing transfer was created (+1), voided or expired (-1), or undone."""
        self.closing_count += delta
        self.closed = bool(self.flags & CLOSED) or self.closing_count > 0


class PendingState:
    """A pending transfer and its two-phase status (see store.PENDING_STATUS_*)."""

    __slots__ = (
        "amount",
        "code",
        "credit",
        "debit",
        "expires_at",
        "flags",
        "id",
        "resolved_timestamp",
        "status",
        "timestamp",
    )

    def __init__(
        self,
        id: int,
        timestamp: int,
        debit: AccountState,
        credit: AccountState,
        amount: int,
        code: int,
        flags: int,
        expires_at: int,
        status: int,
        resolved_timestamp: int,
    ) -> None:
        self.id = id
        self.timestamp = timestamp
        self.debit = debit
        self.credit = credit
        self.amount = amount
        self.code = code
        self.flags = flags
        self.expires_at = expires_at
        self.status = status
        self.resolved_timestamp = resolved_timestamp


PENDING_STATUS_POSTED = 2  # the value of store.PENDING_STATUS_POSTED (state imports no store)


def unrelease(pending: PendingState) -> None:
    """Undo the release of a pending transfer's hold (and the reopening its void did)."""
    pending.debit.debits_pending += pending.amount
    pending.credit.credits_pending += pending.amount
    if pending.status != PENDING_STATUS_POSTED:
        if pending.flags & CLOSE_DEBIT:
            pending.debit.add_closing(1)
        if pending.flags & CLOSE_CREDIT:
            pending.credit.add_closing(1)


def reopen(pending: PendingState) -> None:
    """A voided or expired closing transfer reopens the account it closed."""
    if pending.flags & CLOSE_DEBIT:
        pending.debit.add_closing(-1)
    if pending.flags & CLOSE_CREDIT:
        pending.credit.add_closing(-1)
