"""The sealed ledger driven from a plain script: top-level code, no `if __name__ == "__main__":`.

Run: `python bench/ledger_script.py` (prints one line: transfers/s and the command). This is how
people write a first benchmark, and how issue 13 found that the hashing worker, started with
`multiprocessing` spawn, re-ran the whole script inside itself before hashing anything (the
benchmark twice at once, throughput cut to 18–48k transfers/s). The worker now starts from our
own module (`clearline.chain.hash_worker`), so this script runs once; docs/benchmarks.md
("Ledger") records its figures before and after.

What it measures: `Ledger.open(directory)` (sealed by default: the default sealer, its hashing
worker, ML-DSA-65 + Ed25519 checkpoints at most one per 200 ms) on a fresh temporary directory,
10,000 accounts, then `BATCH_COUNT` batches of 8,190 random transfers prebuilt and frozen out of
the cyclic GC (as `bench.ledger` does); transfers acknowledged per second, from the first batch
to the last acknowledgement (close not included). The line names the module it ran as:
`__mp_main__` is a copy of the script running inside a multiprocessing child.
"""

import gc
import random
import sys
import tempfile
import time
from pathlib import Path

from clearline.ledger import Account, Ledger, Transfer

ACCOUNT_COUNT = 10_000
BATCH_SIZE = 8_190
BATCH_COUNT = 20

rng = random.Random(13)
batches = [
    [
        Transfer(
            id=1 + index * BATCH_SIZE + offset,
            debit_account_id=debit,
            credit_account_id=debit % ACCOUNT_COUNT + 1,
            amount=rng.randrange(1, 100_000),
            code=1,
        )
        for offset, debit in enumerate(
            rng.randrange(1, ACCOUNT_COUNT + 1) for _ in range(BATCH_SIZE)
        )
    ]
    for index in range(BATCH_COUNT)
]
with tempfile.TemporaryDirectory() as directory, Ledger.open(Path(directory)) as ledger:
    for start in range(1, ACCOUNT_COUNT + 1, BATCH_SIZE):
        accounts = range(start, min(start + BATCH_SIZE, ACCOUNT_COUNT + 1))
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in accounts])
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    for batch in batches:
        results = ledger.create_transfers(batch)
        assert results[-1].result.value == "ok", results[-1]
    elapsed = time.perf_counter() - started
print(
    f"sealed ledger, {BATCH_COUNT} batches of {BATCH_SIZE:,}: "
    f"{BATCH_COUNT * BATCH_SIZE / elapsed:,.0f} transfers/s "
    f"({elapsed:.3f} s; run as {__name__}; python {' '.join(sys.argv)})",
    flush=True,
)
