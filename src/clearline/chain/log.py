"""The settlement log: every ledger event one Merkle leaf, sealed in the ledger's own commit.

Guarantees:
- `SealingHook` is a ledger commit hook (`Ledger.open(path, hooks=[hook])`). It runs inside the
  group's transaction, so a group's leaves, nodes and checkpoint are durable exactly when the group
  is: no event without its leaf, no leaf without its event. If the group aborts (another hook
  raises, the commit fails, the ledger retries), nothing of it remains, because the hook keeps no
  state between groups: it reads the tree's frontier from `chain_state` each time.
- Appending a group of g events costs O(g + log n): the frontier (≤ 64 hashes) is one row; each
  event adds its leaf row and the perfect nodes it completes (on average 2 rows per event in all).
- Every perfect node is stored once in `chain_nodes(level, node_index)`, so an inclusion or
  consistency proof for any index at any past size is one indexed query of O(log n) rows.
- Each group closes one checkpoint: a C2SP signed note (Ed25519, and ML-DSA-65 when enabled) over
  origin, size, root, the SHA-256 of the previous checkpoint's text and the time; sizes strictly
  increase and each checkpoint links to the one before.
- `ChainLog` reads all of this back (read-only) and checks what it reads: node counts, hash sizes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clearline.chain import merkle
from clearline.chain.encoding import encode
from clearline.chain.keys import NoteSigner, load_or_create_signers
from clearline.chain.merkle import Frontier, NodeId
from clearline.chain.notes import (
    GENESIS_PREVIOUS,
    Checkpoint,
    checkpoint_hash,
    parse_checkpoint,
    parse_note,
    sign_note,
)
from clearline.core.clock import Clock
from clearline.core.errors import InvariantViolation
from clearline.ledger.events import HookTransaction, LedgerEvent
from clearline.ledger.store import DATABASE_FILE

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS chain_leaves(leaf_index INTEGER PRIMARY KEY,"
    " timestamp INTEGER NOT NULL UNIQUE, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chain_nodes(level INTEGER NOT NULL, node_index INTEGER NOT NULL,"
    " hash BLOB NOT NULL, PRIMARY KEY(level, node_index)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS chain_checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chain_state(id INTEGER PRIMARY KEY CHECK(id = 0),"
    " size INTEGER NOT NULL, frontier BLOB NOT NULL, checkpoint_hash BLOB NOT NULL)",
)
NODES_PER_QUERY_MAX = 400
"""Node ids per `IN (VALUES …)` query (two parameters each, below SQLite's limit)."""


def _frontier_from_blob(size: int, blob: bytes) -> Frontier:
    hashes = tuple(blob[i : i + 32] for i in range(0, len(blob), 32))
    return Frontier(size, hashes)


@dataclass(frozen=True, slots=True)
class _Tip:
    frontier: Frontier
    checkpoint_hash: bytes


def _read_tip(transaction: HookTransaction) -> _Tip:
    row = transaction.execute(
        "SELECT size, frontier, checkpoint_hash FROM chain_state WHERE id = 0"
    ).fetchone()
    if row is None:
        return _Tip(Frontier(), GENESIS_PREVIOUS)
    return _Tip(_frontier_from_blob(row[0], bytes(row[1])), bytes(row[2]))


class SealingHook:
    """The commit hook that appends a group's events and closes a signed checkpoint."""

    def __init__(self, origin: str, signers: Sequence[NoteSigner], clock: Clock | None = None):
        if not signers:
            raise ValueError("a sealing hook needs at least one signer")
        self.origin = origin
        self.signers = list(signers)
        self.clock = clock

    @classmethod
    def open(
        cls, data_directory: Path, origin: str, *, ml_dsa: bool = True, clock: Clock | None = None
    ) -> SealingHook:
        """A hook signing with the node's keys in `data_directory` (created on first use)."""
        return cls(origin, load_or_create_signers(data_directory, origin, ml_dsa=ml_dsa), clock)

    def __call__(self, transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        for statement in SCHEMA:
            transaction.execute(statement)
        tip = _read_tip(transaction)
        rows = [(event.timestamp, encode(event)) for event in events]
        frontier, nodes = merkle.append_many(tip.frontier, [merkle.leaf_hash(d) for _, d in rows])
        first = tip.frontier.size
        transaction.executemany(
            "INSERT INTO chain_leaves VALUES(?, ?, ?)",
            [(first + i, timestamp, data) for i, (timestamp, data) in enumerate(rows)],
        )
        transaction.executemany(
            "INSERT INTO chain_nodes VALUES(?, ?, ?)",
            [(level, index, value) for (level, index), value in nodes],
        )
        time_ns = self.clock.now_ns() if self.clock else events[-1].timestamp
        checkpoint = Checkpoint(
            self.origin, frontier.size, frontier.root(), tip.checkpoint_hash, time_ns
        )
        text = checkpoint.text()
        transaction.execute(
            "INSERT INTO chain_checkpoints VALUES(?, ?)",
            (frontier.size, sign_note(text, self.signers)),
        )
        transaction.execute(
            "INSERT OR REPLACE INTO chain_state VALUES(0, ?, ?, ?)",
            (frontier.size, b"".join(frontier.hashes), checkpoint_hash(text)),
        )


class ChainLog:
    """Read-only access to a data directory's log: leaves, checkpoints and proofs."""

    def __init__(self, data_directory: Path) -> None:
        uri = (Path(data_directory) / DATABASE_FILE).resolve().as_uri() + "?mode=ro"
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> ChainLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def size(self) -> int:
        row = self._connection.execute("SELECT size FROM chain_state WHERE id = 0").fetchone()
        return int(row[0]) if row else 0

    def leaves(self, begin: int = 0, end: int | None = None) -> list[bytes]:
        """Canonical event bytes of leaves [begin, end)."""
        stop = self.size() if end is None else end
        rows = self._connection.execute(
            "SELECT leaf_index, data FROM chain_leaves WHERE leaf_index >= ? AND leaf_index < ?"
            " ORDER BY leaf_index",
            (begin, stop),
        ).fetchall()
        if [row[0] for row in rows] != list(range(begin, stop)):
            raise InvariantViolation(f"chain_leaves is missing rows in [{begin}, {stop})")
        return [bytes(row[1]) for row in rows]

    def leaf_index(self, timestamp: int) -> int | None:
        """The leaf of the event with this ledger timestamp."""
        row = self._connection.execute(
            "SELECT leaf_index FROM chain_leaves WHERE timestamp = ?", (timestamp,)
        ).fetchone()
        return int(row[0]) if row else None

    def checkpoint_notes(self) -> list[str]:
        """Every signed checkpoint note, oldest first."""
        rows = self._connection.execute("SELECT note FROM chain_checkpoints ORDER BY size")
        return [str(row[0]) for row in rows]

    def checkpoint(self, size: int) -> Checkpoint:
        row = self._connection.execute(
            "SELECT note FROM chain_checkpoints WHERE size = ?", (size,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no checkpoint at size {size}")
        return parse_checkpoint(parse_note(str(row[0])).text)

    def read_nodes(self, nodes: Sequence[NodeId]) -> list[bytes]:
        """A `merkle.NodeReader` over `chain_nodes`."""
        found: dict[NodeId, bytes] = {}
        for start in range(0, len(nodes), NODES_PER_QUERY_MAX):
            chunk = nodes[start : start + NODES_PER_QUERY_MAX]
            values = ",".join("(?, ?)" for _ in chunk)
            parameters = [value for node in chunk for value in node]
            rows = self._connection.execute(
                "SELECT level, node_index, hash FROM chain_nodes"
                f" WHERE (level, node_index) IN (VALUES {values})",
                parameters,
            )
            found.update((NodeId(row[0], row[1]), bytes(row[2])) for row in rows)
        missing = [node for node in nodes if node not in found]
        if missing or any(len(value) != 32 for value in found.values()):
            raise InvariantViolation(f"chain_nodes lacks or mangles nodes {missing[:4]}")
        return [found[node] for node in nodes]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(index, size, self.read_nodes)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return merkle.consistency_proof(size1, size2, self.read_nodes)
