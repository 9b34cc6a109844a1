"""A witness: cosigns a log's checkpoints only when they extend what it cosigned before.

Guarantees:
- A cosignature follows C2SP tlog-cosignature: an Ed25519 signature (key type 0x04) over
  `cosignature/v1\\ntime <unix seconds>\\n` followed by the checkpoint text; the signature bytes
  are the 8-byte big-endian time, then the 64-byte signature; the line is a signed-note signature
  line, so appending it to the node's note gives a note cosigned by the witness.
- `Witness.cosign` cosigns a checkpoint of a log it was told to follow (`add_log`: origin and the
  node's verifier keys, every one of which must have signed) only when it is consistent with the
  last checkpoint it cosigned for that origin: a smaller size is refused (`checkpoint_rollback`),
  the same size with another root is refused (`checkpoint_fork`), a larger size needs a
  consistency proof that `merkle.verify_consistency` accepts (`checkpoint_inconsistent`). The
  first checkpoint of a log is trusted on first use. The same checkpoint again returns the first
  cosignature. A checkpoint that announces new keys (a rotation; it must be signed by every key
  the witness knows) makes the witness require the new keys from the next checkpoint on, so a
  rotation not signed by the old keys is refused like any unsigned checkpoint.
- State survives restarts: one JSON file per witness directory (`state.json`), replaced
  atomically (write, fsync, rename) and only after a checkpoint was accepted; the key is a 32-byte
  seed in `witness-ed25519.seed`. Both files are mode 0600 in a 0700 directory, and loading
  refuses a key file others may read. One process at a time owns a witness directory.
- `verify_cosignature` and `count_cosignatures` are pure; `require_cosignatures` is the k-of-n
  rule a publisher applies before a checkpoint counts as published.
- Time is injected (`Clock`); cosignature times are whole seconds.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from clearline.chain import merkle
from clearline.chain.keys import (
    ED25519_PUBLIC_KEY_BYTES,
    ED25519_SIGNATURE_BYTES,
    SEED_BYTES,
    check_key_name,
    key_id,
    parse_verifier_key,
    verifier_key_string,
)
from clearline.chain.notes import (
    Checkpoint,
    NoteSignature,
    open_note,
    parse_checkpoint,
    parse_note,
)
from clearline.core.clock import NANOSECONDS_PER_SECOND, Clock, SystemClock
from clearline.core.errors import ClearlineError

COSIGNATURE_TYPE = b"\x04"
COSIGNATURE_HEADER = "cosignature/v1\n"
TIMESTAMP_BYTES = 8
COSIGNATURE_BYTES = TIMESTAMP_BYTES + ED25519_SIGNATURE_BYTES
KEY_FILE = "witness-ed25519.seed"
STATE_FILE = "state.json"
NAME_FILE = "name"
LOGS_MAX = 1024
"""Most logs one witness follows."""


class WitnessError(ClearlineError, ValueError):
    """The witness refuses a request; `code` names why."""

    code = "witness_refused"


class CheckpointRollback(WitnessError):
    code = "checkpoint_rollback"


class CheckpointFork(WitnessError):
    code = "checkpoint_fork"


class CheckpointInconsistent(WitnessError):
    code = "checkpoint_inconsistent"


class LogUnknown(WitnessError):
    code = "log_unknown"


class CheckpointUnsigned(WitnessError):
    code = "checkpoint_unsigned"


class CosignatureInvalid(WitnessError):
    code = "cosignature_invalid"


class WitnessStateInvalid(WitnessError):
    code = "witness_state_invalid"


# -- pure functions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WitnessVerifier:
    """A witness's public key: its name, key ID (type 0x04) and raw Ed25519 key."""

    name: str
    key_id: int
    public_key: bytes


def make_witness_verifier(name: str, public_key: bytes) -> WitnessVerifier:
    if len(public_key) != ED25519_PUBLIC_KEY_BYTES:
        raise WitnessError(f"a witness key is {ED25519_PUBLIC_KEY_BYTES} bytes", code="key_invalid")
    return WitnessVerifier(
        check_key_name(name), key_id(name, COSIGNATURE_TYPE, public_key), public_key
    )


def witness_key_string(verifier: WitnessVerifier) -> str:
    """`name+<hex key ID>+base64(0x04 ‖ public key)`."""
    encoded = base64.b64encode(COSIGNATURE_TYPE + verifier.public_key).decode()
    return f"{verifier.name}+{verifier.key_id:08x}+{encoded}"


