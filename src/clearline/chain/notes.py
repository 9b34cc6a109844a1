"""C2SP signed notes and tlog-checkpoint bodies.

Guarantees:
- `sign_note` writes the C2SP signed-note form: the text (ending in a newline), one blank line, then
  one line per signature, `— <name> <base64(4-byte key ID ‖ signature)>`.
- `parse_note` is strict: valid UTF-8, no control characters but newline, the text ends in a
  newline, every signature line is well formed, at most `SIGNATURES_MAX` of them.
- `open_note` ignores signatures from keys it does not know, raises `SignatureInvalid` when a known
  key's signature does not verify, and `NoteUnverified` when no known key signed: a note is accepted
  only with at least one valid signature from a trusted key.
- A checkpoint body is origin, decimal size without leading zeros, base64 root, then our extension
  lines `previous <base64 hash>` and `time_ns <decimal>`, and on a key rotation one
  `key <verifier key>` line per new key (at most `ROTATION_KEYS_MAX`): the keys that sign every
  later checkpoint, announced in a checkpoint the current keys sign. `parse_checkpoint` accepts
  only that exact form, so a checkpoint has one text and `checkpoint_hash` (SHA-256 of the text)
  links checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clearline.chain.keys import NoteSigner, NoteVerifier, check_key_name, parse_verifier_key
from clearline.core.errors import ClearlineError

SIGNATURES_MAX = 100
"""Most signature lines a note may carry (C2SP asks verifiers to accept at least 16)."""
SIGNATURE_PREFIX = "— "
NOTE_BYTES_MAX = 1 << 20
HASH_BYTES = 32
ROTATION_KEYS_MAX = 8
"""Most keys one rotation announces."""
KEY_LINE_PREFIX = "key "
GENESIS_PREVIOUS = bytes(HASH_BYTES)
"""The `previous` hash of a log's first checkpoint."""
_DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")


class NoteError(ClearlineError, ValueError):
    code = "note_malformed"


class NoteUnverified(NoteError):
    code = "note_unverified"


class SignatureInvalid(NoteError):
    code = "note_signature_invalid"


class CheckpointMalformed(NoteError):
    code = "checkpoint_malformed"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: the key's name, its key ID and the signature bytes."""

    name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note's text (ending in a newline) and its signatures, in the order written."""

    text: str
    signatures: tuple[NoteSignature, ...]


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any(ord(char) < 0x20 and char != "\n" for char in text) or "\x7f" in text:
        raise NoteError("note text has control characters")


