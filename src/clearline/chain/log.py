"""The settlement log: every ledger event one Merkle leaf, sealed in the ledger's own commit.

Guarantees:
- `SealingHook` is a ledger commit hook. Its fast form reads the ledger's packed transfer rows
  (`Ledger.open(path, raw_hooks=[hook.seal_rows])`); the plain form takes `LedgerEvent`s
  (`hooks=[hook]`) and writes the same log. It runs inside the group's transaction, so a group's
  leaves, tiles and checkpoint are durable exactly when the group is: no event without its leaf,
  no leaf without its event.
- A transfer's leaf bytes are not stored twice: the ledger's `transfers` row holds every encoded
  field, and `ChainLog.leaves` rebuilds the canonical bytes from it. Other events (accounts
  created, pending transfers expired) are stored in `chain_events`. `chain_runs` maps leaf
  indices to ledger timestamps (one row per run of consecutive timestamps: one per group).
- Appending a group of g events costs O(g + log n) hashing and about 32·g bytes of tiles (see
  `tiles.py`); the compact range (≤ 64 hashes) and the right-edge tiles live in memory. They are a
  cache of `chain_state` and `chain_tiles`, checked on every call: when the stored size or
  checkpoint hash differs from memory (a group aborted after the hook ran, or another writer
  appended), the hook reloads them from the database before appending.
- A proof for any index at any past size reads one tile per tier: one query of O(log n) rows.
- Checkpoints: a C2SP signed note (Ed25519, and ML-DSA-65 when enabled) over origin, size, root,
  the SHA-256 of the previous checkpoint's text and the time; sizes strictly increase and each
  checkpoint links to the one before. With `checkpoint_interval_ms=0` (the default) every group
  closes one. With an interval I > 0, a group signs only when I ms have passed since the last
  checkpoint (measured by the time the checkpoint records: the hook's clock, else the group's last
  ledger timestamp); a group that does not sign still appends its leaves and stores the tree state,
  so the next checkpoint covers them. The bound: a committed leaf is covered by the first group
  that commits at least I ms after the last checkpoint, or by `seal_pending_in` after the ledger
  is closed (the ledger holds its database exclusively while open, and calls hooks only for groups
  with events); while the ledger is open and idle, the tail stays uncovered until the next commit.
- `ChainLog` reads all of this back (read-only) and checks what it reads: rows present, hash and
  tile sizes.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from clearline.chain import merkle, tiles
from clearline.chain.encoding import ENCODING_VERSION, HEADER, KIND_CODES, encode
from clearline.chain.keys import NoteSigner, load_or_create_signers
from clearline.chain.merkle import NodeId
from clearline.chain.notes import (
    GENESIS_PREVIOUS,
    Checkpoint,
    checkpoint_hash,
    parse_checkpoint,
    parse_note,
    sign_note,
)
from clearline.core.clock import Clock
from clearline.core.errors import ClearlineError, InvariantViolation
from clearline.ledger.events import HookTransaction, LedgerEvent, LedgerEventKind
from clearline.ledger.store import DATABASE_FILE, TRANSFER_BODY
from clearline.ledger.types import Transfer

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS chain_runs(first_index INTEGER PRIMARY KEY,"
    " first_timestamp INTEGER NOT NULL UNIQUE, count INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chain_events(leaf_index INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chain_tiles(tier INTEGER NOT NULL, tile_index INTEGER NOT NULL,"
    " hashes BLOB NOT NULL, PRIMARY KEY(tier, tile_index)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS chain_checkpoints(size INTEGER PRIMARY KEY, note TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS chain_state(id INTEGER PRIMARY KEY CHECK(id = 0),"
    " size INTEGER NOT NULL, frontier BLOB NOT NULL, checkpoint_hash BLOB NOT NULL)",
)
TILES_PER_QUERY_MAX = 200
"""Tiles per query (one `UNION ALL` term each; SQLite allows 500 terms)."""
LEAVES_PER_QUERY_MAX = 100_000
"""Leaves read per `leaves()` chunk."""
CHECKPOINT_INTERVAL_MS_MAX = 60_000
"""The longest minimum interval between checkpoints a hook accepts."""
CHECKPOINT_INTERVAL_MS_UNDER_LOAD = 200
"""The interval `bench.chain` runs with: at most five signed checkpoints a second."""
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long `seal_pending_in` waits for the database lock."""
_TRANSFER_KIND = KIND_CODES[LedgerEventKind.TRANSFER_CREATED]
_TRANSFER_FIELDS_BYTES = TRANSFER_BODY.size - 16
"""A stored transfer body ends with two 8-byte previous-timestamp links the leaf does not hold."""


