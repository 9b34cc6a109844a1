"""Planned Numscript executions as ledger calls: script accounts created, one linked chain of
transfers per execution, the ledger's answers read back per execution.

Guarantees:
- An execution's transfers have consecutive ids from one derived from its id (`transfer_ids`)
  and carry its id in `user_data_128`; all but the last are `linked`, so the ledger commits
  the chain whole or not at all.
- Calls hold at most BATCH_EVENTS_MAX events and are cut between chains, never inside one.
- `submit_chains` answers None for a committed chain, or the first refusal's code (prefixed
  `ledger_`) and a message saying nothing moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearline.contracts import addresses as ad
from clearline.contracts.executions import Intent
from clearline.core.errors import ClearlineError
from clearline.core.ids import derive_id
from clearline.ledger import BATCH_EVENTS_MAX, Account, Ledger, Transfer, TransferFlags
from clearline.ledger.types import trusted_transfer

_LINKED = int(TransferFlags.LINKED)
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


class ExecutorError(ClearlineError):
    code = "executor_error"


@dataclass(slots=True)
class Planned:
    """One execution planned in a batch: its record and its moves."""

    intent: Intent
    moves: list[tuple[int, int, int]]
    """(debit id, credit id, amount) of each posting that moves money, in order."""


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


def submit_chains(ledger: Ledger, planned: list[Planned]) -> list[Refusal | None]:
    """Each execution's chain to the ledger; one answer per execution, in order."""
    answers: list[Refusal | None] = [None] * len(planned)
    call: list[Transfer] = []
    owners: list[int] = []  # the execution each transfer of `call` belongs to

    def flush() -> None:
        if not call:
            return
        for owner, result in zip(owners, ledger.create_transfers(call), strict=True):
            code = str(result.result)
            if code in ("ok", "exists", "linked_event_failed") or answers[owner]:
                continue
            answers[owner] = ("ledger_" + code, ledger_message(code))
        call.clear()
        owners.clear()

    code = ad.SCRIPT_TRANSFER_CODE
    for n, item in enumerate(planned):
        moves = item.moves
        if len(call) + len(moves) > BATCH_EVENTS_MAX:
            flush()
        last = len(moves) - 1
        execution_id = item.intent.id
        for index, ((debit, credit, amount), transfer_id) in enumerate(
            zip(moves, item.intent.plan.transfer_ids, strict=True)
        ):
            # ids, amounts (1..AMOUNT_MAX), code and flags were checked when planned
            call.append(
                trusted_transfer(
                    transfer_id,
                    debit,
                    credit,
                    amount,
                    code,
                    _LINKED if index < last else 0,
                    execution_id,
                )
            )
            owners.append(n)
    flush()
    return answers


def ledger_message(code: str) -> str:
    return _LEDGER_MESSAGES.get(
        code, f"the ledger refused the program's postings ({code}): nothing moved"
    )
