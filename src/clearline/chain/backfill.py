"""The events a ledger holds beyond its log, rebuilt from the ledger's own tables.

Guarantees:
- `events_after(transaction, after)` yields, in timestamp order and in chunks of at most
  `EVENTS_PER_CHUNK`, every state-changing event with a ledger timestamp above `after`: accounts
  created (the `accounts` table), transfers created (`transfers`), pending transfers expired
  (`pending_transfers` rows with status expired, at their resolved timestamp) and attestations
  created (`attestations`). These are exactly the events the ledger hands its commit hooks, with
  the same fields (the ledger never rewrites an account's stored flags, code or user data, nor a
  transfer or attestation row), so a log brought up to date this way (a ledger never sealed, or
  opened with `sealed=False` since) equals one sealed as it went.
- It only reads, inside the caller's transaction.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from clearline.ledger.events import HookTransaction, LedgerEvent, LedgerEventKind
from clearline.ledger.records import (
    account_from_state,
    account_state_from_row,
    attestation_from_row,
    decode_body,
    record_to_transfer,
)
from clearline.ledger.store import PENDING_STATUS_EXPIRED, id_int

EVENTS_PER_CHUNK = 8_190
"""Events appended per call while catching up (one ledger group's worth)."""


def _accounts(transaction: HookTransaction, after: int) -> Iterator[tuple[int, LedgerEvent]]:
    for row in transaction.execute(
        "SELECT * FROM accounts WHERE timestamp > ? ORDER BY timestamp", (after,)
    ):
        account = account_from_state(account_state_from_row(tuple(row)))
        yield row[0], LedgerEvent(LedgerEventKind.ACCOUNT_CREATED, row[0], account=account)


def _transfers(transaction: HookTransaction, after: int) -> Iterator[tuple[int, LedgerEvent]]:
    for timestamp, raw_id, body in transaction.execute(
        "SELECT timestamp, id, body FROM transfers WHERE timestamp > ? ORDER BY timestamp",
        (after,),
    ):
        record, _, _ = decode_body(timestamp, bytes(body))
        transfer = record_to_transfer(record, id_int(bytes(raw_id)))
        yield timestamp, LedgerEvent(LedgerEventKind.TRANSFER_CREATED, timestamp, transfer=transfer)


def _expiries(transaction: HookTransaction, after: int) -> Iterator[tuple[int, LedgerEvent]]:
    for resolved, raw_id in transaction.execute(
        "SELECT p.resolved_timestamp, t.id FROM pending_transfers p JOIN transfers t"
        " ON t.timestamp = p.timestamp WHERE p.status = ? AND p.resolved_timestamp > ?"
        " ORDER BY p.resolved_timestamp",
        (PENDING_STATUS_EXPIRED, after),
    ):
        pending_id = id_int(bytes(raw_id))
        yield (
            resolved,
            LedgerEvent(LedgerEventKind.PENDING_EXPIRED, resolved, pending_id=pending_id),
        )


def _attestations(transaction: HookTransaction, after: int) -> Iterator[tuple[int, LedgerEvent]]:
    for row in transaction.execute(
        "SELECT timestamp, id, code, digest FROM attestations WHERE timestamp > ?"
        " ORDER BY timestamp",
        (after,),
    ):
        attestation = attestation_from_row((row[0], bytes(row[1]), row[2], bytes(row[3])))
        yield (
            row[0],
            LedgerEvent(LedgerEventKind.ATTESTATION_CREATED, row[0], attestation=attestation),
        )


def events_after(transaction: HookTransaction, after: int) -> Iterator[list[LedgerEvent]]:
    """The ledger's events with timestamps above `after`, oldest first, in chunks."""
    sources: list[Iterator[tuple[int, LedgerEvent]]] = [
        _accounts(transaction, after),
        _transfers(transaction, after),
        _expiries(transaction, after),
        _attestations(transaction, after),
    ]
    chunk: list[LedgerEvent] = []
    for _, event in heapq.merge(*sources, key=_first):
        chunk.append(event)
        if len(chunk) == EVENTS_PER_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _first(item: tuple[int, Any]) -> int:
    return int(item[0])
