"""The sealer's tables and its cached view of them: the log's tip.

Guarantees:
- `SCHEMA` is every table the log keeps in the ledger's database (docs/chain.md, "Tables"), and
  only the sealer (`log.SealingHook`) writes them, inside the ledger's transactions.
- `load_tip` reads the tip (tree size, compact range, last checkpoint, keys in force, the partial
  right-edge tile of every tier, the leaves appended and the last leaf's timestamp) and checks
  what it reads: hash counts, tile sizes, that the tree does not cover more leaves than exist.
- `write_tiles` and `runs` are the only writers of `chain_tiles` and `chain_runs` rows; they do
  one statement per tier and one row per run of consecutive timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from clearline.chain import merkle, tiles
from clearline.chain.notes import GENESIS_PREVIOUS, parse_checkpoint, parse_note
from clearline.core.errors import InvariantViolation
from clearline.ledger.events import HookTransaction

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


@dataclass
class Tip:
    """The log as of the last group this hook appended (a cache of the database)."""

    size: int = 0
    """The tree size: leaves whose hashes are in the tiles and the frontier."""
    frontier: list[bytes] = field(default_factory=list)
    checkpoint_hash: bytes = GENESIS_PREVIOUS
    checkpoint_size: int = 0
    """The size of the last signed checkpoint (≤ `size`)."""
    checkpoint_time_ns: int | None = None
    """The time of the last signed checkpoint (None before the first)."""
    appended: int = 0
    """Leaves appended (≥ `size`; more while groups are hashed elsewhere)."""
    last_timestamp: int = 0
    """The ledger timestamp of the last leaf (0 for an empty log)."""
    keys: tuple[str, ...] | None = None
    """The keys announced by the last rotation checkpoint (None: the hook's initial signers)."""
    edges: dict[int, bytes] = field(default_factory=dict)
    """Per tier, the hashes of its partial right-edge tile (absent when the tier's last tile is
    full or empty)."""


def last_leaf(transaction: HookTransaction) -> tuple[int, int]:
    """(leaves appended, timestamp of the last one), from `chain_runs`; (0, 0) when empty."""
    row = transaction.execute(
        "SELECT first_index + count, first_timestamp + count - 1 FROM chain_runs"
        " ORDER BY first_index DESC LIMIT 1"
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def load_tip(transaction: HookTransaction) -> Tip:
    row = transaction.execute(
        "SELECT size, frontier, checkpoint_hash FROM chain_state WHERE id = 0"
    ).fetchone()
    if row is None:
        return Tip()
    size, blob = int(row[0]), bytes(row[1])
    frontier = [blob[i : i + 32] for i in range(0, len(blob), 32)]
    merkle.Frontier(size, tuple(frontier))  # checks the hash count and sizes
    tip = Tip(size, frontier, bytes(row[2]))
    tip.appended, tip.last_timestamp = last_leaf(transaction)
    if tip.appended < size:
        raise InvariantViolation(f"chain_runs holds {tip.appended} leaves, the tree {size}")
    last = transaction.execute(
        "SELECT note FROM chain_checkpoints ORDER BY size DESC LIMIT 1"
    ).fetchone()
    if last is not None:
        checkpoint = parse_checkpoint(parse_note(str(last[0])).text)
        tip.checkpoint_size, tip.checkpoint_time_ns = checkpoint.size, checkpoint.time_ns
    rotation = transaction.execute(
        "SELECT note FROM chain_checkpoints WHERE instr(note, char(10) || 'key ') > 0"
        " ORDER BY size DESC LIMIT 1"
    ).fetchone()
    if rotation is not None:
        tip.keys = parse_checkpoint(parse_note(str(rotation[0])).text).keys
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


INSERT_TILES = f"""
WITH RECURSIVE tile(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM tile WHERE i + 1 < ?2)
INSERT OR REPLACE INTO chain_tiles(tier, tile_index, hashes)
SELECT ?3, ?4 + i, substr(?1, i * {tiles.TILE_BYTES_MAX} + 1, {tiles.TILE_BYTES_MAX}) FROM tile
"""
"""One statement per tier: SQLite slices the tier's new hashes into tiles (as the ledger's packed
insert does), instead of a Python round trip per tile."""


def write_tiles(transaction: HookTransaction, tip: Tip, completed: dict[int, bytes]) -> None:
    """(Re)write the tiles of the nodes just completed (per tier, their hashes joined), appended
    to a tree of `tip.size` leaves; updates `tip.edges`."""
    for tier, hashes in completed.items():
        first = tip.size >> (tiles.TILE_HEIGHT * tier)
        blob = tip.edges.pop(tier, b"") + hashes
        count = -(-len(blob) // tiles.TILE_BYTES_MAX)
        transaction.execute(INSERT_TILES, (blob, count, tier, first // tiles.TILE_WIDTH))
        if len(blob) % tiles.TILE_BYTES_MAX:
            tip.edges[tier] = blob[-(len(blob) % tiles.TILE_BYTES_MAX) :]


def runs(first_index: int, timestamps: Sequence[int]) -> list[tuple[int, int, int]]:
    """(first leaf index, first timestamp, count) for each run of consecutive timestamps."""
    if timestamps[-1] - timestamps[0] == len(timestamps) - 1:  # the usual case: one run
        return [(first_index, timestamps[0], len(timestamps))]
    found: list[tuple[int, int, int]] = []
    for offset, timestamp in enumerate(timestamps):
        if found and timestamp == found[-1][1] + found[-1][2]:
            found[-1] = (found[-1][0], found[-1][1], found[-1][2] + 1)
        else:
            found.append((first_index + offset, timestamp, 1))
    return found


def row_timestamp(row: bytes) -> int:
    return int.from_bytes(row[:8], "big")
