"""The single writer's decision logic: a group of batches in, results and rows out.

Guarantees:
- Each event is checked against every rule before anything changes; the first failing rule is its
  result code. Events of a `linked` chain are applied one after another (later events see earlier
  ones) and are all undone if any of them fails.
- Timestamps are assigned here, strictly increasing, one per state change.
- Every change to in-memory state during a group leaves a row behind, and `rollback_group` (or a
  failed chain) applies the rows' inverses, restoring the state exactly when the database commit
  fails or must be retried.
- New transfer and attestation ids are assumed new (the database's unique indexes are the check):
  a replayed id makes the insert fail, the group is rolled back and decided again with the stored
  records fetched (`check_store=True`). Replays are rare, so the common path reads nothing from
  disk.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from clearline.core.clock import NANOSECONDS_PER_SECOND, Clock
from clearline.ledger import store as st
from clearline.ledger.attesting import Attesting
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.ledger.records import (
    A_CMNED,
    A_DMNEC,
    A_HISTORY,
    LINKED,
    R_AMOUNT,
    R_CREDIT,
    R_DEBIT,
    R_FLAGS,
    R_PENDING_ID,
    R_TIMESTAMP,
    T_BALANCING,
    T_CLOSING,
    T_PENDING,
    T_POST,
    T_TWO_PHASE,
    T_VOID,
    ZERO16,
    Output,
    TransferRecord,
    account_exists,
    account_from_state,
    balanced_amount,
    decode_body,
    decode_row,
    flags_clash,
    history_row,
    record_to_transfer,
    transfer_exists,
)
from clearline.ledger.results import CreateAccountResult as AR
from clearline.ledger.results import CreateTransferResult as TR
from clearline.ledger.results import EventResult
from clearline.ledger.state import AccountState, PendingState, reopen, unrelease
from clearline.ledger.two_phase import TwoPhase
from clearline.ledger.types import (
    ACCOUNT_FLAGS_ALL,
    AMOUNT_MAX,
    TIMESTAMP_MAX,
    TRANSFER_FLAGS_ALL,
    U128_MAX,
    Account,
    Transfer,
)

ACCOUNT_MARK_INTERVAL = 32
"""Every 32nd transfer of an account is indexed, bounding a range query's walk."""
PACK_ROW = st.TRANSFER_ROW.pack


