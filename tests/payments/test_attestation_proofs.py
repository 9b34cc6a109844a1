"""`attestation_proof` on a running node: a sealed attestation's leaf verifies with its inclusion
proof against a signed checkpoint (signatures checked with the node's keys), at every checkpoint
that covers it; an attestation not yet covered, or unknown, has no proof (None)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clearline.chain import merkle
from clearline.chain.audit import node_signers
from clearline.chain.encoding import encode
from clearline.chain.log import LeafNotFound
from clearline.chain.notes import open_note
from clearline.core.clock import ManualClock
from clearline.ledger import (
    Account,
    Attestation,
    Ledger,
    LedgerEvent,
    LedgerEventKind,
    Transfer,
)
from clearline.payments.proofs import attestation_proof, checkpoints_after, latest_checkpoint


def entry_digest(n: int) -> bytes:
    return hashlib.sha256(f'{{"actor": "operator-{n}", "action": "approve"}}'.encode()).digest()


def leaf_hash(attestation: Attestation) -> bytes:
    event = LedgerEvent(
        LedgerEventKind.ATTESTATION_CREATED, attestation.timestamp, attestation=attestation
    )
    return merkle.leaf_hash(encode(event))


def test_a_sealed_attestation_proves_against_every_signed_checkpoint_that_covers_it(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    ledger = Ledger.open(tmp_path, clock=clock)  # sealed by the default sealer
    try:
        ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in (1, 2)])
        ledger.create_transfers([Transfer(id=1, debit_account_id=1, credit_account_id=2, amount=5)])
        ledger.create_attestations([Attestation(id=41, code=7, digest=entry_digest(1))])
        clock.advance(seconds=1)
        ledger.tick()  # the tail is due: signed now
        first = latest_checkpoint(ledger)
        assert first is not None
        ledger.create_attestations([Attestation(id=42, code=7, digest=entry_digest(2))])
        assert attestation_proof(ledger, 42, first.checkpoint.size) is None  # not covered yet
        clock.advance(seconds=1)
        ledger.tick()
        verifiers = [signer.verifier for signer in node_signers(tmp_path, first.checkpoint.origin)]
        checkpoints = checkpoints_after(ledger, 0, 100)
        assert [c.checkpoint.size for c in checkpoints][-2:] == [first.checkpoint.size, 5]
        (stored,) = ledger.lookup_attestations([41])
        for signed in checkpoints:
            open_note(signed.note, verifiers)  # raises unless the node's keys signed it
            size, root = signed.checkpoint.size, signed.checkpoint.root
            proof = attestation_proof(ledger, 41, size)
            if size <= 3:
                assert proof is None
                continue
            assert proof is not None
            assert (proof.leaf_index, proof.tree_size, proof.timestamp) == (
                3,
                size,
                stored.timestamp,
            )
            assert proof.leaf_hash == leaf_hash(stored)
            merkle.verify_inclusion(proof.leaf_index, size, proof.leaf_hash, proof.proof, root)
            forged = leaf_hash(Attestation(41, 7, entry_digest(9), stored.timestamp))
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(proof.leaf_index, size, forged, proof.proof, root)
        assert attestation_proof(ledger, 999, 5) is None
        with pytest.raises(LeafNotFound):
            attestation_proof(ledger, 41, 6)  # beyond the log
    finally:
        ledger.close()
