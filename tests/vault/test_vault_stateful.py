"""A stateful property: whatever sequence of writes, migrations, key changes and rotations runs,
every stored value decrypts to what was written, and rotation leaves one key."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from clearline.vault import (
    DataKeyRing,
    EncryptedColumn,
    column_context,
    encrypt_plaintext,
    is_token,
    plaintext_rows,
    remove_unreferenced_keys,
    rotate,
)

NAME = EncryptedColumn("customers", "id", "name", column_context("customers", "name"))
names = st.text(min_size=0, max_size=40)


class VaultMachine(RuleBasedStateMachine):
    """The model: customer id → name, and which rows were written as plaintext since."""

    @initialize()
    def open_everything(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="vault-stateful-"))
        self.ring = DataKeyRing.open(self.directory / "keys")
        self.conn = sqlite3.connect(self.directory / "db", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        self.names: dict[int, str] = {}
        self.plaintext: set[int] = set()

    def teardown(self) -> None:
        if hasattr(self, "conn"):
            self.conn.close()
            shutil.rmtree(self.directory)

    @rule(name=names, encrypted=st.booleans())
    def write_customer(self, name: str, encrypted: bool) -> None:
        customer_id = len(self.names) + 1
        value = self.ring.encrypt(name, NAME.row_context(customer_id)) if encrypted else name
        self.conn.execute("INSERT INTO customers VALUES (?, ?)", (customer_id, value))
        self.names[customer_id] = name
        if not encrypted and not is_token(name):
            self.plaintext.add(customer_id)

    @rule(inside_transaction=st.booleans())
    def migrate(self, inside_transaction: bool) -> None:
        if inside_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
        assert encrypt_plaintext(self.conn, self.ring, [NAME], scrub=False) == len(self.plaintext)
        if inside_transaction:
            self.conn.execute("COMMIT")
        self.plaintext.clear()

    @rule(make_current=st.booleans())
    def add_key(self, make_current: bool) -> None:
        key_id = self.ring.add_key()
        if make_current:
            self.ring.set_current(key_id)

    @rule()
    def remove_unreferenced(self) -> None:
        remove_unreferenced_keys(self.conn, self.ring)

    @rule(scrub=st.booleans())
    def rotate(self, scrub: bool) -> None:
        report = rotate(self.conn, self.ring, [NAME], scrub=scrub)
        assert report.plaintext_encrypted == len(self.plaintext)
        assert self.ring.key_ids() == (report.key_id,)
        self.plaintext.clear()

    @rule()
    def reopen_ring(self) -> None:
        self.ring = DataKeyRing.open(self.directory / "keys")

    @invariant()
    def every_value_reads_back(self) -> None:
        if not hasattr(self, "conn"):
            return
        for customer_id, value in self.conn.execute("SELECT id, name FROM customers"):
            if customer_id in self.plaintext:
                assert value == self.names[customer_id]
            else:
                assert (
                    self.ring.decrypt(value, NAME.row_context(customer_id))
                    == self.names[customer_id]
                )
        assert plaintext_rows(self.conn, [NAME]) == len(self.plaintext)


VaultMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)
test_vault_state_machine = VaultMachine.TestCase
