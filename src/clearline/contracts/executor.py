"""Numscript on the ledger: programs run in batches, each one linked chain of ledger transfers.

Guarantees:
- All or nothing. A program's postings become one chain of `linked` ledger transfers: the
  ledger commits every one of them or none. A program that fails (a Numscript error, missing
  funds, an amount the ledger cannot hold, a ledger rule) moves nothing and says why
  (`Outcome.error_code`, `Outcome.error`).
- Exact balances. Script accounts (`addresses`) are moved only by this executor, so it keeps
  their posted debits and credits in memory (at most `BALANCES_MAX` accounts; an evicted one
  is read from the ledger again when next touched) and a batch's programs see each other's
  postings in order, as if run one after another. A program that reads an account not yet
  held is run again after that account is read from the ledger, still in order.
- Ledger accounts (`@ledger:<id>`) are moved by other rooms too: a program reads the
  ledger's live spendable balance, and the ledger's bounds decide when the chain commits. A
  later program of the same batch that touches an account such a program touched waits for
  the next batch, so no program runs on a balance that may not happen.
- Durable, once. Every execution has an id (the caller's idempotency key; its ledger transfer
  ids derive from it): its plan is recorded before money moves (`executions`), and a retry of
  an id already executed answers the recorded outcome (`replayed`) instead of running again.
  `recover()` settles what a crash interrupted.
- One batch at a time (a lock); a batch holds at most `BATCH_PROGRAMS_MAX` programs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Final

from clearline.contracts import addresses as ad
from clearline.contracts.chains import (
    ExecutorError,
    NewScriptAccount,
    Planned,
    Refusal,
    create_script_accounts,
    submit_chains,
    transfer_ids,
)
from clearline.contracts.executions import (
    EMPTY_PLAN,
    Completion,
    Execution,
    ExecutionRecords,
    Intent,
    Outcome,
    Plan,
    refused_outcome,
    replayed_outcome,
)
from clearline.contracts.numscript import Posting, Program, Result
from clearline.contracts.numscript.program import program_key
from clearline.core.clock import Clock, SystemClock
from clearline.core.errors import ClearlineError, InvalidInput
from clearline.db import PlatformStore
from clearline.ledger import (
    AMOUNT_MAX,
    BATCH_EVENTS_MAX,
    Ledger,
)

BATCH_PROGRAMS_MAX: Final = 65_520
"""Most programs in one `execute` call."""
CHUNK_PROGRAMS: Final = 2_730
"""Programs committed together: at most three postings each fill one ledger call (8,190)."""
BALANCES_MAX: Final = 262_144
"""Most script accounts whose balances the executor holds in memory (about 200 B each)."""
META_CACHE_MAX: Final = 65_536
"""Most account metadata values held in memory."""
RETRIES_MAX: Final = 16
"""Rounds of reading missing accounts one batch may take before it gives up."""


class _Miss(Exception):
    """A balance the executor does not hold yet (internal: the program is run again)."""


_SHAS: dict[int, tuple[Program, str]] = {}


def program_sha256(program: Program) -> str:
    """How a program is stored: its cache key (`numscript.program.program_key`) in hex."""
    known = _SHAS.get(id(program))
    if known is not None and known[0] is program:
        return known[1]
    if len(_SHAS) >= 4096:
        _SHAS.clear()
    sha = _SHAS[id(program)] = (program, program_key(program.text, program.feature_flags).hex())
    return sha[1]


class _View:
    """The `Store` one program runs against: committed balances plus the batch's earlier
    postings; records what it read and raises `_Miss` for an account not held."""

    __slots__ = ("executor", "misses", "read_ids")

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.read_ids: list[int] = []
        self.misses: set[int] = set()

    def balance(self, account: str, asset: str, color: str) -> int:
        ex = self.executor
        ident = ad.account_id(account, asset, color)
        self.read_ids.append(ident)
        if ad.bound_account(account) is not None:
            return ex._bound_balance(ident, account, asset)
        held = ex._batch.get(ident) or ex._balances.get(ident)
        if held is None:
            self.misses.add(ident)
            raise _Miss
        return held[1] - held[0]

    def account_meta(self, account: str, key: str) -> str | None:
        return self.executor._meta(account, key)

    def asset_scales(self, account: str, base_asset: str) -> Iterable[int]:
        scales = set()
        for held_asset, color in self.executor.records.assets_of(account):
            base, _, scale = held_asset.partition("/")
            if base == base_asset and not color and scale.isdigit():
                scales.add(int(scale))
        return scales


@dataclass(slots=True)
class _Chunk:
    """Programs planned together and committed together."""

    planned: list[Planned]
    refused: list[tuple[Intent, str, str]]
    waiting: list[Execution]
    staged: dict[int, list[int]]
    """The script accounts' totals after the chunk."""
    creating: list[NewScriptAccount]


