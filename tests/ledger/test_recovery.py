"""Recovery on open: closing and reopening changes nothing, balances committed after the last
checkpoint come back from the transfer log, and a tampered store is refused with an error that
names the problem."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from clearline.core.clock import ManualClock
from clearline.ledger import (
    Account,
    AccountFlags,
    CorruptStoreError,
    Ledger,
    Transfer,
    TransferFlags,
)
from clearline.ledger.store import DATABASE_FILE, TRANSFER_BODY

PENDING = TransferFlags.PENDING
POST = TransferFlags.POST_PENDING_TRANSFER
VOID = TransferFlags.VOID_PENDING_TRANSFER
LINKED = TransferFlags.LINKED
HISTORY = AccountFlags.HISTORY
ACCOUNT_IDS = [1, 2, 3, 4, 5]
TRANSFER_IDS = list(range(100, 112))
BODY_AMOUNT_OFFSET = 32  # debit id (16 bytes), credit id (16 bytes), then the amount
SUBPROCESS_TIMEOUT_SECONDS = 60


def resolve(transfer_id: int, pending_id: int, flags: int, amount: int = 0) -> Transfer:
    return Transfer(
        id=transfer_id,
        debit_account_id=0,
        credit_account_id=0,
        amount=amount,
        pending_id=pending_id,
        code=0,
        flags=flags,
    )


def populate(ledger: Ledger, clock: ManualClock) -> None:
    """Accounts of two assets, plain, linked, pending (posted, voided, expired, open) transfers."""
    results = ledger.create_accounts(
        [
            Account(id=1, asset="USD", code=1, flags=HISTORY, user_data_64=7),
            Account(id=2, asset="USD", code=1),
            Account(id=3, asset="USD", code=2, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
            Account(id=4, asset="EUR", code=1, user_data_128=99),
            Account(id=5, asset="EUR", code=1, flags=HISTORY),
        ]
    )
    assert all(result.result == "ok" for result in results)
    batch = [
        Transfer(id=100, debit_account_id=1, credit_account_id=3, amount=500),
        Transfer(id=101, debit_account_id=3, credit_account_id=2, amount=120, flags=LINKED),
        Transfer(id=102, debit_account_id=2, credit_account_id=1, amount=20, user_data_32=5),
        Transfer(id=103, debit_account_id=3, credit_account_id=1, amount=50, flags=PENDING),
        Transfer(id=104, debit_account_id=4, credit_account_id=5, amount=75, flags=PENDING),
        Transfer(
            id=105, debit_account_id=5, credit_account_id=4, amount=9, flags=PENDING, timeout=60
        ),
        Transfer(
            id=106, debit_account_id=1, credit_account_id=2, amount=8, flags=PENDING, timeout=5
        ),
    ]
    assert all(result.result == "ok" for result in ledger.create_transfers(batch))
    clock.advance(seconds=10)  # 106 expires at the start of the next group
    batch = [
        resolve(107, 103, POST, amount=30),
        resolve(108, 104, VOID),
        Transfer(id=109, debit_account_id=4, credit_account_id=5, amount=1_000),
        Transfer(id=110, debit_account_id=2, credit_account_id=3, amount=3, flags=PENDING),
        Transfer(id=111, debit_account_id=5, credit_account_id=4, amount=4),
    ]
    assert all(result.result == "ok" for result in ledger.create_transfers(batch))


def snapshot(ledger: Ledger) -> dict[str, object]:
    return {
        "accounts": ledger.lookup_accounts(ACCOUNT_IDS),
        "transfers": ledger.lookup_transfers(TRANSFER_IDS),
        "account_transfers": [ledger.get_account_transfers(a) for a in ACCOUNT_IDS],
        "reversed": [ledger.get_account_transfers(a, reversed=True, limit=2) for a in ACCOUNT_IDS],
        "history": [ledger.get_account_balances(a) for a in ACCOUNT_IDS],
        "counts": ledger.counts(),
    }


def test_close_and_reopen_yields_identical_state(tmp_path: Path) -> None:
    clock = ManualClock()
    ledger = Ledger.open(tmp_path, clock=clock)
    populate(ledger, clock)
    before = snapshot(ledger)
    ledger.close()
    ledger.close()  # twice is harmless
    reopened = Ledger.open(tmp_path, clock=clock)
    assert snapshot(reopened) == before
    assert reopened.transfer_count_at_open == len(TRANSFER_IDS)
    # Timestamps keep increasing after a reopen.
    (result,) = reopened.create_transfers(
        [Transfer(id=200, debit_account_id=1, credit_account_id=2, amount=1)]
    )
    assert result.result == "ok"
    assert result.timestamp > max(t.timestamp for t in reopened.lookup_transfers(TRANSFER_IDS))
    reopened.close()


def test_pending_transfers_still_expire_after_reopen(tmp_path: Path) -> None:
    clock = ManualClock()
    ledger = Ledger.open(tmp_path, clock=clock)
    populate(ledger, clock)
    ledger.close()
    reopened = Ledger.open(tmp_path, clock=clock)
    four, five = reopened.lookup_accounts([4, 5])
    assert (five.debits_pending, four.credits_pending) == (9, 9)  # 105 is still open
    clock.advance(seconds=61)
    reopened.tick()
    four, five = reopened.lookup_accounts([4, 5])
    assert (five.debits_pending, four.credits_pending) == (0, 0)
    (late_post,) = reopened.create_transfers([resolve(300, 105, POST)])
    assert late_post.result == "pending_transfer_expired"
    reopened.close()
    again = Ledger.open(tmp_path, clock=clock)  # the expiry itself survives a reopen
    assert again.lookup_accounts([4, 5]) == [four, five]
    (late_void,) = again.create_transfers([resolve(301, 105, VOID)])
    assert late_void.result == "pending_transfer_expired"
    again.close()


WRITE_AND_DIE = textwrap.dedent(
    """
    import json, os, sys
    from clearline.core.clock import ManualClock
    from clearline.ledger import Account, Ledger, Transfer, TransferFlags

    ledger = Ledger.open(sys.argv[1], clock=ManualClock())
    ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in (1, 2, 3)])
    results = ledger.create_transfers(
        [
            Transfer(id=10, debit_account_id=1, credit_account_id=2, amount=40),
            Transfer(id=11, debit_account_id=2, credit_account_id=3, amount=15),
            Transfer(id=12, debit_account_id=3, credit_account_id=1, amount=6,
                     flags=TransferFlags.PENDING),
        ]
    )
    balances = {
        a.id: [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
        for a in ledger.lookup_accounts([1, 2, 3])
    }
    print(json.dumps({"results": [r.result.value for r in results], "balances": balances}))
    sys.stdout.flush()
    os._exit(0)  # no close(): no checkpoint, the writer thread dies with the process
    """
)


def test_balances_not_yet_checkpointed_are_recovered_from_the_log(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", WRITE_AND_DIE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=True,
    )
    written = json.loads(completed.stdout)
    assert written["results"] == ["ok", "ok", "ok"]
    connection = sqlite3.connect(tmp_path / DATABASE_FILE)
    stored = {
        int.from_bytes(row[0], "big"): list(row[1:])
        for row in connection.execute(
            "SELECT id, debits_pending, debits_posted, credits_pending, credits_posted "
            "FROM accounts"
        )
    }
    connection.close()
    assert stored == {1: [0] * 4, 2: [0] * 4, 3: [0] * 4}, "the checkpoint was expected stale"
    ledger = Ledger.open(tmp_path, clock=ManualClock())
    recovered = {
        str(a.id): [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted]
        for a in ledger.lookup_accounts([1, 2, 3])
    }
    assert recovered == written["balances"]
    assert recovered == {"1": [0, 40, 6, 0], "2": [0, 15, 0, 40], "3": [6, 0, 0, 15]}
    ledger.close()
    reopened = Ledger.open(tmp_path, clock=ManualClock())  # now from the close() checkpoint
    assert [a.debits_posted for a in reopened.lookup_accounts([1, 2, 3])] == [40, 15, 0]
    reopened.close()


# -- tampering: each named mutation must be refused ----------------------------------------------


def id_blob(value: int) -> bytes:
    return value.to_bytes(16, "big")


def change_transfer_amount(db: sqlite3.Connection) -> None:
    (body,) = db.execute("SELECT body FROM transfers WHERE id=?", (id_blob(102),)).fetchone()
    fields = list(TRANSFER_BODY.unpack(body))
    assert fields[2] == 20
    fields[2] = 21
    db.execute(
        "UPDATE transfers SET body=? WHERE id=?", (TRANSFER_BODY.pack(*fields), id_blob(102))
    )


def flip_amount_byte(db: sqlite3.Connection) -> None:
    (body,) = db.execute("SELECT body FROM transfers WHERE id=?", (id_blob(109),)).fetchone()
    tampered = bytearray(body)
    tampered[BODY_AMOUNT_OFFSET + 7] ^= 0x01
    db.execute("UPDATE transfers SET body=? WHERE id=?", (bytes(tampered), id_blob(109)))


def delete_transfer_row(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM transfers WHERE id=?", (id_blob(101),))


def delete_last_transfer_row(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM transfers WHERE id=?", (id_blob(111),))


def change_checkpointed_balance(db: sqlite3.Connection) -> None:
    db.execute("UPDATE accounts SET credits_posted=credits_posted+1 WHERE id=?", (id_blob(2),))


def delete_pending_status_row(db: sqlite3.Connection) -> None:
    (timestamp,) = db.execute(
        "SELECT timestamp FROM transfers WHERE id=?", (id_blob(110),)
    ).fetchone()
    db.execute("DELETE FROM pending_transfers WHERE timestamp=?", (timestamp,))


def add_orphan_status_row(db: sqlite3.Connection) -> None:
    (timestamp,) = db.execute(
        "SELECT timestamp FROM transfers WHERE id=?", (id_blob(100),)
    ).fetchone()
    db.execute("INSERT INTO pending_transfers VALUES(?, 0, 1, 0)", (timestamp,))


def change_account_asset(db: sqlite3.Connection) -> None:
    db.execute("UPDATE accounts SET asset='GBP' WHERE id=?", (id_blob(2),))


def delete_account_row(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM accounts WHERE id=?", (id_blob(5),))


def break_debit_limit(db: sqlite3.Connection) -> None:
    """Account 3 may not owe more than it holds; make the log and its checkpoint say it does."""
    (body,) = db.execute("SELECT body FROM transfers WHERE id=?", (id_blob(100),)).fetchone()
    fields = list(TRANSFER_BODY.unpack(body))
    fields[2] = 100  # credits 3 with 100 instead of 500: its 120 + 50 + 3 of debits exceed that
    db.execute(
        "UPDATE transfers SET body=? WHERE id=?", (TRANSFER_BODY.pack(*fields), id_blob(100))
    )
    db.execute("UPDATE accounts SET credits_posted=credits_posted-400 WHERE id=?", (id_blob(3),))
    db.execute("UPDATE accounts SET debits_posted=debits_posted-400 WHERE id=?", (id_blob(1),))


TAMPERINGS: dict[str, tuple[Callable[[sqlite3.Connection], None], str]] = {
    "transfer_amount_changed": (change_transfer_amount, r"account \d+: stored balances"),
    "transfer_amount_bit_flipped": (flip_amount_byte, r"account \d+: stored balances"),
    "transfer_row_deleted": (delete_transfer_row, r"breaks its accounts' transfer lists"),
    "last_transfer_row_deleted": (delete_last_transfer_row, r"account \d+: stored balances"),
    "checkpointed_balance_changed": (
        change_checkpointed_balance,
        r"account 2: stored balances .* differ from the sum of its transfers",
    ),
    "pending_status_row_deleted": (
        delete_pending_status_row,
        r"transfer 110 .* is pending but has no two-phase status",
    ),
    "orphan_pending_status_row": (add_orphan_status_row, r"status rows without a pending"),
    "account_asset_changed": (change_account_asset, r"different assets"),
    "account_row_deleted": (delete_account_row, r"names an account that does not exist"),
    "debit_limit_broken": (break_debit_limit, r"account 3 has debits exceeding credits"),
}


@pytest.mark.parametrize("mutation", sorted(TAMPERINGS))
def test_tampered_store_is_refused(tmp_path: Path, mutation: str) -> None:
    clock = ManualClock()
    ledger = Ledger.open(tmp_path, clock=clock)
    populate(ledger, clock)
    ledger.close()
    Ledger.open(tmp_path, clock=clock).close()  # untouched, it opens
    tamper, problem = TAMPERINGS[mutation]
    connection = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    connection.execute("BEGIN")
    tamper(connection)
    connection.execute("COMMIT")
    connection.close()
    with pytest.raises(CorruptStoreError, match=problem) as refused:
        Ledger.open(tmp_path, clock=clock)
    assert refused.value.code == "corrupt_store"
    # The refused store was released (exclusive lock dropped) and is still refused next time.
    sqlite3.connect(tmp_path / DATABASE_FILE).execute("SELECT COUNT(*) FROM transfers").close()
    with pytest.raises(CorruptStoreError, match=problem):
        Ledger.open(tmp_path, clock=clock)
