"""The contracts room's records of Numscript executions, in the platform database.

Guarantees:
- An execution is written before its money moves: its record holds the whole plan (the
  postings, their ledger transfer ids, the transaction and account metadata) and is committed,
  `pending`, before the ledger sees a transfer. The executions committed together (a chunk) are
  written as one `script_chunks` row, their plans one after another in its `intents`, and one
  small `script_executions` row each (found by execution id, it says where its plan lies and
  its status). After the ledger has answered, the chunk is marked completed, the executions the
  ledger refused become `refused` with its reason, and the account metadata of those done is
  applied, in one transaction. A `pending` execution of a completed chunk is `done` (reads say
  so): settling a chunk writes one row, not one per execution.
- So a crash at any point loses nothing and doubles nothing: the chunks found open at start are
  settled from the ledger (`Executor.recover`): each pending execution's transfers are there
  (all of them, the chain is linked) and it is done, or none is and it is `abandoned`; either
  way a retry with the same execution id answers what happened instead of moving money again.
- An execution refused before it reached the ledger (a Numscript error, missing funds) is
  recorded `refused` with its reason, so its id answers the same refusal when retried.
- Program texts are stored once, by SHA-256.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import orjson

from clearline.contracts.numscript import Posting, Program
from clearline.contracts.numscript.program import program_key
from clearline.contracts.records import CONTRACT_STEPS_SQL
from clearline.db import PlatformStore, Schema

SCHEMA = Schema(
    "contracts",
    (
        """
