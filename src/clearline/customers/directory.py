"""The customer directory: onboarding, tiers and limits, and the accounts each customer holds.

Guarantees:
- Personal data is encrypted at rest: `name`, `identity_number`, `address` and `phone` are
  written to the platform database only as AES-GCM tokens of the data directory's data key
  (`clearline.vault`), bound to their row and column, and decrypted into memory at start. A row
  written before encryption existed is encrypted when the directory first opens it. Nothing
  here logs a personal field.
- Every change is an audit event in the same write (`customer.create`, `customer.update`,
  `account.create`); details name what changed (tier, limits), never personal data.
- An account is a ledger account first and a record second: with a given `account_id`, a retry
  after a crash between the two finds the ledger's `exists` and completes the record. Each
  asset's omnibus account (the platform's side of money entering and leaving) is opened on
  demand with the first wallet of the asset.
- Other rooms learn about accounts through `on_account` callbacks (the risk features need each
  account's KYC tier, kind and age), never by reaching into this room's maps.
- In memory: every customer and account record (about 300 bytes each); the bound is the number
  of customers the data directory holds.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from decimal import Decimal

from clearline.core.assets import asset as asset_of
from clearline.core.clock import Clock
from clearline.core.errors import Conflict, InvalidInput, NotFound
from clearline.core.ids import format_id, new_id
from clearline.customers.documents import DOCUMENT_ENCRYPTED_COLUMNS, Documents
from clearline.customers.documents import SCHEMA_STEP as DOCUMENTS_SCHEMA_STEP
from clearline.customers.model import (
    ACCOUNT_CODE,
    ACCOUNT_KINDS,
    CUSTOMER_KINDS,
    PERSONAL_FIELDS,
    AccountInfo,
    Customer,
    NewCustomer,
)
from clearline.db import PlatformStore, Schema, next_seq
from clearline.kyc import TIERS, Limits, missing_documents
from clearline.ledger import Account, AccountFlags, Ledger
from clearline.trail import Actor, AuditTrail
from clearline.vault import DataKeyRing, EncryptedColumn, encrypt_plaintext

log = logging.getLogger(__name__)

SCHEMA = Schema(
    "customers",
    (
        """
