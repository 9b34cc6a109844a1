"""The single writer's decision logic: a group of batches in, results and rows out.

Guarantees:
- Each event is checked against every rule before anything changes; the first failing rule is its
  result code. Events of a `linked` chain are applied one after another (later events see earlier
  ones) and are all undone if any of them fails.
- Timestamps are assigned here, strictly increasing, one per state change.
- Every change to in-memory state during a group is journalled, so `rollback_group` restores the
  state exactly when the database commit fails or must be retried.
- New transfer ids are assumed new (the database's unique index is the check): a replayed id makes
  the insert fail, the group is rolled back and decided again with the stored transfers fetched
  (`check_store=True`). Replays are rare, so the common path reads nothing from disk.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

from clearline.core.clock import NANOSECONDS_PER_SECOND, Clock
from clearline.ledger import store as st
from clearline.ledger.events import LedgerEvent, LedgerEventKind
from clearline.ledger.results import CreateAccountResult as AR
from clearline.ledger.results import CreateTransferResult as TR
from clearline.ledger.results import EventResult
from clearline.ledger.state import AccountState, PendingState
from clearline.ledger.types import (
    ACCOUNT_FLAGS_ALL,
    AMOUNT_MAX,
    TIMESTAMP_MAX,
    TRANSFER_FLAGS_ALL,
    U128_MAX,
    Account,
    AccountFlags,
    Transfer,
    TransferFlags,
)

ACCOUNT_MARK_INTERVAL = 32
"""Every 32nd transfer of an account is indexed, bounding a range query's walk."""

LINKED = 1
A_DMNEC = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
A_CMNED = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
A_HISTORY = int(AccountFlags.HISTORY)
T_PENDING = int(TransferFlags.PENDING)
T_POST = int(TransferFlags.POST_PENDING_TRANSFER)
T_VOID = int(TransferFlags.VOID_PENDING_TRANSFER)
T_BAL_DEBIT = int(TransferFlags.BALANCING_DEBIT)
T_BAL_CREDIT = int(TransferFlags.BALANCING_CREDIT)
T_CLOSE_DEBIT = int(TransferFlags.CLOSING_DEBIT)
T_CLOSE_CREDIT = int(TransferFlags.CLOSING_CREDIT)
T_TWO_PHASE = T_PENDING | T_POST | T_VOID
T_BALANCING = T_BAL_DEBIT | T_BAL_CREDIT
T_CLOSING = T_CLOSE_DEBIT | T_CLOSE_CREDIT
ZERO16 = bytes(16)
PACK_ROW = st.TRANSFER_ROW.pack

# A stored transfer in memory: the fields that replays are compared against.
R_TIMESTAMP, R_DEBIT, R_CREDIT, R_AMOUNT, R_PENDING_ID = 0, 1, 2, 3, 4
R_UD128, R_UD64, R_UD32, R_TIMEOUT, R_CODE, R_FLAGS = 5, 6, 7, 8, 9, 10
TransferRecord = tuple[int, int, int, int, int, int, int, int, int, int, int]


class Output:
    """Rows a group writes, in the order the store writes them."""

    __slots__ = (
        "accounts",
        "events",
        "history",
        "marks",
        "pending_new",
        "pending_resolved",
        "refs",
        "transfers",
    )

    def __init__(self) -> None:
        self.accounts: list[st.AccountRow] = []
        self.transfers: list[bytes] = []  # st.TRANSFER_ROW packed rows
        self.pending_new: list[tuple[int, int, int, int]] = []
        self.pending_resolved: list[tuple[int, int, int]] = []
        self.refs: list[tuple[int, bytes, int]] = []
        self.marks: list[tuple[int, int]] = []
        self.history: list[tuple[int, int, int, int, int, int]] = []
        self.events: list[LedgerEvent] = []

    def lengths(self) -> tuple[int, ...]:
        return tuple(len(getattr(self, name)) for name in self.__slots__)

    def truncate(self, lengths: tuple[int, ...]) -> None:
        for name, length in zip(self.__slots__, lengths, strict=True):
            del getattr(self, name)[length:]


def decode_row(row: bytes) -> tuple[int, int, TransferRecord, int, int]:
    """A packed group row as (timestamp, id, record, debit_previous, credit_previous)."""
    timestamp = int.from_bytes(row[:8], "big")
    record, debit_previous, credit_previous = decode_body(timestamp, row[24:])
    return timestamp, int.from_bytes(row[8:24], "big"), record, debit_previous, credit_previous


