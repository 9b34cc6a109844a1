"""Signed notes, checkpoints and keys (C2SP signed-note / tlog-checkpoint)."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest

from clearline.chain import keys
from clearline.chain.keys import (
    ED25519,
    MLDSA65,
    KeyFileUnsafe,
    KeyInvalid,
    load_or_create_signers,
    parse_verifier_key,
    signer_from_seed,
    verifier_key_string,
)
from clearline.chain.notes import (
    Checkpoint,
    CheckpointMalformed,
    NoteError,
    NoteUnverified,
    SignatureInvalid,
    open_note,
    parse_checkpoint,
    parse_note,
    sign_note,
)

ORIGIN = "clearline.example/node-a"
ED = signer_from_seed(ORIGIN, ED25519, bytes(range(32)))
PQ = signer_from_seed(ORIGIN, MLDSA65, bytes(range(1, 33)))
OTHER = signer_from_seed("witness.example", ED25519, bytes(32))
CHECKPOINT = Checkpoint(ORIGIN, 42, hashlib.sha256(b"r").digest(), bytes(32), 1_767_225_600 * 10**9)


def test_key_id_follows_c2sp() -> None:
    public = ED.verifier.public_key
    digest = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + public).digest()
    assert ED.verifier.key_id == int.from_bytes(digest[:4], "big")
    text = verifier_key_string(ED.verifier)
    name, key_id, encoded = text.split("+", 2)
    assert (name, int(key_id, 16)) == (ORIGIN, ED.verifier.key_id)
    assert base64.b64decode(encoded) == b"\x01" + public
    assert parse_verifier_key(text) == ED.verifier
    assert parse_verifier_key(verifier_key_string(PQ.verifier)) == PQ.verifier
    assert len(PQ.verifier.public_key) == keys.MLDSA65_PUBLIC_KEY_BYTES


@pytest.mark.parametrize(
    "text",
    [
        "name+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),  # wrong key id
        "bad name+00000000+AQ==",
        "name+zz+AQ==",
        "name+00000000+" + base64.b64encode(b"\x02" + bytes(32)).decode(),  # unknown type
        "name+00000000+" + base64.b64encode(b"\x01" + bytes(31)).decode(),  # short key
        "name+00000000",
    ],
)
def test_bad_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(KeyInvalid):
        parse_verifier_key(text)


def test_checkpoint_text_and_parse() -> None:
    text = CHECKPOINT.text()
    lines = text.split("\n")
    assert lines[:2] == [ORIGIN, "42"] and base64.b64decode(lines[2]) == CHECKPOINT.root
    assert lines[3].startswith("previous ") and lines[4] == "time_ns 1767225600000000000"
    assert parse_checkpoint(text) == CHECKPOINT
    for bad in (
        text.replace("\n42\n", "\n042\n"),
        text.replace("\n42\n", "\n-1\n"),
        text + "extra\n",
        text.replace("time_ns", "time"),
        text[:-1],
        text.replace(lines[2], lines[2][:-4]),
    ):
        with pytest.raises(CheckpointMalformed):
            parse_checkpoint(bad)


def test_signed_note_layout_and_verification() -> None:
    note = sign_note(CHECKPOINT.text(), [ED, PQ])
    text, block = note.split("\n\n")
    assert text + "\n" == CHECKPOINT.text()
    lines = block.rstrip("\n").split("\n")
    assert all(line.startswith(f"— {ORIGIN} ") for line in lines) and len(lines) == 2
    blob = base64.b64decode(lines[1].split(" ")[2])
    assert int.from_bytes(blob[:4], "big") == PQ.verifier.key_id
    assert len(blob) == 4 + keys.MLDSA65_SIGNATURE_BYTES
    both = open_note(note, [ED.verifier, PQ.verifier])
    assert len(both.signatures) == 2
    # Either key alone suffices; an unknown key's signature is ignored.
    assert len(open_note(note, [PQ.verifier]).signatures) == 1
    cosigned = note + sign_note(CHECKPOINT.text(), [OTHER]).split("\n\n")[1]
    assert len(open_note(cosigned, [ED.verifier]).signatures) == 1
    with pytest.raises(NoteUnverified):
        open_note(note, [OTHER.verifier])


def test_tampered_notes_are_rejected() -> None:
    note = sign_note(CHECKPOINT.text(), [ED, PQ])
    with pytest.raises(SignatureInvalid):
        open_note(note.replace("\n42\n", "\n43\n"), [ED.verifier])
    ed_line = note.split("\n\n")[1].split("\n")[0]
    swapped = note.replace(
        ed_line, ed_line[:-6] + ("AAAA==" if ed_line[-6:] != "AAAA==" else "BBBB==")
    )
    with pytest.raises(SignatureInvalid):
        open_note(swapped, [ED.verifier, PQ.verifier])
    for bad in (
        note.replace("—", "-"),
        note.replace("\n\n", "\n"),
        CHECKPOINT.text() + "\n",
        note.replace(ORIGIN + "\n", ORIGIN + "\x01\n", 1),
        note + "— x\n",
        note + "— x !!!!\n",
        b"\xff" + note.encode(),
    ):
        with pytest.raises(NoteError):
            open_note(bad, [ED.verifier])


def test_note_accepts_many_signatures() -> None:
    witnesses = [signer_from_seed(f"w{n}.example", ED25519, bytes([n]) * 32) for n in range(20)]
    note = sign_note(CHECKPOINT.text(), [*witnesses, ED])
    assert len(parse_note(note).signatures) == 21
    assert len(open_note(note, [ED.verifier]).signatures) == 1


def test_keys_are_created_once_with_owner_only_files(tmp_path: Path) -> None:
    first = load_or_create_signers(tmp_path, ORIGIN)
    second = load_or_create_signers(tmp_path, ORIGIN)
    assert [s.verifier for s in first] == [s.verifier for s in second]
    assert [s.verifier.algorithm for s in first] == [ED25519, MLDSA65]
    directory = tmp_path / keys.KEY_DIRECTORY
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (directory / keys.KEY_FILES[ED25519]).chmod(0o644)
    with pytest.raises(KeyFileUnsafe):
        load_or_create_signers(tmp_path, ORIGIN)
    with pytest.raises(KeyInvalid):
        load_or_create_signers(tmp_path / "other", "has space")
