"""Rows, records and the pure rules: what the engine, recovery and queries share.

Guarantees:
- `decode_row` / `decode_body` are the only readers of the packed transfer layout
  (`store.TRANSFER_ROW`, `store.TRANSFER_BODY`), and `Engine._record` its only writer.
- The functions here are pure: they read their arguments and return values; nothing here changes
  state or touches the disk.
"""

from __future__ import annotations

from clearline.ledger import store as st
from clearline.ledger.events import LedgerEvent
from clearline.ledger.results import CreateAccountResult as AR
from clearline.ledger.results import CreateAttestationResult as ATR
from clearline.ledger.results import CreateTransferResult as TR
from clearline.ledger.state import AccountState
from clearline.ledger.types import Account, AccountFlags, Attestation, Transfer, TransferFlags

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


def flags_clash(flags: int) -> bool:
    two_phase = flags & T_TWO_PHASE
    if two_phase and two_phase & (two_phase - 1):
        return True  # more than one of pending, post, void
    return bool(flags & (T_POST | T_VOID) and flags & (T_BALANCING | T_CLOSING))


def balanced_amount(flags: int, amount: int, debit: AccountState, credit: AccountState) -> int:
    if flags & T_BAL_DEBIT:
        room = debit.credits_posted - debit.debits_posted - debit.debits_pending
        amount = min(amount, max(room, 0))
    if flags & T_BAL_CREDIT:
        room = credit.debits_posted - credit.credits_posted - credit.credits_pending
        amount = min(amount, max(room, 0))
    return amount


def history_row(account: AccountState, timestamp: int) -> tuple[int, int, int, int, int, int]:
    return (
        account.timestamp,
        timestamp,
        account.debits_pending,
        account.debits_posted,
        account.credits_pending,
        account.credits_posted,
    )


def account_exists(event: Account, existing: AccountState) -> AR:
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


def transfer_exists(event: Transfer, record: TransferRecord) -> TR:
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


def attestation_from_row(row: st.AttestationRow) -> Attestation:
    timestamp, id_blob, code, digest = row
    return Attestation(
        id=int.from_bytes(id_blob, "big"), code=code, digest=bytes(digest), timestamp=timestamp
    )


def attestation_exists(event: Attestation, row: st.AttestationRow) -> ATR:
    if event.code != row[2]:
        return ATR.EXISTS_WITH_DIFFERENT_CODE
    if event.digest != row[3]:
        return ATR.EXISTS_WITH_DIFFERENT_DIGEST
    return ATR.EXISTS
