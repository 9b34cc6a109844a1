"""Bounded ledger wallets for the contracts room's tests (imported by its test modules)."""

from __future__ import annotations

from clearline.ledger import Account, AccountFlags, Transfer
from clearline.platform import Platform


class Wallets:
    """Bounded wallets funded from an unbounded bank account, per asset."""

    def __init__(self, platform: Platform) -> None:
        self.ledger = platform.ledger
        self.next = 5_000_000

    def make(self, asset: str = "USD", funds: int = 0) -> int:
        self.next += 2
        wallet, bank = self.next, self.next + 1
        flags = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        self.ledger.create_accounts(
            [Account(id=wallet, asset=asset, code=100, flags=flags),
             Account(id=bank, asset=asset, code=1)]
        )  # fmt: skip
        if funds:
            self.ledger.create_transfers(
                [Transfer(id=self.next + 10**9, debit_account_id=bank, credit_account_id=wallet,
                          amount=funds)]
            )  # fmt: skip
        return wallet

    def balance(self, account: int) -> int:
        return self.ledger.lookup_accounts([account])[0].balance

    def pending_out(self, account: int) -> int:
        return self.ledger.lookup_accounts([account])[0].debits_pending
