"""Tiles of the Merkle tree and the batch append that feeds them: pure functions on bytes.

Guarantees:
- The tree is stored as tiles in the style of transparency-dev's tlog tiles, 4 levels high: tier
  t holds the hashes of the perfect nodes at level 4t (tier 0: the leaf hashes), 16 to a tile,
  left to right, concatenated. A node at any other level is the root of at most 8 consecutive
  hashes of one tile of its tier, so a proof at any past size reads one tile per tier (O(log n)
  rows of at most 512 bytes, in one query) and recomputes at most 11 hashes per tier. (8-high
  tiles halve the rows but cost a proof up to 247 hashes per tier: over 1 ms at 1M leaves.)
- Only the right-edge tile of each tier changes as the log grows (a tile is rewritten until it
  holds 16 hashes, then never again), so an append of g leaves writes about g·34 bytes of tiles.
- `append_leaves` hashes level by level (one list comprehension per level, about one node hash per
  leaf), returns exactly the new frontier the per-leaf `merkle.append_many` would, and the new
  hashes of every tier. It is checked against `merkle` in the tests.
- `transfer_leaf_input` turns a ledger row (`store.TRANSFER_ROW`) into `0x00 ‖ canonical event
  bytes` with two slices, because the row holds the encoded transfer fields in the order and
  widths of `encoding.TRANSFER_BODY`; the module refuses to import if either layout changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from clearline.chain.encoding import ENCODING_VERSION, HEADER, KIND_CODES, TRANSFER_BODY
from clearline.chain.merkle import LEAF_PREFIX, NODE_PREFIX
from clearline.ledger.events import LedgerEventKind
from clearline.ledger.store import TRANSFER_ROW

TILE_HEIGHT = 4
TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes per full tile."""
TILE_BYTES_MAX = TILE_WIDTH * 32
TIERS_MAX = 64 // TILE_HEIGHT

_ROW_FIELDS_END = 8 + TRANSFER_BODY.size
"""Row bytes [8, 116): id, debit, credit, amount, pending_id, user data, timeout, code, flags."""
assert TRANSFER_ROW.format == ">Q16s16s16sQ16s16sQIIHHQQ", "ledger row layout changed"
assert TRANSFER_BODY.format == ">16s16s16sQ16s16sQIIHH", "event body layout changed"
TRANSFER_LEAF_PREFIX = LEAF_PREFIX + bytes(
    [ENCODING_VERSION, KIND_CODES[LedgerEventKind.TRANSFER_CREATED]]
)
"""0x00, then the header's version and kind; the header's timestamp is the row's first 8 bytes."""
TRANSFER_BODY_LENGTH = TRANSFER_BODY.size.to_bytes(4, "big")
assert HEADER.format == ">BBQI"


def transfer_leaf_input(row: bytes) -> bytes:
    """0x00 ‖ the canonical encoding of the transfer in a packed ledger row."""
    return TRANSFER_LEAF_PREFIX + row[:8] + TRANSFER_BODY_LENGTH + row[8:_ROW_FIELDS_END]


def transfer_leaf_hashes(rows: Sequence[bytes]) -> list[bytes]:
    """Leaf hashes of packed ledger rows, in order. The hot loop: copying a hash state primed
    with the constant prefix and feeding it slices measured about 12% faster than hashing one
    concatenation (8,190 rows: 5.8 against 6.6 ms on the 2-core development VM)."""
    primed = hashlib.sha256(TRANSFER_LEAF_PREFIX)
    copy, length, end = primed.copy, TRANSFER_BODY_LENGTH, _ROW_FIELDS_END
    hashes = []
    for row in rows:
        state = copy()
        state.update(row[:8])
        state.update(length)
        state.update(row[8:end])
        hashes.append(state.digest())
    return hashes


_NODE_PRIMED = hashlib.sha256(NODE_PREFIX)


def _pair_up(hashes: list[bytes]) -> list[bytes]:
    """Parents of consecutive pairs (an odd last hash is left out)."""
    copy, parents = _NODE_PRIMED.copy, []
    for i in range(0, len(hashes) - 1, 2):
        state = copy()
        state.update(hashes[i])
        state.update(hashes[i + 1])
        parents.append(state.digest())
    return parents


def append_leaves(
    size: int, frontier: Sequence[bytes], leaf_hashes: list[bytes]
) -> tuple[list[bytes], dict[int, list[bytes]]]:
    """Append `leaf_hashes` to the tree of `size` leaves whose compact range is `frontier`
    (largest subtree first). Returns the new frontier and, per tier, the hashes of the nodes
    completed at that tier's level, left to right."""
    new_size = size + len(leaf_hashes)
    by_level = {level: frontier[i] for i, level in enumerate(_set_bits_descending(size))}
    new_by_level: dict[int, bytes] = {}
    completed: dict[int, list[bytes]] = {}
    current, level = leaf_hashes, 0
    while (new_size >> level) != (size >> level):
        if level % TILE_HEIGHT == 0:
            completed[level // TILE_HEIGHT] = current
        if (new_size >> level) & 1:
            new_by_level[level] = current[-1]
        if (size >> level) & 1:
            current = [by_level[level], *current]
        current = _pair_up(current)
        level += 1
    new_frontier = [
        new_by_level[bit] if bit in new_by_level else by_level[bit]
        for bit in _set_bits_descending(new_size)
    ]
    return new_frontier, completed


def _set_bits_descending(size: int) -> list[int]:
    return [bit for bit in range(size.bit_length() - 1, -1, -1) if (size >> bit) & 1]


def subtree_root(hashes: bytes) -> bytes:
    """Root of a perfect subtree from its bottom hashes, concatenated (a power of two of them)."""
    level = [hashes[i : i + 32] for i in range(0, len(hashes), 32)]
    while len(level) > 1:
        level = _pair_up(level)
    return level[0]
