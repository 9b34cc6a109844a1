"""Planned Numscript executions as ledger calls: script accounts created, one linked chain of
transfers per execution, the ledger's answers read back per execution.

Guarantees:
- An execution's transfers have consecutive ids from one derived from its id (`transfer_ids`)
  and carry its id in `user_data_128`; all but the last are `linked`, so the ledger commits
  the chain whole or not at all.
- Calls hold at most BATCH_EVENTS_MAX events and are cut between chains, never inside one.
- `submit_chains` answers the executions whose chain the ledger refused: the first refusal's
  code (prefixed `ledger_`) and a message saying nothing moved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from clearline.contracts import addresses as ad
from clearline.core.errors import ClearlineError
from clearline.core.ids import derive_id
from clearline.ledger import BATCH_EVENTS_MAX, Account, Ledger, Transfer, TransferFlags
from clearline.ledger.results import CreateTransferResult
from clearline.ledger.types import _TRANSFER_FIELDS

_LINKED = int(TransferFlags.LINKED)
_COMMITTED = frozenset(
    {
        CreateTransferResult.OK,
        CreateTransferResult.EXISTS,
        CreateTransferResult.LINKED_EVENT_FAILED,  # another transfer of the chain says why
    }
)
_LEDGER_MESSAGES = {
    "exceeds_credits": "insufficient funds in a ledger account: nothing moved",
    "exceeds_debits": "a ledger account's credits may not exceed its debits: nothing moved",
    "debit_account_not_found": "a ledger account does not exist",
    "credit_account_not_found": "a ledger account does not exist",
}

NewScriptAccount = tuple[str, str, str, int]
"""(address, Numscript asset, color, ledger id) of a script account to create."""
Refusal = tuple[str, str]
"""(code, message) of a chain the ledger refused."""
Move = tuple[int, int, int]
"""(debit id, credit id, amount) of a posting that moves money."""


class ExecutorError(ClearlineError):
    code = "executor_error"


def transfer_ids(execution_id: int, count: int) -> tuple[int, ...]:
    """The ledger ids of an execution's transfers: consecutive from one derived from its id
    (two executions' ranges meet only if two random 128-bit numbers fall within a few of each
    other)."""
    if not count:
        return ()
    first = derive_id(execution_id, "numscript postings")
    if first + count >= ad.ID_MAX:
        first = 1
    return tuple(range(first, first + count))


assert tuple(f.name for f in dataclasses.fields(Transfer)) == _TRANSFER_FIELDS, (
    "ledger.Transfer changed its fields: update chains.append_chain"
)
_NEW = object.__new__
(
    _SET_ID,
    _SET_DEBIT,
    _SET_CREDIT,
    _SET_AMOUNT,
    _SET_CODE,
    _SET_PENDING_ID,
    _SET_TIMEOUT,
    _SET_FLAGS,
    _SET_USER_DATA_128,
    _SET_USER_DATA_64,
    _SET_USER_DATA_32,
    _SET_TIMESTAMP,
) = (getattr(Transfer, name).__set__ for name in _TRANSFER_FIELDS)


def append_chain(
    transfers: list[Transfer], moves: Sequence[Move], first_id: int, execution_id: int
) -> None:
    """Add one execution's chain to `transfers`: transfer `first_id + n` moves `moves[n]`, all
    linked but the last (`first_id` is the first of `transfer_ids(execution_id, len(moves))`).
    The values were checked when planned (128-bit ids, amounts in 1..AMOUNT_MAX), so the
    transfers are built as `ledger.types.trusted_transfer` builds them, without `Transfer`'s
    field checks, setting the slots directly (a third of its time); the ledger's rules still
    apply when they are created."""
    last = len(moves) - 1
    code = ad.SCRIPT_TRANSFER_CODE
    append = transfers.append
    for index, (debit, credit, amount) in enumerate(moves):
        transfer = _NEW(Transfer)
        _SET_ID(transfer, first_id + index)
        _SET_DEBIT(transfer, debit)
        _SET_CREDIT(transfer, credit)
        _SET_AMOUNT(transfer, amount)
        _SET_CODE(transfer, code)
        _SET_PENDING_ID(transfer, 0)
        _SET_TIMEOUT(transfer, 0)
        _SET_FLAGS(transfer, _LINKED if index < last else 0)
        _SET_USER_DATA_128(transfer, execution_id)
        _SET_USER_DATA_64(transfer, 0)
        _SET_USER_DATA_32(transfer, 0)
        _SET_TIMESTAMP(transfer, 0)
        append(transfer)


def create_script_accounts(ledger: Ledger, accounts: list[NewScriptAccount]) -> None:
    """Create `accounts` (those that exist answer `exists`); raise if the ledger refuses one."""
    for start in range(0, len(accounts), BATCH_EVENTS_MAX):
        chunk = accounts[start : start + BATCH_EVENTS_MAX]
        results = ledger.create_accounts(
            [
                Account(id=i, asset=ad.ledger_asset(s), code=ad.SCRIPT_ACCOUNT_CODE)
                for _, s, _, i in chunk
            ]
        )
        for (address, *_), result in zip(chunk, results, strict=True):
            if result.result not in ("ok", "exists"):
                raise ExecutorError(
                    f"the ledger refused script account @{address}: {result.result}"
                )


def submit_chains(
    ledger: Ledger, transfers: list[Transfer], sizes: Sequence[int]
) -> dict[int, Refusal]:
    """The chains (`sizes[n]` transfers of `transfers` for execution n, one after another) to
    the ledger; the refusal of each execution whose chain it refused, by index."""
    refused: dict[int, Refusal] = {}
    start = 0  # the first transfer of the next call
    owner = 0  # the execution of transfers[start]
    while start < len(transfers):
        end, last = start, owner
        while last < len(sizes) and end + sizes[last] - start <= BATCH_EVENTS_MAX:
            end += sizes[last]
            last += 1
        assert end > start, "a chain longer than one ledger call"
        results = ledger.create_transfers(transfers[start:end])
        assert len(results) == end - start, "the ledger answered another number of events"
        position = start
        for index in range(owner, last):
            for n in range(position - start, position - start + sizes[index]):
                code = results[n].result
                if code in _COMMITTED:
                    continue
                refused[index] = ("ledger_" + str(code), ledger_message(str(code)))
                break
            position += sizes[index]
        start, owner = end, last
    return refused


def ledger_message(code: str) -> str:
    return _LEDGER_MESSAGES.get(
        code, f"the ledger refused the program's postings ({code}): nothing moved"
    )
