"""Reading a sealed log back: leaves, checkpoints and proofs, from a data directory or an open
ledger.

Guarantees:
- `ChainLog` only reads: a read-only SQLite connection on a directory no ledger holds (closed, a
  backup, a replica), or, with `ChainLog.of(ledger)`, queries run on the open ledger's writer
  thread between commits (`Ledger.read_store`), so it sees exactly the committed state.
- A transfer's leaf bytes are rebuilt from the ledger's `transfers` row (`transfer_leaf`), an
  attestation's from its `attestations` row (`attestation_leaf`), so neither leaf can disagree
  with the ledger's record; other events come from `chain_events`. The `attestations` table is
  read only for leaves the other two do not hold, so a log without attestations (or a store from
  before them) reads as before.
- A proof for any index at any past size reads one tile per tier: one query of O(log n) rows.
  What it reads is checked: rows present, hash and tile sizes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from clearline.chain import merkle, tiles
from clearline.chain.encoding import ATTESTATION_BODY, ENCODING_VERSION, HEADER, KIND_CODES
from clearline.chain.merkle import NodeId
from clearline.chain.notes import Checkpoint, parse_checkpoint, parse_note
from clearline.core.errors import ClearlineError, InvariantViolation
from clearline.ledger.events import LedgerEventKind
from clearline.ledger.store import DATABASE_FILE, TRANSFER_BODY
from clearline.ledger.types import Transfer

TILES_PER_QUERY_MAX = 200
"""Tiles per query (one `UNION ALL` term each; SQLite allows 500 terms)."""
LEAVES_PER_QUERY_MAX = 100_000
"""Leaves read per `leaves()` chunk."""
T = TypeVar("T")
_TRANSFER_KIND = KIND_CODES[LedgerEventKind.TRANSFER_CREATED]
_ATTESTATION_KIND = KIND_CODES[LedgerEventKind.ATTESTATION_CREATED]
_TRANSFER_FIELDS_BYTES = TRANSFER_BODY.size - 16
"""A stored transfer body ends with two 8-byte previous-timestamp links the leaf does not hold."""


class Connection(Protocol):
    """What the readers need: `execute` returning something with `fetchone`/`fetchall`."""

    def execute(self, sql: str, parameters: Sequence[Any] = ...) -> Any: ...


def transfer_leaf(timestamp: int, transfer_id: bytes, body: bytes) -> bytes:
    """The canonical bytes of a transfer from its ledger row (`transfers` table)."""
    if len(transfer_id) != 16 or len(body) != TRANSFER_BODY.size:
        raise InvariantViolation(f"transfer row {timestamp} has the wrong size")
    header = HEADER.pack(ENCODING_VERSION, _TRANSFER_KIND, timestamp, _TRANSFER_FIELDS_BYTES + 16)
    return header + transfer_id + body[:_TRANSFER_FIELDS_BYTES]


def attestation_leaf(timestamp: int, attestation_id: bytes, code: int, digest: bytes) -> bytes:
    """The canonical bytes of an attestation from its ledger row (`attestations` table)."""
    if len(attestation_id) != 16 or len(digest) != 32 or not 0 <= code < 1 << 16:
        raise InvariantViolation(f"attestation row {timestamp} has the wrong size")
    header = HEADER.pack(ENCODING_VERSION, _ATTESTATION_KIND, timestamp, ATTESTATION_BODY.size)
    return header + ATTESTATION_BODY.pack(attestation_id, code, digest)


def read_leaves(connection: Connection, begin: int, end: int) -> list[bytes]:
    """Canonical event bytes of leaves [begin, end), read through `connection` (a `ChainLog`'s,
    or the ledger's transaction)."""
    result: list[bytes] = []
    for chunk in range(begin, end, LEAVES_PER_QUERY_MAX):
        result.extend(_leaves(connection, chunk, min(end, chunk + LEAVES_PER_QUERY_MAX)))
    return result


def _timestamps(connection: Connection, begin: int, end: int) -> list[int]:
    rows = connection.execute(
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


def _leaves(connection: Connection, begin: int, end: int) -> list[bytes]:
    if begin >= end:
        return []
    timestamps = _timestamps(connection, begin, end)
    stored = dict(
        connection.execute(
            "SELECT leaf_index, data FROM chain_events WHERE leaf_index >= ? AND leaf_index < ?",
            (begin, end),
        ).fetchall()
    )
    transfers = {
        row[0]: transfer_leaf(row[0], bytes(row[1]), bytes(row[2]))
        for row in connection.execute(
            "SELECT timestamp, id, body FROM transfers WHERE timestamp >= ? AND timestamp <= ?",
            (timestamps[0], timestamps[-1]),
        )
    }
    missing = [
        timestamp
        for index, timestamp in enumerate(timestamps, begin)
        if index not in stored and timestamp not in transfers
    ]
    attestations = _attestation_leaves(connection, missing[0], missing[-1]) if missing else {}
    result = []
    for index, timestamp in enumerate(timestamps, begin):
        data = stored.get(index) or transfers.get(timestamp) or attestations.get(timestamp)
        if data is None:
            raise InvariantViolation(f"leaf {index} (timestamp {timestamp}) has no event")
        result.append(bytes(data))
    return result


def _attestation_leaves(connection: Connection, first: int, last: int) -> dict[int, bytes]:
    """Leaf bytes of the attestations with timestamps in [first, last], by timestamp."""
    return {
        row[0]: attestation_leaf(row[0], bytes(row[1]), row[2], bytes(row[3]))
        for row in connection.execute(
            "SELECT timestamp, id, code, digest FROM attestations"
            " WHERE timestamp >= ? AND timestamp <= ?",
            (first, last),
        )
    }


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


class StoreReader(Protocol):
    """What `ChainLog.of` needs of an open ledger (`Ledger` has it)."""

    def read_store(self, call: Callable[[Any], T]) -> T: ...


class _Rows(list[Any]):
    """A fetched result, read like a cursor."""

    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class _LedgerConnection:
    """Runs each query on the open ledger's writer thread, between commits."""

    def __init__(self, ledger: StoreReader) -> None:
        self._ledger = ledger

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> _Rows:
        return _Rows(
            self._ledger.read_store(
                lambda connection: connection.execute(sql, parameters).fetchall()
            )
        )

    def close(self) -> None:
        """The ledger owns its database."""


class ChainLog:
    """Read-only access to a data directory's log: leaves, checkpoints and proofs. Open it on a
    directory no ledger holds (`ChainLog(directory)`: closed, a backup or a replica), or on an
    open ledger (`ChainLog.of(ledger)`), which holds its database exclusively."""

    def __init__(self, data_directory: Path) -> None:
        path = Path(data_directory) / DATABASE_FILE
        if not path.exists():
            raise LogNotFound(f"{data_directory} holds no ledger ({DATABASE_FILE} is missing)")
        uri = path.resolve().as_uri() + "?mode=ro"
        self._connection: sqlite3.Connection | _LedgerConnection = sqlite3.connect(
            uri, uri=True, check_same_thread=False
        )
        self._check_sealed(str(data_directory))

    @classmethod
    def of(cls, ledger: StoreReader) -> ChainLog:
        """The log of an open ledger: every query runs on its writer thread between commits, so
        it reads exactly the committed state."""
        log = cls.__new__(cls)
        log._connection = _LedgerConnection(ledger)
        log._check_sealed("this ledger")
        return log

    def _check_sealed(self, where: str) -> None:
        sealed = self._connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='chain_checkpoints'"
        ).fetchone()
        if sealed is None:
            self._connection.close()
            raise LogNotFound(
                f"the ledger in {where} was never sealed into a log: open it sealed (the default, "
                "docs/chain.md, 'Sealed by default') before exporting or auditing"
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
        return read_leaves(self._connection, begin, stop)

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

    def attestation_timestamp(self, attestation_id: int) -> int | None:
        """The ledger timestamp of attestation `attestation_id`, read from the same database
        (None when there is none, or the store predates attestations)."""
        has_table = self._connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='attestations'"
        ).fetchone()
        if has_table is None:
            return None
        row = self._connection.execute(
            "SELECT timestamp FROM attestations WHERE id = ?", (attestation_id.to_bytes(16, "big"),)
        ).fetchone()
        return None if row is None else int(row[0])

    def checkpoint_notes(self) -> list[str]:
        """Every signed checkpoint note, oldest first."""
        rows = self._connection.execute("SELECT note FROM chain_checkpoints ORDER BY size")
        return [str(row[0]) for row in rows]

    def latest_checkpoint_note(self) -> str | None:
        """The last signed checkpoint note, or None before the first."""
        row = self._connection.execute(
            "SELECT note FROM chain_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

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