def parse_witness_key(text: str) -> WitnessVerifier:
    """Parse a witness verifier key string, checking type, length and key ID."""
    parts = text.strip().split("+", 2)
    try:
        raw = base64.b64decode(parts[2], validate=True) if len(parts) == 3 else b""
    except binascii.Error as error:
        raise WitnessError(f"witness key {text!r} is not base64", code="key_invalid") from error
    if len(parts[1:2]) != 1 or not raw.startswith(COSIGNATURE_TYPE):
        raise WitnessError(f"{text!r} is not a type 04 witness key", code="key_invalid")
    verifier = make_witness_verifier(parts[0], raw[1:])
    if f"{verifier.key_id:08x}" != parts[1] or witness_key_string(verifier) != text.strip():
        raise WitnessError(f"witness key {text!r} has the wrong key ID", code="key_invalid")
    return verifier


def cosignature_message(checkpoint_text: str, time_s: int) -> bytes:
    """What a type 0x04 cosignature signs."""
    return f"{COSIGNATURE_HEADER}time {time_s}\n{checkpoint_text}".encode()


def cosignature_line(verifier: WitnessVerifier, time_s: int, signature: bytes) -> str:
    blob = verifier.key_id.to_bytes(4, "big") + time_s.to_bytes(TIMESTAMP_BYTES, "big") + signature
    return f"— {verifier.name} {base64.b64encode(blob).decode()}\n"


def verify_cosignature(
    checkpoint_text: str, signature: NoteSignature, verifier: WitnessVerifier
) -> int:
    """Return the cosignature's time (unix seconds) when `signature` is `verifier`'s cosignature
    of `checkpoint_text`; raise `CosignatureInvalid` otherwise."""
    if (signature.name, signature.key_id) != (verifier.name, verifier.key_id):
        raise CosignatureInvalid(f"cosignature is not by {verifier.name}")
    if len(signature.signature) != COSIGNATURE_BYTES:
        raise CosignatureInvalid(f"a cosignature is {COSIGNATURE_BYTES} bytes")
    time_s = int.from_bytes(signature.signature[:TIMESTAMP_BYTES], "big")
    message = cosignature_message(checkpoint_text, time_s)
    try:
        Ed25519PublicKey.from_public_bytes(verifier.public_key).verify(
            signature.signature[TIMESTAMP_BYTES:], message
        )
    except InvalidSignature:
        raise CosignatureInvalid(f"cosignature by {verifier.name} does not verify") from None
    return time_s


