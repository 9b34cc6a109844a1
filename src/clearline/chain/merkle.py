"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verifiers, as pure functions.

Guarantees:
- Hashing follows RFC 6962 §2.1 exactly: the empty tree hashes to SHA-256(""), a leaf to
  SHA-256(0x00 ‖ data), a node to SHA-256(0x01 ‖ left ‖ right), and a tree of n > 1 leaves splits
  at the largest power of two strictly below n. The published vectors are checked in the tests.
- `inclusion_proof` and `consistency_proof` return exactly the RFC 6962 §2.1.1 / §2.1.2 proofs as
  lists of 32-byte `bytes`. They read node hashes through a `NodeReader` (one batched call per
  proof, O(log n) perfect-subtree nodes), or from a list of leaf hashes for small trees and tests.
- `verify_inclusion` and `verify_consistency` (RFC 9162 §2.1.3.2 and §2.1.4.2, written after
  transparency-dev/merkle) take everything as arguments, touch no state, return None when the proof
  holds and otherwise raise a `ProofError` subclass with a stable `code`: a hash that is not 32
  bytes, an index not below the size, sizes out of order, a proof one hash too short or too long,
  or hashes that do not lead to the given root (a flipped bit, a reordered proof, a wrong index).
- `Frontier` is the compact range of a log: the roots of its perfect subtrees, at most 64 hashes.
  Appending one leaf costs O(log n) time and memory and reports every perfect node it completes,
  so a store can persist each node once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from clearline.core.errors import ClearlineError

HASH_SIZE_BYTES = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
TREE_SIZE_MAX = (1 << 64) - 1
"""Largest tree size (RFC 9162 sizes are uint64); so a proof never has more than 64 hashes."""
PROOF_HASHES_MAX = 64
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ClearlineError, ValueError):
    """A proof, hash or size given to a verifier is malformed or does not hold."""

    code = "proof_invalid"


class HashSizeInvalid(ProofError):
    code = "hash_size_invalid"


class TreeSizeInvalid(ProofError):
    code = "tree_size_invalid"


class LeafIndexOutOfRange(ProofError):
    code = "leaf_index_out_of_range"


class ProofTooShort(ProofError):
    code = "proof_too_short"


class ProofTooLong(ProofError):
    code = "proof_too_long"


class RootMismatch(ProofError):
    code = "root_mismatch"


class NodeId(NamedTuple):
    """Perfect subtree (level 0: a leaf) covering leaves [offset·2^level, (offset+1)·2^level)."""

    level: int
    offset: int


NodeReader = Callable[[Sequence[NodeId]], Sequence[bytes]]
"""Returns the hash of each requested perfect node, in the order asked."""


# -- hashing ------------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    _check_hash(left, "left")
    _check_hash(right, "right")
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(size: int) -> int:
    """The largest power of two strictly below `size` (size ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) over `leaf_hashes`, by the RFC 6962 definition."""
    if not leaf_hashes:
        return EMPTY_ROOT
    if len(leaf_hashes) == 1:
        _check_hash(leaf_hashes[0], "leaf hash")
        return bytes(leaf_hashes[0])
    k = split_point(len(leaf_hashes))
    return node_hash(root_hash(leaf_hashes[:k]), root_hash(leaf_hashes[k:]))


# -- proofs -------------------------------------------------------------------------------------


def _inclusion_ranges(index: int, begin: int, end: int) -> list[tuple[int, int]]:
    """RFC 6962 PATH(index, D[begin:end]) as leaf ranges, bottom-up."""
    if end - begin <= 1:
        return []
    k = split_point(end - begin)
    if index < begin + k:
        return [*_inclusion_ranges(index, begin, begin + k), (begin + k, end)]
    return [*_inclusion_ranges(index, begin + k, end), (begin, begin + k)]


def _consistency_ranges(size1: int, begin: int, end: int, complete: bool) -> list[tuple[int, int]]:
    """RFC 6962 SUBPROOF(size1, D[begin:end], complete) as leaf ranges (size1 counts from begin)."""
    if size1 == end - begin:
        return [] if complete else [(begin, end)]
    k = split_point(end - begin)
    if size1 <= k:
        return [*_consistency_ranges(size1, begin, begin + k, complete), (begin + k, end)]
    return [*_consistency_ranges(size1 - k, begin + k, end, False), (begin, begin + k)]


