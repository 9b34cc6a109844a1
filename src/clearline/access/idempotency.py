"""Stored responses of requests sent with an idempotency key: the records behind a replay.

Guarantees:
- A record is (API key id, idempotency key) → the request's fingerprint, status and response
  body; the first response stored wins (`INSERT OR IGNORE`), and a record is never changed.
- A fingerprint is the request's target and its JSON body whatever the key order and spacing,
  so the same request sent twice is the same request.
- `may_exist` answers from memory: a Bloom filter of every key that may have a record (those
  stored before this start, and every key this process began to run), so a key never seen
  costs no database read. It never forgets a key (false positives only cost a read).
- Keys are 1–255 printable ASCII characters (`check_key`), refused otherwise with
  `invalid_idempotency_key`.
- Stored responses are encrypted (`clearline.vault`, bound to their row): a replayed customer
  response holds personal data, and the database file must not. `ENCRYPTED_COLUMNS` names the
  column for key rotation; a body stored in clear by an older Clearline is encrypted at open.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable

import orjson

from clearline.core.bloom import BloomFilter
from clearline.core.errors import InvalidInput
from clearline.db import PlatformStore, Schema
from clearline.vault import DataKeyRing, EncryptedColumn, encrypt_plaintext

KEY_LENGTH_MAX = 255
BLOOM_CAPACITY_MIN = 1 << 16

SCHEMA = Schema(
    "idempotency",
    (
        """
CREATE TABLE IF NOT EXISTS idempotency(
  principal TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
  status INTEGER NOT NULL, body BLOB NOT NULL, created_ns INTEGER NOT NULL,
  PRIMARY KEY(principal, key)
);
""",
        # one key column, so the vault can address (and bind) each encrypted body
        """
CREATE TABLE idempotency_v2(
  slot TEXT PRIMARY KEY, principal TEXT NOT NULL, key TEXT NOT NULL,
  fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL,
  created_ns INTEGER NOT NULL
);
INSERT INTO idempotency_v2
  SELECT principal || '/' || key, principal, key, fingerprint, status, CAST(body AS TEXT),
         created_ns
  FROM idempotency;
DROP TABLE idempotency;
ALTER TABLE idempotency_v2 RENAME TO idempotency;
""",
    ),
)


def check_key(key: str) -> None:
    if not 1 <= len(key) <= KEY_LENGTH_MAX or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1–{KEY_LENGTH_MAX} printable ASCII characters",
            code="invalid_idempotency_key",
        )


def fingerprint(target: str, body: bytes) -> str:
    """`target` ("POST /v1/payments") and the body, whatever its key order and spacing."""
    try:
        canonical = orjson.dumps(orjson.loads(body or b"null"), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(f"{target}\n".encode() + canonical).hexdigest()


def _slot(principal: str, key: str) -> str:
    """The row key: API key ids never hold a `/`, so it is unambiguous."""
    return f"{principal}/{key}"


def _body_context(slot: str) -> bytes:
    return f"idempotency.body:{slot}".encode()


ENCRYPTED_COLUMNS = (EncryptedColumn("idempotency", "slot", "body", _body_context),)


class IdempotencyRecords:
    """The idempotency table of a platform database, with its in-memory filter."""

    def __init__(self, store: PlatformStore, ring: DataKeyRing) -> None:
        self.store, self.ring = store, ring
        store.write_sync(lambda connection: encrypt_plaintext(connection, ring, ENCRYPTED_COLUMNS))
        # the largest rowid bounds the row count without a pass over the table (count(*) is one)
        rows = store.read_one("SELECT coalesce(max(rowid), 0) FROM idempotency")[0]
        self._seen = BloomFilter(capacity=max(BLOOM_CAPACITY_MIN, 2 * rows))
        for (slot,) in store.scan("SELECT slot FROM idempotency"):
            self._seen.add(slot.encode())

    def may_exist(self, principal: str, key: str) -> bool:
        return _slot(principal, key).encode() in self._seen

    def note(self, principal: str, key: str) -> None:
        """Remember that `key` may get a record (before its handler runs, so a record committed
        by a handler that then fails is still looked up)."""
        self._seen.add(_slot(principal, key).encode())

    def find(self, principal: str, key: str) -> tuple[str, int, bytes] | None:
        """(fingerprint, status, body) of the stored response, or None."""
        slot = _slot(principal, key)
        row = self.store.read_one(
            "SELECT fingerprint, status, body FROM idempotency WHERE slot = ?", (slot,)
        )
        if row is None:
            return None
        return str(row[0]), int(row[1]), self.ring.decrypt(row[2], _body_context(slot)).encode()

    async def save(self, principal: str, key: str, print_: str, status: int, body: bytes) -> None:
        await self.store.write_async(
            self.inserting(principal, key, print_, status, body, time.time_ns())
        )

    def inserting(
        self, principal: str, key: str, print_: str, status: int, body: bytes, created_ns: int
    ) -> Callable[[sqlite3.Connection], None]:
        """The write that stores a response, to run inside a platform write (a payment stores
        its own in its commit). The body is encrypted in the write, on the writer thread, not by
        the caller: on the API's event loop, which every request shares, each microsecond
        counts, while the writer thread has time to spare between its commits."""
        slot = _slot(principal, key)
        ring = self.ring

        def write(connection: sqlite3.Connection) -> None:
            sealed = ring.encrypt(body.decode(), _body_context(slot))
            connection.execute(
                "INSERT OR IGNORE INTO idempotency VALUES(?,?,?,?,?,?,?)",
                (slot, principal, key, print_, status, sealed, created_ns),
            )

        return write
