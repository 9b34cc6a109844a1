"""The contracts room's records of Numscript executions, in the platform database.

Guarantees:
- An execution is written before its money moves: its row (`pending`) holds the whole plan (the
  postings, their ledger transfer ids, the transaction and account metadata), committed before
  the ledger sees a transfer. After the ledger has answered, the row becomes `done` or
  `refused` and the account metadata the program set is applied, in one transaction.
- So a crash at any point loses nothing and doubles nothing: `pending` rows found at open are
  settled from the ledger (`Executor.recover`): their transfers are there (all of them, the
  chain is linked) and the row is completed, or none is and the row is `abandoned`; either way
  a retry with the same execution id answers what happened instead of moving money again.
- An execution refused before it reached the ledger (a Numscript error, missing funds) is
  recorded `refused` with its reason, so its id answers the same refusal when retried.
- Program texts are stored once, by SHA-256.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from clearline.contracts.numscript import Posting, Program
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
CREATE TABLE script_executions(
  id TEXT PRIMARY KEY, program_sha256 TEXT NOT NULL, status TEXT NOT NULL,
  variables TEXT NOT NULL, plan TEXT NOT NULL, error_code TEXT, error TEXT,
  created_ns INTEGER NOT NULL, completed_ns INTEGER
);
CREATE INDEX script_executions_pending ON script_executions(status) WHERE status = 'pending';
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

Status = Literal["pending", "done", "refused", "abandoned"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What one execution does, fixed before anything moves."""

    postings: tuple[Posting, ...]
    transfer_ids: tuple[int, ...]
    """One per posting that moves money (a posting from an account to itself moves nothing)."""
    tx_meta: Mapping[str, str]
    account_meta: Mapping[str, Mapping[str, str]]

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "postings": [list(p) for p in self.postings],
                # consecutive ids (executor._transfer_ids): the first and how many
                "transfers": [
                    f"{self.transfer_ids[0]:032x}" if self.transfer_ids else "",
                    len(self.transfer_ids),
                ],
                "tx_meta": dict(self.tx_meta),
                "account_meta": {a: dict(m) for a, m in self.account_meta.items()},
            }
        )

    @classmethod
    def decode(cls, raw: str | bytes) -> Plan:
        data = orjson.loads(raw)
        return cls(
            postings=tuple(Posting(*p) for p in data["postings"]),
            transfer_ids=_consecutive(*data["transfers"]),
            tx_meta=data["tx_meta"],
            account_meta=data["account_meta"],
        )


EMPTY_PLAN = Plan((), (), {}, {})


def _consecutive(first: str, count: int) -> tuple[int, ...]:
    start = int(first, 16) if first else 0
    return tuple(range(start, start + count))


@dataclass(frozen=True, slots=True)
class Stored:
    """An execution as recorded."""

    id: int
    program_sha256: str
    status: Status
    variables: Mapping[str, str]
    plan: Plan
    error_code: str | None
    error: str | None
    created_ns: int
    completed_ns: int | None


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


def refused_outcome(ident: int, code: str, message: str) -> Outcome:
    return Outcome(ident, "refused", error_code=code, error=message)


def replayed_outcome(stored: Stored) -> Outcome:
    """The outcome a retried id answers: what its record says happened."""
    if stored.status == "done":
        plan = stored.plan
        return Outcome(
            stored.id, "replayed", plan.postings, plan.transfer_ids, plan.tx_meta, plan.account_meta
        )
    return Outcome(
        stored.id, "replayed", error_code=stored.error_code or stored.status, error=stored.error
    )


@dataclass(frozen=True, slots=True)
class Intent:
    """One execution about to move money."""

    id: int
    program_sha256: str
    program_text: str
    feature_flags: tuple[str, ...]
    variables: Mapping[str, str]
    plan: Plan


@dataclass(frozen=True, slots=True)
class Completion:
    id: int
    status: Status
    error_code: str | None = None
    error: str | None = None
    account_meta: Mapping[str, Mapping[str, str]] | None = None


_COLUMNS = (
    "id, program_sha256, status, variables, plan, error_code, error, created_ns, completed_ns"
)