CREATE TABLE script_programs(
  sha256 TEXT PRIMARY KEY, text TEXT NOT NULL, feature_flags TEXT NOT NULL,
  created_ns INTEGER NOT NULL
);
CREATE TABLE script_chunks(
  id INTEGER PRIMARY KEY, programs TEXT NOT NULL, intents BLOB NOT NULL,
  created_ns INTEGER NOT NULL, completed_ns INTEGER
);
CREATE INDEX script_chunks_open ON script_chunks(id) WHERE completed_ns IS NULL;
CREATE TABLE script_executions(
  id BLOB PRIMARY KEY, chunk INTEGER NOT NULL, start INTEGER NOT NULL, length INTEGER NOT NULL,
  status TEXT NOT NULL, error_code TEXT, error TEXT, completed_ns INTEGER
) WITHOUT ROWID;
CREATE TABLE script_accounts(
  address TEXT NOT NULL, asset TEXT NOT NULL, color TEXT NOT NULL, ledger_id TEXT NOT NULL,
  PRIMARY KEY(address, asset, color)
);
CREATE TABLE script_account_meta(
  address TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, updated_ns INTEGER NOT NULL,
  PRIMARY KEY(address, key)
);
""",
        CONTRACT_STEPS_SQL,
    ),
)
"""A chunk's `programs` is the JSON list of its programs' SHA-256; its `intents` are its
executions' entries (`encode_entry`) joined by newlines (JSON never holds a raw one); an execution's
row (its id 16 bytes big-endian) has its entry at bytes `start..start + length - 1` (from 1, as
SQL's `substr` counts)."""

Status = Literal["pending", "done", "refused", "abandoned"]

_SHAS: dict[int, tuple[Program, str]] = {}
_SHAS_MAX = 4096


def program_sha256(program: Program) -> str:
    """How a program is stored: its cache key (`numscript.program.program_key`) in hex."""
    known = _SHAS.get(id(program))
    if known is not None and known[0] is program:
        return known[1]
    if len(_SHAS) >= _SHAS_MAX:
        _SHAS.clear()
    sha = _SHAS[id(program)] = (program, program_key(program.text, program.feature_flags).hex())
    return sha[1]


def _posting(value: Any) -> Any:
    """orjson's fallback: a Posting (a NamedTuple, which orjson does not take) is a list."""
    if type(value) is Posting:
        return tuple(value)
    raise TypeError(f"cannot record a {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Plan:
    """What one execution does, fixed before anything moves."""

    postings: tuple[Posting, ...]
    transfer_ids: tuple[int, ...]
    """One per posting that moves money (a posting from an account to itself moves nothing)."""
    tx_meta: Mapping[str, str]
    account_meta: Mapping[str, Mapping[str, str]]


EMPTY_PLAN = Plan((), (), {}, {})


@dataclass(frozen=True, slots=True)
class Stored:
    """An execution as recorded (`status` `done` for a pending row of a completed chunk)."""

    id: int
    program_sha256: str
    status: Status
    variables: Mapping[str, str]
    plan: Plan
    error_code: str | None
    error: str | None
    created_ns: int
    completed_ns: int | None
    chunk: int | None = None
    """The chunk it was written with."""


OutcomeStatus = Literal["done", "refused", "replayed"]


@dataclass(frozen=True, slots=True)
class Execution:
    """One program to run: `id` is its idempotency key (non-zero, 128-bit)."""

    id: int
    program: Program
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an execution did. `replayed`: it had been executed before; this is that outcome."""

    id: int
    status: OutcomeStatus
    postings: tuple[Posting, ...] = ()
    transfer_ids: tuple[int, ...] = ()
    tx_meta: Mapping[str, str] = field(default_factory=dict)
    account_meta: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    error_code: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "refused" and self.error_code is None


_NEW = object.__new__
_OUTCOME_FIELDS = (
    "id",
    "status",
    "postings",
    "transfer_ids",
    "tx_meta",
    "account_meta",
    "error_code",
    "error",
)
assert tuple(f.name for f in fields(Outcome)) == _OUTCOME_FIELDS, (
    "Outcome changed: see done_outcome"
)
_SET_ID, _SET_STATUS, _SET_POSTINGS, _SET_IDS, _SET_TX, _SET_ACCOUNTS, _SET_CODE, _SET_ERROR = (
    getattr(Outcome, name).__set__ for name in _OUTCOME_FIELDS
)


def done_outcome(
    ident: int,
    postings: tuple[Posting, ...],
    transfer_ids: tuple[int, ...],
    tx_meta: Mapping[str, str],
    account_meta: Mapping[str, Mapping[str, str]],
) -> Outcome:
    """`Outcome(ident, "done", postings, transfer_ids, tx_meta, account_meta)`, built for the
    executor's hot path by setting the slots directly (the frozen dataclass's `__init__` takes
    half again as long)."""
    outcome = _NEW(Outcome)
    _SET_ID(outcome, ident)
    _SET_STATUS(outcome, "done")
    _SET_POSTINGS(outcome, postings)
    _SET_IDS(outcome, transfer_ids)
    _SET_TX(outcome, tx_meta)
    _SET_ACCOUNTS(outcome, account_meta)
    _SET_CODE(outcome, None)
    _SET_ERROR(outcome, None)
    return outcome


def refused_outcome(ident: int, code: str, message: str) -> Outcome:
    return Outcome(ident, "refused", error_code=code, error=message)


def replayed_outcome(stored: Stored, done: bool = False) -> Outcome:
    """The outcome a retried id answers: what its record says happened (`done`: a pending row
    the caller knows committed, its chunk not settled yet)."""
    if done or stored.status == "done":
        plan = stored.plan
        return Outcome(
            stored.id, "replayed", plan.postings, plan.transfer_ids, plan.tx_meta, plan.account_meta
        )
    return Outcome(
        stored.id, "replayed", error_code=stored.error_code or stored.status, error=stored.error
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the ledger decided for one chunk, to be written (`ExecutionRecords.settle`)."""

    chunk: int
    completed_ns: int
    unsettled: tuple[tuple[int, Status, str, str], ...] = ()
    """(execution id, status, error code, message) of its executions that are not done: those
    the ledger refused, or (recovery) those it never saw (`abandoned`)."""
    account_meta: tuple[tuple[str, str, str], ...] = ()
    """(address, key, value) the done ones set, in execution order (a later write wins)."""


_ROW_COLUMNS = (
    "e.id, e.chunk, e.start, e.length, e.status, e.error_code, e.error, e.completed_ns,"
    " c.programs, c.created_ns, c.completed_ns"
)
_IN_MAX = 500
"""Most ids one query asks for."""
_SLICES_MAX = 16
"""Most entries of one chunk read one by one (`substr`); more, and its intents are read once."""


def encode_entry(
    ident: int, program: int, variables: Mapping[str, str], plan: Plan | Outcome
) -> bytes:
    """One execution in its chunk's intents: `[id (hex), index of its program in the chunk's
    programs, variables, postings, first transfer id (hex, "" if none), how many, tx_meta,
    account_meta]` (the ids are consecutive, `chains.transfer_ids`)."""
    ids, tx_meta, account_meta = plan.transfer_ids, plan.tx_meta, plan.account_meta
    return orjson.dumps(
        [
            f"{ident:032x}",
            program,
            variables if type(variables) is dict else dict(variables),
            plan.postings,
            f"{ids[0]:032x}" if ids else "",
            len(ids),
            dict(tx_meta) if tx_meta else {},
            {a: dict(m) for a, m in account_meta.items()} if account_meta else {},
        ],
        default=_posting,
    )


def decode_entry(raw: bytes) -> tuple[int, int, dict[str, str], Plan]:
    """(execution id, program index, variables, plan) of an `encode_entry` entry."""
    ident, program, variables, postings, first, count, tx_meta, account_meta = orjson.loads(raw)
    start = int(first, 16) if first else 0
    transfer_ids = tuple(range(start, start + count))
    assert len(transfer_ids) <= len(postings), "a stored plan has more ids than postings"
    plan = Plan(tuple(Posting(*p) for p in postings), transfer_ids, tx_meta, account_meta)
    return int(ident, 16), program, variables, plan


def _stored(row: Sequence[Any], entry: bytes) -> Stored:
    """An execution from its row (`_ROW_COLUMNS`) and its entry in the chunk's intents."""
    ident, program, variables, plan = decode_entry(entry)
    assert int.from_bytes(row[0], "big") == ident, "an execution's row points at another's entry"
    status = row[4]
    if status == "pending" and row[10] is not None:
        status = "done"
    return Stored(
        id=ident,
        program_sha256=orjson.loads(row[8])[program],
        status=status,
        variables=variables,
        plan=plan,
        error_code=row[5],
        error=row[6],
        created_ns=row[9],
        completed_ns=row[7] if row[7] is not None else row[10],
        chunk=row[1],
    )


def _settle(connection: sqlite3.Connection, settlements: Iterable[Settlement], now_ns: int) -> None:
    """Inside a write: mark the chunks completed, their refused rows, the metadata applied."""
    for settlement in settlements:
        done = settlement.completed_ns
        if settlement.unsettled:
            connection.executemany(
                "UPDATE script_executions SET status = ?, error_code = ?, error = ?,"
                " completed_ns = ? WHERE id = ? AND status = 'pending'",
                [
                    (status, code, message, done, ident.to_bytes(16, "big"))
                    for ident, status, code, message in settlement.unsettled
                ],
            )
        if settlement.account_meta:
            connection.executemany(
                "INSERT INTO script_account_meta(address, key, value, updated_ns)"
                " VALUES(?,?,?,?) ON CONFLICT(address, key) DO UPDATE SET"
                " value = excluded.value, updated_ns = excluded.updated_ns",
                [(address, key, value, now_ns) for address, key, value in settlement.account_meta],
            )
        updated = connection.execute(
            "UPDATE script_chunks SET completed_ns = ? WHERE id = ? AND completed_ns IS NULL",
            (done, settlement.chunk),
        )
        assert updated.rowcount == 1, f"chunk {settlement.chunk} is not open"


class ExecutionRecords:
    """Reads and writes of the contracts room's execution tables."""

    def __init__(self, store: PlatformStore) -> None:
        self.store = store

    def find(self, ids: Iterable[int]) -> dict[int, Stored]:
        keys = [i.to_bytes(16, "big") for i in ids]
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), _IN_MAX):
            chunk = keys[start : start + _IN_MAX]
            marks = ",".join("?" * len(chunk))
            rows += self.store.read(
                f"SELECT {_ROW_COLUMNS} FROM script_executions e"
                f" JOIN script_chunks c ON c.id = e.chunk WHERE e.id IN ({marks})",
                chunk,
            )
        return {stored.id: stored for stored in self._with_entries(rows)}

    def get(self, execution_id: int) -> Stored | None:
        return self.find([execution_id]).get(execution_id)

    def _with_entries(self, rows: Sequence[tuple[Any, ...]]) -> Iterator[Stored]:
        """The executions of `rows`, their entries read from their chunks' intents."""
        by_chunk: dict[int, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_chunk.setdefault(row[1], []).append(row)
        for chunk, found in by_chunk.items():
            if len(found) <= _SLICES_MAX:
                for row in found:
                    (entry,) = self.store.read_one(
                        "SELECT substr(intents, ?, ?) FROM script_chunks WHERE id = ?",
                        (row[2], row[3], chunk),
                    )
                    yield _stored(row, entry)
                continue
            (intents,) = self.store.read_one(
                "SELECT intents FROM script_chunks WHERE id = ?", (chunk,)
            )
            for row in found:
                yield _stored(row, intents[row[2] - 1 : row[2] - 1 + row[3]])

    def open_chunks(self) -> list[int]:
        """The chunks not settled yet (a crash interrupted them), oldest first."""
        rows = self.store.read(
            "SELECT id FROM script_chunks WHERE completed_ns IS NULL ORDER BY id"
        )
        return [int(row[0]) for row in rows]

    def pending(self) -> list[Stored]:
        """The executions of the open chunks that are not settled, in the order written."""
        pending: list[Stored] = []
        for chunk in self.open_chunks():
            (intents,) = self.store.read_one(
                "SELECT intents FROM script_chunks WHERE id = ?", (chunk,)
            )
            keys = [bytes.fromhex(orjson.loads(entry)[0]) for entry in intents.split(b"\n")]
            rows: list[tuple[Any, ...]] = []
            for start in range(0, len(keys), _IN_MAX):
                part = keys[start : start + _IN_MAX]
                marks = ",".join("?" * len(part))
                rows += self.store.read(
                    f"SELECT {_ROW_COLUMNS} FROM script_executions e"
                    f" JOIN script_chunks c ON c.id = e.chunk WHERE e.id IN ({marks})"
                    " AND e.status = 'pending'",
                    part,
                )
            rows.sort(key=lambda row: int(row[2]))  # as written
            pending.extend(_stored(row, intents[row[2] - 1 : row[2] - 1 + row[3]]) for row in rows)
        return pending

    def account_meta(self, address: str, key: str) -> str | None:
        row = self.store.read_one(
            "SELECT value FROM script_account_meta WHERE address = ? AND key = ?", (address, key)
        )
        return None if row is None else str(row[0])

    def assets_of(self, address: str) -> list[tuple[str, str]]:
        """(asset, color) of every script account `address` has."""
        rows = self.store.read(
            "SELECT asset, color FROM script_accounts WHERE address = ? ORDER BY asset, color",
            (address,),
        )
        return [(str(a), str(c)) for a, c in rows]

    def write_chunk(
        self,
        executions: Sequence[Execution],
        outcomes: Sequence[Outcome],
        refused: Sequence[tuple[Execution, str, str]],
        accounts: Sequence[tuple[str, str, str, int]],
        now_ns: int,
        settle: Sequence[Settlement] = (),
    ) -> int | None:
        """In one transaction: `settle` (earlier chunks whose settlements were not written yet),
        then one chunk: the pending `executions` with their planned `outcomes`, the executions
        refused before the ledger (with their error code and message), and the script accounts
        the pending ones will create. The chunk's id; None when nothing is pending (nothing for
        the ledger: the chunk is complete already)."""
        assert len(executions) == len(outcomes), "an execution without its planned outcome"

        def write(connection: sqlite3.Connection) -> int | None:
            _settle(connection, settle, now_ns)
            if not executions and not refused:
                return None
            programs: dict[int, int] = {}  # id(program) -> its index in the chunk's programs
            shas: list[str] = []
            entries: list[bytes] = []
            for execution in (*executions, *(e for e, _, _ in refused)):
                if id(execution.program) not in programs:
                    programs[id(execution.program)] = len(shas)
                    shas.append(program_sha256(execution.program))
            for execution, outcome in zip(executions, outcomes, strict=True):
                entries.append(
                    encode_entry(
                        execution.id, programs[id(execution.program)], execution.variables, outcome
                    )
                )
            for execution, _, _ in refused:
                entries.append(
                    encode_entry(
                        execution.id,
                        programs[id(execution.program)],
                        execution.variables,
                        EMPTY_PLAN,
                    )
                )
            cursor = connection.execute(
                "INSERT INTO script_chunks(programs, intents, created_ns, completed_ns)"
                " VALUES(?,?,?,?)",
                (orjson.dumps(shas), b"\n".join(entries), now_ns, None if executions else now_ns),
            )
            chunk = cursor.lastrowid
            connection.executemany(
                "INSERT INTO script_executions(id, chunk, start, length, status, error_code,"
                " error, completed_ns) VALUES(?,?,?,?,?,?,?,?)",
                _rows(chunk, entries, executions, refused, now_ns),
            )
            _programs(connection, executions, refused, now_ns)
            if accounts:
                connection.executemany(
                    "INSERT OR IGNORE INTO script_accounts(address, asset, color, ledger_id)"
                    " VALUES(?,?,?,?)",
                    [(a, s, c, f"{i:032x}") for a, s, c, i in accounts],
                )
            return chunk if executions else None

        return self.store.write_sync(write)

    def settle(self, settlements: Sequence[Settlement], now_ns: int) -> Future[None]:
        """Write `settlements` in one transaction; the future resolves once it is durable."""

        def write(connection: sqlite3.Connection) -> None:
            _settle(connection, settlements, now_ns)

        return self.store.write(write)


def _programs(
    connection: sqlite3.Connection,
    executions: Sequence[Execution],
    refused: Sequence[tuple[Execution, str, str]],
    now_ns: int,
) -> None:
    distinct = {id(e.program): e.program for e in (*executions, *(r[0] for r in refused))}
    connection.executemany(
        "INSERT OR IGNORE INTO script_programs(sha256, text, feature_flags, created_ns)"
        " VALUES(?,?,?,?)",
        [
            (program_sha256(p), p.text, ",".join(sorted(p.feature_flags)), now_ns)
            for p in distinct.values()
        ],
    )


def _rows(
    chunk: int | None,
    entries: Sequence[bytes],
    executions: Sequence[Execution],
    refused: Sequence[tuple[Execution, str, str]],
    now_ns: int,
) -> Iterator[tuple[Any, ...]]:
    """The execution rows, made one at a time as SQLite binds them."""
    start = 1
    lengths = iter(entries)
    for execution in executions:
        length = len(next(lengths))
        yield (execution.id.to_bytes(16, "big"), chunk, start, length, "pending", None, None, None)
        start += length + 1
    for execution, code, message in refused:
        length = len(next(lengths))
        key = execution.id.to_bytes(16, "big")
        yield (key, chunk, start, length, "refused", code, message, now_ns)
        start += length + 1
