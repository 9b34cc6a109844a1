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
  A chunk's settlement (one row) is written with the next chunk's records, or on its own after
  the last chunk of a round, without waiting: until it is durable the executor answers its
  replays from memory, and after a crash its pending rows and the ledger hold every fact.
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
    Move,
    NewScriptAccount,
    Refusal,
    append_chain,
    create_script_accounts,
    submit_chains,
    transfer_ids,
)
from clearline.contracts.executions import (
    Execution,
    ExecutionRecords,
    Outcome,
    Settlement,
    Status,
    done_outcome,
    program_sha256,
    refused_outcome,
    replayed_outcome,
)
from clearline.contracts.numscript import Posting, Program, Result
from clearline.core.clock import Clock, SystemClock
from clearline.core.errors import ClearlineError, InvalidInput
from clearline.db import PlatformStore
from clearline.ledger import (
    AMOUNT_MAX,
    BATCH_EVENTS_MAX,
    Ledger,
    Transfer,
)

BATCH_PROGRAMS_MAX: Final = 65_520
"""Most programs in one `execute` call."""
CHUNK_PROGRAMS: Final = 2_730
"""Programs committed together: at most three postings each fill one ledger call (8,190)."""
BALANCES_MAX: Final = 262_144
"""Most script accounts whose balances the executor holds in memory (about 200 B each)."""
META_CACHE_MAX: Final = 65_536
"""Most account metadata values held in memory."""
IDS_MAX: Final = 65_536
"""Most (address, asset, color) -> ledger id answers held in memory (about 250 B each)."""
ASSETS_MAX: Final = 4_096
"""Most Numscript assets remembered as valid in the ledger."""
RETRIES_MAX: Final = 16
"""Rounds of reading missing accounts one batch may take before it gives up."""

_BOUND = ad.BOUND_PREFIX
_INTERRUPTED = "the process stopped before the ledger committed: nothing moved"


class _Miss(Exception):
    """A balance the executor does not hold yet (internal: the program is run again)."""


