"""Read queries over the committed ledger, run on the writer thread between commits.

Guarantees: every query sees exactly the committed state (the live balances in memory and the
stored log); none writes. An account's transfers are found by walking the linked list that the
transfer bodies form (each body points at the account's previous transfer), starting from the
nearest `account_marks` entry, so a time range costs at most ACCOUNT_MARK_INTERVAL steps more than
the transfers it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from clearline.ledger import store as st
from clearline.ledger.engine import Engine
from clearline.ledger.records import (
    R_DEBIT,
    TransferRecord,
    account_from_state,
    attestation_from_row,
    decode_body,
    record_to_transfer,
)
from clearline.ledger.types import (
    TIMESTAMP_MAX,
    Account,
    AccountBalance,
    AccountFilter,
    AccountFlags,
    Attestation,
    QueryFilter,
    Transfer,
)

HISTORY = int(AccountFlags.HISTORY)


class Queries:
    """The read side of a `Ledger`: lookups, account transfers, balance history, user-data finds."""

    def __init__(self, engine: Engine, store: st.Store) -> None:
        self._engine = engine
        self._store = store

    def lookup_accounts(self, ids: list[int]) -> list[Account]:
        accounts = self._engine.accounts
        return [account_from_state(accounts[i]) for i in ids if i in accounts]

    def lookup_transfers(self, ids: list[int]) -> list[Transfer]:
        rows = self._store.transfers_by_id([i.to_bytes(16, "big") for i in ids])
        found = {
            int.from_bytes(id_blob, "big"): record_to_transfer(
                decode_body(ts, body)[0], int.from_bytes(id_blob, "big")
            )
            for ts, id_blob, body in rows
        }
        return [found[i] for i in ids if i in found]

    def lookup_attestations(self, ids: list[int]) -> list[Attestation]:
        rows = self._store.attestations_by_id([i.to_bytes(16, "big") for i in ids])
        found = {int.from_bytes(row[1], "big"): attestation_from_row(row) for row in rows}
        return [found[i] for i in ids if i in found]

    def latest_transfers(self, limit: int) -> list[Transfer]:
        return [
            record_to_transfer(decode_body(ts, body)[0], int.from_bytes(id_blob, "big"))
            for ts, id_blob, body in self._store.latest_transfers(limit)
        ]

    def _step(self, account_id: int, timestamp: int) -> tuple[Transfer, int]:
        row = self._store.transfer_at(timestamp)
        assert row is not None, f"account {account_id}'s transfer list points at a missing transfer"
        record, debit_previous, credit_previous = decode_body(row[0], row[2])
        previous = debit_previous if record[R_DEBIT] == account_id else credit_previous
        return record_to_transfer(record, int.from_bytes(row[1], "big")), previous

    def account_transfers(self, query: AccountFilter) -> list[Transfer]:
        account = self._engine.accounts.get(query.account_id)
        if (
            account is None
            or not account.last_transfer_timestamp
            or not (query.debits or query.credits)
        ):
            return []
        low = query.timestamp_min
        high = query.timestamp_max or TIMESTAMP_MAX

        def wanted(transfer: Transfer) -> bool:
            if transfer.timestamp > high:
                return False
            debit = transfer.debit_account_id == account.id
            return (query.debits and debit) or (query.credits and not debit)

        if query.reversed:
            start = (
                self._store.mark_at_or_after(account.timestamp, high)
                or account.last_transfer_timestamp
            )
            found: list[Transfer] = []
            timestamp = start
            while timestamp and timestamp >= low and len(found) < query.limit:
                transfer, timestamp = self._step(account.id, timestamp)
                if wanted(transfer):
                    found.append(transfer)
            return found
        return self._account_transfers_forward(
            account.id,
            account.timestamp,
            account.last_transfer_timestamp,
            low,
            high,
            query.limit,
            wanted,
        )

    def _account_transfers_forward(
        self,
        account_id: int,
        account_timestamp: int,
        last: int,
        low: int,
        high: int,
        limit: int,
        wanted: Callable[[Transfer], bool],
    ) -> list[Transfer]:
        found: list[Transfer] = []
        boundary_before = 0
        marks = self._store.marks_from(account_timestamp, low)
        for boundary in _then(marks, last):
            if boundary <= boundary_before:
                continue
            segment: list[Transfer] = []
            timestamp = boundary
            while timestamp and timestamp >= low and timestamp > boundary_before:
                transfer, timestamp = self._step(account_id, timestamp)
                if wanted(transfer):
                    segment.append(transfer)
            found.extend(reversed(segment))
            if len(found) >= limit or boundary >= high:
                break
            boundary_before = boundary
        return found[:limit]

    def account_balances(self, query: AccountFilter) -> list[AccountBalance]:
        account = self._engine.accounts.get(query.account_id)
        if account is None or not account.flags & HISTORY:
            return []
        rows = self._store.history(
            account.timestamp,
            query.timestamp_min,
            query.timestamp_max or TIMESTAMP_MAX,
            query.limit,
            query.reversed,
        )
        return [AccountBalance(*row) for row in rows]

    def query_accounts(self, query: QueryFilter) -> list[Account]:
        column, value = _query_key_account(query)
        accounts = self._engine.accounts
        matches = []
        for row in self._store.accounts_by_user_data(column, value, TIMESTAMP_MAX):
            state = accounts[int.from_bytes(row[1], "big")]
            if _matches(
                query, state.user_data_128, state.user_data_64, state.user_data_32, state.code
            ):
                matches.append(account_from_state(state))
                if len(matches) >= query.limit:
                    break
        return matches

    def query_transfers(self, query: QueryFilter) -> list[Transfer]:
        kind, key = _query_key_transfer(query)
        matches: list[Transfer] = []
        timestamps = self._store.ref_timestamps(kind, key, TIMESTAMP_MAX)
        for row in self._store.transfers_at(timestamps):
            record: TransferRecord = decode_body(row[0], row[2])[0]
            transfer = record_to_transfer(record, int.from_bytes(row[1], "big"))
            if _matches(
                query,
                transfer.user_data_128,
                transfer.user_data_64,
                transfer.user_data_32,
                transfer.code,
            ):
                matches.append(transfer)
        matches.sort(key=lambda transfer: transfer.timestamp)
        return matches[: query.limit]


def _then(iterator: Iterable[int], last: int) -> Iterable[int]:
    yield from iterator
    yield last


def _matches(query: QueryFilter, ud128: int, ud64: int, ud32: int, code: int) -> bool:
    return (
        (not query.user_data_128 or ud128 == query.user_data_128)
        and (not query.user_data_64 or ud64 == query.user_data_64)
        and (not query.user_data_32 or ud32 == query.user_data_32)
        and (not query.code or code == query.code)
    )


def _query_key_account(query: QueryFilter) -> tuple[str, bytes | int]:
    if query.user_data_128:
        return "user_data_128", query.user_data_128.to_bytes(16, "big")
    if query.user_data_64:
        return "user_data_64", st.signed64(query.user_data_64)
    return "user_data_32", query.user_data_32


def _query_key_transfer(query: QueryFilter) -> tuple[int, bytes]:
    if query.user_data_128:
        return st.REF_USER_DATA_128, query.user_data_128.to_bytes(16, "big")
    if query.user_data_64:
        return st.REF_USER_DATA_64, query.user_data_64.to_bytes(8, "big")
    return st.REF_USER_DATA_32, query.user_data_32.to_bytes(4, "big")
