"""Instructions per transfer on the ledger's hot path, counted by valgrind: an A/B that noise
cannot move.

Run: `python -m bench.instructions [--source OLD_CHECKOUT/src …]` (needs `valgrind`, Debian's
package). On a shared machine wall time and even CPU time vary by tens of percent between runs
(fsync latency, other tenants, frequency); the number of instructions a run executes varies by
less than 0.01%. For each source tree (default: this checkout's) and each batch size it runs a
driver under `valgrind --tool=cachegrind --cache-sim=no` twice, with a short and a long series of
`create_transfers` calls, and reports (long − short) / transfers: the cost of one more transfer,
with start-up and imports cancelled out. The driver opens an unsealed ledger on tmpfs with
`synchronous=OFF` (the disk is not the code), prebuilds its records (their construction is
counted, the same in every tree) and freezes them out of the cyclic GC (`gc.freeze()`, as
`bench.common.settle_heap`), or full collections walking them would move the counts by more than
the code does. PYTHONHASHSEED is fixed so that runs repeat.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SERIES = {8_190: (2, 12), 100: (100, 1_100), 1: (500, 10_500)}
"""Batch size → (short, long) numbers of calls."""
ACCOUNT_COUNT = 200
TMPFS = Path("/dev/shm")


def drive(batch_size: int, calls: int) -> None:
    """The measured program: `calls` calls of `batch_size` plain transfers."""
    from clearline.ledger import Account, Ledger, Transfer

    half = ACCOUNT_COUNT // 2
    work = [
        [
            Transfer(
                id=1 + call * batch_size + k,
                debit_account_id=1 + k % half,
                credit_account_id=1 + half + k % half,
                amount=1 + k % 1_000,
            )
            for k in range(batch_size)
        ]
        for call in range(calls)
    ]
    root = TMPFS if TMPFS.is_dir() else None
    with tempfile.TemporaryDirectory(dir=root) as directory:
        ledger = Ledger.open(Path(directory), sealed=False)
        ledger.create_accounts(
            [Account(id=i, asset="USD", code=1) for i in range(1, ACCOUNT_COUNT + 1)]
        )
        ledger.read_store(lambda connection: connection.execute("PRAGMA synchronous=OFF"))
        gc.collect()
        gc.freeze()
        for batch in work:
            assert ledger.create_transfers(batch)[-1].ok
        ledger.close()


def count(source: Path | None, batch_size: int, calls: int) -> int:
    """Instructions of one driver run (the valgrind summary's `I refs`)."""
    bench_root = Path(__file__).resolve().parent.parent
    paths = [str(source)] if source else []
    environment = dict(
        os.environ,
        PYTHONHASHSEED="0",
        PYTHONPATH=os.pathsep.join([*paths, str(bench_root)]),
    )
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.instructions",
        "--drive",
        str(batch_size),
        str(calls),
    ]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    for line in done.stderr.splitlines():
        if "I   refs:" in line or "I refs:" in line:
            return int(line.rsplit(":", 1)[1].replace(",", "").strip())
    raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", action="append", type=Path, help="a src/ directory")
    parser.add_argument("--drive", nargs=2, type=int, metavar=("BATCH", "CALLS"), help="internal")
    arguments = parser.parse_args()
    if arguments.drive:
        drive(*arguments.drive)
        return
    sources: list[Path | None] = arguments.source or [None]
    print(
        "command: python -m bench.instructions " + " ".join(f"--source {s}" for s in sources if s)
    )
    for batch_size, (short, long) in SERIES.items():
        for source in sources:
            extra = count(source, batch_size, long) - count(source, batch_size, short)
            per_transfer = extra / ((long - short) * batch_size)
            print(
                f"batch {batch_size:>5}  {source or 'this checkout'!s:<40} "
                f"{per_transfer:>12,.1f} instructions per transfer"
            )


if __name__ == "__main__":
    main()
