"""API keys and roles.

Guarantees:
- A key is `clk_<key id>_<secret>` with 256 random bits of secret; only its SHA-256 is stored (a
  fast hash suffices for a random secret of this size, as in the major payment APIs). Keys are
  compared in constant time; a revoked key is refused from the moment it is revoked (other
  processes see a revocation within `CACHE_SECONDS`).
- Roles: admin (everything), operator (customers, accounts, payments, transfers), analyst
  (the review queue and decisions, read), auditor (read only: checkpoints, proofs and records),
  customer (a key bound to one customer, which sees and moves only that customer's money).
- The key itself is shown once, when created, and never logged. Creating and revoking a key are
  audit events (`key.create`, `key.revoke`), recorded in the same write as the change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass

from clearline.core.errors import ClearlineError, Conflict, InvalidInput
from clearline.db import PlatformStore, Schema
from clearline.trail import CLI, Actor, AuditTrail

ROLES = ("admin", "operator", "analyst", "auditor", "customer")
KEY_PREFIX = "clk_"
CACHE_SECONDS = 1.0

SCHEMA = Schema(
    "access",
    (
        """
CREATE TABLE IF NOT EXISTS api_keys(
  id TEXT PRIMARY KEY, hash BLOB NOT NULL, role TEXT NOT NULL, customer_id TEXT,
  label TEXT NOT NULL, created_ns INTEGER NOT NULL, revoked_ns INTEGER
);
""",
    ),
)


class Unauthenticated(ClearlineError):
    code = "unauthenticated"


class Forbidden(ClearlineError):
    code = "forbidden"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, its role and, for a customer key, its customer."""

    key_id: str
    role: str
    customer_id: int | None

    @property
    def scope(self) -> int | None:
        """The customer this caller is limited to (None: not limited)."""
        return self.customer_id if self.role == "customer" else None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    role: str
    customer_id: int | None
    label: str
    created_ns: int
    revoked_ns: int | None


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyStore:
    """Creates, lists, revokes and checks API keys in the platform store."""

    def __init__(self, store: PlatformStore, trail: AuditTrail) -> None:
        self.store, self.trail = store, trail
        self._cache: dict[str, tuple[float, bytes, Principal | None]] = {}

    def create(
        self,
        role: str,
        customer_id: int | None = None,
        label: str = "",
        *,
        actor: Actor = CLI,
    ) -> tuple[str, KeyInfo]:
        """A new key (returned once, with its record), created by `actor`."""
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="invalid_role")
        if (role == "customer") != (customer_id is not None):
            raise InvalidInput(
                "a customer key needs --customer, and only a customer key may have one",
                code="customer_key_mismatch",
            )
        key_id = secrets.token_hex(8)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        info = KeyInfo(key_id, role, customer_id, label, time.time_ns(), None)

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO api_keys VALUES(?,?,?,?,?,?,?)",
                (
                    key_id,
                    _hash(key),
                    role,
                    None if customer_id is None else f"{customer_id:032x}",
                    label,
                    info.created_ns,
                    None,
                ),
            )
            details: dict[str, object] = {"role": role}
            if customer_id is not None:
                details["customer_id"] = f"{customer_id:032x}"
            self.trail.append(connection, actor, "key.create", "key", key_id, details)

        self.store.write_sync(write)
        return key, info

    def list(self) -> list[KeyInfo]:
        return [
            KeyInfo(row[0], row[1], int(row[2], 16) if row[2] else None, row[3], row[4], row[5])
            for row in self.store.read(
                "SELECT id, role, customer_id, label, created_ns, revoked_ns FROM api_keys"
                " ORDER BY created_ns"
            )
        ]

    def revoke(self, key_id: str, *, actor: Actor = CLI) -> bool:
        """Revoke key `key_id` (by `actor`); False when there is no such key. The last active
        admin key is never revoked (`Conflict`): that would leave nobody to manage keys."""
        now = time.time_ns()

        def write(connection: sqlite3.Connection) -> int:
            admins = connection.execute(
                "SELECT id FROM api_keys WHERE role = 'admin' AND revoked_ns IS NULL LIMIT 2"
            ).fetchall()
            if [row[0] for row in admins] == [key_id]:
                raise Conflict(
                    f"{key_id} is the last admin key: create another admin key first "
                    "(clearline keys create --role admin), then revoke this one",
                    code="last_admin_key",
                )
            cursor = connection.execute(
                "UPDATE api_keys SET revoked_ns = ? WHERE id = ? AND revoked_ns IS NULL",
                (now, key_id),
            )
            if cursor.rowcount:
                self.trail.append(connection, actor, "key.revoke", "key", key_id)
                return 1
            found = connection.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,))
            return 1 if found.fetchone() else 0

        changed = self.store.write_sync(write)
        self._cache.pop(key_id, None)
        return changed > 0

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an `Authorization: Bearer KEY` header; `Unauthenticated` if none."""
        if not authorization:
            raise Unauthenticated(
                "send an API key: Authorization: Bearer clk_… (create one with "
                "`clearline keys create --role ROLE`)",
                code="missing_api_key",
            )
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key.startswith(KEY_PREFIX):
            raise Unauthenticated(
                "the Authorization header must be 'Bearer clk_…'", code="invalid_api_key"
            )
        key_id = key[len(KEY_PREFIX) :].split("_", 1)[0]
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            row = self.store.read_one(
                "SELECT hash, role, customer_id, revoked_ns FROM api_keys WHERE id = ?", (key_id,)
            )
            if row is None:
                cached = (now, b"", None)
            else:
                principal = (
                    None
                    if row[3] is not None
                    else Principal(key_id, row[1], int(row[2], 16) if row[2] else None)
                )
                cached = (now, bytes(row[0]), principal)
            self._cache[key_id] = cached
        _, stored, principal = cached
        if principal is None or not hmac.compare_digest(stored, _hash(key)):
            raise Unauthenticated("the API key is unknown or revoked", code="invalid_api_key")
        return principal


def require(principal: Principal, *roles: str) -> None:
    """Raise `Forbidden` unless the caller has one of `roles` (admin always may)."""
    if principal.role != "admin" and principal.role not in roles:
        raise Forbidden(
            f"the {principal.role} role may not do this; it needs {' or '.join(roles)}",
            code="forbidden",
        )
