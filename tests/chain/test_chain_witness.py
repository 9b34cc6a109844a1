"""The witness cosigns per C2SP tlog-cosignature only checkpoints that extend what it cosigned
before: forks, rollbacks, bad proofs, unknown logs and unsigned notes are refused, state survives
a restart, and k-of-n cosignatures are counted."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from clearline.chain import merkle
from clearline.chain.keys import ED25519, NoteSigner, signer_from_seed, verifier_key_string
from clearline.chain.notes import (
    GENESIS_PREVIOUS,
    Checkpoint,
    parse_note,
    sign_note,
)
from clearline.chain.witness import (
    KEY_FILE,
    STATE_FILE,
    Witness,
    WitnessError,
    count_cosignatures,
    parse_witness_key,
    require_cosignatures,
    verify_cosignature,
)
from clearline.core.clock import ManualClock

ORIGIN = "clearline.example/node-a"
LEAVES = [merkle.leaf_hash(bytes([n])) for n in range(40)]


def log_signer() -> NoteSigner:
    return signer_from_seed(ORIGIN, ED25519, bytes(range(32)))


def checkpoint_note(
    size: int,
    leaves: list[bytes] = LEAVES,
    signer: NoteSigner | None = None,
    previous: bytes = GENESIS_PREVIOUS,
) -> str:
    text = Checkpoint(ORIGIN, size, merkle.root_hash(leaves[:size]), previous, size).text()
    return sign_note(text, [signer or log_signer()])


def make_witness(path: Path, clock: ManualClock | None = None) -> Witness:
    witness = Witness.open(path, "auditor.example/w1", clock or ManualClock())
    witness.add_log(ORIGIN, [verifier_key_string(log_signer().verifier)])
    return witness


def test_cosignature_is_c2sp_type_04(tmp_path: Path) -> None:
    clock = ManualClock(1_767_225_600_123_456_789)
    witness = make_witness(tmp_path, clock)
    note = checkpoint_note(5)
    line = witness.cosign(note)
    name, blob = line.removeprefix("— ").rstrip("\n").split(" ")
    raw = base64.b64decode(blob)
    assert name == "auditor.example/w1" and len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1_767_225_600
    text = parse_note(note).text
    message = f"cosignature/v1\ntime 1767225600\n{text}".encode()
    Ed25519PublicKey.from_public_bytes(witness.verifier.public_key).verify(raw[12:], message)
    assert parse_witness_key(witness.key_string()) == witness.verifier
    cosigned = parse_note(note + line)
    assert verify_cosignature(text, cosigned.signatures[-1], witness.verifier) == 1_767_225_600
    for path in (tmp_path / KEY_FILE, tmp_path / STATE_FILE):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_refuses_fork_rollback_and_bad_proofs(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    witness.cosign(checkpoint_note(8))
    fork = [*LEAVES[:7], merkle.leaf_hash(b"other"), *LEAVES[8:]]
    with pytest.raises(WitnessError) as caught:
        witness.cosign(checkpoint_note(8, fork))
    assert caught.value.code == "checkpoint_fork"
    with pytest.raises(WitnessError) as caught:
        witness.cosign(checkpoint_note(5))
    assert caught.value.code == "checkpoint_rollback"
    good = merkle.consistency_proof(8, 20, LEAVES)
    with pytest.raises(WitnessError) as caught:
        witness.cosign(checkpoint_note(20, fork), merkle.consistency_proof(8, 20, fork))
    assert caught.value.code == "checkpoint_inconsistent"
    with pytest.raises(WitnessError) as caught:
        witness.cosign(checkpoint_note(20), good[:-1])
    assert caught.value.code == "checkpoint_inconsistent"
    witness.cosign(checkpoint_note(20), good)
    restarted = Witness.open(tmp_path, clock=ManualClock())
    assert restarted.last_size(ORIGIN) == 20
    with pytest.raises(WitnessError) as caught:
        restarted.cosign(checkpoint_note(8))
    assert caught.value.code == "checkpoint_rollback"


def test_refuses_unknown_logs_and_unsigned_checkpoints(tmp_path: Path) -> None:
    witness = make_witness(tmp_path)
    stranger = signer_from_seed(ORIGIN, ED25519, bytes(32))
    with pytest.raises(WitnessError) as caught:
        witness.cosign(checkpoint_note(3, signer=stranger))
    assert caught.value.code == "checkpoint_unsigned"
    other = Witness.open(tmp_path / "other", "auditor.example/w2")
    with pytest.raises(WitnessError) as caught:
        other.cosign(checkpoint_note(3))
    assert caught.value.code == "log_unknown"


def test_k_of_n_cosignatures(tmp_path: Path) -> None:
    witnesses = [make_witness(tmp_path / f"w{n}") for n in range(3)]
    note = checkpoint_note(10)
    cosigned = note + "".join(w.cosign(note) for w in witnesses[:2])
    verifiers = [w.verifier for w in witnesses]
    assert count_cosignatures(cosigned, verifiers) == 2
    require_cosignatures(cosigned, verifiers, 2)
    with pytest.raises(WitnessError) as caught:
        require_cosignatures(cosigned, verifiers, 3)
    assert caught.value.code == "cosignatures_too_few"
    forged = cosigned.replace(witnesses[0].cosign(note)[-10:], "AAAAAAAAA\n")
    with pytest.raises(WitnessError):
        count_cosignatures(forged, verifiers)
