"""RFC 6962 Merkle hashing, proofs and verifiers: the published vectors, every proof up to size 64
against a brute-force reference, the compact range, and named mutations from a data file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline.chain import merkle
from clearline.chain.merkle import (
    EMPTY_ROOT,
    Frontier,
    NodeId,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from clearline.core.errors import ClearlineError

DATA = Path(__file__).parent / "data" / "merkle_vectors.json"
SIZE_MAX = 64
RFC_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
RFC_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


# -- brute-force reference (RFC 6962 §2.1 written over lists, independent of the module) --------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    if m == len(leaves):
        return [] if complete else [ref_mth(leaves)]
    k = _split(len(leaves))
    if m <= k:
        return [*ref_subproof(m, leaves[:k], complete), ref_mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_mth(leaves[:k])]


LEAF_HASHES = [leaf_hash(bytes([i]) * (i % 5)) for i in range(SIZE_MAX)]


def node_store() -> dict[NodeId, bytes]:
    """Every perfect node of the 64-leaf tree, as the compact range reports them."""
    frontier, store = Frontier(), {}
    for leaf in LEAF_HASHES:
        frontier, created = merkle.append(frontier, leaf)
        store.update(created)
    return store


NODES = node_store()


def reader(nodes: Sequence[NodeId]) -> list[bytes]:
    return [NODES[node] for node in nodes]


# -- tests --------------------------------------------------------------------------------------


def test_rfc6962_roots() -> None:
    hashes = [leaf_hash(bytes.fromhex(leaf)) for leaf in RFC_LEAVES]
    assert [root_hash(hashes[:n]).hex() for n in range(9)] == RFC_ROOTS
    frontier = Frontier()
    for n in range(9):
        assert frontier.root().hex() == RFC_ROOTS[n]
        if n < 8:
            frontier, _ = merkle.append(frontier, hashes[n])


def test_leaf_and_node_hash_use_domain_separation() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    with pytest.raises(merkle.HashSizeInvalid):
        node_hash(left[:31], right)


def test_every_inclusion_proof_up_to_64() -> None:
    for size in range(1, SIZE_MAX + 1):
        leaves = LEAF_HASHES[:size]
        root = ref_mth(leaves)
        for index in range(size):
            proof = inclusion_proof(index, size, reader)
            assert proof == ref_path(index, leaves)
            assert verify_inclusion(index, size, leaves[index], proof, root) is None


def test_every_consistency_proof_up_to_64() -> None:
    roots = [ref_mth(LEAF_HASHES[:n]) for n in range(SIZE_MAX + 1)]
    for size2 in range(SIZE_MAX + 1):
        for size1 in range(size2 + 1):
            proof = consistency_proof(size1, size2, reader)
            expected = [] if size1 == 0 else ref_subproof(size1, LEAF_HASHES[:size2], True)
            assert proof == expected
            assert verify_consistency(size1, size2, roots[size1], roots[size2], proof) is None


def test_leaf_list_source_matches_node_reader() -> None:
    for size in (1, 5, 13, 32, 33):
        for index in (0, size // 2, size - 1):
            assert inclusion_proof(index, size, LEAF_HASHES) == inclusion_proof(index, size, reader)
        assert consistency_proof(size // 2, size, LEAF_HASHES) == consistency_proof(
            size // 2, size, reader
        )


def test_proofs_read_log_n_nodes() -> None:
    """A proof reads at most 2·log2(n) + 2 perfect nodes, in a single batched call."""
    calls: list[int] = []

    def counting(nodes: Sequence[NodeId]) -> list[bytes]:
        calls.append(len(nodes))
        return reader(nodes)

    for size in range(2, SIZE_MAX + 1):
        bound = 2 * (size - 1).bit_length() + 2
        for index in range(size):
            calls.clear()
            inclusion_proof(index, size, counting)
            assert len(calls) == 1 and calls[0] <= bound
        for size1 in range(1, size):
            calls.clear()
            consistency_proof(size1, size, counting)
            assert len(calls) == 1 and calls[0] <= bound


def test_frontier_appends_report_each_perfect_node_once() -> None:
    assert len(NODES) == 2 * SIZE_MAX - 1
    for (level, index), value in NODES.items():
        begin = index << level
        assert value == ref_mth(LEAF_HASHES[begin : begin + (1 << level)])
    frontier = Frontier()
    for size in range(1, SIZE_MAX + 1):
        frontier, _ = merkle.append(frontier, LEAF_HASHES[size - 1])
        assert len(frontier.hashes) == size.bit_count()
        assert frontier.root() == ref_mth(LEAF_HASHES[:size])
        assert [NODES[node] for node in frontier.nodes()] == list(frontier.hashes)
    with pytest.raises(merkle.TreeSizeInvalid):
        Frontier(3, (EMPTY_ROOT,))


def _apply(case: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = {**case, **change}
    merged.pop("mutations")
    for key in ("leaf_hash", "root", "root1", "root2"):
        if key in merged:
            merged[key] = bytes.fromhex(merged[key])
    merged["proof"] = [bytes.fromhex(item) for item in merged["proof"]]
    return merged


def _vectors() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DATA.read_text())
    return document


def test_data_file_cases_verify_and_every_mutation_is_rejected() -> None:
    document, kinds, rejected = _vectors(), set(), 0
    for case in document["inclusion"]:
        verify_inclusion(**_apply(case, {}))
        for mutation in case["mutations"]:
            with pytest.raises(ProofError) as caught:
                verify_inclusion(**_apply(case, mutation["change"]))
            assert mutation["code"] in (None, caught.value.code), mutation["name"]
            kinds.add(mutation["name"].rstrip("0123456789_"))
            rejected += 1
    for case in document["consistency"]:
        verify_consistency(**_apply(case, {}))
        for mutation in case["mutations"]:
            with pytest.raises(ProofError) as caught:
                verify_consistency(**_apply(case, mutation["change"]))
            assert mutation["code"] in (None, caught.value.code), mutation["name"]
            rejected += 1
    assert rejected > 800
    assert {"flip_bit_proof", "truncate_proof", "extend_proof", "reorder_proof"} <= kinds
    assert {"wrong_index", "wrong_size_larger", "wrong_size_smaller"} <= kinds


def test_errors_are_typed_with_snake_case_codes() -> None:
    root = ref_mth(LEAF_HASHES[:4])
    proof = inclusion_proof(1, 4, reader)
    cases = [
        (lambda: verify_inclusion(4, 4, LEAF_HASHES[1], proof, root), "leaf_index_out_of_range"),
        (lambda: verify_inclusion(-1, 4, LEAF_HASHES[1], proof, root), "leaf_index_out_of_range"),
        (lambda: verify_inclusion(1, -4, LEAF_HASHES[1], proof, root), "tree_size_invalid"),
        (lambda: verify_inclusion(1, 2**64, LEAF_HASHES[1], proof, root), "tree_size_invalid"),
        (lambda: verify_inclusion(1, 4, LEAF_HASHES[1], proof[:1], root), "proof_too_short"),
        (lambda: verify_inclusion(1, 4, LEAF_HASHES[1], [*proof, root], root), "proof_too_long"),
        (lambda: verify_inclusion(1, 4, LEAF_HASHES[1], proof[::-1], root), "root_mismatch"),
        (lambda: verify_inclusion(1, 4, "x" * 32, proof, root), "hash_size_invalid"),  # type: ignore[arg-type]
        (lambda: verify_consistency(0, 4, root, root, []), "root_mismatch"),
        (lambda: verify_consistency(0, 4, EMPTY_ROOT, root, [root]), "proof_too_long"),
        (lambda: verify_consistency(4, 4, root, root, [root]), "proof_too_long"),
        (lambda: verify_consistency(4, 4, root, EMPTY_ROOT, []), "root_mismatch"),
        (lambda: verify_consistency(5, 4, root, root, []), "tree_size_invalid"),
        (lambda: verify_consistency(True, 4, root, root, []), "tree_size_invalid"),  # type: ignore[arg-type]
        (lambda: verify_inclusion(1, 4, LEAF_HASHES[1], "ab", root), "proof_invalid"),  # type: ignore[arg-type]
    ]
    for call, code in cases:
        with pytest.raises(ClearlineError) as caught:
            call()
        assert caught.value.code == code
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, []) is None
    assert verify_consistency(0, 4, EMPTY_ROOT, root, []) is None


@given(st.integers(1, 2**64 - 1), st.data())
def test_proof_shapes_for_huge_trees(size: int, data: st.DataObject) -> None:
    """Proofs of trees far too large to build have the RFC lengths: a reader handing out a fake
    hash per node gives a proof the verifier sizes correctly (inner + border hashes)."""
    index = data.draw(st.integers(0, size - 1))

    def fake(nodes: Sequence[NodeId]) -> list[bytes]:
        return [hashlib.sha256(b"%d/%d" % node).digest() for node in nodes]

    proof = inclusion_proof(index, size, fake)
    assert len(proof) <= merkle.PROOF_HASHES_MAX
    with pytest.raises(merkle.RootMismatch):
        verify_inclusion(index, size, leaf_hash(b"x"), proof, EMPTY_ROOT)
    size1 = data.draw(st.integers(1, size))
    proof = consistency_proof(size1, size, fake)
    if size1 < size:
        with pytest.raises(merkle.RootMismatch):
            verify_consistency(size1, size, EMPTY_ROOT, EMPTY_ROOT, proof)