class Executor:
    """Runs Numscript programs on the ledger; see the module's guarantees."""

    def __init__(self, ledger: Ledger, store: PlatformStore, clock: Clock | None = None) -> None:
        self.ledger = ledger
        self.records = ExecutionRecords(store)
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._balances: dict[int, list[int]] = {}
        """Script account id -> [debits_posted, credits_posted], as committed."""
        self._batch: dict[int, list[int]] = {}
        """The batch's working copy of the accounts its programs moved."""
        self._bound_assets: dict[int, str] = {}
        """Ledger account id -> its asset, for the `@ledger:` accounts seen."""
        self._known: set[int] = set()
        """Script accounts the ledger has (created or found)."""
        self._creating: dict[int, tuple[str, str, str, int]] = {}
        """Script accounts the batch's programs move that the ledger may not have yet."""
        self._meta_cache: dict[tuple[str, str], str | None] = {}
        self._batch_meta: dict[tuple[str, str], str] = {}
        self._settling: dict[int, Outcome] = {}
        """Executions committed to the ledger whose `done` row is still being written (their
        `pending` row and the ledger already make them durable: see `recover`)."""
        self._settled: Future[None] | None = None

    # -- the public entry points -----------------------------------------------------------------

    def dry_run(self, program: Program, variables: Mapping[str, str]) -> Result:
        """What `program` would post now, moving nothing (raises its error)."""
        with self._lock:
            self._batch, self._batch_meta = {}, {}
            for _ in range(RETRIES_MAX):
                view = _View(self)
                try:
                    return program.run(variables, view)
                except _Miss:
                    self._load(view.misses)
            raise ExecutorError("the program kept reading accounts the ledger does not have")

    def execute(self, executions: Sequence[Execution]) -> list[Outcome]:
        """Run `executions` in order on the ledger; one outcome each, in order."""
        if len(executions) > BATCH_PROGRAMS_MAX:
            raise InvalidInput(
                f"{len(executions)} programs exceed the batch limit of {BATCH_PROGRAMS_MAX}",
                code="batch_too_large",
            )
        ids = [e.id for e in executions]
        if len(set(ids)) != len(ids):
            raise InvalidInput("two executions in one batch share an id", code="duplicate_id")
        for ident in ids:
            if type(ident) is not int or not 0 < ident < ad.ID_MAX:
                raise InvalidInput(f"execution id {ident!r} is not a non-zero 128-bit integer")
        with self._lock:
            outcomes: dict[int, Outcome] = {}
            for ident, stored in self.records.find(ids).items():
                settling = self._settling.get(ident)
                if settling is not None:
                    outcomes[ident] = dataclasses.replace(settling, status="replayed")
                elif stored.status != "pending":
                    outcomes[ident] = replayed_outcome(stored)
                else:
                    raise ExecutorError(
                        f"execution {ident:032x} was interrupted and is not settled yet: "
                        "open the platform again (it settles interrupted executions at start)"
                    )
            todo = [e for e in executions if e.id not in outcomes]
            while todo:
                todo = self._round(todo, outcomes)
            return [outcomes[i] for i in ids]

    def flush(self) -> None:
        """Wait until every settled execution's row is written (tests, closing)."""
        with self._lock:
            if self._settled is not None:
                self._settled.result()

    def recover(self) -> int:
        """Settle the executions a crash left `pending`: done if their chain is in the ledger,
        abandoned (nothing moved) if not. How many were settled."""
        with self._lock:
            pending = self.records.pending()
            if not pending:
                return 0
            completions = []
            for stored in pending:
                ids = stored.plan.transfer_ids
                found = self.ledger.lookup_transfers(list(ids[:1])) if ids else []
                if found or not ids:
                    completions.append(
                        Completion(stored.id, "done", account_meta=stored.plan.account_meta)
                    )
                else:
                    completions.append(
                        Completion(
                            stored.id,
                            "abandoned",
                            "interrupted",
                            "the process stopped before the ledger committed: nothing moved",
                        )
                    )
            self.records.complete(completions, self.clock.now_ns()).result()
            self._balances.clear()  # read again from the ledger when next touched
            self._meta_cache.clear()
            return len(completions)

    # -- one round of a batch ----------------------------------------------------------------

    def _round(self, todo: list[Execution], outcomes: dict[int, Outcome]) -> list[Execution]:
        """Run what can run now, in chunks of at most CHUNK_PROGRAMS, each planned, recorded and
        committed before the next is planned; return what must wait for the next round."""
        waiting: list[Execution] = []
        try:
            for start in range(0, len(todo), CHUNK_PROGRAMS):
                chunk = self._plan_chunk(todo[start : start + CHUNK_PROGRAMS], outcomes)
                waiting.extend(chunk.waiting)
                self._batch, self._batch_meta = {}, {}
                try:
                    failures = self._write_and_submit(chunk)
                except BaseException:
                    self._forget()
                    raise
                self._finish(chunk, failures, outcomes)
        finally:
            self._batch, self._batch_meta = {}, {}
        return waiting

    def _plan_chunk(self, todo: list[Execution], outcomes: dict[int, Outcome]) -> _Chunk:
        for _ in range(RETRIES_MAX):
            self._batch, self._batch_meta, self._creating = {}, {}, {}
            planned, refused, waiting, misses = self._plan(todo, outcomes)
            if not misses:
                return _Chunk(
                    planned,
                    [
                        (i, outcomes[i.id].error_code or "", outcomes[i.id].error or "")
                        for i in refused
                    ],
                    waiting,
                    self._batch,
                    list(self._creating.values()),
                )
            self._load(misses)
        raise ExecutorError("a batch kept reading accounts the ledger does not have")

    def _plan(
        self, todo: list[Execution], outcomes: dict[int, Outcome]
    ) -> tuple[list[Planned], list[Intent], list[Execution], set[int]]:
        planned: list[Planned] = []
        refused: list[Intent] = []
        waiting: list[Execution] = []
        uncertain: set[int] = set()
        misses: set[int] = set()
        batch = self._batch
        for execution in todo:
            view = _View(self)
            try:
                result = execution.program.run(execution.variables, view)
                moves, touched, bound, unheld, staged = self._stage(result.postings)
            except _Miss:
                misses |= view.misses
                continue
            except ClearlineError as error:
                if uncertain and uncertain.intersection(view.read_ids):
                    waiting.append(execution)
                    continue
                refused.append(_intent(execution, EMPTY_PLAN))
                outcomes[execution.id] = refused_outcome(execution.id, error.code, str(error))
                continue
            if unheld or misses:
                misses |= unheld
                continue  # this round is run again once the missing accounts are read
            if uncertain and (
                uncertain.intersection(view.read_ids) or uncertain.intersection(touched)
            ):
                waiting.append(execution)
                continue
            if bound:
                uncertain.update(touched)
            batch.update(staged)
            if result.account_meta:
                for address, values in result.account_meta.items():
                    for key, value in values.items():
                        self._batch_meta[(address, key)] = value
            plan = Plan(
                result.postings,
                transfer_ids(execution.id, len(moves)),
                result.tx_meta,
                result.account_meta,
            )
            planned.append(Planned(_intent(execution, plan), moves))
            outcomes[execution.id] = Outcome(
                execution.id,
                "done",
                result.postings,
                plan.transfer_ids,
                result.tx_meta,
                result.account_meta,
            )
        return planned, refused, waiting, misses

    def _stage(
        self, postings: Sequence[Posting]
    ) -> tuple[list[tuple[int, int, int]], set[int], bool, set[int], dict[int, list[int]]]:
        """One program's postings against the batch so far: (debit id, credit id, amount) of
        each posting that moves money, the accounts touched, whether any is a ledger account,
        the script accounts not held (the program must wait for them to be read), and the
        script accounts' totals after it. Refuses what the ledger could not hold."""
        moves: list[tuple[int, int, int]] = []
        touched: set[int] = set()
        unheld: set[int] = set()
        staged: dict[int, list[int]] = {}
        bound = False
        batch, balances = self._batch, self._balances
        creating, known = self._creating, self._known
        account_id, bound_account = ad.account_id, ad.bound_account
        for source_name, destination_name, amount, asset, color in postings:
            if amount > AMOUNT_MAX:
                raise InvalidInput(
                    f"a posting of {amount} {asset} exceeds the ledger's largest amount "
                    f"({AMOUNT_MAX}): split it",
                    code="amount_too_large",
                )
            ad.ledger_asset(asset)  # refuses `USD/3` here, before any row is written
            source = account_id(source_name, asset, color)
            destination = account_id(destination_name, asset, color)
            for address, ident, side in (
                (source_name, source, 0),
                (destination_name, destination, 1),
            ):
                if bound_account(address) is not None:
                    bound = True
                    self._check_bound_asset(ident, address, asset)
                    continue
                if source == destination:
                    continue
                held = staged.get(ident)
                if held is None:
                    base = batch.get(ident) or balances.get(ident)
                    if base is None:
                        unheld.add(ident)
                        base = [0, 0]
                    held = staged[ident] = [base[0], base[1]]
                    if ident not in known and ident not in creating:
                        creating[ident] = (address, asset, color, ident)
                held[side] += amount
                if held[side] > AMOUNT_MAX:
                    raise InvalidInput(
                        "a posting would take an account's total past the ledger's largest "
                        f"amount ({AMOUNT_MAX})",
                        code="overflows_account",
                    )
            if source == destination:
                continue  # moves nothing; the ledger refuses a transfer to the same account
            moves.append((source, destination, amount))
            touched.add(source)
            touched.add(destination)
        return moves, touched, bound, unheld, staged

    def _apply(self, moves: Iterable[tuple[int, int, int]], into: dict[int, list[int]]) -> None:
        """Add `moves` to the working balances `into` (script accounts only)."""
        bound = self._bound_assets
        for debit, credit, amount in moves:
            for ident, side in ((debit, 0), (credit, 1)):
                if ident in bound:
                    continue
                held = into.get(ident)
                if held is None:
                    base = self._balances.get(ident) or [0, 0]
                    held = into[ident] = [base[0], base[1]]
                held[side] += amount

    # -- committing a round --------------------------------------------------------------------

    def _write_and_submit(self, chunk: _Chunk) -> list[Refusal | None]:
        """The chunk's records, then its accounts and chains."""
        self.records.write_intents(
            [p.intent for p in chunk.planned],
            chunk.creating,
            self.clock.now_ns(),
            refused=chunk.refused,
        )
        if not chunk.planned:
            return []
        if chunk.creating:
            create_script_accounts(self.ledger, chunk.creating)
            self._known.update(a[3] for a in chunk.creating)
        return submit_chains(self.ledger, chunk.planned)

    def _finish(
        self, chunk: _Chunk, failures: list[Refusal | None], outcomes: dict[int, Outcome]
    ) -> None:
        """Once the chunk's commit has answered: outcomes, balances, rows."""
        completions = []
        for item, failure in zip(chunk.planned, failures, strict=True):
            intent = item.intent
            if failure is None:
                completions.append(
                    Completion(intent.id, "done", account_meta=intent.plan.account_meta)
                )
                for address, values in intent.plan.account_meta.items():
                    for key, value in values.items():
                        self._remember_meta((address, key), value)
                continue
            code, message = failure
            completions.append(Completion(intent.id, "refused", code, message))
            outcomes[intent.id] = refused_outcome(intent.id, code, message)
        staged = chunk.staged
        if any(f is not None for f in failures):
            # a ledger account refused: rebuild the chunk's balances from what committed
            staged = {}
            for item, failure in zip(chunk.planned, failures, strict=True):
                if failure is None:
                    self._apply(item.moves, staged)
        self._balances.update(staged)
        if completions:
            self._settle(completions, outcomes)
        if len(self._balances) > BALANCES_MAX:  # the oldest half: read again when touched
            for ident in list(self._balances)[: len(self._balances) - BALANCES_MAX // 2]:
                del self._balances[ident]
        if len(self._known) > 4 * BALANCES_MAX:  # creating a known account again answers exists
            self._known.clear()

    def _forget(self) -> None:
        """The ledger's answer is unknown (it failed): read balances again when next touched."""
        self._balances.clear()
        self._meta_cache.clear()

    def close(self) -> None:
        """Wait for the last rows to be written."""
        with self._lock:
            if self._settled is not None:
                with contextlib.suppress(BaseException):
                    self._settled.result()

    def _settle(self, completions: list[Completion], outcomes: dict[int, Outcome]) -> None:
        """Write the rows of what the ledger decided without waiting for them: the pending
        rows and the ledger already hold every fact (`recover` settles them after a crash)."""
        settling = self._settling
        for completion in completions:
            settling[completion.id] = outcomes[completion.id]
        future = self.records.complete(completions, self.clock.now_ns())
        ids = [c.id for c in completions]

        def settled(_: Future[None]) -> None:
            for ident in ids:
                settling.pop(ident, None)

        future.add_done_callback(settled)
        self._settled = future

    # -- reading what is not held ------------------------------------------------------------

    def _load(self, misses: set[int]) -> None:
        wanted = [i for i in misses if i not in self._balances]
        for start in range(0, len(wanted), BATCH_EVENTS_MAX):
            chunk = wanted[start : start + BATCH_EVENTS_MAX]
            found = {a.id: a for a in self.ledger.lookup_accounts(chunk)}
            for ident in chunk:
                account = found.get(ident)
                if account is None:
                    self._balances[ident] = [0, 0]
                else:
                    self._known.add(ident)
                    self._balances[ident] = [account.debits_posted, account.credits_posted]

    def _check_bound_asset(self, ident: int, address: str, asset: str) -> None:
        held = self._bound_assets.get(ident)
        if held is None:
            found = self.ledger.lookup_accounts([ident])
            if not found:
                raise ad.AddressError(
                    f"@{address}: no such ledger account", code="account_not_found"
                )
            held = self._bound_assets[ident] = found[0].asset.spec
        if held != ad.ledger_asset(asset).spec:
            raise ad.AddressError(f"@{address} holds {held}, not {asset}", code="asset_mismatch")

    def _bound_balance(self, ident: int, address: str, asset: str) -> int:
        self._check_bound_asset(ident, address, asset)
        spendable = self.ledger.peek_spendable(ident)
        return 0 if spendable is None else spendable

    def _meta(self, address: str, key: str) -> str | None:
        pair = (address, key)
        if pair in self._batch_meta:
            return self._batch_meta[pair]
        if pair in self._meta_cache:
            return self._meta_cache[pair]
        value = self.records.account_meta(address, key)
        self._remember_meta(pair, value)
        return value

    def _remember_meta(self, pair: tuple[str, str], value: str | None) -> None:
        if len(self._meta_cache) >= META_CACHE_MAX:
            self._meta_cache.clear()
        self._meta_cache[pair] = value


def _intent(execution: Execution, plan: Plan) -> Intent:
    program = execution.program
    return Intent(
        execution.id,
        program_sha256(program),
        program.text,
        tuple(program.feature_flags),
        execution.variables,
        plan,
    )


__all__ = [
    "BALANCES_MAX",
    "BATCH_PROGRAMS_MAX",
    "Execution",
    "Executor",
    "ExecutorError",
    "Outcome",
]