def decode_body(timestamp: int, body: bytes) -> tuple[TransferRecord, int, int]:
    """A stored body as (record, debit_previous_timestamp, credit_previous_timestamp)."""
    (debit, credit, amount, pending_id, ud128, ud64, ud32, timeout, code, flags, dprev, cprev) = (
        st.TRANSFER_BODY.unpack(body)
    )
    record = (
        timestamp,
        int.from_bytes(debit, "big"),
        int.from_bytes(credit, "big"),
        amount,
        int.from_bytes(pending_id, "big"),
        int.from_bytes(ud128, "big"),
        ud64,
        ud32,
        timeout,
        code,
        flags,
    )
    return record, dprev, cprev


def record_to_transfer(record: TransferRecord, transfer_id: int) -> Transfer:
    return Transfer(
        id=transfer_id,
        debit_account_id=record[R_DEBIT],
        credit_account_id=record[R_CREDIT],
        amount=record[R_AMOUNT],
        pending_id=record[R_PENDING_ID],
        user_data_128=record[R_UD128],
        user_data_64=record[R_UD64],
        user_data_32=record[R_UD32],
        timeout=record[R_TIMEOUT],
        code=record[R_CODE],
        flags=record[R_FLAGS],
        timestamp=record[R_TIMESTAMP],
    )


def account_from_state(state: AccountState) -> Account:
    return Account(
        id=state.id,
        asset=state.asset,  # type: ignore[arg-type]  # normalised in __post_init__
        code=state.code,
        flags=state.flags | (int(AccountFlags.CLOSED) if state.closed else 0),
        user_data_128=state.user_data_128,
        user_data_64=state.user_data_64,
        user_data_32=state.user_data_32,
        debits_pending=state.debits_pending,
        debits_posted=state.debits_posted,
        credits_pending=state.credits_pending,
        credits_posted=state.credits_posted,
        timestamp=state.timestamp,
    )


def account_state_from_row(row: st.AccountRow) -> AccountState:
    ud128 = row[5]
    return AccountState(
        id=int.from_bytes(row[1], "big"),
        id_bytes=row[1],
        asset=row[2],
        code=row[3],
        flags=row[4],
        user_data_128=0 if ud128 is None else int.from_bytes(ud128, "big"),
        user_data_64=0 if row[6] is None else st.unsigned64(row[6]),
        user_data_32=0 if row[7] is None else row[7],
        timestamp=row[0],
    )


class Engine:
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
        self.check_store = False
        self.created: dict[int, int] = {}  # transfer id -> its row's position in out.transfers
        self.existing: dict[int, TransferRecord] = {}
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
            _unrelease(pending)
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
                _reopen(pendings.pop(transfer_id))
            elif flags & (T_POST | T_VOID):
                pending = pendings[record[R_PENDING_ID]]
                _unrelease(pending)
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
            return _account_exists(event, existing), existing.timestamp
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
        if flags & (T_TWO_PHASE | T_BALANCING | T_CLOSING) and _flags_clash(flags):
            return TR.FLAGS_ARE_MUTUALLY_EXCLUSIVE, 0
        if self.check_store:
            position = self.created.get(transfer_id)
            if position is not None:
                record = decode_row(self.out.transfers[position])[2]
                return _transfer_exists(event, record), record[R_TIMESTAMP]
            found = self.existing.get(transfer_id)
            if found is not None:
                return _transfer_exists(event, found), found[R_TIMESTAMP]
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
            amount = _balanced_amount(flags, amount, debit, credit)
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
            _reopen(pending)
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
            out.history.append(_history_row(debit, timestamp))
        if credit.flags & A_HISTORY:
            out.history.append(_history_row(credit, timestamp))
        if self.emit_events:
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
            _reopen(pending)
            out = self.out
            out.pending_resolved.append((st.PENDING_STATUS_EXPIRED, timestamp, pending.timestamp))
            if debit.flags & A_HISTORY:
                out.history.append(_history_row(debit, timestamp))
            if credit.flags & A_HISTORY:
                out.history.append(_history_row(credit, timestamp))
            if self.emit_events:
                out.events.append(
                    LedgerEvent(LedgerEventKind.PENDING_EXPIRED, timestamp, pending_id=pending_id)
                )