@dataclass
class _Tip:
    """The log as of the last group this hook appended (a cache of the database)."""

    size: int = 0
    frontier: list[bytes] = field(default_factory=list)
    checkpoint_hash: bytes = GENESIS_PREVIOUS
    checkpoint_size: int = 0
    """The size of the last signed checkpoint (≤ `size`)."""
    checkpoint_time_ns: int | None = None
    """The time of the last signed checkpoint (None before the first)."""
    edges: dict[int, bytes] = field(default_factory=dict)
    """Per tier, the hashes of its partial right-edge tile (absent when the tier's last tile is
    full or empty)."""


def _load_tip(transaction: HookTransaction) -> _Tip:
    row = transaction.execute(
        "SELECT size, frontier, checkpoint_hash FROM chain_state WHERE id = 0"
    ).fetchone()
    if row is None:
        return _Tip()
    size, blob = int(row[0]), bytes(row[1])
    frontier = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    merkle.Frontier(size, tuple(frontier))  # checks the hash count and sizes
    tip = _Tip(size, frontier, bytes(row[2]))
    last = transaction.execute(
        "SELECT note FROM chain_checkpoints ORDER BY size DESC LIMIT 1"
    ).fetchone()
    if last is not None:
        checkpoint = parse_checkpoint(parse_note(str(last[0])).text)
        tip.checkpoint_size, tip.checkpoint_time_ns = checkpoint.size, checkpoint.time_ns
    for tier in range(tiles.TIERS_MAX):
        count = size >> (tiles.TILE_HEIGHT * tier)
        if count % tiles.TILE_WIDTH:
            found = transaction.execute(
                "SELECT hashes FROM chain_tiles WHERE tier = ? AND tile_index = ?",
                (tier, count // tiles.TILE_WIDTH),
            ).fetchone()
            edge = bytes(found[0]) if found else b""
            if len(edge) != 32 * (count % tiles.TILE_WIDTH):
                raise InvariantViolation(f"chain tile {tier}/{count >> 4} has {len(edge)} bytes")
            tip.edges[tier] = edge
    return tip


def _tile_rows(tip: _Tip, completed: dict[int, list[bytes]]) -> list[tuple[int, int, bytes]]:
    """The tiles to (re)write for the nodes just completed; updates `tip.edges`."""
    rows: list[tuple[int, int, bytes]] = []
    for tier, hashes in completed.items():
        first = tip.size >> (tiles.TILE_HEIGHT * tier)
        tile_index = first // tiles.TILE_WIDTH
        blob = tip.edges.pop(tier, b"") + b"".join(hashes)
        for start in range(0, len(blob), tiles.TILE_BYTES_MAX):
            rows.append((tier, tile_index, blob[start : start + tiles.TILE_BYTES_MAX]))
            tile_index += 1
        if len(rows[-1][2]) < tiles.TILE_BYTES_MAX:
            tip.edges[tier] = rows[-1][2]
    return rows


def _runs(first_index: int, timestamps: Sequence[int]) -> list[tuple[int, int, int]]:
    """(first leaf index, first timestamp, count) for each run of consecutive timestamps."""
    if timestamps[-1] - timestamps[0] == len(timestamps) - 1:  # the usual case: one run
        return [(first_index, timestamps[0], len(timestamps))]
    runs: list[tuple[int, int, int]] = []
    for offset, timestamp in enumerate(timestamps):
        if runs and timestamp == runs[-1][1] + runs[-1][2]:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((first_index + offset, timestamp, 1))
    return runs


def _row_timestamp(row: bytes) -> int:
    return int.from_bytes(row[:8], "big")


class SealingHook:
    """The commit hook that appends a group's events and closes a signed checkpoint."""

    def __init__(
        self,
        origin: str,
        signers: Sequence[NoteSigner],
        clock: Clock | None = None,
        *,
        checkpoint_interval_ms: int = 0,
    ):
        if not signers:
            raise ValueError("a sealing hook needs at least one signer")
        if not 0 <= checkpoint_interval_ms <= CHECKPOINT_INTERVAL_MS_MAX:
            raise ValueError(
                f"checkpoint_interval_ms must be within 0..{CHECKPOINT_INTERVAL_MS_MAX}"
            )
        self.origin = origin
        self.signers = list(signers)
        self.clock = clock
        self.checkpoint_interval_ms = checkpoint_interval_ms
        self._tip: _Tip | None = None
        self._lock = threading.Lock()  # the ledger's writer and an idle `seal_pending` caller

    @classmethod
    def open(
        cls,
        data_directory: Path,
        origin: str,
        *,
        ml_dsa: bool = True,
        clock: Clock | None = None,
        checkpoint_interval_ms: int = 0,
    ) -> SealingHook:
        """A hook signing with the node's keys in `data_directory` (created on first use)."""
        signers = load_or_create_signers(data_directory, origin, ml_dsa=ml_dsa)
        return cls(origin, signers, clock, checkpoint_interval_ms=checkpoint_interval_ms)

    def __call__(self, transaction: HookTransaction, events: Sequence[LedgerEvent]) -> None:
        """The plain commit hook (`Ledger.open(…, hooks=[hook])`)."""
        data = [encode(event) for event in events]
        hashes = [merkle.leaf_hash(item) for item in data]
        kept = [
            (offset, item)
            for offset, (event, item) in enumerate(zip(events, data, strict=True))
            if event.kind is not LedgerEventKind.TRANSFER_CREATED
        ]
        self._append(transaction, hashes, [event.timestamp for event in events], kept)

    def seal_rows(
        self, transaction: HookTransaction, rows: Sequence[bytes], events: Sequence[LedgerEvent]
    ) -> None:
        """The fast commit hook (`Ledger.open(…, raw_hooks=[hook.seal_rows])`): `rows` are the
        group's packed transfer rows, `events` its other events, both in timestamp order."""
        if not events:
            timestamps = [_row_timestamp(rows[0]), _row_timestamp(rows[-1])] if rows else []
            if timestamps and timestamps[1] - timestamps[0] == len(rows) - 1:
                timestamps = list(range(timestamps[0], timestamps[1] + 1))
            else:
                timestamps = [_row_timestamp(row) for row in rows]
            self._append(transaction, tiles.transfer_leaf_hashes(rows), timestamps, [])
            return
        merged = heapq.merge(
            ((_row_timestamp(row), row, None) for row in rows),
            ((event.timestamp, b"", event) for event in events),
            key=lambda item: item[0],
        )
        hashes, timestamps, kept = [], [], []
        for offset, (timestamp, row, event) in enumerate(merged):
            timestamps.append(timestamp)
            if event is None:
                hashes.append(tiles.transfer_leaf_hashes([row])[0])
            else:
                data = encode(event)
                hashes.append(merkle.leaf_hash(data))
                kept.append((offset, data))
        self._append(transaction, hashes, timestamps, kept)

    def _current_tip(self, transaction: HookTransaction) -> _Tip:
        for statement in SCHEMA:
            transaction.execute(statement)
        tip = self._tip
        row = transaction.execute(
            "SELECT size, checkpoint_hash FROM chain_state WHERE id = 0"
        ).fetchone()
        stored = (int(row[0]), bytes(row[1])) if row else (0, GENESIS_PREVIOUS)
        if tip is None or (tip.size, tip.checkpoint_hash) != stored:
            tip = _load_tip(transaction)  # first call, or the last group this hook saw aborted
        return tip

    def _append(
        self,
        transaction: HookTransaction,
        leaf_hashes: list[bytes],
        timestamps: Sequence[int],
        kept: Sequence[tuple[int, bytes]],
    ) -> None:
        """Append leaves (their hashes, ledger timestamps, and the bytes of those the ledger does
        not hold, by offset in the group), write tiles, state and, when due, a signed checkpoint."""
        if not leaf_hashes:
            return
        with self._lock:
            tip = self._current_tip(transaction)
            self._tip = None  # until this group's writes are all issued
            first = tip.size
            frontier, completed = tiles.append_leaves(first, tip.frontier, leaf_hashes)
            transaction.executemany(
                "INSERT OR REPLACE INTO chain_tiles VALUES(?, ?, ?)", _tile_rows(tip, completed)
            )
            transaction.executemany(
                "INSERT INTO chain_runs VALUES(?, ?, ?)", _runs(first, timestamps)
            )
            if kept:
                transaction.executemany(
                    "INSERT INTO chain_events VALUES(?, ?)",
                    [(first + offset, data) for offset, data in kept],
                )
            tip.size, tip.frontier = first + len(leaf_hashes), frontier
            time_ns = self.clock.now_ns() if self.clock else timestamps[-1]
            if self._checkpoint_due(tip, time_ns):
                self._sign(transaction, tip, time_ns)
            self._store_state(transaction, tip)

    def _checkpoint_due(self, tip: _Tip, time_ns: int) -> bool:
        if tip.checkpoint_time_ns is None:
            return True
        return time_ns - tip.checkpoint_time_ns >= self.checkpoint_interval_ms * 1_000_000

    def _sign(self, transaction: HookTransaction, tip: _Tip, time_ns: int) -> None:
        """Sign a checkpoint over the tip (its time never before the previous checkpoint's)."""
        time_ns = max(time_ns, tip.checkpoint_time_ns or 0)
        root = merkle.Frontier(tip.size, tuple(tip.frontier)).root()
        text = Checkpoint(self.origin, tip.size, root, tip.checkpoint_hash, time_ns).text()
        transaction.execute(
            "INSERT INTO chain_checkpoints VALUES(?, ?)", (tip.size, sign_note(text, self.signers))
        )
        tip.checkpoint_hash, tip.checkpoint_size = checkpoint_hash(text), tip.size
        tip.checkpoint_time_ns = time_ns

    def _store_state(self, transaction: HookTransaction, tip: _Tip) -> None:
        transaction.execute(
            "INSERT OR REPLACE INTO chain_state VALUES(0, ?, ?, ?)",
            (tip.size, b"".join(tip.frontier), tip.checkpoint_hash),
        )
        self._tip = tip

    def seal_pending(self, transaction: HookTransaction) -> bool:
        """Sign a checkpoint over leaves no checkpoint covers yet, whatever the interval; returns
        whether it signed. Run it inside a write transaction on the ledger's database
        (`seal_pending_in` opens one; the ledger must be closed)."""
        with self._lock:
            tip = self._current_tip(transaction)
            if tip.size == tip.checkpoint_size:
                return False
            self._tip = None
            if self.clock is not None:
                time_ns = self.clock.now_ns()
            else:  # the ledger's time: the last leaf's timestamp
                row = transaction.execute(
                    "SELECT first_timestamp + count - 1 FROM chain_runs"
                    " ORDER BY first_index DESC LIMIT 1"
                ).fetchone()
                time_ns = int(row[0])
            self._sign(transaction, tip, time_ns)
            self._store_state(transaction, tip)
            return True

    def seal_pending_in(self, data_directory: Path) -> bool:
        """`seal_pending` in its own transaction on the closed ledger in `data_directory` (an
        open ledger holds the database exclusively: this waits `SQLITE_BUSY_TIMEOUT_MS`, then
        raises `sqlite3.OperationalError`)."""
        path = Path(data_directory) / DATABASE_FILE
        if not path.exists():
            raise LogNotFound(f"{data_directory} holds no ledger ({DATABASE_FILE} is missing)")
        connection = sqlite3.connect(
            path, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
        )
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                signed = self.seal_pending(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return signed
        finally:
            connection.close()


def transfer_leaf(timestamp: int, transfer_id: bytes, body: bytes) -> bytes:
    """The canonical bytes of a transfer from its ledger row (`transfers` table)."""
    if len(transfer_id) != 16 or len(body) != TRANSFER_BODY.size:
        raise InvariantViolation(f"transfer row {timestamp} has the wrong size")
    header = HEADER.pack(ENCODING_VERSION, _TRANSFER_KIND, timestamp, _TRANSFER_FIELDS_BYTES + 16)
    return header + transfer_id + body[:_TRANSFER_FIELDS_BYTES]


class LeafNotFound(ClearlineError):
    """No leaf of the log holds the event asked for, or not below the tree size asked for."""

    code = "leaf_not_found"


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """The proof that the event with ledger `timestamp` is leaf `leaf_index` of the tree of
    `tree_size` leaves: `leaf_hash` (of its canonical bytes) and the audit path `proof`, for
    `merkle.verify_inclusion(leaf_index, tree_size, leaf_hash, proof, root)`."""

    timestamp: int
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    proof: list[bytes]


class TransferLookup(Protocol):
    """What `transfer_inclusion_proof` needs of a ledger (`Ledger` has it)."""

    def lookup_transfers(self, ids: Sequence[int]) -> list[Transfer]: ...


def transfer_inclusion_proof(
    ledger: TransferLookup, log: ChainLog, transfer_id: int, size: int
) -> InclusionProof:
    """The inclusion proof of transfer `transfer_id` at tree size `size`: the ledger gives the
    transfer's timestamp, the log its leaf. An open `Ledger` holds its database exclusively, so
    `log` reads another copy of the same directory (a replica or a backup); on a closed ledger,
    `ChainLog.transfer_timestamp` finds the timestamp without one."""
    found = ledger.lookup_transfers([transfer_id])
    if not found:
        raise LeafNotFound(f"the ledger has no transfer {transfer_id}")
    return log.inclusion_proof_for_timestamp(found[0].timestamp, size)


class LogNotFound(ClearlineError):
    """The data directory has no ledger, or a ledger that was never sealed into a log."""

    code = "log_not_found"


class ChainLog:
    """Read-only access to a data directory's log: leaves, checkpoints and proofs."""

    def __init__(self, data_directory: Path) -> None:
        path = Path(data_directory) / DATABASE_FILE
        if not path.exists():
            raise LogNotFound(f"{data_directory} holds no ledger ({DATABASE_FILE} is missing)")
        uri = path.resolve().as_uri() + "?mode=ro"
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        sealed = self._connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='chain_checkpoints'"
        ).fetchone()
        if sealed is None:
            self._connection.close()
            raise LogNotFound(
                f"the ledger in {data_directory} was never sealed into a log: open it with the "
                "sealing hook (docs/chain.md, 'Turning it on') before exporting or auditing"
            )

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
        result: list[bytes] = []
        for chunk in range(begin, stop, LEAVES_PER_QUERY_MAX):
            result.extend(self._leaves(chunk, min(stop, chunk + LEAVES_PER_QUERY_MAX)))
        return result

    def _timestamps(self, begin: int, end: int) -> list[int]:
        rows = self._connection.execute(
            "SELECT first_index, first_timestamp, count FROM chain_runs WHERE first_index < ?"
            " AND first_index + count > ? ORDER BY first_index",
            (end, begin),
        ).fetchall()
        timestamps = [
            first_timestamp + index - first_index
            for first_index, first_timestamp, count in rows
            for index in range(max(first_index, begin), min(first_index + count, end))
        ]
        if len(timestamps) != end - begin:
            raise InvariantViolation(f"chain_runs does not cover leaves [{begin}, {end})")
        return timestamps

    def _leaves(self, begin: int, end: int) -> list[bytes]:
        if begin >= end:
            return []
        timestamps = self._timestamps(begin, end)
        stored = dict(
            self._connection.execute(
                "SELECT leaf_index, data FROM chain_events"
                " WHERE leaf_index >= ? AND leaf_index < ?",
                (begin, end),
            ).fetchall()
        )
        transfers = {
            row[0]: transfer_leaf(row[0], bytes(row[1]), bytes(row[2]))
            for row in self._connection.execute(
                "SELECT timestamp, id, body FROM transfers WHERE timestamp >= ? AND timestamp <= ?",
                (timestamps[0], timestamps[-1]),
            )
        }
        result = []
        for index, timestamp in enumerate(timestamps, begin):
            data = stored.get(index) or transfers.get(timestamp)
            if data is None:
                raise InvariantViolation(f"leaf {index} (timestamp {timestamp}) has no event")
            result.append(bytes(data))
        return result

    def leaf_index(self, timestamp: int) -> int | None:
        """The leaf of the event with this ledger timestamp."""
        row = self._connection.execute(
            "SELECT first_index, first_timestamp, count FROM chain_runs"
            " WHERE first_timestamp <= ? ORDER BY first_timestamp DESC LIMIT 1",
            (timestamp,),
        ).fetchone()
        if row is None or timestamp >= row[1] + row[2]:
            return None
        return int(row[0] + timestamp - row[1])

    def inclusion_proof_for_timestamp(self, timestamp: int, size: int) -> InclusionProof:
        """The inclusion proof of the event with this ledger timestamp at tree size `size`."""
        index = self.leaf_index(timestamp)
        if index is None:
            raise LeafNotFound(f"no leaf holds the event with timestamp {timestamp}")
        if not 0 < size <= self.size() or index >= size:
            raise LeafNotFound(
                f"leaf {index} (timestamp {timestamp}) is not in a tree of {size} leaves "
                f"(the log holds {self.size()})"
            )
        leaf_hash = self.read_nodes([NodeId(0, index)])[0]
        return InclusionProof(timestamp, index, size, leaf_hash, self.inclusion_proof(index, size))

    def transfer_timestamp(self, transfer_id: int) -> int | None:
        """The ledger timestamp of transfer `transfer_id`, read from the same database."""
        row = self._connection.execute(
            "SELECT timestamp FROM transfers WHERE id = ?", (transfer_id.to_bytes(16, "big"),)
        ).fetchone()
        return None if row is None else int(row[0])

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
        """A `merkle.NodeReader` over `chain_tiles`: one query for every tile the nodes need."""
        spans = [_node_span(node) for node in nodes]
        keys = sorted({key for key, _, _ in spans})
        found: dict[tuple[int, int], bytes] = {}
        for start in range(0, len(keys), TILES_PER_QUERY_MAX):
            chunk = keys[start : start + TILES_PER_QUERY_MAX]
            query = " UNION ALL ".join(
                "SELECT tier, tile_index, hashes FROM chain_tiles WHERE tier = ? AND tile_index = ?"
                for _ in chunk
            )  # point lookups: a row-value IN (VALUES …) would scan the table
            rows = self._connection.execute(query, [value for key in chunk for value in key])
            found.update(((int(row[0]), int(row[1])), bytes(row[2])) for row in rows)
        result = []
        for node, (key, begin, end) in zip(nodes, spans, strict=True):
            tile = found.get(key, b"")
            if len(tile) < end or len(tile) % 32:
                raise InvariantViolation(f"chain_tiles lacks or mangles node {node}")
            result.append(tiles.subtree_root(tile[begin:end]))
        return result

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(index, size, self.read_nodes)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return merkle.consistency_proof(size1, size2, self.read_nodes)


def _node_span(node: NodeId) -> tuple[tuple[int, int], int, int]:
    """((tier, tile index), begin byte, end byte) of the hashes under `node` in its tile."""
    level, index = node
    tier, depth = divmod(level, tiles.TILE_HEIGHT)
    first = index << depth
    offset = first % tiles.TILE_WIDTH
    return (
        (tier, first // tiles.TILE_WIDTH),
        32 * offset,
        32 * (offset + (1 << depth)),
    )
