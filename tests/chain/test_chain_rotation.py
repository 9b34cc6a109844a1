"""Key rotation: the next keys are announced in a checkpoint the current keys sign, sign every
later checkpoint, are promoted on the next open; exports and witnesses follow the chain of keys,
and a forged rotation (not signed by the keys in force) is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearline.chain.audit import (
    AuditFailure,
    build_export,
    export_log,
    node_signers,
    read_export,
    unframe,
    verify_export,
    verify_export_files,
)
from clearline.chain.keys import (
    KEY_DIRECTORY,
    NEXT_DIRECTORY,
    RETIRED_DIRECTORY,
    NoteVerifier,
    RotationPending,
    key_history,
    load_or_create_signers,
    parse_verifier_key,
    prepare_rotation,
    verifier_key_string,
)
from clearline.chain.log import ChainLog
from clearline.chain.node import default_origin
from clearline.chain.notes import parse_checkpoint, parse_note, sign_note
from clearline.chain.witness import CheckpointUnsigned, Witness
from clearline.core.clock import ManualClock
from clearline.ledger import Account, Ledger, Transfer

MS = 1_000_000


def transfers(first: int, count: int = 2) -> list[Transfer]:
    return [
        Transfer(id=first + n, debit_account_id=1, credit_account_id=2, amount=1, code=1)
        for n in range(count)
    ]


def signed_by(note: str) -> set[tuple[str, int]]:
    return {(s.name, s.key_id) for s in parse_note(note).signatures}


def ids(keys: list[str]) -> set[tuple[str, int]]:
    return {(key.split("+")[0], int(key.split("+")[1], 16)) for key in keys}


@pytest.fixture
def rotated(tmp_path: Path) -> tuple[Path, list[str], list[str]]:
    """A node that rotated its keys while running: (data dir, old keys, new keys)."""
    node = tmp_path / "node"
    clock = ManualClock()
    with Ledger.open(node, clock=clock) as ledger:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
        origin = default_origin(node)
        old = [verifier_key_string(s.verifier) for s in node_signers(node, origin)]
        new = [verifier_key_string(v) for v in prepare_rotation(node, origin)]
        with pytest.raises(RotationPending):
            prepare_rotation(node, origin)
        for step in range(3):
            clock.advance(nanoseconds=300 * MS)
            ledger.create_transfers(transfers(10 + 10 * step))
    return node, old, new


def test_the_rotation_is_announced_under_the_old_keys_and_used_after(
    rotated: tuple[Path, list[str], list[str]],
) -> None:
    node, old, new = rotated
    with ChainLog(node) as log:
        notes = log.checkpoint_notes()
    checkpoints = [parse_checkpoint(parse_note(note).text) for note in notes]
    announcing = [n for n, c in enumerate(checkpoints) if c.keys]
    assert len(announcing) == 1 and checkpoints[announcing[0]].keys == tuple(new)
    for position, note in enumerate(notes):
        expected = old if position <= announcing[0] else new
        assert signed_by(note) == ids(expected), position
    assert announcing[0] < len(notes) - 1  # later checkpoints exist, under the new keys
    keys = node / KEY_DIRECTORY
    assert (keys / NEXT_DIRECTORY).is_dir()  # promoted at the next open
    Ledger.open(node, clock=ManualClock(1 << 62)).close()
    assert not (keys / NEXT_DIRECTORY).exists() and len(list((keys / RETIRED_DIRECTORY).iterdir()))
    origin = default_origin(node)
    current = [verifier_key_string(s.verifier) for s in load_or_create_signers(node, origin)]
    assert current == new and key_history(node, origin) == old + new


def test_exports_verify_along_the_chain_of_keys(
    rotated: tuple[Path, list[str], list[str]], tmp_path: Path
) -> None:
    node, old, new = rotated
    export_log(node, tmp_path / "export")
    report = verify_export(tmp_path / "export")
    assert set(report.keys_on_trust) == set(old)  # the keys the log started with
    assert set(report.trusted_keys) == set(old + new)
    pinned = verify_export(tmp_path / "export", pinned_keys=[_verifier(k) for k in old])
    assert pinned.keys_on_trust == ()
    with pytest.raises(AuditFailure):  # the new keys did not sign the first checkpoints
        verify_export(tmp_path / "export", pinned_keys=[_verifier(k) for k in new])


def _verifier(key: str) -> NoteVerifier:
    return parse_verifier_key(key)


def test_a_forged_rotation_is_refused(
    rotated: tuple[Path, list[str], list[str]], tmp_path: Path
) -> None:
    node, old, new = rotated
    origin = default_origin(node)
    export_log(node, tmp_path / "export")
    files = read_export(tmp_path / "export")
    events = unframe(files["events.bin"], "events")
    notes = [n.decode() for n in unframe(files["checkpoints.bin"], "checkpoints")]
    position = next(
        n for n, note in enumerate(notes) if parse_checkpoint(parse_note(note).text).keys
    )
    thief = tmp_path / "thief"  # keys the node never announced
    stolen = load_or_create_signers(thief, origin)
    new_signers = node_signers(node, origin, new)
    # the rotation checkpoint signed by the new keys instead of the old ones
    forged = list(notes)
    forged[position] = sign_note(parse_note(notes[position]).text, new_signers)
    rebuilt = build_export(origin, events, forged, new_signers, (), old + new)
    with pytest.raises(AuditFailure) as refused:
        verify_export_files(rebuilt)
    assert refused.value.code in ("signature_missing", "signature_key_unknown")
    # a checkpoint after the rotation signed by keys nobody announced
    forged = list(notes)
    forged[-1] = sign_note(parse_note(notes[-1]).text, stolen)
    keys = old + new + [verifier_key_string(s.verifier) for s in stolen]
    rebuilt = build_export(origin, events, forged, stolen, (), keys)
    with pytest.raises(AuditFailure) as refused:
        verify_export_files(rebuilt)
    assert refused.value.code == "signature_missing"


def test_a_witness_follows_the_rotation_and_refuses_a_forged_one(
    rotated: tuple[Path, list[str], list[str]], tmp_path: Path
) -> None:
    node, old, _ = rotated
    origin = default_origin(node)
    witness = Witness.open(tmp_path / "witness", "auditor.example/w", ManualClock())
    witness.add_log(origin, old)
    with ChainLog(node) as log:
        notes = log.checkpoint_notes()
        sizes = [parse_checkpoint(parse_note(note).text).size for note in notes]
        witness.cosign(notes[0])
        thief = load_or_create_signers(tmp_path / "thief", origin)
        last = len(notes) - 1
        with pytest.raises(CheckpointUnsigned):  # signed by unannounced keys
            forged = sign_note(parse_note(notes[last]).text, thief)
            witness.cosign(forged, log.consistency_proof(sizes[0], sizes[last]))
        with pytest.raises(CheckpointUnsigned):  # the new keys before their announcement
            witness.cosign(notes[last], log.consistency_proof(sizes[0], sizes[last]))
        for position in range(1, len(notes)):
            witness.cosign(
                notes[position], log.consistency_proof(sizes[position - 1], sizes[position])
            )
    assert witness.last_size(origin) == sizes[-1]
