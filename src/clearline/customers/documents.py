"""Identity documents on customers: validated, encrypted at rest, unique per type and country.

Guarantees:
- A document is stored only after `kyc.validate_document` passed it; a bad identifier raises
  `IdentifierInvalid` (naming the check) and nothing is written.
- The number and what it tells (birth date, sex, region, holder name) are personal data: the
  platform database holds them only as vault tokens bound to their row and column
  (`DOCUMENT_ENCRYPTED_COLUMNS`, rotated with the customers' columns). Nothing here logs them.
- Uniqueness per (document type, issuing country), never globally: each row carries
  HMAC-SHA-256(index key, type ‖ country ‖ compact number) and the table has a UNIQUE index on
  (type, issuing_country, number_hmac), so a duplicate is found without decrypting anything and
  refused (`document_held_by_another_customer`, or `document_already_on_customer`) even by a
  race. The index key is 32 random bytes made on first use and stored sealed by the vault in
  `customer_document_keys` (a data-key rotation re-seals it; the key itself never changes, so
  the hashes stay valid). A plain hash of a number would be brute-forced from the number space.
- Adding a document is the audit event `customer.document_add` in the same write; its details
  name the type, issuing country and document id, never the number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import sqlite3
from dataclasses import dataclass
from datetime import date

import orjson

from clearline.core.clock import Clock, to_datetime
from clearline.core.errors import Conflict
from clearline.core.ids import format_id, new_id
from clearline.db import PlatformStore, next_seq
from clearline.kyc import ValidDocument, validate_document
from clearline.trail import Actor, AuditTrail
from clearline.vault import DataKeyRing, EncryptedColumn

INDEX_KEY_BYTES = 32
INDEX_KEY_ID = "document_index_v1"
DOCUMENTS_PER_CUSTOMER_MAX = 32
"""A customer holds at most this many documents (a bound on what one customer can store)."""
VISIBLE_DIGITS = 4

SCHEMA_STEP = """
CREATE TABLE IF NOT EXISTS customer_documents(
  id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, type TEXT NOT NULL,
  issuing_country TEXT NOT NULL, number TEXT NOT NULL, number_hmac TEXT NOT NULL,
  facts TEXT NOT NULL, expiry_date TEXT, created_ns INTEGER NOT NULL, seq INTEGER NOT NULL UNIQUE
);
CREATE UNIQUE INDEX IF NOT EXISTS customer_documents_unique
  ON customer_documents(type, issuing_country, number_hmac);
CREATE INDEX IF NOT EXISTS customer_documents_customer ON customer_documents(customer_id, seq);
CREATE TABLE IF NOT EXISTS customer_document_keys(id TEXT PRIMARY KEY, key TEXT NOT NULL);
"""
"""The customers room's schema step for documents (appended to `customers.SCHEMA`)."""


def _context(column: str, row_key: str) -> bytes:
    return f"customer_documents.{column}:{row_key}".encode()


def _key_context(row_key: str) -> bytes:
    return f"customer_document_keys.key:{row_key}".encode()


DOCUMENT_ENCRYPTED_COLUMNS = (
    EncryptedColumn("customer_documents", "id", "number", lambda key: _context("number", key)),
    EncryptedColumn("customer_documents", "id", "facts", lambda key: _context("facts", key)),
    EncryptedColumn("customer_document_keys", "id", "key", _key_context),
)


class DocumentConflict(Conflict):
    """The document is already on file (for this customer or another one)."""

    code = "document_conflict"


@dataclass(frozen=True, slots=True)
class Document:
    """A stored identity document. `number`: the compact number (personal data, in memory only
    as long as a caller holds it). `details`: what the number told, as text (birth_date, sex,
    region, holder_name, expiry_date, …)."""

    id: int
    customer_id: int
    document_type: str
    issuing_country: str
    number: str
    details: dict[str, str]
    expiry_date: str | None
    created_ns: int

    @property
    def masked_number(self) -> str:
        """All but the last four characters hidden."""
        hidden = max(0, len(self.number) - VISIBLE_DIGITS)
        return "*" * hidden + self.number[hidden:]


