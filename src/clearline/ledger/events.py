"""Ledger events: what a committed group changed, handed to commit hooks inside the transaction.

Every state change is one event, in timestamp order: an account created, a transfer created (plain,
pending, post or void — read its flags), or a pending transfer expired. A commit hook runs inside
the same database transaction as the group it describes, so what it writes (the `chain` room's
Merkle leaves, for example) is durable together with the ledger change, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from clearline.ledger.types import Account, Transfer


class LedgerEventKind(StrEnum):
    ACCOUNT_CREATED = "account_created"
    TRANSFER_CREATED = "transfer_created"
    PENDING_EXPIRED = "pending_expired"


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One state change. `account` or `transfer` is set by kind; `pending_id` for expiries."""

    kind: LedgerEventKind
    timestamp: int
    account: Account | None = None
    transfer: Transfer | None = None
    pending_id: int = 0


class HookTransaction(Protocol):
    """What a commit hook may do: run statements inside the ledger's open transaction."""

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Any) -> Any: ...


CommitHook = Callable[[HookTransaction, Sequence[LedgerEvent]], None]
"""Called with the transaction and the group's events, before the commit. Raising aborts the group:
its callers get the error and nothing of it is written."""

RowsHook = Callable[[HookTransaction, Sequence[bytes], Sequence[LedgerEvent]], None]
"""The fast form of a commit hook (`Ledger.open(…, raw_hooks=[…])`): called with the transaction,
the group's created transfers as the packed rows the store writes (`store.TRANSFER_ROW`, ascending
timestamps), and the group's other events (accounts created, pending transfers expired), so the
ledger builds no `LedgerEvent` per transfer. Same contract as `CommitHook` otherwise."""