class _View:
    """The `Store` programs run against: committed balances plus the batch's earlier postings;
    records what a program read (while `tracking`) and raises `_Miss` for an account not held,
    adding it to `misses`."""

    __slots__ = ("executor", "misses", "read_ids", "tracking")

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.read_ids: list[int] = []
        self.misses: set[int] = set()
        self.tracking = True

    def balance(self, account: str, asset: str, color: str) -> int:
        ex = self.executor
        ident = ex._ids.get((account, asset, color)) or ex._ident(account, asset, color)
        if self.tracking:
            self.read_ids.append(ident)
        if account.startswith(_BOUND):
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

    executions: list[Execution]
    """Those planned, in order."""
    outcomes: list[Outcome]
    """Their outcomes (done), in the same order."""
    transfers: list[Transfer]
    """Every planned execution's chain, one after another."""
    sizes: list[int]
    """How many of `transfers` each planned execution has."""
    refused: list[tuple[Execution, str, str]]
    waiting: list[Execution]
    staged: dict[int, list[int]]
    """The script accounts' totals after the chunk."""
    creating: list[NewScriptAccount]
    with_meta: list[int]
    """Indexes into `executions` of those that set account metadata."""


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
        self._ids: dict[tuple[str, str, str], int] = {}
        """(address, asset, color) -> its ledger id (`addresses.account_id`)."""
        self._assets: set[str] = set()
        """Numscript assets the ledger can hold (`addresses.ledger_asset` answered)."""
        self._meta_cache: dict[tuple[str, str], str | None] = {}
        self._batch_meta: dict[tuple[str, str], str] = {}
        self._settling: dict[int, dict[int, Outcome]] = {}
        """Chunks committed to the ledger whose settlement is not durable yet -> the outcomes of
        their executions the ledger refused (the others are done: their `pending` rows and the
        ledger already make them durable, see `recover`)."""
        self._unwritten: list[Settlement] = []
        """Settlements to write with the next chunk's records (or at the end of the round)."""
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
            settling = dict(self._settling)  # before reading: a chunk may settle meanwhile
            for ident, stored in self.records.find(ids).items():
                if stored.status != "pending":
                    outcomes[ident] = replayed_outcome(stored)
                    continue
                refusals = None if stored.chunk is None else settling.get(stored.chunk)
                if refusals is None:
                    raise ExecutorError(
                        f"execution {ident:032x} was interrupted and is not settled yet: "
                        "open the platform again (it settles interrupted executions at start)"
                    )
                refusal = refusals.get(ident)
                outcomes[ident] = (
                    replayed_outcome(stored, done=True)
                    if refusal is None
                    else dataclasses.replace(refusal, status="replayed")
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
        """Settle the executions a crash left pending: done if their chain is in the ledger,
        abandoned (nothing moved) if not. How many were settled."""
        with self._lock:
            if self._settled is not None:  # this executor's own settlements come first
                with contextlib.suppress(BaseException):
                    self._settled.result()
            chunks = self.records.open_chunks()
            if not chunks:
                return 0
            pending = self.records.pending()
            firsts = [s.plan.transfer_ids[0] for s in pending if s.plan.transfer_ids]
            found: set[int] = set()
            for start in range(0, len(firsts), BATCH_EVENTS_MAX):
                wanted = firsts[start : start + BATCH_EVENTS_MAX]
                found.update(t.id for t in self.ledger.lookup_transfers(wanted))
            now_ns = self.clock.now_ns()
            unsettled: dict[int, list[tuple[int, Status, str, str]]] = {c: [] for c in chunks}
            metas: dict[int, list[tuple[str, str, str]]] = {c: [] for c in chunks}
            for stored in pending:
                assert stored.chunk is not None, "a pending execution outside a chunk"
                ids = stored.plan.transfer_ids
                refusal = self._settling.get(stored.chunk, {}).get(stored.id)
                if refusal is not None:  # its settlement failed to be written: the ledger said
                    unsettled[stored.chunk].append(
                        (stored.id, "refused", refusal.error_code or "", refusal.error or "")
                    )
                elif ids and ids[0] not in found:
                    unsettled[stored.chunk].append(
                        (stored.id, "abandoned", "interrupted", _INTERRUPTED)
                    )
                else:
                    metas[stored.chunk].extend(_meta_rows(stored.plan.account_meta))
            settlements = [
                Settlement(c, now_ns, tuple(unsettled[c]), tuple(metas[c])) for c in chunks
            ]
            self.records.settle(settlements, now_ns).result()
            for chunk in chunks:
                self._settling.pop(chunk, None)
            self._balances.clear()  # read again from the ledger when next touched
            self._meta_cache.clear()
            return len(pending)

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
                    chunk_id, failures = self._write_and_submit(chunk)
                except BaseException:
                    self._forget()
                    raise
                if chunk_id is not None:
                    self._finish(chunk, chunk_id, failures, outcomes)
        finally:
            self._batch, self._batch_meta = {}, {}
            self._write_settlements()
        return waiting

    def _plan_chunk(self, todo: list[Execution], outcomes: dict[int, Outcome]) -> _Chunk:
        """Plan `todo` in order; a program that reads or moves an account not held stops the
        planning there: the accounts the rest would miss too are read together, and planning
        resumes with that program (those before it stand: they touched only held accounts)."""
        self._batch, self._batch_meta, self._creating = {}, {}, {}
        chunk = _Chunk([], [], [], [], [], [], {}, [], [])
        view = _View(self)
        view.tracking = False  # reads matter once a program touched a ledger account
        uncertain: set[int] = set()
        start = 0
        for _ in range(RETRIES_MAX):
            start = self._plan(todo, start, chunk, view, uncertain, outcomes)
            if start == len(todo):
                chunk.staged = self._batch
                chunk.creating = list(self._creating.values())
                return chunk
            self._discover(todo[start + 1 :], view)
            self._load(view.misses)
            view.misses.clear()
        raise ExecutorError("a batch kept reading accounts the ledger does not have")

    def _plan(
        self,
        todo: list[Execution],
        start: int,
        chunk: _Chunk,
        view: _View,
        uncertain: set[int],
        outcomes: dict[int, Outcome],
    ) -> int:
        """Plan `todo[start:]` into `chunk` until a program misses an account (its index, the
        accounts in `view.misses`); len(todo) when every one was planned."""
        executions, planned, transfers, sizes = (
            chunk.executions,
            chunk.outcomes,
            chunk.transfers,
            chunk.sizes,
        )
        misses, read_ids = view.misses, view.read_ids
        for index in range(start, len(todo)):
            execution = todo[index]
            if uncertain:
                view.tracking = True
                read_ids.clear()
            try:
                result = execution.program.run(execution.variables, view)
                moves, bound, unheld = self._stage(result.postings)
            except _Miss:
                return index
            except ClearlineError as error:
                if uncertain and uncertain.intersection(read_ids):
                    chunk.waiting.append(execution)
                    continue
                chunk.refused.append((execution, error.code, str(error)))
                outcomes[execution.id] = refused_outcome(execution.id, error.code, str(error))
                continue
            if unheld:
                misses.update(unheld)
                return index
            if uncertain and (
                uncertain.intersection(read_ids)
                or any(d in uncertain or c in uncertain for d, c, _ in moves)
            ):
                self._unstage(moves)
                chunk.waiting.append(execution)
                continue
            if bound:
                for debit, credit, _ in moves:
                    uncertain.add(debit)
                    uncertain.add(credit)
            if result.account_meta:
                chunk.with_meta.append(len(planned))
                for address, values in result.account_meta.items():
                    for key, value in values.items():
                        self._batch_meta[(address, key)] = value
            ids = transfer_ids(execution.id, len(moves))
            if ids:
                append_chain(transfers, moves, ids[0], execution.id)
            sizes.append(len(moves))
            outcome = done_outcome(
                execution.id, result.postings, ids, result.tx_meta, result.account_meta
            )
            executions.append(execution)
            planned.append(outcome)
            outcomes[execution.id] = outcome
        return len(todo)

    def _discover(self, rest: list[Execution], view: _View) -> None:
        """Run `rest` against the batch as it stands, staging nothing, to collect in
        `view.misses` the accounts they would miss too (read together, before planning
        resumes)."""
        tracking, view.tracking = view.tracking, False
        try:
            for execution in rest:
                try:
                    result = execution.program.run(execution.variables, view)
                    unheld = self._stage(result.postings, staging=False)[2]
                except (_Miss, ClearlineError):
                    continue
                if unheld:
                    view.misses.update(unheld)
        finally:
            view.tracking = tracking

    def _stage(
        self, postings: Sequence[Posting], staging: bool = True
    ) -> tuple[list[Move], bool, list[int] | None]:
        """Stage one program's postings into the batch's balances (`self._batch`): (debit id,
        credit id, amount) of each posting that moves money, whether any account is a ledger
        account, and the script accounts not held (None if none; else nothing of the program
        is staged: it must wait for them to be read). Refuses what the ledger could not hold,
        staging nothing (`_unstage` takes a staged program back). `staging=False` stages
        nothing and only finds what is not held."""
        moves: list[Move] = []
        unheld: list[int] | None = None
        bound = False
        batch, balances, ids, assets = self._batch, self._balances, self._ids, self._assets
        staged: list[list[int] | None] = [None, None]  # the current posting's staged sides
        amount = 0
        try:
            for source_name, destination_name, amount, asset, color in postings:
                if amount > AMOUNT_MAX:
                    raise InvalidInput(
                        f"a posting of {amount} {asset} exceeds the ledger's largest amount "
                        f"({AMOUNT_MAX}): split it",
                        code="amount_too_large",
                    )
                if asset not in assets:
                    ad.ledger_asset(asset)  # refuses `USD/3` here, before any row is written
                    self._remember_asset(asset)
                source = ids.get((source_name, asset, color)) or self._ident(
                    source_name, asset, color
                )
                destination = ids.get((destination_name, asset, color)) or self._ident(
                    destination_name, asset, color
                )
                staged[0] = staged[1] = None
                for side, address, ident in (
                    (0, source_name, source),
                    (1, destination_name, destination),
                ):
                    if address.startswith(_BOUND):
                        bound = True
                        self._check_bound_asset(ident, address, asset)
                    elif source == destination:
                        continue
                    elif not staging:
                        if (batch.get(ident) or balances.get(ident)) is None:
                            unheld = [ident] if unheld is None else [*unheld, ident]
                    elif (
                        held := batch.get(ident) or self._hold(ident, address, asset, color)
                    ) is None:
                        staging = False  # nothing of the program stays staged
                        self._unstage(moves, staged, amount)
                        unheld = [ident]
                    else:
                        staged[side] = held
                        held[side] += amount
                        if held[side] > AMOUNT_MAX:
                            raise _overflow()
                if source == destination:
                    continue  # moves nothing; the ledger refuses a transfer to the same account
                moves.append((source, destination, amount))
        except BaseException:
            if staging:  # take back what this program staged
                self._unstage(moves, staged, amount)
            raise
        if len(moves) > BATCH_EVENTS_MAX:
            if staging:
                self._unstage(moves)
            raise InvalidInput(
                f"{len(moves)} postings exceed what one ledger call commits together "
                f"({BATCH_EVENTS_MAX})",
                code="too_many_postings",
            )
        return moves, bound, unheld

    def _hold(self, ident: int, address: str, asset: str, color: str) -> list[int] | None:
        """A script account's working totals, put into the batch from the committed ones
        (None: not held, it must be read first)."""
        base = self._balances.get(ident)
        if base is None:
            return None
        held = self._batch[ident] = [base[0], base[1]]
        if ident not in self._known and ident not in self._creating:
            self._creating[ident] = (address, asset, color, ident)
        return held

    def _unstage(
        self,
        moves: Iterable[Move],
        partial: Sequence[list[int] | None] = (None, None),
        amount: int = 0,
    ) -> None:
        """Take back staged `moves` (all of whose script accounts were held), and `amount` from
        the sides of a posting half staged (`partial`: its debit side's totals, its credit's)."""
        bound, batch = self._bound_assets, self._batch
        for debit, credit, moved in moves:
            if debit not in bound:
                batch[debit][0] -= moved
            if credit not in bound:
                batch[credit][1] -= moved
        for side, held in enumerate(partial):
            if held is not None:
                held[side] -= amount

    def _remember_asset(self, asset: str) -> None:
        if len(self._assets) >= ASSETS_MAX:
            self._assets.clear()
        self._assets.add(asset)

    def _ident(self, address: str, asset: str, color: str) -> int:
        """`addresses.account_id`, remembered (at most IDS_MAX answers)."""
        key = (address, asset, color)
        ident = self._ids.get(key)
        if ident is None:
            ident = ad.account_id(address, asset, color)  # raises for a bad address
            if len(self._ids) >= IDS_MAX:
                self._ids.clear()
            self._ids[key] = ident
        return ident

    def _apply(self, moves: Iterable[Transfer], into: dict[int, list[int]]) -> None:
        """Add the transfers `moves` to the working balances `into` (script accounts only)."""
        bound = self._bound_assets
        for transfer in moves:
            for ident, side in ((transfer.debit_account_id, 0), (transfer.credit_account_id, 1)):
                if ident in bound:
                    continue
                held = into.get(ident)
                if held is None:
                    base = self._balances.get(ident) or [0, 0]
                    held = into[ident] = [base[0], base[1]]
                held[side] += transfer.amount

    # -- committing a round --------------------------------------------------------------------

    def _write_and_submit(self, chunk: _Chunk) -> tuple[int | None, dict[int, Refusal]]:
        """The chunk's records (with the settlements not written yet), then its accounts and
        chains: the chunk's id (None: nothing planned) and the refusals of the ledger."""
        settlements, self._unwritten = self._unwritten, []
        try:
            chunk_id = self.records.write_chunk(
                chunk.executions,
                chunk.outcomes,
                chunk.refused,
                chunk.creating,
                self.clock.now_ns(),
                settlements,
            )
        except BaseException:
            self._unwritten = settlements  # written on their own at the end of the round
            raise
        for settlement in settlements:
            self._settling.pop(settlement.chunk, None)
        if chunk_id is None:
            return None, {}
        if chunk.creating:
            create_script_accounts(self.ledger, chunk.creating)
            self._known.update(a[3] for a in chunk.creating)
        return chunk_id, submit_chains(self.ledger, chunk.transfers, chunk.sizes)

    def _finish(
        self,
        chunk: _Chunk,
        chunk_id: int,
        failures: dict[int, Refusal],
        outcomes: dict[int, Outcome],
    ) -> None:
        """Once the chunk's commit has answered: outcomes, balances, its settlement."""
        refusals: dict[int, Outcome] = {}
        for index, (code, message) in failures.items():
            ident = chunk.executions[index].id
            refusals[ident] = outcomes[ident] = refused_outcome(ident, code, message)
        metas: list[tuple[str, str, str]] = []
        for index in chunk.with_meta:
            if index not in failures:
                metas.extend(_meta_rows(chunk.outcomes[index].account_meta))
        for address, key, value in metas:
            self._remember_meta((address, key), value)
        staged = chunk.staged
        if failures:
            # a ledger account refused: rebuild the chunk's balances from what committed
            staged, start = {}, 0
            for index, size in enumerate(chunk.sizes):
                if index not in failures:
                    self._apply(chunk.transfers[start : start + size], staged)
                start += size
        self._balances.update(staged)
        self._settling[chunk_id] = refusals
        self._unwritten.append(
            Settlement(
                chunk_id,
                self.clock.now_ns(),
                tuple(
                    (i, "refused", o.error_code or "", o.error or "") for i, o in refusals.items()
                ),
                tuple(metas),
            )
        )
        if len(self._balances) > BALANCES_MAX:  # the oldest half: read again when touched
            for ident in list(self._balances)[: len(self._balances) - BALANCES_MAX // 2]:
                del self._balances[ident]
        if len(self._known) > 4 * BALANCES_MAX:  # creating a known account again answers exists
            self._known.clear()

    def _write_settlements(self) -> None:
        """Write the settlements no next chunk took along, without waiting: the pending rows and
        the ledger already hold every fact (`recover` settles them after a crash)."""
        settlements, self._unwritten = self._unwritten, []
        if not settlements:
            return
        future = self.records.settle(settlements, self.clock.now_ns())
        settling = self._settling
        chunks = [s.chunk for s in settlements]

        def settled(done: Future[None]) -> None:
            if done.exception() is None:  # else the replays keep answering from memory
                for chunk in chunks:
                    settling.pop(chunk, None)

        future.add_done_callback(settled)
        self._settled = future

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


def _overflow() -> InvalidInput:
    return InvalidInput(
        f"a posting would take an account's total past the ledger's largest amount ({AMOUNT_MAX})",
        code="overflows_account",
    )


def _meta_rows(account_meta: Mapping[str, Mapping[str, str]]) -> list[tuple[str, str, str]]:
    return [
        (address, key, value)
        for address, values in account_meta.items()
        for key, value in values.items()
    ]


__all__ = [
    "BALANCES_MAX",
    "BATCH_PROGRAMS_MAX",
    "Execution",
    "Executor",
    "ExecutorError",
    "Outcome",
    "program_sha256",
]