def _range_nodes(begin: int, end: int) -> list[NodeId]:
    """Perfect nodes whose ordered hashes make up range [begin, end), left to right."""
    nodes: list[NodeId] = []
    while begin < end:
        level = min(
            (begin & -begin).bit_length() - 1 if begin else 63, (end - begin).bit_length() - 1
        )
        nodes.append(NodeId(level, begin >> level))
        begin += 1 << level
    return nodes


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its perfect nodes: each node's sibling is everything right of it."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _resolve(
    ranges: Sequence[tuple[int, int]], source: Sequence[bytes] | NodeReader
) -> list[bytes]:
    reader = source if callable(source) else leaf_list_reader(source)
    per_range = [_range_nodes(begin, end) for begin, end in ranges]
    wanted = sorted({node for nodes in per_range for node in nodes})
    found = dict(zip(wanted, reader(wanted), strict=True))
    return [_fold_right([found[node] for node in nodes]) for nodes in per_range]


def leaf_list_reader(leaf_hashes: Sequence[bytes]) -> NodeReader:
    """A `NodeReader` over an in-memory list of leaf hashes (O(n) per node; for small trees)."""

    def read(nodes: Sequence[NodeId]) -> list[bytes]:
        result = []
        for level, index in nodes:
            begin = index << level
            if begin + (1 << level) > len(leaf_hashes):
                raise TreeSizeInvalid(f"node {level}/{index} lies beyond {len(leaf_hashes)} leaves")
            result.append(root_hash(leaf_hashes[begin : begin + (1 << level)]))
        return result

    return read


def inclusion_proof(index: int, size: int, source: Sequence[bytes] | NodeReader) -> list[bytes]:
    """The audit path of leaf `index` in the tree of the first `size` leaves (RFC 6962 §2.1.1)."""
    _check_size(size, "size")
    _check_index(index, size)
    return _resolve(_inclusion_ranges(index, 0, size), source)


def consistency_proof(size1: int, size2: int, source: Sequence[bytes] | NodeReader) -> list[bytes]:
    """The proof that the tree of `size1` leaves is a prefix of that of `size2` (§2.1.2).

    Empty when size1 is 0 or equals size2."""
    _check_sizes(size1, size2)
    if size1 == 0:
        return []
    return _resolve(_consistency_ranges(size1, 0, size2, True), source)


# -- verifiers ----------------------------------------------------------------------------------


