"""The exact double-entry ledger: accounts, transfers, two-phase holds, limits, history, and
attestations (digests sealed into the verifiable log with the transfers).

```python
ledger = Ledger.open(".clearline")
ledger.create_accounts([Account(id=1, asset="USD", code=10), Account(id=2, asset="USD", code=10)])
ledger.create_transfers([Transfer(id=100, debit_account_id=1, credit_account_id=2, amount=1234)])
ledger.create_attestations([Attestation(id=7, code=1, digest=hashlib.sha256(entry).digest())])
```
"""

from clearline.ledger.events import CommitHook, LedgerEvent, LedgerEventKind
from clearline.ledger.ledger import BatchTooLarge, Ledger, LedgerBroken, LedgerClosed
from clearline.ledger.results import (
    CreateAccountResult,
    CreateAttestationResult,
    CreateTransferResult,
    EventResult,
)
from clearline.ledger.store import StoreError
from clearline.ledger.types import (
    AMOUNT_MAX,
    BATCH_EVENTS_MAX,
    DIGEST_BYTES,
    Account,
    AccountBalance,
    AccountFilter,
    AccountFlags,
    Attestation,
    QueryFilter,
    Transfer,
    TransferFlags,
)
from clearline.ledger.verify import CorruptStoreError

__all__ = [
    "AMOUNT_MAX",
    "BATCH_EVENTS_MAX",
    "DIGEST_BYTES",
    "Account",
    "AccountBalance",
    "AccountFilter",
    "AccountFlags",
    "Attestation",
    "BatchTooLarge",
    "CommitHook",
    "CorruptStoreError",
    "CreateAccountResult",
    "CreateAttestationResult",
    "CreateTransferResult",
    "EventResult",
    "Ledger",
    "LedgerBroken",
    "LedgerClosed",
    "LedgerEvent",
    "LedgerEventKind",
    "QueryFilter",
    "StoreError",
    "Transfer",
    "TransferFlags",
]
