"""Ledger events: what a committed group changed, handed to commit hooks inside the transaction.

Every state change is one event, in timestamp order: an account created, a transfer created (plain,
pending, post or void — read its flags), a pending transfer expired, or an attestation created. A
commit hook runs inside the same database transaction as the group it describes, so what it writes
(the `chain` room's Merkle leaves, for example) is durable together with the ledger change, or not
at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from clearline.core.clock import Clock
from clearline.ledger.types import Account, Attestation, Transfer


class LedgerEventKind(StrEnum):
    ACCOUNT_CREATED = "account_created"
    TRANSFER_CREATED = "transfer_created"
    PENDING_EXPIRED = "pending_expired"
    ATTESTATION_CREATED = "attestation_created"


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    """One state change. `account`, `transfer` or `attestation` is set by kind; `pending_id` for
    expiries."""

    kind: LedgerEventKind
    timestamp: int
    account: Account | None = None
    transfer: Transfer | None = None
    pending_id: int = 0
    attestation: Attestation | None = None


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
timestamps), and the group's other events (accounts created, pending transfers expired,
attestations created), so the ledger builds no `LedgerEvent` per transfer. Same contract as
`CommitHook` otherwise."""


class Sealer(Protocol):
    """A plug-in that seals every committed event into a verifiable log: the `chain` room's
    (`clearline.chain.node.open_sealer`), which `Ledger.open` loads by name so that this room
    does not import it. The ledger calls it on its writer thread only, each time inside a
    transaction it then commits (or rolls back):
    - `attach(transaction, last_timestamp)` once at open, after verifying the store: bring the log
      up to the ledger (the ledger's last event has `last_timestamp`, 0 when empty);
    - `seal_rows(…)` inside every group's transaction, as a `RowsHook`;
    - `seal_tail(transaction, force)` when `seal_due_ns()` (a time on the ledger's clock, None
      when nothing waits) has passed while idle, on `Ledger.tick()` and with `force` on close:
      sign what no checkpoint covers yet;
    - `close()` after the ledger released its store."""

    def attach(self, transaction: HookTransaction, last_timestamp: int) -> None: ...

    def seal_rows(
        self, transaction: HookTransaction, rows: Sequence[bytes], events: Sequence[LedgerEvent]
    ) -> None: ...

    def seal_due_ns(self) -> int | None: ...

    def seal_tail(self, transaction: HookTransaction, force: bool) -> bool: ...

    def close(self) -> None: ...


SealerFactory = Callable[[Path, Clock], Sealer]
"""What `Ledger.open` calls to make the sealer of data directory `path`, on the ledger's clock."""