class Engine(TwoPhase, Attesting):
    """Owns the live state; decides groups of batches. Not thread-safe: the writer thread only."""

    def __init__(self, store: st.Store, clock: Clock, last_timestamp: int) -> None:
        self.store = store
        self.clock = clock
        self.accounts: dict[int, AccountState] = {}
        self.pendings: dict[int, PendingState] = {}
        self.expiry_heap: list[tuple[int, int]] = []
        self.last_timestamp = last_timestamp
        self.next_timestamp = last_timestamp + 1
        self.emit_events = False
        self.emit_transfer_events = False  # False with only raw hooks: they read out.transfers
        self.check_store = False
        self.created: dict[int, int] = {}  # transfer id -> its row's position in out.transfers
        self.existing: dict[int, TransferRecord] = {}
        self.attestations_known: dict[int, st.AttestationRow] = {}
        self.attestation_rows: list[st.AttestationRow] = []
        self.expired: list[PendingState] = []
        self.resolved: list[PendingState] = []  # resolved or loaded resolved in this group
        self.group_start_timestamp = self.next_timestamp
        self.in_chain = False
        self.dirty: set[AccountState] = set()  # changed by expiry since the last checkpoint
        self.refused_ids: list[int] = []  # fast path: refused ids that may be replays
        self.out = Output()

    # -- group lifecycle ----------------------------------------------------------------------

    def begin_group(self, check_store: bool) -> Output:
        """Start deciding a group: fix its base time and expire the pending transfers due."""
        self.check_store = check_store
        self.created = {}
        self.existing = {}
        if check_store:  # read only when checked; nothing to allocate for the usual group
            self.attestations_known = {}
        if self.attestation_rows:  # attestations are rare beside transfers: reset when used
            self.attestation_rows = []
        self.expired = []
        self.resolved = []
        self.refused_ids = []
        self.in_chain = False
        self.out = Output()
        self.group_start_timestamp = self.next_timestamp
        now = self.clock.now_ns()
        if now > self.next_timestamp:
            self.next_timestamp = now
        self._expire_due(self.next_timestamp)
        return self.out

    def commit_group(self) -> None:
        """The group is durable: keep its state, forget how to undo it."""
        self.last_timestamp = self.next_timestamp - 1
        for pending in self.resolved:
            if pending.status != st.PENDING_STATUS_PENDING:
                self.pendings.pop(pending.id, None)
        self.resolved = []

    def rollback_group(self) -> None:
        """The group was not committed: restore the state from before `begin_group`."""
        self._undo_rows(0, 0)
        for pending in reversed(self.expired):
            unrelease(pending)
            pending.status = st.PENDING_STATUS_PENDING
            pending.resolved_timestamp = 0
        self.expired = []
        self.next_timestamp = self.group_start_timestamp
        for pending in self.resolved:  # finished holds loaded from the store for this attempt
            if pending.status != st.PENDING_STATUS_PENDING:
                self.pendings.pop(pending.id, None)
        self.resolved = []
        self.heap_rebuild()

    def heap_rebuild(self) -> None:
        self.expiry_heap = [
            (pending.expires_at, pending.id)
            for pending in self.pendings.values()
            if pending.expires_at and pending.status == st.PENDING_STATUS_PENDING
        ]
        heapq.heapify(self.expiry_heap)

    def _undo_rows(self, accounts_from: int, transfers_from: int) -> None:
        """Reverse the effects of the transfers and accounts created from these row positions."""
        out, accounts, pendings = self.out, self.accounts, self.pendings
        for row in reversed(out.transfers[transfers_from:]):
            _, transfer_id, record, debit_previous, credit_previous = decode_row(row)
            debit, credit = accounts[record[R_DEBIT]], accounts[record[R_CREDIT]]
            flags, amount = record[R_FLAGS], record[R_AMOUNT]
            if flags & T_PENDING:
                debit.debits_pending -= amount
                credit.credits_pending -= amount
                reopen(pendings.pop(transfer_id))
            elif flags & (T_POST | T_VOID):
                pending = pendings[record[R_PENDING_ID]]
                unrelease(pending)
                if flags & T_POST:
                    debit.debits_posted -= amount
                    credit.credits_posted -= amount
                pending.status = st.PENDING_STATUS_PENDING
                pending.resolved_timestamp = 0
            else:
                debit.debits_posted -= amount
                credit.credits_posted -= amount
            debit.last_transfer_timestamp = debit_previous
            credit.last_transfer_timestamp = credit_previous
            debit.transfer_count -= 1
            credit.transfer_count -= 1
            self.created.pop(transfer_id, None)
        for account_row in reversed(out.accounts[accounts_from:]):
            del accounts[int.from_bytes(account_row[1], "big")]

    # -- batches and chains -------------------------------------------------------------------

    def run_accounts(self, events: Sequence[Account]) -> list[EventResult]:
        return self._run_batch(events, self._create_account, AR)

    def run_transfers(self, events: Sequence[Transfer]) -> list[EventResult]:
        """Decide a batch of transfers.

        Without `check_store` the engine assumes every id is new, which the store's unique index
        confirms at insert time. A refused event may be a replay of a stored one (which must answer
        `exists`), so refused ids are collected in `refused_ids` for the caller to look up; if any
        is known, the caller decides the group again with `check_store`.
        """
        if self.check_store:
            self._prefetch_transfers(events)
            return self._run_batch(events, self._create_transfer, TR)
        if any(event.flags & LINKED for event in events):
            results = self._run_batch(events, self._create_transfer, TR)
        else:
            results = self._run_unlinked_transfers(events)
        ok = TR.OK
        refused = [events[result[0]].id for result in results if result[1] is not ok]
        if refused:
            self.refused_ids.extend(refused)
        return results

    def _run_unlinked_transfers(self, events: Sequence[Transfer]) -> list[EventResult]:
        """`_run_batch` for a batch without chains, with a fast lane for plain transfers.

        The fast lane only recognises a plain transfer (no flags) that passes every rule — the
        conjunction below mirrors `_create_transfer`'s checks — and applies it in line. Anything
        else, including every refusal, goes through `_create_transfer`, so result codes are decided
        in one place only.
        """
        accounts, pendings, create = self.accounts, self.pendings, self._create_transfer
        results: list[EventResult] = []
        append = results.append
        new_result = tuple.__new__
        ok = TR.OK
        for index, event in enumerate(events):
            timestamp = self.next_timestamp
            debit = accounts.get(event.debit_account_id)
            credit = accounts.get(event.credit_account_id)
            amount = event.amount
            if (
                event.flags == 0
                and debit is not None
                and credit is not None
                and debit is not credit
                and 0 < event.id < U128_MAX
                and event.id not in pendings
                and amount
                and event.code
                and not (event.timestamp or event.pending_id or event.timeout)
                and debit.asset == credit.asset
                and not (debit.closed or credit.closed)
                and debit.debits_pending + debit.debits_posted + amount <= AMOUNT_MAX
                and credit.credits_pending + credit.credits_posted + amount <= AMOUNT_MAX
                and not (
                    debit.flags & A_DMNEC
                    and debit.debits_pending + debit.debits_posted + amount > debit.credits_posted
                )
                and not (
                    credit.flags & A_CMNED
                    and credit.credits_pending + credit.credits_posted + amount
                    > credit.debits_posted
                )
            ):
                debit.debits_posted += amount
                credit.credits_posted += amount
                self._record(event, timestamp, debit, credit, amount, 0)
                code, stored_timestamp = ok, timestamp
            else:
                code, stored_timestamp = create(event, timestamp)
            if code is ok:
                self.next_timestamp = timestamp + 1
            append(new_result(EventResult, (index, code, stored_timestamp)))
        return results

    def known_among(self, transfer_ids: Sequence[int]) -> bool:
        """Whether any of these ids is stored or was created in this group (rows not yet stored)."""
        wanted = {transfer_id.to_bytes(16, "big") for transfer_id in transfer_ids}
        if self.store.transfers_by_id(list(wanted)):
            return True
        return any(row[8:24] in wanted for row in self.out.transfers)

    def _run_batch(self, events: Sequence[Any], create: Any, codes: Any) -> list[EventResult]:
        ok, exists = codes.OK, codes.EXISTS
        results: list[EventResult] = []
        append = results.append
        new_result = tuple.__new__
        count = len(events)
        index = 0
        while index < count:
            event = events[index]
            if not event.flags & LINKED:
                timestamp = self.next_timestamp
                code, stored_timestamp = create(event, timestamp)
                if code is ok:
                    self.next_timestamp = timestamp + 1
                append(new_result(EventResult, (index, code, stored_timestamp)))
                index += 1
                continue
            end = index
            while end < count and events[end].flags & LINKED:
                end += 1
            if end == count:
                results.extend(
                    EventResult(position, codes.LINKED_EVENT_CHAIN_OPEN)
                    for position in range(index, count)
                )
                break
            results.extend(self._run_chain(events, index, end, create, ok, exists, codes))
            index = end + 1
        return results

    def _run_chain(
        self,
        events: Sequence[Any],
        first: int,
        last: int,
        create: Any,
        ok: Any,
        exists: Any,
        codes: Any,
    ) -> list[EventResult]:
        lengths = self.out.lengths()
        start_timestamp = self.next_timestamp
        decided: list[tuple[Any, int]] = []
        failed_at = -1
        self.in_chain = True
        try:
            for position in range(first, last + 1):
                timestamp = self.next_timestamp
                code, stored_timestamp = create(events[position], timestamp)
                if code is ok:
                    self.next_timestamp = timestamp + 1
                elif code is not exists:
                    failed_at = position
                decided.append((code, stored_timestamp))
                if failed_at >= 0:
                    break
            if failed_at < 0 and {code for code, _ in decided} == {ok, exists}:
                # A chain is replayed whole or not at all: part new, part old is a conflict.
                failed_at = first + next(i for i, (c, _) in enumerate(decided) if c is exists)
        finally:
            self.in_chain = False
        if failed_at < 0:
            return [EventResult(first + i, c, t) for i, (c, t) in enumerate(decided)]
        names = Output.__slots__
        self._undo_rows(lengths[names.index("accounts")], lengths[names.index("transfers")])
        self.out.truncate(lengths)
        self.next_timestamp = start_timestamp
        own_code = decided[failed_at - first][0]
        return [
            EventResult(position, own_code if position == failed_at else codes.LINKED_EVENT_FAILED)
            for position in range(first, last + 1)
        ]

    # -- accounts -----------------------------------------------------------------------------

    def _create_account(self, event: Account, timestamp: int) -> tuple[AR, int]:
        if event.timestamp:
            return AR.TIMESTAMP_MUST_BE_ZERO, 0
        flags = event.flags
        if flags & ~ACCOUNT_FLAGS_ALL:
            return AR.RESERVED_FLAG, 0
        if event.id == 0:
            return AR.ID_MUST_NOT_BE_ZERO, 0
        if event.id == U128_MAX:
            return AR.ID_MUST_NOT_BE_INT_MAX, 0
        if flags & A_DMNEC and flags & A_CMNED:
            return AR.FLAGS_ARE_MUTUALLY_EXCLUSIVE, 0
        if event.debits_pending:
            return AR.DEBITS_PENDING_MUST_BE_ZERO, 0
        if event.debits_posted:
            return AR.DEBITS_POSTED_MUST_BE_ZERO, 0
        if event.credits_pending:
            return AR.CREDITS_PENDING_MUST_BE_ZERO, 0
        if event.credits_posted:
            return AR.CREDITS_POSTED_MUST_BE_ZERO, 0
        if event.code == 0:
            return AR.CODE_MUST_NOT_BE_ZERO, 0
        existing = self.accounts.get(event.id)
        if existing is not None:
            return account_exists(event, existing), existing.timestamp
        state = AccountState(
            event.id,
            event.id.to_bytes(16, "big"),
            event.asset.spec,
            event.code,
            flags & ~LINKED,
            event.user_data_128,
            event.user_data_64,
            event.user_data_32,
            timestamp,
        )
        self.accounts[event.id] = state
        self.out.accounts.append(
            (
                timestamp,
                state.id_bytes,
                state.asset,
                state.code,
                state.flags,
                event.user_data_128.to_bytes(16, "big") if event.user_data_128 else None,
                st.signed64(event.user_data_64) if event.user_data_64 else None,
                event.user_data_32 or None,
                0,
                0,
                0,
                0,
                timestamp,
            )
        )
        if self.emit_events:
            self.out.events.append(
                LedgerEvent(
                    LedgerEventKind.ACCOUNT_CREATED, timestamp, account=account_from_state(state)
                )
            )
        return AR.OK, timestamp

    # -- transfers ----------------------------------------------------------------------------

    def _prefetch_transfers(self, events: Sequence[Transfer]) -> None:
        ids = [event.id.to_bytes(16, "big") for event in events if 0 < event.id < U128_MAX]
        for timestamp, id_blob, body in self.store.transfers_by_id(ids):
            self.existing[int.from_bytes(id_blob, "big")] = decode_body(timestamp, body)[0]

    def _create_transfer(self, event: Transfer, timestamp: int) -> tuple[TR, int]:
        flags = event.flags
        if event.timestamp:
            return TR.TIMESTAMP_MUST_BE_ZERO, 0
        if flags & ~TRANSFER_FLAGS_ALL:
            return TR.RESERVED_FLAG, 0
        transfer_id = event.id
        if transfer_id == 0:
            return TR.ID_MUST_NOT_BE_ZERO, 0
        if transfer_id == U128_MAX:
            return TR.ID_MUST_NOT_BE_INT_MAX, 0
        if flags & (T_TWO_PHASE | T_BALANCING | T_CLOSING) and flags_clash(flags):
            return TR.FLAGS_ARE_MUTUALLY_EXCLUSIVE, 0
        if self.check_store:
            position = self.created.get(transfer_id)
            if position is not None:
                record = decode_row(self.out.transfers[position])[2]
                return transfer_exists(event, record), record[R_TIMESTAMP]
            found = self.existing.get(transfer_id)
            if found is not None:
                return transfer_exists(event, found), found[R_TIMESTAMP]
        elif transfer_id in self.pendings:
            # A replay of a pending transfer: deciding it as new would replace the live hold in
            # `pendings` (and undoing it would drop the hold). Refused here, so the caller decides
            # the group again with the store checked, which answers `exists…`.
            return TR.EXISTS, 0
        if flags & (T_POST | T_VOID):
            return self._post_or_void(event, timestamp)
        debit_id = event.debit_account_id
        credit_id = event.credit_account_id
        if debit_id == 0:
            return TR.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO, 0
        if debit_id == U128_MAX:
            return TR.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX, 0
        if credit_id == 0:
            return TR.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO, 0
        if credit_id == U128_MAX:
            return TR.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX, 0
        if debit_id == credit_id:
            return TR.ACCOUNTS_MUST_BE_DIFFERENT, 0
        if event.pending_id:
            return TR.PENDING_ID_MUST_BE_ZERO, 0
        pending = flags & T_PENDING
        if event.timeout and not pending:
            return TR.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER, 0
        if flags & T_CLOSING and not pending:
            return TR.CLOSING_TRANSFER_MUST_BE_PENDING, 0
        amount = event.amount
        if amount == 0:
            return TR.AMOUNT_MUST_NOT_BE_ZERO, 0
        if event.code == 0:
            return TR.CODE_MUST_NOT_BE_ZERO, 0
        debit = self.accounts.get(debit_id)
        if debit is None:
            return TR.DEBIT_ACCOUNT_NOT_FOUND, 0
        credit = self.accounts.get(credit_id)
        if credit is None:
            return TR.CREDIT_ACCOUNT_NOT_FOUND, 0
        if debit.asset != credit.asset:
            return TR.ACCOUNTS_MUST_HAVE_THE_SAME_ASSET, 0
        if debit.closed:
            return TR.DEBIT_ACCOUNT_ALREADY_CLOSED, 0
        if credit.closed:
            return TR.CREDIT_ACCOUNT_ALREADY_CLOSED, 0
        if flags & T_BALANCING:
            amount = balanced_amount(flags, amount, debit, credit)
        if pending:
            if debit.debits_pending + amount > AMOUNT_MAX:
                return TR.OVERFLOWS_DEBITS_PENDING, 0
            if credit.credits_pending + amount > AMOUNT_MAX:
                return TR.OVERFLOWS_CREDITS_PENDING, 0
        else:
            if debit.debits_posted + amount > AMOUNT_MAX:
                return TR.OVERFLOWS_DEBITS_POSTED, 0
            if credit.credits_posted + amount > AMOUNT_MAX:
                return TR.OVERFLOWS_CREDITS_POSTED, 0
        debits = debit.debits_pending + debit.debits_posted + amount
        if debits > AMOUNT_MAX:
            return TR.OVERFLOWS_DEBITS, 0
        credits = credit.credits_pending + credit.credits_posted + amount
        if credits > AMOUNT_MAX:
            return TR.OVERFLOWS_CREDITS, 0
        if debit.flags & A_DMNEC and debits > debit.credits_posted:
            return TR.EXCEEDS_CREDITS, 0
        if credit.flags & A_CMNED and credits > credit.debits_posted:
            return TR.EXCEEDS_DEBITS, 0
        expires_at = 0
        if pending and event.timeout:
            expires_at = timestamp + event.timeout * NANOSECONDS_PER_SECOND
            if expires_at > TIMESTAMP_MAX:
                return TR.OVERFLOWS_TIMEOUT, 0
        # Every rule passed: apply.
        if pending:
            debit.debits_pending += amount
            credit.credits_pending += amount
            self._new_pending(event, timestamp, debit, credit, amount, expires_at)
        else:
            debit.debits_posted += amount
            credit.credits_posted += amount
        self._record(event, timestamp, debit, credit, amount, 0)
        return TR.OK, timestamp

    def _record(
        self,
        event: Transfer,
        timestamp: int,
        debit: AccountState,
        credit: AccountState,
        amount: int,
        code_inherited: int,
    ) -> None:
        """Append the transfer's rows and link it into both accounts' transfer lists."""
        out = self.out
        debit_previous = debit.last_transfer_timestamp
        credit_previous = credit.last_transfer_timestamp
        debit.last_transfer_timestamp = credit.last_transfer_timestamp = timestamp
        debit.transfer_count += 1
        credit.transfer_count += 1
        if not debit.transfer_count % ACCOUNT_MARK_INTERVAL:
            out.marks.append((debit.timestamp, timestamp))
        if not credit.transfer_count % ACCOUNT_MARK_INTERVAL:
            out.marks.append((credit.timestamp, timestamp))
        pending_id, ud128 = event.pending_id, event.user_data_128
        transfers = out.transfers
        if self.check_store:
            self.created[event.id] = len(transfers)
        transfers.append(
            PACK_ROW(
                timestamp,
                event.id.to_bytes(16, "big"),
                debit.id_bytes,
                credit.id_bytes,
                amount,
                pending_id.to_bytes(16, "big") if pending_id else ZERO16,
                ud128.to_bytes(16, "big") if ud128 else ZERO16,
                event.user_data_64,
                event.user_data_32,
                event.timeout,
                event.code or code_inherited,
                event.flags,
                debit_previous,
                credit_previous,
            )
        )
        if pending_id:
            out.refs.append((st.REF_PENDING_ID, pending_id.to_bytes(16, "big"), timestamp))
        if ud128 or event.user_data_64 or event.user_data_32:
            self._user_data_refs(event, timestamp)
        if debit.flags & A_HISTORY:
            out.history.append(history_row(debit, timestamp))
        if credit.flags & A_HISTORY:
            out.history.append(history_row(credit, timestamp))
        if self.emit_transfer_events:
            record = decode_row(transfers[-1])[2]
            out.events.append(
                LedgerEvent(
                    LedgerEventKind.TRANSFER_CREATED,
                    timestamp,
                    transfer=record_to_transfer(record, event.id),
                )
            )

    def _user_data_refs(self, event: Transfer, timestamp: int) -> None:
        refs = self.out.refs
        if event.user_data_128:
            refs.append((st.REF_USER_DATA_128, event.user_data_128.to_bytes(16, "big"), timestamp))
        if event.user_data_64:
            refs.append((st.REF_USER_DATA_64, event.user_data_64.to_bytes(8, "big"), timestamp))
        if event.user_data_32:
            refs.append((st.REF_USER_DATA_32, event.user_data_32.to_bytes(4, "big"), timestamp))