def _stored(row: Sequence[Any]) -> Stored:
    return Stored(
        id=int(row[0], 16),
        program_sha256=row[1],
        status=row[2],
        variables=orjson.loads(row[3]),
        plan=Plan.decode(row[4]),
        error_code=row[5],
        error=row[6],
        created_ns=row[7],
        completed_ns=row[8],
    )


class ExecutionRecords:
    """Reads and writes of the contracts room's execution tables."""

    def __init__(self, store: PlatformStore) -> None:
        self.store = store

    def find(self, ids: Iterable[int]) -> dict[int, Stored]:
        keys = [f"{i:032x}" for i in ids]
        found: dict[int, Stored] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.store.read(
                f"SELECT {_COLUMNS} FROM script_executions WHERE id IN ({marks})", chunk
            )
            for row in rows:
                stored = _stored(row)
                found[stored.id] = stored
        return found

    def get(self, execution_id: int) -> Stored | None:
        return self.find([execution_id]).get(execution_id)

    def pending(self) -> list[Stored]:
        rows = self.store.read(
            f"SELECT {_COLUMNS} FROM script_executions WHERE status = 'pending' ORDER BY created_ns"
        )
        return [_stored(row) for row in rows]

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

    def write_intents(
        self,
        intents: Sequence[Intent],
        accounts: Sequence[tuple[str, str, str, int]],
        now_ns: int,
        refused: Sequence[tuple[Intent, str, str]] = (),
    ) -> None:
        """The pending rows, the rows of executions refused before the ledger (with their error
        code and message), and the script accounts the pending ones will create, in one
        transaction."""

        def write(connection: sqlite3.Connection) -> None:
            programs = {i.program_sha256: i for i in (*intents, *(r[0] for r in refused))}
            connection.executemany(
                "INSERT OR IGNORE INTO script_programs(sha256, text, feature_flags, created_ns)"
                " VALUES(?,?,?,?)",
                [
                    (sha, i.program_text, ",".join(sorted(i.feature_flags)), now_ns)
                    for sha, i in programs.items()
                ],
            )
            rows: list[tuple[Intent, str, str | None, str | None, int | None]]
            rows = [(i, "pending", None, None, None) for i in intents]
            rows += [(i, "refused", code, message, now_ns) for i, code, message in refused]
            connection.executemany(
                "INSERT INTO script_executions(id, program_sha256, status, variables, plan,"
                " error_code, error, created_ns, completed_ns) VALUES(?,?,?,?,?,?,?,?,?)",
                [
                    (
                        f"{i.id:032x}",
                        i.program_sha256,
                        status,
                        orjson.dumps(dict(i.variables)).decode(),
                        i.plan.encode().decode(),
                        code,
                        message,
                        now_ns,
                        completed,
                    )
                    for i, status, code, message, completed in rows
                ],
            )
            if accounts:
                connection.executemany(
                    "INSERT OR IGNORE INTO script_accounts(address, asset, color, ledger_id)"
                    " VALUES(?,?,?,?)",
                    [(a, s, c, f"{i:032x}") for a, s, c, i in accounts],
                )

        self.store.write_sync(write)

    def complete(self, completions: Sequence[Completion], now_ns: int) -> Future[None]:
        """Settle pending rows and apply the metadata of those done, in one transaction; the
        future resolves once it is durable."""

        def write(connection: sqlite3.Connection) -> None:
            connection.executemany(
                "UPDATE script_executions SET status = ?, error_code = ?, error = ?,"
                " completed_ns = ? WHERE id = ? AND status = 'pending'",
                [(c.status, c.error_code, c.error, now_ns, f"{c.id:032x}") for c in completions],
            )
            metas = [
                (address, key, value, now_ns)
                for c in completions
                if c.status == "done" and c.account_meta
                for address, values in c.account_meta.items()
                for key, value in values.items()
            ]
            if metas:
                connection.executemany(
                    "INSERT INTO script_account_meta(address, key, value, updated_ns)"
                    " VALUES(?,?,?,?) ON CONFLICT(address, key) DO UPDATE SET"
                    " value = excluded.value, updated_ns = excluded.updated_ns",
                    metas,
                )

        return self.store.write(write)
