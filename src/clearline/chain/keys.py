"""Note signing keys: Ed25519 (signed-note type 0x01) and ML-DSA-65 (type 0xff + identifier).

Guarantees:
- Key IDs follow C2SP signed-note: the first 4 bytes (big-endian uint32) of
  SHA-256(key name ‖ 0x0A ‖ type bytes ‖ public key). For ML-DSA-65 the type bytes are 0xff followed
  by `MLDSA65_IDENTIFIER`, since FIPS 204 has no assigned signature-type byte.
- Verifier key strings are `<name>+<8 hex digits key ID>+<base64(type bytes ‖ public key)>`;
  parsing refuses a bad name, an unknown type, a wrong key length or a key ID that does not match.
- Signing keys are generated on first use in `<data dir>/keys/`, created exclusively with mode
  0600 in a 0700 directory, and loading refuses a key file that group or others may read.
- Verifiers are values (name, key ID, algorithm, public key bytes) and `verify` is pure.
- Rotation: `prepare_rotation` makes the next keys in `keys/next/` (same modes). The sealer
  announces them in its next checkpoint, signed by the current keys, and signs with them from then
  on; `promote_rotation` (run by the sealer at open once that checkpoint is durable) moves the old
  seeds to `keys/retired/` and the new ones in place. `keys/history.txt` lists the verifier key
  of every key the node ever used, in order (public; an export's `keys.txt`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PrivateKey, MLDSA65PublicKey

from clearline.core.errors import ClearlineError

ED25519 = b"\x01"
MLDSA65_IDENTIFIER = b"clearline.dev/ml-dsa-65"
MLDSA65 = b"\xff" + MLDSA65_IDENTIFIER
ED25519_PUBLIC_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
MLDSA65_PUBLIC_KEY_BYTES = 1952
MLDSA65_SIGNATURE_BYTES = 3309
SEED_BYTES = 32
KEY_DIRECTORY = "keys"
KEY_FILES = {ED25519: "note-ed25519.seed", MLDSA65: "note-mldsa65.seed"}
KEY_NAME_BYTES_MAX = 256
NEXT_DIRECTORY = "next"
RETIRED_DIRECTORY = "retired"
HISTORY_FILE = "history.txt"


class KeyInvalid(ClearlineError, ValueError):
    """A key name, key string or key file is malformed or unsafe."""

    code = "key_invalid"


class KeyFileUnsafe(KeyInvalid):
    code = "key_file_unsafe"


def check_key_name(name: str) -> str:
    """A signed-note key name: non-empty UTF-8, no spaces, no `+`, no control characters."""
    if (
        not name
        or len(name.encode()) > KEY_NAME_BYTES_MAX
        or any(
            char.isspace() or char == "+" or ord(char) < 0x20 or ord(char) == 0x7F for char in name
        )
    ):
        raise KeyInvalid(f"key name {name!r} must be non-empty with no spaces, '+' or controls")
    return name


def key_id(name: str, algorithm: bytes, public_key: bytes) -> int:
    """The signed-note key ID of a key."""
    digest = hashlib.sha256(name.encode() + b"\n" + algorithm + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A public key that checks note signatures: `algorithm` is the type bytes (`ED25519` or
    `MLDSA65`), `public_key` the raw key."""

    name: str
    key_id: int
    algorithm: bytes
    public_key: bytes

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's signature of `message`."""
        try:
            if self.algorithm == ED25519:
                Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
            else:
                MLDSA65PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """A private key that signs notes under `name`; `verifier` is its public half."""

    verifier: NoteVerifier
    private_key: Ed25519PrivateKey | MLDSA65PrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def make_verifier(name: str, algorithm: bytes, public_key: bytes) -> NoteVerifier:
    expected = {ED25519: ED25519_PUBLIC_KEY_BYTES, MLDSA65: MLDSA65_PUBLIC_KEY_BYTES}
    if algorithm not in expected:
        raise KeyInvalid(f"unknown signature type {algorithm[:1].hex()}")
    if len(public_key) != expected[algorithm]:
        raise KeyInvalid(f"public key is {len(public_key)} bytes, expected {expected[algorithm]}")
    return NoteVerifier(
        check_key_name(name), key_id(name, algorithm, public_key), algorithm, public_key
    )


def signer_from_seed(name: str, algorithm: bytes, seed: bytes) -> NoteSigner:
    """A signer from its 32-byte seed (Ed25519 private key, or ML-DSA-65 ξ)."""
    if len(seed) != SEED_BYTES:
        raise KeyInvalid(f"a key seed is {SEED_BYTES} bytes, got {len(seed)}")
    private: Ed25519PrivateKey | MLDSA65PrivateKey
    if algorithm == ED25519:
        private = Ed25519PrivateKey.from_private_bytes(seed)
    elif algorithm == MLDSA65:
        private = MLDSA65PrivateKey.from_seed_bytes(seed)
    else:
        raise KeyInvalid(f"unknown signature type {algorithm[:1].hex()}")
    public = private.public_key().public_bytes_raw()
    return NoteSigner(make_verifier(name, algorithm, public), private)


def verifier_key_string(verifier: NoteVerifier) -> str:
    encoded = base64.b64encode(verifier.algorithm + verifier.public_key).decode()
    return f"{verifier.name}+{verifier.key_id:08x}+{encoded}"