def _signature_line(signature: NoteSignature) -> str:
    blob = signature.key_id.to_bytes(4, "big") + signature.signature
    return f"{SIGNATURE_PREFIX}{signature.name} {base64.b64encode(blob).decode()}\n"


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: `text`, a blank line, one signature line per signer."""
    _check_text(text)
    message = text.encode()
    lines = [
        _signature_line(NoteSignature(s.verifier.name, s.verifier.key_id, s.sign(message)))
        for s in signers
    ]
    return text + "\n" + "".join(lines)


def _parse_signature(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"signature line must start with an em dash: {line[:40]!r}")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space or " " in encoded:
        raise NoteError("signature line is `— name base64`")
    try:
        check_key_name(name)
        blob = base64.b64decode(encoded, validate=True)
    except (ClearlineError, binascii.Error) as error:
        raise NoteError(f"signature line is malformed: {error}") from error
    if len(blob) < 5:
        raise NoteError("signature is shorter than a key ID and one byte")
    return NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def parse_note(note: str | bytes) -> SignedNote:
    """Split a signed note into its text and signature lines (nothing is verified here)."""
    if isinstance(note, bytes):
        if len(note) > NOTE_BYTES_MAX:
            raise NoteError("note is too large")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NoteError("note is not UTF-8") from error
    text, separator, block = note.rpartition("\n\n")
    if not separator or not block.endswith("\n"):
        raise NoteError("a signed note is text, a blank line, then signature lines")
    text += "\n"
    _check_text(text)
    lines = block[:-1].split("\n")
    if len(lines) > SIGNATURES_MAX:
        raise NoteError(f"note has more than {SIGNATURES_MAX} signatures")
    return SignedNote(text, tuple(_parse_signature(line) for line in lines))


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> SignedNote:
    """Parse and verify; return the note with only the verified signatures of known keys."""
    parsed = parse_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    message = parsed.text.encode()
    verified = []
    for signature in parsed.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue
        if not verifier.verify(message, signature.signature):
            raise SignatureInvalid(f"signature by {signature.name} {signature.key_id:08x} fails")
        verified.append(signature)
    if not verified:
        raise NoteUnverified("no signature from a known key")
    return SignedNote(parsed.text, tuple(verified))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's state: `origin` (the log's name), `size` leaves, `root` hash, the SHA-256 of the
    previous checkpoint's text (`GENESIS_PREVIOUS` for the first) and the closing `time_ns`;
    `keys`, on a key rotation, the verifier key strings that sign from the next checkpoint on."""

    origin: str
    size: int
    root: bytes
    previous_hash: bytes
    time_ns: int
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_key_name(self.origin)
        if type(self.size) is not int or self.size < 0 or type(self.time_ns) is not int:
            raise CheckpointMalformed("size and time_ns are non-negative ints")
        if len(self.root) != HASH_BYTES or len(self.previous_hash) != HASH_BYTES:
            raise CheckpointMalformed("root and previous hash are 32 bytes")
        if len(self.keys) > ROTATION_KEYS_MAX or len(set(self.keys)) != len(self.keys):
            raise CheckpointMalformed(f"a rotation announces 1..{ROTATION_KEYS_MAX} distinct keys")
        for key in self.keys:
            try:
                parse_verifier_key(key)
            except ClearlineError as error:
                raise CheckpointMalformed(f"announced key: {error}") from error

    def text(self) -> str:
        """The checkpoint note body."""
        root = base64.b64encode(self.root).decode()
        previous = base64.b64encode(self.previous_hash).decode()
        keys = "".join(f"{KEY_LINE_PREFIX}{key}\n" for key in self.keys)
        return (
            f"{self.origin}\n{self.size}\n{root}\nprevious {previous}\ntime_ns {self.time_ns}\n"
            + keys
        )


def checkpoint_hash(text: str) -> bytes:
    """What the next checkpoint's `previous` line carries."""
    return hashlib.sha256(text.encode()).digest()


def _b64_hash(value: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error as error:
        raise CheckpointMalformed(f"not base64: {value!r}") from error
    if len(raw) != HASH_BYTES:
        raise CheckpointMalformed(f"hash is {len(raw)} bytes, expected {HASH_BYTES}")
    return raw


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint whose body is exactly `text`."""
    lines = text.split("\n")
    if len(lines) < 6 or lines[-1] != "":
        raise CheckpointMalformed("a checkpoint has five lines, then key lines")
    key_lines = lines[5:-1]
    if not all(line.startswith(KEY_LINE_PREFIX) for line in key_lines):
        raise CheckpointMalformed("lines after time_ns are `key <verifier key>`")
    origin, size, root, previous, time_line = lines[:5]
    if not _DECIMAL.match(size) or not previous.startswith("previous "):
        raise CheckpointMalformed("line 2 is a decimal size, line 4 `previous <hash>`")
    time_ns = time_line.removeprefix("time_ns ")
    if time_ns == time_line or not _DECIMAL.match(time_ns):
        raise CheckpointMalformed("line 5 is `time_ns <decimal>`")
    try:
        checkpoint = Checkpoint(
            origin,
            int(size),
            _b64_hash(root),
            _b64_hash(previous[9:]),
            int(time_ns),
            tuple(line.removeprefix(KEY_LINE_PREFIX) for line in key_lines),
        )
    except ClearlineError as error:
        raise CheckpointMalformed(str(error)) from error
    if checkpoint.text() != text:
        raise CheckpointMalformed("checkpoint text is not canonical")
    return checkpoint
