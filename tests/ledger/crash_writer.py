"""The writer that test_crash.py kills: it loads the ledger until SIGKILL arrives.

Usage: python crash_writer.py DATA_DIR RUN SEED

It opens (and so verifies) the ledger in DATA_DIR, creates the accounts (idempotently), prints
`{"ready": true}`, then loops: it announces each batch (`intent`: the ids it expects to succeed,
its linked chains, the ids of a chain built to fail), submits it, and once the call has returned
(the batch is durable) prints the `ack` with the ids that succeeded and those refused. Every line is
flushed as it is written, so whatever the parent reads was said before the kill.

Transfer ids are RUN * ID_STRIDE + n, so runs never collide; each transfer's amount is
`amount_of(id)` (a post or void carries the pending transfer's amount), so the parent can check
every stored amount without being told it. After about half the transfer batches it creates a
batch of attestations the same way (`attest_intent`, then `attest_ack`), ids from the same stride,
each digest `digest_of(id)`.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from typing import Any

from clearline.core.clock import ManualClock
from clearline.ledger import Account, Attestation, Ledger, Transfer, TransferFlags

ACCOUNT_IDS = list(range(1, 9))
UNKNOWN_ACCOUNT_ID = 999
ID_STRIDE = 10_000_000
BATCH_SIZES = (1, 1, 2, 3, 7, 20, 64, 150, 300, 500)
PENDING = TransferFlags.PENDING
LINKED = TransferFlags.LINKED
POST = TransferFlags.POST_PENDING_TRANSFER
VOID = TransferFlags.VOID_PENDING_TRANSFER
EXPIRING_TIMEOUT_SECONDS = 2


ATTESTATION_BATCH_MAX = 30


def amount_of(transfer_id: int) -> int:
    return transfer_id % 1000 + 1


def digest_of(attestation_id: int) -> bytes:
    return hashlib.sha256(str(attestation_id).encode()).digest()


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class BatchMaker:
    """Random batches whose every event succeeds, except the chains built to fail."""

    def __init__(self, run: int, seed: int) -> None:
        self.random = random.Random(seed)
        self.next_id = run * ID_STRIDE + 1
        self.open_pendings: list[int] = []  # acknowledged, timeout 0, not yet posted or voided

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def plain(self, flags: int = 0) -> Transfer:
        debit, credit = self.random.sample(ACCOUNT_IDS, 2)
        transfer_id = self.new_id()
        return Transfer(
            id=transfer_id,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount_of(transfer_id),
            flags=flags,
        )

    def make(self) -> tuple[list[Transfer], list[list[int]], list[int], list[int]]:
        """(batch, chains, ids of failing chains, pending ids opened by this batch)."""
        size = self.random.choice(BATCH_SIZES)
        batch: list[Transfer] = []
        chains: list[list[int]] = []
        failing: list[int] = []
        opened: list[int] = []
        while len(batch) < size:
            roll = self.random.random()
            if roll < 0.1 and size - len(batch) >= 2:
                length = min(self.random.randint(2, 4), size - len(batch))
                chain = [self.plain(LINKED) for _ in range(length - 1)]
                last = self.plain()
                if self.random.random() < 0.3:
                    last = Transfer(
                        id=last.id,
                        debit_account_id=last.debit_account_id,
                        credit_account_id=UNKNOWN_ACCOUNT_ID,
                        amount=last.amount,
                    )
                    failing.extend(t.id for t in (*chain, last))
                else:
                    chains.append([t.id for t in (*chain, last)])
                batch.extend((*chain, last))
            elif roll < 0.2:
                pending = self.plain(PENDING)
                batch.append(pending)
                opened.append(pending.id)
            elif roll < 0.25:
                transfer = self.plain(PENDING)
                batch.append(
                    Transfer(
                        id=transfer.id,
                        debit_account_id=transfer.debit_account_id,
                        credit_account_id=transfer.credit_account_id,
                        amount=transfer.amount,
                        flags=PENDING,
                        timeout=EXPIRING_TIMEOUT_SECONDS,
                    )
                )
            elif roll < 0.35 and self.open_pendings:
                pending_id = self.open_pendings.pop(self.random.randrange(len(self.open_pendings)))
                batch.append(
                    Transfer(
                        id=self.new_id(),
                        debit_account_id=0,
                        credit_account_id=0,
                        amount=0,
                        pending_id=pending_id,
                        code=0,
                        flags=POST if self.random.random() < 0.5 else VOID,
                    )
                )
            else:
                batch.append(self.plain())
        return batch, chains, failing, opened


def attest(ledger: Ledger, maker: BatchMaker, number: int) -> None:
    ids = [maker.new_id() for _ in range(maker.random.randint(1, ATTESTATION_BATCH_MAX))]
    say({"attest_intent": number, "ids": ids})
    results = ledger.create_attestations([Attestation(i, 1, digest_of(i)) for i in ids])
    if [r.result for r in results] != ["ok"] * len(ids):
        sys.exit(f"attestations {number}: unexpected results {[r.result for r in results]}")
    say({"attest_ack": number, "ids": ids})


def main() -> None:
    data_dir, run, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    clock = ManualClock()
    ledger = Ledger.open(data_dir, clock=clock)
    results = ledger.create_accounts([Account(id=n, asset="USD", code=1) for n in ACCOUNT_IDS])
    assert all(result.ok for result in results), results
    say({"ready": True})
    maker = BatchMaker(run, seed)
    number = 0
    while True:
        number += 1
        batch, chains, failing, opened = maker.make()
        expected = [t.id for t in batch if t.id not in set(failing)]
        say({"intent": number, "ok": expected, "chains": chains, "failing": failing})
        results = ledger.create_transfers(batch)
        succeeded = [batch[r.index].id for r in results if r.result == "ok"]
        refused = [batch[r.index].id for r in results if r.result != "ok"]
        say({"ack": number, "ok": succeeded, "refused": refused})
        if succeeded != expected:
            sys.exit(f"batch {number}: unexpected results {[r.result.value for r in results]}")
        maker.open_pendings.extend(opened)
        if maker.random.random() < 0.5:
            attest(ledger, maker, number)
        clock.advance(seconds=1)  # pending transfers with a timeout expire a few batches later


if __name__ == "__main__":
    main()
