"""Two-phase transfers: holds, their posting or voiding, and their expiry by ledger time.

Guarantees:
- A hold (pending transfer) counts in `debits_pending` / `credits_pending` until it is posted (all
  or part of it moves to posted, the rest is released), voided (all released) or expires (all
  released, at the first commit at or after `timestamp + timeout`, in expiry order).
- A hold is resolved at most once; later posts and voids name how it ended.
- Voiding or expiry of a closing hold reopens the account it closed; posting keeps it closed.
"""

from __future__ import annotations

import heapq

from clearline.ledger import store as st
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.ledger.records import (
    A_HISTORY,
    R_AMOUNT,
    R_CODE,
    R_CREDIT,
    R_DEBIT,
    R_FLAGS,
    T_CLOSE_CREDIT,
    T_CLOSE_DEBIT,
    T_PENDING,
    T_POST,
    Output,
    decode_body,
    history_row,
)
from clearline.ledger.results import CreateTransferResult as TR
from clearline.ledger.state import AccountState, PendingState, reopen
from clearline.ledger.types import AMOUNT_MAX, U128_MAX, Transfer


class TwoPhase:
    """The engine's two-phase rules; mixed into `Engine`, which owns the state named below."""

    store: st.Store
    accounts: dict[int, AccountState]
    pendings: dict[int, PendingState]
    expiry_heap: list[tuple[int, int]]
    expired: list[PendingState]
    resolved: list[PendingState]
    created: dict[int, int]
    dirty: set[AccountState]
    out: Output
    next_timestamp: int
    emit_events: bool

    def _record(
        self,
        event: Transfer,
        timestamp: int,
        debit: AccountState,
        credit: AccountState,
        amount: int,
        code_inherited: int,
    ) -> None:
        raise AssertionError("Engine provides _record")  # pragma: no cover

    def _new_pending(
        self,
        event: Transfer,
        timestamp: int,
        debit: AccountState,
        credit: AccountState,
        amount: int,
        expires_at: int,
    ) -> None:
        state = PendingState(
            event.id,
            timestamp,
            debit,
            credit,
            amount,
            event.code,
            event.flags,
            expires_at,
            st.PENDING_STATUS_PENDING,
            0,
        )
        self.pendings[event.id] = state
        if expires_at:
            heapq.heappush(self.expiry_heap, (expires_at, event.id))
        if event.flags & T_CLOSE_DEBIT:
            debit.add_closing(1)
        if event.flags & T_CLOSE_CREDIT:
            credit.add_closing(1)
        self.out.pending_new.append((timestamp, expires_at, st.PENDING_STATUS_PENDING, 0))

    def _post_or_void(self, event: Transfer, timestamp: int) -> tuple[TR, int]:
        pending_id = event.pending_id
        if pending_id == 0:
            return TR.PENDING_ID_MUST_NOT_BE_ZERO, 0
        if pending_id == U128_MAX:
            return TR.PENDING_ID_MUST_NOT_BE_INT_MAX, 0
        if pending_id == event.id:
            return TR.PENDING_ID_MUST_BE_DIFFERENT, 0
        if event.timeout:
            return TR.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER, 0
        found = self._find_pending(pending_id)
        if found is None:
            return TR.PENDING_TRANSFER_NOT_FOUND, 0
        if not isinstance(found, PendingState):
            return TR.PENDING_TRANSFER_NOT_PENDING, 0
        pending = found
        debit, credit = pending.debit, pending.credit
        if event.debit_account_id and event.debit_account_id != debit.id:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID, 0
        if event.credit_account_id and event.credit_account_id != credit.id:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID, 0
        if event.code and event.code != pending.code:
            return TR.PENDING_TRANSFER_HAS_DIFFERENT_CODE, 0
        post = event.flags & T_POST
        amount = event.amount
        if post:
            if amount == 0:
                amount = pending.amount
            elif amount > pending.amount:
                return TR.EXCEEDS_PENDING_TRANSFER_AMOUNT, 0
        else:
            if amount and amount != pending.amount:
                return TR.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT, 0
            amount = pending.amount
        status = pending.status
        if status == st.PENDING_STATUS_POSTED:
            return TR.PENDING_TRANSFER_ALREADY_POSTED, 0
        if status == st.PENDING_STATUS_VOIDED:
            return TR.PENDING_TRANSFER_ALREADY_VOIDED, 0
        if status == st.PENDING_STATUS_EXPIRED:
            return TR.PENDING_TRANSFER_EXPIRED, 0
        # Creating the hold bounded pending + posted by AMOUNT_MAX, so posting cannot overflow.
        assert debit.debits_posted + amount <= AMOUNT_MAX, "a hold was admitted past AMOUNT_MAX"
        assert credit.credits_posted + amount <= AMOUNT_MAX, "a hold was admitted past AMOUNT_MAX"
        debit.debits_pending -= pending.amount
        credit.credits_pending -= pending.amount
        self.resolved.append(pending)
        if post:
            debit.debits_posted += amount
            credit.credits_posted += amount
            pending.status = st.PENDING_STATUS_POSTED
        else:
            pending.status = st.PENDING_STATUS_VOIDED
            reopen(pending)
        pending.resolved_timestamp = timestamp
        self.out.pending_resolved.append((pending.status, timestamp, pending.timestamp))
        self._record(event, timestamp, debit, credit, amount, pending.code)
        return TR.OK, timestamp

    def _find_pending(self, pending_id: int) -> PendingState | bool | None:
        """The pending transfer `pending_id`; None when unknown, False when not a pending one."""
        pending = self.pendings.get(pending_id)
        if pending is not None:
            return pending
        if pending_id in self.created:
            return False  # created in this group, and not as pending (it would be in pendings)
        rows = self.store.transfers_by_id([pending_id.to_bytes(16, "big")])
        if not rows:
            return None
        timestamp, _, body = rows[0]
        record, _, _ = decode_body(timestamp, body)
        if not record[R_FLAGS] & T_PENDING:
            return False
        (row,) = self.store.pending_at([timestamp])
        pending = PendingState(
            pending_id,
            timestamp,
            self.accounts[record[R_DEBIT]],
            self.accounts[record[R_CREDIT]],
            record[R_AMOUNT],
            record[R_CODE],
            record[R_FLAGS],
            row[1],
            row[2],
            row[3],
        )
        assert pending.status != st.PENDING_STATUS_PENDING, "open pending transfers live in memory"
        self.pendings[pending_id] = pending
        self.resolved.append(pending)
        return pending

    # -- expiry -------------------------------------------------------------------------------

    def _expire_due(self, now: int) -> None:
        heap = self.expiry_heap
        while heap and heap[0][0] <= now:
            expires_at, pending_id = heapq.heappop(heap)
            pending = self.pendings.get(pending_id)
            if pending is None or pending.status != st.PENDING_STATUS_PENDING:
                continue
            if pending.expires_at != expires_at:
                continue
            timestamp = self.next_timestamp
            self.next_timestamp = timestamp + 1
            debit, credit = pending.debit, pending.credit
            self.dirty.add(debit)
            self.dirty.add(credit)
            self.expired.append(pending)
            self.resolved.append(pending)
            debit.debits_pending -= pending.amount
            credit.credits_pending -= pending.amount
            pending.status = st.PENDING_STATUS_EXPIRED
            pending.resolved_timestamp = timestamp
            reopen(pending)
            out = self.out
            out.pending_resolved.append((st.PENDING_STATUS_EXPIRED, timestamp, pending.timestamp))
            if debit.flags & A_HISTORY:
                out.history.append(history_row(debit, timestamp))
            if credit.flags & A_HISTORY:
                out.history.append(history_row(credit, timestamp))
            if self.emit_events:
                out.events.append(
                    LedgerEvent(LedgerEventKind.PENDING_EXPIRED, timestamp, pending_id=pending_id)
                )
