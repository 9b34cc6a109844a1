"""Write `merkle_vectors.json`: valid RFC 6962 proofs over the RFC test leaves, each followed by
named mutations that every verifier must reject, with the error code expected.

Run from the repository root: `.venv/bin/python tests/chain/data/make_merkle_vectors.py`. The valid
proofs come from the brute-force reference in this script (not from `clearline.chain.merkle`); the
expected codes are fixed by the mutation's kind, so the file does not depend on the code under test.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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
OUT = Path(__file__).with_name("merkle_vectors.json")


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def flip(value: str, bit: int = 0) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[bit // 8] ^= 1 << (bit % 8)
    return raw.hex()


def inclusion_mutations(case: dict) -> list[dict]:
    proof, size, index = case["proof"], case["tree_size"], case["leaf_index"]
    out = [
        ("flip_bit_leaf_hash", {"leaf_hash": flip(case["leaf_hash"], 7)}, "root_mismatch"),
        ("flip_bit_root", {"root": flip(case["root"], 255)}, "root_mismatch"),
        ("extend_proof", {"proof": [*proof, case["root"]]}, "proof_too_long"),
        ("index_equals_size", {"leaf_index": size}, "leaf_index_out_of_range"),
        ("size_zero", {"tree_size": 0}, "leaf_index_out_of_range"),
        ("short_leaf_hash", {"leaf_hash": case["leaf_hash"][:-2]}, "hash_size_invalid"),
        ("long_root", {"root": case["root"] + "00"}, "hash_size_invalid"),
    ]
    for position in range(len(proof)):
        flipped = [*proof]
        flipped[position] = flip(proof[position], 8 * position + 3)
        out.append((f"flip_bit_proof_{position}", {"proof": flipped}, "root_mismatch"))
    if proof:
        out.append(("truncate_proof", {"proof": proof[:-1]}, "proof_too_short"))
        out.append(
            ("short_proof_hash", {"proof": [proof[0][:-2], *proof[1:]]}, "hash_size_invalid")
        )
    if len(proof) >= 2:
        out.append(("reorder_proof", {"proof": [proof[1], proof[0], *proof[2:]]}, "root_mismatch"))
    if size >= 2:
        other = index ^ 1 if (index ^ 1) < size else index - 1
        out.append(("wrong_index", {"leaf_index": other}, None))
    # A size whose audit path has another length (a same-shaped size is bound by the signed
    # checkpoint, not by the proof): the verifier must say the proof is too short or too long.
    for name, candidates in (
        ("wrong_size_smaller", range(size - 1, index, -1)),
        ("wrong_size_larger", range(size + 1, 4 * size + 2)),
    ):
        for other in candidates:
            length = len(path(index, [b""] * other))
            if length != len(proof):
                code = "proof_too_short" if len(proof) < length else "proof_too_long"
                out.append((name, {"tree_size": other}, code))
                break
    return [{"name": name, "change": change, "code": code} for name, change, code in out]


def consistency_mutations(case: dict) -> list[dict]:
    proof, size1, size2 = case["proof"], case["size1"], case["size2"]
    out = [
        ("flip_bit_root1", {"root1": flip(case["root1"], 9)}, "root_mismatch"),
        ("flip_bit_root2", {"root2": flip(case["root2"], 200)}, "root_mismatch"),
        ("extend_proof", {"proof": [*proof, case["root2"]]}, "proof_too_long"),
        ("swap_sizes", {"size1": size2, "size2": size1}, "tree_size_invalid"),
        ("short_root1", {"root1": case["root1"][:-2]}, "hash_size_invalid"),
    ]
    for position in range(len(proof)):
        flipped = [*proof]
        flipped[position] = flip(proof[position], 8 * position + 5)
        out.append((f"flip_bit_proof_{position}", {"proof": flipped}, "root_mismatch"))
    if proof:
        out.append(("truncate_proof", {"proof": proof[:-1]}, "proof_too_short"))
        out.append(
            ("short_proof_hash", {"proof": [*proof[:-1], proof[-1][:-2]]}, "hash_size_invalid")
        )
    if len(proof) >= 2 and proof[0] != proof[1]:
        out.append(("reorder_proof", {"proof": [proof[1], proof[0], *proof[2:]]}, "root_mismatch"))
    for name, field, candidates in (
        ("wrong_size2_larger", "size2", [(size1, other) for other in range(size2 + 1, 4 * size2)]),
        ("wrong_size1_smaller", "size1", [(other, size2) for other in range(size1 - 1, 0, -1)]),
    ):
        for first, second in candidates:
            length = len(subproof(first, [b""] * second, True))
            if length != len(proof):
                code = "proof_too_short" if len(proof) < length else "proof_too_long"
                out.append((name, {field: first if field == "size1" else second}, code))
                break
    return [{"name": name, "change": change, "code": code} for name, change, code in out]


def main() -> None:
    leaves = [bytes.fromhex(leaf) for leaf in RFC_LEAVES]
    inclusion, consistency = [], []
    for size in range(1, len(leaves) + 1):
        for index in range(size):
            case = {
                "leaf_index": index,
                "tree_size": size,
                "leaf_hash": mth([leaves[index]]).hex(),
                "proof": [h.hex() for h in path(index, leaves[:size])],
                "root": mth(leaves[:size]).hex(),
            }
            inclusion.append({**case, "mutations": inclusion_mutations(case)})
    for size2 in range(1, len(leaves) + 1):
        for size1 in range(1, size2):
            case = {
                "size1": size1,
                "size2": size2,
                "root1": mth(leaves[:size1]).hex(),
                "root2": mth(leaves[:size2]).hex(),
                "proof": [h.hex() for h in subproof(size1, leaves[:size2], True)],
            }
            consistency.append({**case, "mutations": consistency_mutations(case)})
    document = {
        "about": "RFC 6962 proofs over the RFC test leaves, and named mutations that must be "
        "rejected; code null means any ProofError. Made by make_merkle_vectors.py.",
        "leaves": RFC_LEAVES,
        "inclusion": inclusion,
        "consistency": consistency,
    }
    OUT.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