CREATE TABLE IF NOT EXISTS customers(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, tier INTEGER NOT NULL,
  country TEXT NOT NULL, per_payment_limit_usd TEXT, per_day_limit_usd TEXT,
  created_ns INTEGER NOT NULL, seq INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS accounts(
  id TEXT PRIMARY KEY, customer_id TEXT, asset TEXT NOT NULL, kind TEXT NOT NULL,
  created_ns INTEGER NOT NULL, seq INTEGER NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS accounts_customer ON accounts(customer_id, seq);
""",
        """
ALTER TABLE customers ADD COLUMN identity_number TEXT;
ALTER TABLE customers ADD COLUMN address TEXT;
ALTER TABLE customers ADD COLUMN phone TEXT;
""",
        DOCUMENTS_SCHEMA_STEP,
    ),
)


def _context(column: str, row_key: str) -> bytes:
    return f"customers.{column}:{row_key}".encode()


def _column_context(column: str) -> Callable[[str], bytes]:
    return lambda row_key: _context(column, row_key)


ENCRYPTED_COLUMNS = (
    *(
        EncryptedColumn("customers", "id", column, _column_context(column))
        for column in PERSONAL_FIELDS
    ),
    *DOCUMENT_ENCRYPTED_COLUMNS,
)
"""The customer columns that hold personal data, and the associated data binding each token to
its row and column (a token copied elsewhere does not decrypt)."""

AccountListener = Callable[[AccountInfo, Customer], None]


class Directory:
    """Customers and accounts of one platform database, with their ledger accounts."""

    def __init__(
        self,
        store: PlatformStore,
        ledger: Ledger,
        ring: DataKeyRing,
        trail: AuditTrail,
        clock: Clock,
    ) -> None:
        self.store, self.ledger, self.ring, self.trail, self.clock = (
            store,
            ledger,
            ring,
            trail,
            clock,
        )
        self.customers: dict[int, Customer] = {}
        self.accounts: dict[int, AccountInfo] = {}
        self.omnibus: dict[str, int] = {}
        self.on_account: list[AccountListener] = []
        self._load()
        self.documents = Documents(store, ring, trail, clock)

    # -- loading ----------------------------------------------------------------------------

    def _load(self) -> None:
        encrypted = self.store.write_sync(
            lambda connection: encrypt_plaintext(connection, self.ring, ENCRYPTED_COLUMNS)
        )
        if encrypted:
            log.warning("encrypted %d personal data values stored in clear before", encrypted)
            self.store.scrub()
        for row in self.store.read(
            "SELECT id, name, kind, tier, country, per_payment_limit_usd, per_day_limit_usd,"
            " created_ns, identity_number, address, phone FROM customers"
        ):
            key = row[0]
            customer = Customer(
                int(key, 16),
                self._open("name", key, row[1]) or "",
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                identity_number=self._open("identity_number", key, row[8]),
                address=self._open("address", key, row[9]),
                phone=self._open("phone", key, row[10]),
            )
            self.customers[customer.id] = customer
        for row in self.store.read(
            "SELECT id, customer_id, asset, kind, created_ns FROM accounts ORDER BY seq"
        ):
            info = AccountInfo(
                int(row[0], 16), int(row[1], 16) if row[1] else None, row[2], row[3], row[4]
            )
            self.accounts[info.id] = info
            if info.kind == "omnibus":
                self.omnibus[info.asset] = info.id

    def _open(self, column: str, key: str, token: str | None) -> str | None:
        return None if token is None else self.ring.decrypt(token, _context(column, key))

    def _seal(self, column: str, key: str, value: str | None) -> str | None:
        return None if value is None else self.ring.encrypt(value, _context(column, key))

    # -- customers --------------------------------------------------------------------------

    async def create_customer(
        self, new: NewCustomer, *, actor: Actor, customer_id: int | None = None
    ) -> Customer:
        """Onboard a customer (with `customer_id`, a retry returns the first one)."""
        _check_customer(new)
        identifier = customer_id or new_id()
        existing = self.customers.get(identifier)
        if existing is not None:
            return existing
        _refuse_missing_documents(new.tier, new.kind, [], onboarding=True)
        customer = Customer(
            identifier,
            new.name,
            new.kind,
            new.tier,
            new.country.upper(),
            _text(None if new.limits is None else new.limits.per_payment_usd),
            _text(None if new.limits is None else new.limits.per_day_usd),
            self.clock.now_ns(),
            identity_number=new.identity_number,
            address=new.address,
            phone=new.phone,
        )
        key = format_id(identifier)
        sealed = {
            field: self._seal(field, key, getattr(customer, field)) for field in PERSONAL_FIELDS
        }
        details = {"kind": customer.kind, "tier": customer.tier, "country": customer.country}
        details.update(_limit_details(customer))

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO customers(id, name, kind, tier, country, per_payment_limit_usd,"
                " per_day_limit_usd, created_ns, seq, identity_number, address, phone)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    sealed["name"],
                    customer.kind,
                    customer.tier,
                    customer.country,
                    customer.per_payment_limit_usd,
                    customer.per_day_limit_usd,
                    customer.created_ns,
                    next_seq(connection, "customers"),
                    sealed["identity_number"],
                    sealed["address"],
                    sealed["phone"],
                ),
            )
            self.trail.append(connection, actor, "customer.create", "customer", key, details)

        await self.store.write_async(write)
        self.customers[customer.id] = customer
        return customer

    async def update_customer(
        self,
        customer_id: int,
        *,
        actor: Actor,
        tier: int | None = None,
        limits: Limits | None = None,
    ) -> Customer:
        """Change a customer's KYC tier and/or explicit limits (`Limits(None, None)` clears
        them: the tier's apply again)."""
        customer = self.customer(customer_id)
        if tier is not None and tier not in TIERS:
            raise InvalidInput(f"tier must be one of {list(TIERS)}", code="invalid_tier")
        new_tier = customer.tier if tier is None else tier
        if new_tier > customer.tier:
            held = self.documents.types_of(customer_id, self.documents.today())
            _refuse_missing_documents(new_tier, customer.kind, held, onboarding=False)
        per_payment, per_day = customer.per_payment_limit_usd, customer.per_day_limit_usd
        if limits is not None:
            per_payment, per_day = _text(limits.per_payment_usd), _text(limits.per_day_usd)
        changes = _changes(customer, new_tier, per_payment, per_day)
        if not changes:
            return customer

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "UPDATE customers SET tier=?, per_payment_limit_usd=?, per_day_limit_usd=?"
                " WHERE id=?",
                (new_tier, per_payment, per_day, format_id(customer_id)),
            )
            self.trail.append(
                connection, actor, "customer.update", "customer", format_id(customer_id), changes
            )

        await self.store.write_async(write)
        customer.tier, customer.per_payment_limit_usd, customer.per_day_limit_usd = (
            new_tier,
            per_payment,
            per_day,
        )
        for info in self.accounts.values():
            if info.customer_id == customer_id:
                self._announce(info)
        return customer

    def customer(self, customer_id: int) -> Customer:
        found = self.customers.get(customer_id)
        if found is None:
            raise NotFound(f"no customer {format_id(customer_id)}", code="customer_not_found")
        return found

    def list_customers(self, after_seq: int, limit: int) -> list[tuple[int, Customer]]:
        rows = self.store.read(
            "SELECT id, seq FROM customers WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
        )
        return [(seq, self.customers[int(identifier, 16)]) for identifier, seq in rows]

    # -- accounts ---------------------------------------------------------------------------

    async def create_account(
        self,
        customer_id: int | None,
        asset_spec: str,
        kind: str = "wallet",
        *,
        actor: Actor,
        account_id: int | None = None,
    ) -> AccountInfo:
        """A ledger account with its platform record. With `account_id`, a retry (even after a
        crash between the ledger and the record) finds or completes the same account."""
        if account_id is not None and account_id in self.accounts:
            return self.accounts[account_id]
        if kind not in ACCOUNT_KINDS:
            raise InvalidInput(
                f"kind must be one of {', '.join(ACCOUNT_KINDS)}", code="invalid_kind"
            )
        spec = asset_of(asset_spec).spec
        if kind == "omnibus":
            if spec in self.omnibus:
                return self.accounts[self.omnibus[spec]]
            customer_id = None
        else:
            if customer_id is None:
                raise InvalidInput("a wallet needs a customer_id", code="customer_id_missing")
            self.customer(customer_id)
            if spec not in self.omnibus:
                await self.create_account(None, spec, "omnibus", actor=actor)
        identifier = account_id or new_id()
        await self._open_ledger_account(identifier, spec, kind, retry=account_id is not None)
        info = AccountInfo(identifier, customer_id, spec, kind, self.clock.now_ns())
        details = {"asset": spec, "kind": kind}
        if customer_id is not None:
            details["customer_id"] = format_id(customer_id)

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO accounts VALUES(?,?,?,?,?,?)",
                (
                    format_id(identifier),
                    None if customer_id is None else format_id(customer_id),
                    spec,
                    kind,
                    info.created_ns,
                    next_seq(connection, "accounts"),
                ),
            )
            self.trail.append(
                connection, actor, "account.create", "account", format_id(identifier), details
            )

        await self.store.write_async(write)
        self.accounts[identifier] = info
        if kind == "omnibus":
            self.omnibus[spec] = identifier
        else:
            self._announce(info)
        return info

    async def _open_ledger_account(
        self, identifier: int, spec: str, kind: str, retry: bool
    ) -> None:
        # Wallets keep balance history (statements with running balances). The omnibus account
        # is on one side of every funding transfer; history there would double the history rows
        # a funding batch writes (in a py-spy profile of bench.api's batch scenario, writing
        # history took 13% of the server's samples, over a third of the writer's).
        flags = AccountFlags.NONE
        if kind == "wallet":
            flags = AccountFlags.HISTORY | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        (result,) = await self.ledger.create_accounts_async(
            [Account(id=identifier, asset=asset_of(spec), code=ACCOUNT_CODE[kind], flags=flags)]
        )
        name = str(result.result.value)
        if not result.ok and not (retry and name == "exists"):
            raise Conflict(f"the ledger refused the account: {name}", code=name)

    def _announce(self, info: AccountInfo) -> None:
        if info.customer_id is None:
            return
        customer = self.customers[info.customer_id]
        for listener in self.on_account:
            listener(info, customer)

    def account(self, account_id: int) -> AccountInfo:
        found = self.accounts.get(account_id)
        if found is None:
            raise NotFound(f"no account {format_id(account_id)}", code="account_not_found")
        return found

    def list_accounts(
        self, customer_id: int | None, after_seq: int, limit: int
    ) -> list[tuple[int, AccountInfo]]:
        if customer_id is None:
            rows = self.store.read(
                "SELECT id, seq FROM accounts WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        else:
            rows = self.store.read(
                "SELECT id, seq FROM accounts WHERE customer_id = ? AND seq > ? ORDER BY seq"
                " LIMIT ?",
                (format_id(customer_id), after_seq, limit),
            )
        return [(seq, self.accounts[int(identifier, 16)]) for identifier, seq in rows]

    def accounts_of(self, customer_id: int) -> Iterable[AccountInfo]:
        return (info for info in self.accounts.values() if info.customer_id == customer_id)


def _check_customer(new: NewCustomer) -> None:
    if new.kind not in CUSTOMER_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(CUSTOMER_KINDS)}", code="invalid_kind")
    if new.tier not in TIERS:
        raise InvalidInput(f"tier must be one of {list(TIERS)}", code="invalid_tier")
    country = new.country
    if not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise InvalidInput(
            "country must be an ISO 3166 alpha-2 code like 'KE'", code="invalid_country"
        )
    if not new.name.strip():
        raise InvalidInput("name must not be blank", code="invalid_name")