def _check_hash(value: object, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE_BYTES:
        size = len(value) if isinstance(value, bytes) else type(value).__name__
        raise HashSizeInvalid(f"{what} must be {HASH_SIZE_BYTES} bytes, got {size}")


def _check_size(size: object, what: str) -> int:
    if type(size) is not int or not 0 <= size <= TREE_SIZE_MAX:
        raise TreeSizeInvalid(f"{what} must be an int in 0..2^64-1, got {size!r}")
    return size


def _check_index(index: object, size: int) -> None:
    if type(index) is not int or index < 0:
        raise LeafIndexOutOfRange(f"leaf index must be a non-negative int, got {index!r}")
    if index >= size:
        raise LeafIndexOutOfRange(f"leaf index {index} is not below tree size {size}")


def _check_sizes(size1: object, size2: object) -> None:
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    assert isinstance(size1, int) and isinstance(size2, int)
    if size1 > size2:
        raise TreeSizeInvalid(f"size1 {size1} must not exceed size2 {size2}")


def _check_proof(proof: object, expected: int) -> Sequence[bytes]:
    if not isinstance(proof, list | tuple):
        raise ProofError(f"a proof is a list of hashes, got {type(proof).__name__}")
    if len(proof) < expected:
        raise ProofTooShort(f"proof has {len(proof)} hashes, expected {expected}")
    if len(proof) > expected:
        raise ProofTooLong(f"proof has {len(proof)} hashes, expected {expected}")
    for position, item in enumerate(proof):
        _check_hash(item, f"proof hash {position}")
    return proof


def _decompose(index: int, size: int) -> tuple[int, int]:
    """(inner, border): proof hashes below and on the tree's right border (transparency-dev)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(proof):
        seed = node_hash(seed, sibling) if (index >> level) & 1 == 0 else node_hash(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(proof):
        if (index >> level) & 1:
            seed = node_hash(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for sibling in proof:
        seed = node_hash(sibling, seed)
    return seed


def _expect_root(computed: bytes, root: bytes, what: str) -> None:
    if computed != root:
        raise RootMismatch(f"{what}: computed {computed.hex()}, expected {root.hex()}")


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Return None when `proof` shows leaf `leaf_index` with `leaf_hash` is in the tree of
    `tree_size` leaves whose root is `root`; raise a `ProofError` otherwise."""
    _check_size(tree_size, "tree size")
    _check_index(leaf_index, tree_size)
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root")
    inner, border = _decompose(leaf_index, tree_size)
    checked = _check_proof(proof, inner + border)
    computed = _chain_inner(leaf_hash, checked[:inner], leaf_index)
    _expect_root(_chain_border_right(computed, checked[inner:]), root, "inclusion proof")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Return None when `proof` shows the tree (`size1`, `root1`) is a prefix of (`size2`,
    `root2`); raise a `ProofError` otherwise. An empty first tree must have the empty root."""
    _check_sizes(size1, size2)
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    if size1 == 0 or size1 == size2:
        _check_proof(proof, 0)
        _expect_root(root1, EMPTY_ROOT if size1 == 0 else root2, "consistency of equal trees")
        return
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    seeded = size1 == 1 << shift
    checked = _check_proof(proof, (0 if seeded else 1) + inner + border)
    seed, rest = (root1, checked) if seeded else (checked[0], checked[1:])
    mask = (size1 - 1) >> shift
    first = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    _expect_root(first, root1, "consistency proof, first root")
    second = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    _expect_root(second, root2, "consistency proof, second root")


# -- compact range ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frontier:
    """The compact range [0, size): the roots of the perfect subtrees of the tree of `size`
    leaves, largest (leftmost) first; one per set bit of `size`."""

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        _check_size(self.size, "frontier size")
        if len(self.hashes) != self.size.bit_count():
            raise TreeSizeInvalid(
                f"a frontier of size {self.size} has {self.size.bit_count()} hashes"
            )
        for item in self.hashes:
            _check_hash(item, "frontier hash")

    def root(self) -> bytes:
        """The tree's root hash."""
        return _fold_right(self.hashes) if self.hashes else EMPTY_ROOT

    def nodes(self) -> list[NodeId]:
        """The perfect nodes that `hashes` are, in the same order."""
        return _range_nodes(0, self.size)


def append(frontier: Frontier, leaf: bytes) -> tuple[Frontier, list[tuple[NodeId, bytes]]]:
    """Append one leaf hash; return the new frontier and every perfect node it completed, the
    leaf itself (level 0) first."""
    _check_hash(leaf, "leaf hash")
    stack, size = list(frontier.hashes), frontier.size
    created = [(NodeId(0, size), leaf)]
    current, level = leaf, 0
    while (size >> level) & 1:
        current = node_hash(stack.pop(), current)
        level += 1
        created.append((NodeId(level, size >> level), current))
    stack.append(current)
    return Frontier(size + 1, tuple(stack)), created


def append_many(
    frontier: Frontier, leaves: Sequence[bytes]
) -> tuple[Frontier, list[tuple[NodeId, bytes]]]:
    """Append leaves in order; return the new frontier and all completed perfect nodes (the same
    as repeated `append`, without building a frontier per leaf)."""
    stack, size = list(frontier.hashes), frontier.size
    created: list[tuple[NodeId, bytes]] = []
    sha256 = hashlib.sha256
    for leaf in leaves:
        _check_hash(leaf, "leaf hash")
        created.append((NodeId(0, size), leaf))
        current, level = leaf, 0
        while (size >> level) & 1:
            current = sha256(NODE_PREFIX + stack.pop() + current).digest()
            level += 1
            created.append((NodeId(level, size >> level), current))
        stack.append(current)
        size += 1
    return Frontier(size, tuple(stack)), created
