"""Payment records: the `payments` and `refunds` tables and the only SQL that touches them.

Guarantees:
- A payment's record is written once, in one platform write with whatever else must commit
  with it (the idempotent response of the request that made it); later steps update its status
  and amounts in place, with `updated_ns`.
- Reads see committed rows only (the store's reader connection); lists are ordered by `seq` and
  paged by it.
- Money is never here: amounts describe what the ledger moved; balances are the ledger's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from clearline.core.clock import Clock
from clearline.core.ids import format_id
from clearline.db import PlatformStore, Schema, next_seq
from clearline.payments.model import Payment

SCHEMA = Schema(
    "payments",
    (
        """
CREATE TABLE IF NOT EXISTS payments(
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, customer_id TEXT NOT NULL,
  source_account_id TEXT NOT NULL, destination_account_id TEXT NOT NULL,
  destination_customer_id TEXT, amount INTEGER NOT NULL, asset TEXT NOT NULL,
  payment_type TEXT NOT NULL, channel TEXT NOT NULL, capture TEXT NOT NULL, status TEXT NOT NULL,
  action TEXT NOT NULL, score REAL NOT NULL, model_version TEXT NOT NULL, rules_version TEXT,
  reasons TEXT NOT NULL, refusal TEXT, captured INTEGER NOT NULL DEFAULT 0,
  refunded INTEGER NOT NULL DEFAULT 0, expires_ns INTEGER, reference TEXT, details TEXT,
  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_customer ON payments(customer_id, seq);
CREATE INDEX IF NOT EXISTS payments_destination ON payments(destination_customer_id, seq);
CREATE INDEX IF NOT EXISTS payments_status ON payments(status, seq);
CREATE TABLE IF NOT EXISTS refunds(
  id TEXT PRIMARY KEY, payment_id TEXT NOT NULL, amount INTEGER NOT NULL,
  created_ns INTEGER NOT NULL, seq INTEGER NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS refunds_payment ON refunds(payment_id, seq);
""",
        """
ALTER TABLE payments ADD COLUMN initiated_by TEXT;
CREATE INDEX IF NOT EXISTS payments_action ON payments(action, seq);
""",
    ),
)

PAYMENT_COLUMNS = (
    "id, customer_id, source_account_id, destination_account_id, destination_customer_id,"
    " amount, asset, payment_type, channel, capture, status, action, score, model_version,"
    " rules_version, reasons, refusal, captured, refunded, expires_ns, reference, details,"
    " created_ns, updated_ns, seq, initiated_by"
)

Write = Callable[[sqlite3.Connection], Any]


def insert_payment(connection: sqlite3.Connection, payment: Payment) -> int:
    """Insert a payment's record (inside a platform write); its sequence number."""
    seq = next_seq(connection, "payments")
    connection.execute(
        f"INSERT INTO payments({PAYMENT_COLUMNS}) VALUES({','.join('?' * 26)})",
        (
            format_id(payment.id),
            format_id(payment.customer_id),
            format_id(payment.source_account_id),
            format_id(payment.destination_account_id),
            None
            if payment.destination_customer_id is None
            else format_id(payment.destination_customer_id),
            payment.amount,
            payment.asset,
            payment.payment_type,
            payment.channel,
            payment.capture,
            payment.status,
            payment.action,
            payment.score,
            payment.model_version,
            payment.rules_version,
            json.dumps(payment.reasons),
            payment.refusal,
            payment.captured,
            payment.refunded,
            payment.expires_ns,
            payment.reference,
            json.dumps(payment.details),
            payment.created_ns,
            payment.updated_ns,
            seq,
            payment.initiated_by,
        ),
    )
    return seq


def payment_from_row(row: Sequence[Any]) -> Payment:
    return Payment(
        id=int(row[0], 16),
        customer_id=int(row[1], 16),
        source_account_id=int(row[2], 16),
        destination_account_id=int(row[3], 16),
        destination_customer_id=int(row[4], 16) if row[4] else None,
        amount=row[5],
        asset=row[6],
        payment_type=row[7],
        channel=row[8],
        capture=row[9],
        status=row[10],
        action=row[11],
        score=row[12],
        model_version=row[13],
        rules_version=row[14] or "",
        reasons=json.loads(row[15]),
        refusal=row[16],
        captured=row[17],
        refunded=row[18],
        expires_ns=row[19],
        reference=row[20],
        details=json.loads(row[21] or "{}"),
        created_ns=row[22],
        updated_ns=row[23],
        seq=row[24],
        initiated_by=row[25],
    )


class PaymentRecords:
    """The payment tables of one platform database."""

    def __init__(self, store: PlatformStore, clock: Clock) -> None:
        self.store, self.clock = store, clock

    async def insert(self, payment: Payment, also: Write | None = None) -> None:
        """Write a new payment's record, and `also(connection)` in the same commit."""

        def write(connection: sqlite3.Connection) -> int:
            seq = insert_payment(connection, payment)
            if also is not None:
                also(connection)
            return seq

        payment.seq = await self.store.write_async(write)

    def insert_sync(self, payment: Payment) -> None:
        payment.seq = self.store.write_sync(lambda c: insert_payment(c, payment))

    async def update(self, payment: Payment, also: Write | None = None, **changes: Any) -> Payment:
        """Change columns of `payment`'s record (and the object), with `also` in the commit."""
        changes["updated_ns"] = self.clock.now_ns()
        columns = ", ".join(f"{name} = ?" for name in changes)

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                f"UPDATE payments SET {columns} WHERE id = ?",
                [*changes.values(), format_id(payment.id)],
            )
            if also is not None:
                also(connection)

        await self.store.write_async(write)
        for name, value in changes.items():
            setattr(payment, name, value)
        return payment

    def find(self, payment_id: int) -> Payment | None:
        row = self.store.read_one(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = ?", (format_id(payment_id),)
        )
        return None if row is None else payment_from_row(row)

    def known(self, payment_ids: Sequence[int]) -> set[int]:
        """Which of `payment_ids` have a record."""
        if not payment_ids:
            return set()
        rows = self.store.read(
            f"SELECT id FROM payments WHERE id IN ({','.join('?' * len(payment_ids))})",
            [format_id(identifier) for identifier in payment_ids],
        )
        return {int(row[0], 16) for row in rows}

    def newest_created_ns(self) -> int:
        return int(self.store.read_one("SELECT MAX(created_ns) FROM payments")[0] or 0)

    def page(
        self,
        after_seq: int,
        limit: int,
        *,
        customer_scope: int | None = None,
        status: str | None = None,
        action: str | None = None,
    ) -> list[Payment]:
        """Payments after `after_seq` in `seq` order: those `customer_scope` paid or received,
        in `status`, decided `action` (None: any)."""
        where: list[str] = ["seq > ?"]
        params: list[object] = [after_seq]
        if customer_scope is not None:
            where.append("(customer_id = ? OR destination_customer_id = ?)")
            params += [format_id(customer_scope)] * 2
        for column, value in (("status", status), ("action", action)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self.store.read(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE {' AND '.join(where)}"
            " ORDER BY seq LIMIT ?",
            [*params, limit],
        )
        return [payment_from_row(row) for row in rows]

    def open_holds_due(self, now_ns: int) -> list[Payment]:
        """Holds (in review or authorized) whose expiry time has passed."""
        rows = self.store.read(
            f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE status IN"
            " ('in_review','authorized') AND expires_ns <= ?",
            (now_ns,),
        )
        return [payment_from_row(row) for row in rows]

    def spent_since(self, since_ns: int) -> list[tuple[str, int, str]]:
        """(customer id, amount, asset) of the payments since `since_ns` that use up a daily
        limit: completed, held or captured."""
        return [
            (str(customer), int(amount), str(asset_spec))
            for customer, amount, asset_spec in self.store.read(
                "SELECT customer_id, amount, asset FROM payments WHERE created_ns >= ?"
                " AND status IN ('completed','authorized','in_review','captured')",
                (since_ns,),
            )
        ]

    def refunds(self, payment_id: int) -> list[tuple[int, int, int]]:
        """(refund id, amount, created_ns) of a payment's refunds, oldest first."""
        return [
            (int(identifier, 16), amount, created)
            for identifier, amount, created in self.store.read(
                "SELECT id, amount, created_ns FROM refunds WHERE payment_id = ? ORDER BY seq",
                (format_id(payment_id),),
            )
        ]


def insert_refund(
    connection: sqlite3.Connection, refund_id: int, payment_id: int, amount: int, now_ns: int
) -> None:
    connection.execute(
        "INSERT OR IGNORE INTO refunds VALUES(?,?,?,?,?)",
        (
            format_id(refund_id),
            format_id(payment_id),
            amount,
            now_ns,
            next_seq(connection, "refunds"),
        ),
    )