def count_cosignatures(note: str, witnesses: Sequence[WitnessVerifier]) -> int:
    """How many distinct `witnesses` validly cosigned the checkpoint of `note`; other lines
    (the node's signatures, unknown keys) are ignored, a bad cosignature by a known one raises."""
    parsed = parse_note(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    signed = set()
    for signature in parsed.signatures:
        witness = known.get((signature.name, signature.key_id))
        if witness is not None:
            verify_cosignature(parsed.text, signature, witness)
            signed.add((witness.name, witness.key_id))
    return len(signed)


def require_cosignatures(note: str, witnesses: Sequence[WitnessVerifier], k: int) -> None:
    """A checkpoint counts as published only with at least `k` of `witnesses` cosigning."""
    found = count_cosignatures(note, witnesses)
    if found < k:
        raise WitnessError(f"{found} of {k} witness cosignatures", code="cosignatures_too_few")


def check_extends(
    previous: Checkpoint | None, checkpoint: Checkpoint, proof: Sequence[bytes]
) -> None:
    """Return None when `checkpoint` extends `previous` (same origin, consistent tree);
    raise `CheckpointRollback`, `CheckpointFork` or `CheckpointInconsistent` otherwise."""
    if previous is None:
        return
    if checkpoint.size < previous.size:
        raise CheckpointRollback(
            f"{checkpoint.origin}: size {checkpoint.size} after {previous.size} was cosigned"
        )
    if checkpoint.size == previous.size:
        if checkpoint.root != previous.root:
            raise CheckpointFork(f"{checkpoint.origin}: two roots for size {checkpoint.size}")
        return
    try:
        merkle.verify_consistency(
            previous.size, checkpoint.size, previous.root, checkpoint.root, list(proof)
        )
    except merkle.ProofError as error:
        raise CheckpointInconsistent(
            f"{checkpoint.origin}: size {checkpoint.size} does not extend {previous.size}: "
            f"{error.code}"
        ) from error


# -- the witness and its state ------------------------------------------------------------------


def _write_private(path: Path, content: bytes) -> None:
    """Replace `path` atomically with `content`, mode 0600."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, content)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _read_private(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise WitnessStateInvalid(f"{path} may be read by others ({stat.filemode(mode)})")
    return path.read_bytes()


class Witness:
    """A witness over one state directory. Construct with `Witness.open`."""

    def __init__(self, directory: Path, name: str, seed: bytes, clock: Clock) -> None:
        self.directory = Path(directory)
        self._private_key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._private_key.public_key().public_bytes_raw()
        self.verifier = make_witness_verifier(name, public)
        self.clock = clock

    @classmethod
    def open(cls, directory: Path, name: str | None = None, clock: Clock | None = None) -> Witness:
        """Open the witness in `directory`; `name` is needed the first time (key created then)."""
        directory = Path(directory)
        key_path, name_path = directory / KEY_FILE, directory / NAME_FILE
        if not key_path.exists():
            if name is None:
                raise WitnessError(f"no witness in {directory}; give it a name", code="no_witness")
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            _write_private(name_path, check_key_name(name).encode())
            _write_private(key_path, os.urandom(SEED_BYTES))
        stored_name = _read_private(name_path).decode()
        if name is not None and name != stored_name:
            raise WitnessError(
                f"this witness is named {stored_name!r}", code="witness_name_differs"
            )
        seed = _read_private(key_path)
        if len(seed) != SEED_BYTES:
            raise WitnessStateInvalid(f"{key_path} is not a {SEED_BYTES}-byte seed")
        return cls(directory, stored_name, seed, clock or SystemClock())

    def key_string(self) -> str:
        return witness_key_string(self.verifier)

    def _state(self) -> dict[str, dict[str, Any]]:
        path = self.directory / STATE_FILE
        if not path.exists():
            return {}
        try:
            state = json.loads(_read_private(path))
        except ValueError as error:
            raise WitnessStateInvalid(f"{path} is not JSON") from error
        if not isinstance(state, dict):
            raise WitnessStateInvalid(f"{path} is not an object of logs")
        return state

    def _save(self, state: dict[str, dict[str, Any]]) -> None:
        content = json.dumps(state, indent=1, sort_keys=True, ensure_ascii=False)
        _write_private(self.directory / STATE_FILE, content.encode())

    def add_log(self, origin: str, keys: Sequence[str]) -> None:
        """Follow the log `origin`, whose checkpoints every one of `keys` must sign."""
        check_key_name(origin)
        parsed = [verifier_key_string(parse_verifier_key(key)) for key in keys]
        if not parsed:
            raise WitnessError("a log needs at least one key", code="key_invalid")
        state = self._state()
        if origin not in state and len(state) >= LOGS_MAX:
            raise WitnessError(f"a witness follows at most {LOGS_MAX} logs", code="logs_too_many")
        entry = state.setdefault(origin, {"checkpoint": None, "cosignature": None})
        entry["keys"] = parsed
        self._save(state)

    def latest(self, origin: str) -> str | None:
        """The last checkpoint cosigned for `origin` with the witness's cosignature line appended
        (a note that `count_cosignatures` accepts), or None."""
        entry = self._state().get(origin)
        if not entry or entry.get("checkpoint") is None:
            return None
        return f"{entry['note']}{entry['cosignature']}"

    def last_size(self, origin: str) -> int:
        entry = self._state().get(origin)
        if not entry or entry.get("checkpoint") is None:
            return 0
        return parse_checkpoint(str(entry["checkpoint"])).size

    def cosign(self, note: str, proof: Sequence[bytes] = ()) -> str:
        """Cosign the checkpoint note `note` given a consistency proof from the last checkpoint
        cosigned for its origin; return the cosignature line. Refusals raise `WitnessError`."""
        text = parse_note(note).text
        checkpoint = parse_checkpoint(text)
        state = self._state()
        entry = state.get(checkpoint.origin)
        if entry is None:
            raise LogUnknown(f"this witness does not follow {checkpoint.origin!r}")
        verifiers = [parse_verifier_key(str(key)) for key in entry["keys"]]
        try:
            signed = {(s.name, s.key_id) for s in open_note(note, verifiers).signatures}
        except ClearlineError as error:
            raise CheckpointUnsigned(f"{checkpoint.origin}: {error}") from error
        if any((v.name, v.key_id) not in signed for v in verifiers):
            raise CheckpointUnsigned(f"{checkpoint.origin}: not signed by every log key")
        if entry.get("checkpoint") == text:
            return str(entry["cosignature"])
        previous = entry.get("checkpoint")
        check_extends(parse_checkpoint(str(previous)) if previous else None, checkpoint, proof)
        time_s = self.clock.now_ns() // NANOSECONDS_PER_SECOND
        signature = self._private_key.sign(cosignature_message(text, time_s))
        line = cosignature_line(self.verifier, time_s, signature)
        entry.update(checkpoint=text, note=note, cosignature=line)
        if checkpoint.keys:
            entry["keys"] = [verifier_key_string(parse_verifier_key(k)) for k in checkpoint.keys]
        self._save(state)
        return line