class TierDocumentsMissing(Conflict):
    """A KYC tier was asked for without the documents it needs; `missing` names them."""

    code = "tier_documents_missing"

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


def _refuse_missing_documents(tier: int, kind: str, held: list[str], *, onboarding: bool) -> None:
    missing = missing_documents(tier, kind, held)
    if not missing:
        return
    how = (
        "onboard the customer at tier 1, add its documents (POST /v1/customers/{id}/documents),"
        " then raise the tier"
        if onboarding
        else "add them with POST /v1/customers/{id}/documents first"
    )
    raise TierDocumentsMissing(
        f"KYC tier {tier} needs documents this customer does not have: {', '.join(missing)}; {how}",
        missing,
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _limit_details(customer: Customer) -> dict[str, object]:
    return {
        "per_payment_limit_usd": customer.per_payment_limit_usd,
        "per_day_limit_usd": customer.per_day_limit_usd,
    }


def _changes(
    customer: Customer, tier: int, per_payment: str | None, per_day: str | None
) -> dict[str, object]:
    """What an update changes, as [before, after] pairs (no personal data)."""
    changes: dict[str, object] = {}
    for name, before, after in (
        ("tier", customer.tier, tier),
        ("per_payment_limit_usd", customer.per_payment_limit_usd, per_payment),
        ("per_day_limit_usd", customer.per_day_limit_usd, per_day),
    ):
        if before != after:
            changes[name] = [before, after]
    return changes
