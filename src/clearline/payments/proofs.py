"""Checkpoints and proofs of a running node.

An open `Ledger` holds its SQLite database exclusively, so the log of a running node is read
through the ledger's own connection (`ChainLog.of(ledger)`, which queries between groups on the
ledger's writer thread); callers run these functions on a worker thread, off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearline.chain.notes import Checkpoint, parse_checkpoint, parse_note
from clearline.chain.reader import ChainLog, InclusionProof
from clearline.ledger import Ledger


def live_log(ledger: Ledger) -> ChainLog:
    """A `ChainLog` reading the running ledger's database (call it off the event loop)."""
    return ChainLog.of(ledger)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    note: str
    checkpoint: Checkpoint


def latest_checkpoint(ledger: Ledger) -> SignedCheckpoint | None:
    note = live_log(ledger).latest_checkpoint_note()
    return None if note is None else _signed(note)


def checkpoints_after(ledger: Ledger, after_size: int, limit: int) -> list[SignedCheckpoint]:
    rows = ledger.read_store(
        lambda c: c.execute(
            "SELECT note FROM chain_checkpoints WHERE size > ? ORDER BY size LIMIT ?",
            (after_size, limit),
        ).fetchall()
    )
    return [_signed(str(row[0])) for row in rows]


def has_checkpoint(ledger: Ledger, size: int) -> bool:
    """Whether the log signed a checkpoint at exactly this tree size."""
    try:
        live_log(ledger).checkpoint(size)
    except KeyError:
        return False
    return True


def _signed(note: str) -> SignedCheckpoint:
    return SignedCheckpoint(note, parse_checkpoint(parse_note(note).text))


def transfer_proof(ledger: Ledger, transfer_id: int, size: int) -> InclusionProof | None:
    """The inclusion proof of ledger transfer `transfer_id` in the tree of `size` leaves, or
    None when the ledger has no such transfer."""
    log = live_log(ledger)
    timestamp = log.transfer_timestamp(transfer_id)
    if timestamp is None:
        return None
    return log.inclusion_proof_for_timestamp(timestamp, size)


def attestation_proof(ledger: Ledger, attestation_id: int, size: int) -> InclusionProof | None:
    """The inclusion proof of ledger attestation `attestation_id` in the tree of `size` leaves
    (1..the log's size; `LeafNotFound` otherwise, as for transfers), or None when the ledger has
    no such attestation or its leaf is not among the first `size` leaves (a later checkpoint
    covers it). Verify it with `merkle.verify_inclusion(proof.leaf_index, proof.tree_size,
    proof.leaf_hash, proof.proof, root)` against a signed checkpoint of that size; the leaf hash
    is SHA-256(0x00 ‖ the attestation's canonical bytes, docs/chain.md)."""
    log = live_log(ledger)
    timestamp = log.attestation_timestamp(attestation_id)
    if timestamp is None:
        return None
    index = log.leaf_index(timestamp)
    if index is None or index >= size:
        return None
    return log.inclusion_proof_for_timestamp(timestamp, size)


def consistency(ledger: Ledger, size1: int, size2: int) -> list[bytes]:
    return live_log(ledger).consistency_proof(size1, size2)


def log_size(ledger: Ledger) -> int:
    return live_log(ledger).size()