def _flags_clash(flags: int) -> bool:
    two_phase = flags & T_TWO_PHASE
    if two_phase and two_phase & (two_phase - 1):
        return True  # more than one of pending, post, void
    return bool(flags & (T_POST | T_VOID) and flags & (T_BALANCING | T_CLOSING))


def _balanced_amount(flags: int, amount: int, debit: AccountState, credit: AccountState) -> int:
    if flags & T_BAL_DEBIT:
        room = debit.credits_posted - debit.debits_posted - debit.debits_pending
        amount = min(amount, max(room, 0))
    if flags & T_BAL_CREDIT:
        room = credit.debits_posted - credit.credits_posted - credit.credits_pending
        amount = min(amount, max(room, 0))
    return amount


def _unrelease(pending: PendingState) -> None:
    """Undo the release of a pending transfer's hold (and the reopening its void did)."""
    pending.debit.debits_pending += pending.amount
    pending.credit.credits_pending += pending.amount
    if pending.status != st.PENDING_STATUS_POSTED:
        if pending.flags & T_CLOSE_DEBIT:
            pending.debit.add_closing(1)
        if pending.flags & T_CLOSE_CREDIT:
            pending.credit.add_closing(1)


def _reopen(pending: PendingState) -> None:
    """A voided or expired closing transfer reopens the account it closed."""
    if pending.flags & T_CLOSE_DEBIT:
        pending.debit.add_closing(-1)
    if pending.flags & T_CLOSE_CREDIT:
        pending.credit.add_closing(-1)


def _history_row(account: AccountState, timestamp: int) -> tuple[int, int, int, int, int, int]:
    return (
        account.timestamp,
        timestamp,
        account.debits_pending,
        account.debits_posted,
        account.credits_pending,
        account.credits_posted,
    )


def _account_exists(event: Account, existing: AccountState) -> AR:
    if event.flags & ~LINKED != existing.flags:
        return AR.EXISTS_WITH_DIFFERENT_FLAGS
    if event.user_data_128 != existing.user_data_128:
        return AR.EXISTS_WITH_DIFFERENT_USER_DATA_128
    if event.user_data_64 != existing.user_data_64:
        return AR.EXISTS_WITH_DIFFERENT_USER_DATA_64
    if event.user_data_32 != existing.user_data_32:
        return AR.EXISTS_WITH_DIFFERENT_USER_DATA_32
    if event.asset.spec != existing.asset:
        return AR.EXISTS_WITH_DIFFERENT_ASSET
    if event.code != existing.code:
        return AR.EXISTS_WITH_DIFFERENT_CODE
    return AR.EXISTS


def _transfer_exists(event: Transfer, record: TransferRecord) -> TR:
    resolves = event.flags & (T_POST | T_VOID)
    if event.flags != record[R_FLAGS]:
        return TR.EXISTS_WITH_DIFFERENT_FLAGS
    if (event.debit_account_id or not resolves) and event.debit_account_id != record[R_DEBIT]:
        return TR.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
    if (event.credit_account_id or not resolves) and event.credit_account_id != record[R_CREDIT]:
        return TR.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
    balancing = event.flags & T_BALANCING
    if (event.amount or not resolves) and not balancing and event.amount != record[R_AMOUNT]:
        return TR.EXISTS_WITH_DIFFERENT_AMOUNT
    if balancing and event.amount < record[R_AMOUNT]:
        return TR.EXISTS_WITH_DIFFERENT_AMOUNT
    if event.pending_id != record[R_PENDING_ID]:
        return TR.EXISTS_WITH_DIFFERENT_PENDING_ID
    if event.user_data_128 != record[R_UD128]:
        return TR.EXISTS_WITH_DIFFERENT_USER_DATA_128
    if event.user_data_64 != record[R_UD64]:
        return TR.EXISTS_WITH_DIFFERENT_USER_DATA_64
    if event.user_data_32 != record[R_UD32]:
        return TR.EXISTS_WITH_DIFFERENT_USER_DATA_32
    if event.timeout != record[R_TIMEOUT]:
        return TR.EXISTS_WITH_DIFFERENT_TIMEOUT
    if (event.code or not resolves) and event.code != record[R_CODE]:
        return TR.EXISTS_WITH_DIFFERENT_CODE
    return TR.EXISTS
