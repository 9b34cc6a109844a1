"""Recovery and verification on open: rebuild the live state from the transfer log, and check it.

The transfer log (plus the two-phase status of pending transfers) is the source of truth. Opening a
ledger replays it once, which both recovers the balances committed since the last balance
checkpoint and proves the store is whole. It refuses a store, naming the first problem, when:
- a transfer names an account that does not exist, or accounts of different assets;
- an account's linked list of transfers is broken (a body's previous-transfer pointer is wrong);
- a pending transfer has no two-phase status row, or a status row has no pending transfer;
- a balance is negative, exceeds AMOUNT_MAX, or breaks its account's debit/credit limit flag;
- per asset, Σ debits ≠ Σ credits (posted, and pending);
- the balances stored at an account's checkpoint differ from the sum of its transfers up to then;
- an attestation row is one the ledger could not have written (`store.attestation_misfit`: a bad
  id, code or digest, or a timestamp an account or a transfer has too).
Attestations move no money: they only count, and their last timestamp bounds the next one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from clearline.core.errors import InvariantViolation
from clearline.ledger import store as st
from clearline.ledger.records import (
    A_CMNED,
    A_DMNEC,
    R_AMOUNT,
    R_CODE,
    R_CREDIT,
    R_DEBIT,
    R_FLAGS,
    T_CLOSE_CREDIT,
    T_CLOSE_DEBIT,
    T_PENDING,
    T_POST,
    T_VOID,
    account_state_from_row,
    decode_body,
)
from clearline.ledger.state import AccountState, PendingState
from clearline.ledger.types import AMOUNT_MAX


class CorruptStoreError(InvariantViolation):
    """The data directory's ledger does not satisfy the ledger's invariants; it was not opened."""

    code = "corrupt_store"


@dataclass
class Recovered:
    accounts: dict[int, AccountState]
    pendings: dict[int, PendingState]
    last_timestamp: int
    transfer_count: int
    attestation_count: int = 0


class _Checkpoint:
    """The balances an account row says it had at its balance_timestamp, and what the log says."""

    __slots__ = ("as_of", "stored", "timestamp")

    def __init__(self, timestamp: int, stored: tuple[int, int, int, int]) -> None:
        self.timestamp = timestamp
        self.stored = stored
        self.as_of = [0, 0, 0, 0]  # debits_pending, debits_posted, credits_pending, credits_posted


def recover(store: st.Store) -> Recovered:
    """Replay the log into live state; raise CorruptStoreError on the first inconsistency."""
    accounts: dict[int, AccountState] = {}
    checkpoints: dict[int, _Checkpoint] = {}
    last_timestamp = 0
    for row in store.all_accounts():
        state = account_state_from_row(row)
        accounts[state.id] = state
        checkpoints[state.id] = _Checkpoint(row[12], (row[8], row[9], row[10], row[11]))
        last_timestamp = max(last_timestamp, state.timestamp)
    statuses = {row[0]: row for row in store.all_pending()}
    pendings: dict[int, PendingState] = {}
    seen_pending: set[int] = set()
    count = 0
    for timestamp, id_blob, body in store.all_transfers():
        count += 1
        last_timestamp = max(last_timestamp, timestamp)
        record, debit_previous, credit_previous = decode_body(timestamp, body)
        debit = accounts.get(record[R_DEBIT])
        credit = accounts.get(record[R_CREDIT])
        where = f"transfer {int.from_bytes(id_blob, 'big')} (timestamp {timestamp})"
        if debit is None or credit is None:
            raise CorruptStoreError(f"{where} names an account that does not exist")
        if debit.asset != credit.asset:
            raise CorruptStoreError(f"{where} moves between accounts of different assets")
        if debit_previous != debit.last_transfer_timestamp or (
            credit_previous != credit.last_transfer_timestamp
        ):
            raise CorruptStoreError(f"{where} breaks its accounts' transfer lists")
        for account in (debit, credit):
            account.last_transfer_timestamp = timestamp
            account.transfer_count += 1
        amount, flags = record[R_AMOUNT], record[R_FLAGS]
        if flags & T_PENDING:
            status = statuses.get(timestamp)
            if status is None:
                raise CorruptStoreError(f"{where} is pending but has no two-phase status")
            seen_pending.add(timestamp)
            _apply(checkpoints, debit, credit, 0, amount, timestamp)
            if status[2] == st.PENDING_STATUS_PENDING:
                pendings[int.from_bytes(id_blob, "big")] = PendingState(
                    int.from_bytes(id_blob, "big"),
                    timestamp,
                    debit,
                    credit,
                    amount,
                    record[R_CODE],
                    flags,
                    status[1],
                    status[2],
                    status[3],
                )
            else:
                _apply(checkpoints, debit, credit, 0, -amount, status[3])
            if status[2] in (st.PENDING_STATUS_PENDING, st.PENDING_STATUS_POSTED):
                if flags & T_CLOSE_DEBIT:
                    debit.add_closing(1)
                if flags & T_CLOSE_CREDIT:
                    credit.add_closing(1)
        elif not flags & T_VOID:
            _apply(checkpoints, debit, credit, amount, 0, timestamp)
        if flags & T_POST and amount > AMOUNT_MAX:
            raise CorruptStoreError(f"{where} posts more than AMOUNT_MAX")
    orphans = set(statuses) - seen_pending
    if orphans:
        raise CorruptStoreError(
            f"two-phase status rows without a pending transfer, e.g. timestamp {min(orphans)}"
        )
    for status_row in statuses.values():
        last_timestamp = max(last_timestamp, status_row[3])
    _check_balances(accounts, checkpoints)
    attestation_count, last_attestation = store.attestation_summary()
    misfit = store.attestation_misfit()
    if misfit is not None:
        raise CorruptStoreError(
            f"attestation at timestamp {misfit} is not one the ledger writes (its id, code or "
            "digest is out of range, or another event has its timestamp)"
        )
    last_timestamp = max(last_timestamp, last_attestation)
    return Recovered(accounts, pendings, last_timestamp, count, attestation_count)


def _apply(
    checkpoints: dict[int, _Checkpoint],
    debit: AccountState,
    credit: AccountState,
    posted: int,
    pending: int,
    timestamp: int,
) -> None:
    debit.debits_posted += posted
    debit.debits_pending += pending
    credit.credits_posted += posted
    credit.credits_pending += pending
    debit_checkpoint = checkpoints[debit.id]
    if timestamp <= debit_checkpoint.timestamp:
        debit_checkpoint.as_of[0] += pending
        debit_checkpoint.as_of[1] += posted
    credit_checkpoint = checkpoints[credit.id]
    if timestamp <= credit_checkpoint.timestamp:
        credit_checkpoint.as_of[2] += pending
        credit_checkpoint.as_of[3] += posted


def _check_balances(accounts: dict[int, AccountState], checkpoints: dict[int, _Checkpoint]) -> None:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for account in accounts.values():
        balances = (
            account.debits_pending,
            account.debits_posted,
            account.credits_pending,
            account.credits_posted,
        )
        where = f"account {account.id}"
        if min(balances) < 0 or max(balances) > AMOUNT_MAX:
            raise CorruptStoreError(f"{where} has a balance outside 0..AMOUNT_MAX: {balances}")
        debits = account.debits_pending + account.debits_posted
        credits = account.credits_pending + account.credits_posted
        if account.flags & A_DMNEC and debits > account.credits_posted:
            raise CorruptStoreError(f"{where} has debits exceeding credits despite its flag")
        if account.flags & A_CMNED and credits > account.debits_posted:
            raise CorruptStoreError(f"{where} has credits exceeding debits despite its flag")
        checkpoint = checkpoints[account.id]
        if tuple(checkpoint.as_of) != checkpoint.stored:
            raise CorruptStoreError(
                f"{where}: stored balances {checkpoint.stored} at timestamp {checkpoint.timestamp} "
                f"differ from the sum of its transfers {tuple(checkpoint.as_of)}"
            )
        stored_is_live = balances == checkpoint.stored
        account.checkpoint_count = account.transfer_count if stored_is_live else -1
        total = totals[account.asset]
        for position, value in enumerate(balances):
            total[position] += value
    for asset_spec, (dp, dpo, cp, cpo) in totals.items():
        if dp != cp or dpo != cpo:
            raise CorruptStoreError(
                f"asset {asset_spec}: debits ≠ credits "
                f"(pending {dp} vs {cp}, posted {dpo} vs {cpo})"
            )
