"""Data keys on disk, and the ring that encrypts and decrypts personal data with them.

A key directory holds one file per AES-256 data key, named `<key id>.key` (32 raw bytes), and a
file `current` naming the key new tokens are sealed with.

Guarantees:
- First run: `DataKeyRing.open` creates the directory (mode 0700), a random key (`os.urandom`,
  mode 0600) and `current`. Every file is written atomically: a temporary file created
  exclusively with mode 0600, fsynced, renamed into place, then the directory fsynced; so after a
  crash a key file is either complete or absent, and a key is durable before any row can use it.
- Opening refuses, with a typed error naming the file and what to do: a key directory or key file
  that the group or others may access (`KeyFileUnsafe`), a key file that is not a regular file of
  32 bytes whose name is the key's own id (`KeyFileMalformed`; the id is a hash of the key, so a
  renamed or damaged file is caught), and a `current` that names no key. Temporary files left by
  a crash were never renamed into use and are deleted.
- Key ids are `key_id_of(key)`: 8 hex digits of SHA-256 over a domain tag and the key. Stable,
  short, and they reveal nothing usable about the key.
- The current key is never removed (`KeyInUse`); removing a key fsyncs the directory.
- Keys live in memory only as `AESGCM` objects; `repr` shows the directory and key ids only.

Not thread-safe for `add_key`, `set_current` and `remove_key`; call them from one place, while
holding the data directory's lock (no other process may have the ring open: its keys in memory
would go stale). `encrypt` and `decrypt` only read and may run on any thread.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from clearline.vault.errors import (
    KeyFileMalformed,
    KeyFileUnsafe,
    KeyInUse,
    KeyUnknown,
    TokenMalformed,
    VaultError,
)
from clearline.vault.tokens import KEY_BYTES, is_key_id, parse_token, seal, unseal

KEY_FILE_SUFFIX = ".key"
CURRENT_FILE = "current"
TEMPORARY_SUFFIX = ".tmp"
KEYS_MAX = 64
"""A ring holds at most this many keys; rotation removes the ones no row references."""
KEY_ID_DOMAIN = b"clearline.vault data key id v1\x00"
_OTHERS_BITS = stat.S_IRWXG | stat.S_IRWXO


def key_id_of(key: bytes) -> str:
    """The id of a data key: the first 8 hex digits of SHA-256(domain ‖ key)."""
    return hashlib.sha256(KEY_ID_DOMAIN + key).hexdigest()[:8]


class DataKeyRing:
    """The data keys of one key directory. Open with `DataKeyRing.open(directory)`."""

    __slots__ = ("_aeads", "_current_key_id", "directory")

    def __init__(self, directory: Path, aeads: dict[str, AESGCM], current_key_id: str) -> None:
        assert current_key_id in aeads, "the current key is one of the ring's keys"
        self.directory = directory
        self._aeads = aeads
        self._current_key_id = current_key_id

    @classmethod
    def open(cls, directory: Path) -> DataKeyRing:
        """Load the ring in `directory`, creating it and a first key when there is none."""
        directory = Path(directory)
        _ensure_private_directory(directory)
        aeads = {key_id: AESGCM(key) for key_id, key in _load_keys(directory).items()}
        current_path = directory / CURRENT_FILE
        if current_path.exists():
            current = _read_current(current_path, aeads)
        elif len(aeads) > 1:
            raise KeyFileMalformed(
                f"{current_path} is missing and {directory} holds {len(aeads)} keys "
                f"({', '.join(sorted(aeads))}); write the id of the key to seal with into it"
            )
        else:
            if not aeads:
                key = os.urandom(KEY_BYTES)
                _write_private(directory / f"{key_id_of(key)}{KEY_FILE_SUFFIX}", key)
                aeads[key_id_of(key)] = AESGCM(key)
            (current,) = aeads
            _write_private(current_path, f"{current}\n".encode("ascii"))
        return cls(directory, aeads, current)

    @property
    def current_key_id(self) -> str:
        """The key new tokens are sealed with."""
        return self._current_key_id

    def key_ids(self) -> tuple[str, ...]:
        """Every key in the ring, sorted."""
        return tuple(sorted(self._aeads))

    def encrypt(self, text: str, context: bytes, key_id: str | None = None) -> str:
        """A token of `text` bound to `context` (name the table, column and row in it), sealed
        with the current key unless `key_id` names another key of the ring."""
        chosen = self._current_key_id if key_id is None else key_id
        return seal(self._aead(chosen), chosen, text, context)

    def decrypt(self, token: str, context: bytes) -> str:
        """The text of `token`; `TokenMalformed`, `KeyUnknown` or `TokenRejected` (wrong context,
        altered bytes) otherwise. Messages never contain the text or the context."""
        if not isinstance(token, str):
            raise TokenMalformed(f"a token is a str, not {type(token).__name__}")
        parsed = parse_token(token)
        return unseal(self._aead(parsed.key_id), parsed, context)

    def reencrypt(self, token: str, context: bytes) -> str:
        """`token` sealed again with the current key (the same token if it already is)."""
        text = self.decrypt(token, context)
        if parse_token(token).key_id == self._current_key_id:
            return token
        return self.encrypt(text, context)

    def add_key(self) -> str:
        """Generate a key, make it durable on disk, and return its id (it is not made current)."""
        if len(self._aeads) >= KEYS_MAX:
            raise VaultError(
                f"{self.directory} holds {len(self._aeads)} keys, the most a ring may hold; "
                "rotate to remove the keys no row references",
                code="key_ring_full",
            )
        key = os.urandom(KEY_BYTES)
        while key_id_of(key) in self._aeads:  # a 32-bit id collision: draw again
            key = os.urandom(KEY_BYTES)
        key_id = key_id_of(key)
        _write_private(self.directory / f"{key_id}{KEY_FILE_SUFFIX}", key)
        self._aeads[key_id] = AESGCM(key)
        return key_id

    def set_current(self, key_id: str) -> None:
        """Seal new tokens with `key_id` from now on (durable before this returns)."""
        self._aead(key_id)
        _write_private(self.directory / CURRENT_FILE, f"{key_id}\n".encode("ascii"))
        self._current_key_id = key_id

    def remove_key(self, key_id: str) -> None:
        """Delete a key file for good. Tokens sealed with it can no longer be decrypted: callers
        remove only keys no row references (`clearline.vault.remove_unreferenced_keys`)."""
        self._aead(key_id)
        if key_id == self._current_key_id:
            raise KeyInUse(
                f"key {key_id} is current in {self.directory}; set another current first"
            )
        (self.directory / f"{key_id}{KEY_FILE_SUFFIX}").unlink()
        _fsync_directory(self.directory)
        del self._aeads[key_id]

    def __repr__(self) -> str:
        return (
            f"DataKeyRing({str(self.directory)!r}, keys={list(self.key_ids())}, "
            f"current={self._current_key_id!r})"
        )

    def _aead(self, key_id: str) -> AESGCM:
        try:
            return self._aeads[key_id]
        except KeyError:
            raise KeyUnknown(f"key {key_id!r} is not in the ring at {self.directory}") from None


def _ensure_private_directory(directory: Path) -> None:
    if not directory.exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        directory.mkdir(mode=0o700)
        _fsync_directory(directory.parent)
    if not directory.is_dir():
        raise KeyFileMalformed(f"{directory} is not a directory; point the key ring at one")
    mode = directory.stat().st_mode
    if mode & _OTHERS_BITS:
        raise KeyFileUnsafe(
            f"{directory} may be accessed by the group or others (mode {stat.filemode(mode)}); "
            f"run chmod 700 {directory}"
        )


def _load_keys(directory: Path) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for path in sorted(directory.iterdir()):
        if path.name.endswith(TEMPORARY_SUFFIX):
            path.unlink()  # a crash left it; it was never renamed into use
        elif path.name.endswith(KEY_FILE_SUFFIX):
            key_id = path.name.removesuffix(KEY_FILE_SUFFIX)
            keys[key_id] = _read_key(path, key_id)
    return keys


def _read_key(path: Path, key_id: str) -> bytes:
    status = path.lstat()
    if not stat.S_ISREG(status.st_mode):
        raise KeyFileMalformed(f"{path} is not a regular file; a data key file is 32 raw bytes")
    if status.st_mode & _OTHERS_BITS:
        raise KeyFileUnsafe(
            f"{path} may be read by the group or others (mode {stat.filemode(status.st_mode)}); "
            f"run chmod 600 {path}, and rotate if anyone else could have read it"
        )
    if not is_key_id(key_id):
        raise KeyFileMalformed(f"{path} is not named <8 hex digits>{KEY_FILE_SUFFIX}; remove it")
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise KeyFileMalformed(
            f"{path} holds {len(key)} bytes, a data key is {KEY_BYTES}; restore it from the key "
            "backup"
        )
    if key_id_of(key) != key_id:
        raise KeyFileMalformed(
            f"{path} holds the key with id {key_id_of(key)}, not {key_id} (renamed or damaged); "
            "restore it from the key backup"
        )
    return key


def _read_current(path: Path, aeads: dict[str, AESGCM]) -> str:
    current = path.read_text(encoding="ascii", errors="replace").strip()
    if current not in aeads:
        raise KeyFileMalformed(
            f"{path} names key {current!r}, which has no {KEY_FILE_SUFFIX} file in {path.parent}; "
            "restore the key from the key backup or write the id of an existing key into it"
        )
    return current


def _write_private(path: Path, content: bytes) -> None:
    """Replace `path` atomically with `content`, mode 0600, durable when this returns."""
    temporary = path.with_name(path.name + TEMPORARY_SUFFIX)
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        written = 0
        while written < len(content):
            written += os.write(descriptor, content[written:])
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