class Documents:
    """The identity documents of one platform database's customers."""

    def __init__(
        self, store: PlatformStore, ring: DataKeyRing, trail: AuditTrail, clock: Clock
    ) -> None:
        self.store, self.ring, self.trail, self.clock = store, ring, trail, clock
        self._index_key = self._load_index_key()

    def _load_index_key(self) -> bytes:
        def ensure(connection: sqlite3.Connection) -> str:
            row = connection.execute(
                "SELECT key FROM customer_document_keys WHERE id = ?", (INDEX_KEY_ID,)
            ).fetchone()
            if row is not None:
                return str(row[0])
            fresh = base64.b64encode(os.urandom(INDEX_KEY_BYTES)).decode()
            token = self.ring.encrypt(fresh, _key_context(INDEX_KEY_ID))
            connection.execute(
                "INSERT INTO customer_document_keys(id, key) VALUES(?, ?)", (INDEX_KEY_ID, token)
            )
            return token

        token = self.store.write_sync(ensure)
        key = base64.b64decode(self.ring.decrypt(token, _key_context(INDEX_KEY_ID)))
        assert len(key) == INDEX_KEY_BYTES, "the document index key is damaged"
        return key

    def today(self) -> date:
        """The platform clock's date (UTC): what expiry and MRZ dates are checked against."""
        return to_datetime(self.clock.now_ns()).date()

    def number_hmac(self, document_type: str, issuing_country: str, number: str) -> str:
        """The keyed hash a document is found by: HMAC-SHA-256 over type, country and number."""
        message = "\x00".join((document_type, issuing_country, number)).encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    async def add(
        self,
        customer_id: int,
        document_type: str,
        issuing_country: str,
        *,
        actor: Actor,
        today: date,
        number: str | None = None,
        mrz_lines: list[str] | None = None,
        expiry_date: date | None = None,
        document_id: int | None = None,
    ) -> Document:
        """Validate and store a document of the (existing) customer `customer_id`."""
        valid = validate_document(
            document_type, issuing_country, today=today, number=number, mrz_lines=mrz_lines
        )
        expiry = valid.expiry_date or expiry_date
        identifier = document_id or new_id()
        key = format_id(identifier)
        digest = self.number_hmac(valid.document_type, valid.issuing_country, valid.number)
        details = _details(valid)
        sealed_number = self.ring.encrypt(valid.number, _context("number", key))
        sealed_facts = self.ring.encrypt(orjson.dumps(details).decode(), _context("facts", key))
        created_ns = self.clock.now_ns()
        audit = {"type": valid.document_type, "issuing_country": valid.issuing_country}

        def write(connection: sqlite3.Connection) -> None:
            _refuse_duplicates(connection, customer_id, valid, digest)
            connection.execute(
                "INSERT INTO customer_documents(id, customer_id, type, issuing_country, number,"
                " number_hmac, facts, expiry_date, created_ns, seq) VALUES(?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    format_id(customer_id),
                    valid.document_type,
                    valid.issuing_country,
                    sealed_number,
                    digest,
                    sealed_facts,
                    None if expiry is None else expiry.isoformat(),
                    created_ns,
                    next_seq(connection, "customer_documents"),
                ),
            )
            self.trail.append(
                connection,
                actor,
                "customer.document_add",
                "customer",
                format_id(customer_id),
                {**audit, "document_id": key},
            )

        await self.store.write_async(write)
        return Document(
            identifier,
            customer_id,
            valid.document_type,
            valid.issuing_country,
            valid.number,
            details,
            None if expiry is None else expiry.isoformat(),
            created_ns,
        )

    def of_customer(self, customer_id: int) -> list[Document]:
        """The customer's documents, oldest first, decrypted."""
        rows = self.store.read(
            "SELECT id, type, issuing_country, number, facts, expiry_date, created_ns"
            " FROM customer_documents WHERE customer_id = ? ORDER BY seq LIMIT ?",
            (format_id(customer_id), DOCUMENTS_PER_CUSTOMER_MAX),
        )
        documents = []
        for key, kind, country, number, facts, expiry, created_ns in rows:
            details = orjson.loads(self.ring.decrypt(facts, _context("facts", key)))
            documents.append(
                Document(
                    int(key, 16),
                    customer_id,
                    kind,
                    country,
                    self.ring.decrypt(number, _context("number", key)),
                    details,
                    expiry,
                    created_ns,
                )
            )
        return documents

    def types_of(self, customer_id: int, today: date) -> list[str]:
        """The types of the customer's documents that have not expired by `today`."""
        rows = self.store.read(
            "SELECT type, expiry_date FROM customer_documents WHERE customer_id = ?",
            (format_id(customer_id),),
        )
        return [kind for kind, expiry in rows if expiry is None or expiry >= today.isoformat()]


def _refuse_duplicates(
    connection: sqlite3.Connection, customer_id: int, valid: ValidDocument, digest: str
) -> None:
    row = connection.execute(
        "SELECT customer_id FROM customer_documents WHERE type = ? AND issuing_country = ?"
        " AND number_hmac = ?",
        (valid.document_type, valid.issuing_country, digest),
    ).fetchone()
    what = f"a {valid.document_type} document issued by {valid.issuing_country}"
    if row is not None and row[0] == format_id(customer_id):
        raise DocumentConflict(
            f"{what} with this number is already on this customer",
            code="document_already_on_customer",
        )
    if row is not None:
        raise DocumentConflict(
            f"{what} with this number belongs to another customer: one person, one record",
            code="document_held_by_another_customer",
        )
    (count,) = connection.execute(
        "SELECT count(*) FROM customer_documents WHERE customer_id = ?", (format_id(customer_id),)
    ).fetchone()
    if count >= DOCUMENTS_PER_CUSTOMER_MAX:
        raise DocumentConflict(
            f"a customer holds at most {DOCUMENTS_PER_CUSTOMER_MAX} documents",
            code="documents_per_customer_exceeded",
        )


def _details(valid: ValidDocument) -> dict[str, str]:
    details = dict(valid.facts)
    for name in ("birth_date", "sex", "region", "holder_name", "expiry_date"):
        value = getattr(valid, name)
        if value is not None:
            details[name] = value.isoformat() if isinstance(value, date) else str(value)
    return details