def parse_verifier_key(text: str) -> NoteVerifier:
    """Parse `<name>+<hex key ID>+<base64 key>`, checking the key ID."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise KeyInvalid(f"a verifier key is name+keyid+key, got {text!r}")
    try:
        raw = base64.b64decode(parts[2], validate=True)
        claimed = int(parts[1], 16)
    except ValueError as error:
        raise KeyInvalid(f"verifier key {text!r} is not hex and base64") from error
    algorithm = MLDSA65 if raw.startswith(MLDSA65) else raw[:1]
    verifier = make_verifier(parts[0], algorithm, raw[len(algorithm) :])
    if verifier.key_id != claimed:
        raise KeyInvalid(f"verifier key {text!r} has the wrong key ID")
    return verifier


def _read_seed(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileUnsafe(f"{path} may be read by others (mode {stat.filemode(mode)}); chmod 600")
    return path.read_bytes()


def _create_seed(path: Path) -> bytes:
    seed = os.urandom(SEED_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, seed)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return seed


def load_or_create_signers(
    data_directory: Path, name: str, *, ml_dsa: bool = True
) -> list[NoteSigner]:
    """The node's signers (Ed25519, then ML-DSA-65 when `ml_dsa`), generated on first use."""
    directory = Path(data_directory) / KEY_DIRECTORY
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    algorithms = [ED25519, MLDSA65] if ml_dsa else [ED25519]
    signers = []
    for algorithm in algorithms:
        path = directory / KEY_FILES[algorithm]
        seed = _read_seed(path) if path.exists() else _create_seed(path)
        signers.append(signer_from_seed(name, algorithm, seed))
    return signers


class RotationPending(KeyInvalid):
    code = "key_rotation_pending"


def _key_files(directory: Path, name: str, ml_dsa: bool, create: bool) -> list[NoteSigner]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    signers = []
    for algorithm in [ED25519, MLDSA65] if ml_dsa else [ED25519]:
        path = directory / KEY_FILES[algorithm]
        seed = _read_seed(path) if path.exists() or not create else _create_seed(path)
        signers.append(signer_from_seed(name, algorithm, seed))
    return signers


def key_history(data_directory: Path, name: str) -> list[str]:
    """Every verifier key the node used, oldest first (`keys/history.txt`, written on first
    use of this function when missing, from the current keys)."""
    directory = Path(data_directory) / KEY_DIRECTORY
    path = directory / HISTORY_FILE
    if not path.exists():
        ml_dsa = (directory / KEY_FILES[MLDSA65]).exists()
        keys = [verifier_key_string(s.verifier) for s in _key_files(directory, name, ml_dsa, False)]
        path.write_text("".join(key + "\n" for key in keys), encoding="ascii")
    return path.read_text(encoding="ascii").splitlines()


def prepare_rotation(data_directory: Path, name: str) -> list[NoteVerifier]:
    """Make the node's next keys (the same algorithms as now) in `keys/next/`; the sealer
    announces them in its next checkpoint. Refuses while a rotation is pending."""
    directory = Path(data_directory) / KEY_DIRECTORY
    key_history(data_directory, name)  # records the current keys first
    next_directory = directory / NEXT_DIRECTORY
    if next_directory.exists():
        raise RotationPending(f"{next_directory} exists: the last rotation is not done yet")
    ml_dsa = (directory / KEY_FILES[MLDSA65]).exists()
    temporary = directory / (NEXT_DIRECTORY + ".tmp")
    if temporary.exists():
        for stale in temporary.iterdir():
            stale.unlink()
        temporary.rmdir()
    signers = _key_files(temporary, name, ml_dsa, True)
    os.replace(temporary, next_directory)
    return [s.verifier for s in signers]


def load_next_signers(data_directory: Path, name: str) -> list[NoteSigner]:
    """The prepared next keys, or [] when no rotation is pending."""
    next_directory = Path(data_directory) / KEY_DIRECTORY / NEXT_DIRECTORY
    if not next_directory.is_dir():
        return []
    ml_dsa = (next_directory / KEY_FILES[MLDSA65]).exists()
    return _key_files(next_directory, name, ml_dsa, False)


def promote_rotation(data_directory: Path, name: str) -> list[NoteSigner]:
    """Retire the current seeds and put the next ones in place; record them in the history.
    Returns the new current signers."""
    directory = Path(data_directory) / KEY_DIRECTORY
    history = key_history(data_directory, name)
    new = load_next_signers(data_directory, name)
    if not new:
        raise KeyInvalid("no rotation is pending")
    retired = directory / RETIRED_DIRECTORY
    retired.mkdir(mode=0o700, exist_ok=True)
    for algorithm, file_name in KEY_FILES.items():
        current = directory / file_name
        if current.exists():
            key = signer_from_seed(name, algorithm, _read_seed(current)).verifier.key_id
            os.replace(current, retired / f"{key:08x}-{file_name}")
        if (directory / NEXT_DIRECTORY / file_name).exists():
            os.replace(directory / NEXT_DIRECTORY / file_name, current)
    added = [verifier_key_string(s.verifier) for s in new]
    (directory / HISTORY_FILE).write_text(
        "".join(key + "\n" for key in [*history, *[k for k in added if k not in history]]),
        encoding="ascii",
    )
    (directory / NEXT_DIRECTORY).rmdir()
    return new
