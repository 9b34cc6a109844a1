"""What a busy event loop costs the ledger's writer thread: the GIL, measured.

Run: `python -m bench.gil`. Figures go to bench/results/gil.json; docs/benchmarks.md records them.

The payment server (`clearline serve`) is one process: the event loop and two group-committing
writer threads (the ledger's, the platform store's) share one GIL. A writer gives the GIL up
around every SQLite call and must win it back from the event loop to go on. This bench commits
the same groups of 11 transfers (the mean group of `bench.api` at 16 connections) to a sealed
ledger twice, in the same run:
- alone: the event loop only waits for each commit (the baseline);
- beside a busy thread: another Python thread computes all the time, as the event loop does
  under load.
It prints the wall time per group and the writer thread's own CPU time per group (from
`/proc/self/task/<id>/stat`), and their ratio to the baseline.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.common import machine, stat_cpu_seconds
from clearline.core.ids import new_ids
from clearline.ledger import Ledger
from clearline.ledger.types import Account, Transfer

RESULTS = Path(__file__).parent / "results"
GROUP = 11
GROUPS = 400


def thread_cpu_seconds(native_id: int) -> float:
    return stat_cpu_seconds(Path(f"/proc/self/task/{native_id}/stat"))


def run(busy: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="clearline-bench-gil-") as directory:
        ledger = Ledger.open(Path(directory), sealed=True)
        try:
            accounts = new_ids(1001)
            ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in accounts])
            rng = random.Random(1)
            batches = [
                [
                    Transfer(
                        id=identifier,
                        debit_account_id=accounts[0],
                        credit_account_id=rng.choice(accounts[1:]),
                        amount=100,
                    )
                    for identifier in new_ids(GROUP)
                ]
                for _ in range(GROUPS)
            ]
            stop = threading.Event()

            def spin() -> None:
                total = 0
                while not stop.is_set():
                    for value in range(1000):
                        total += value

            spinner = threading.Thread(target=spin, daemon=True)
            if busy:
                spinner.start()
            writer = next(t for t in threading.enumerate() if "ledger" in t.name.lower())
            assert writer.native_id is not None

            async def commit_all() -> float:
                started = time.perf_counter()
                for batch in batches:
                    await ledger.create_transfers_async(batch)
                return time.perf_counter() - started

            cpu_before = thread_cpu_seconds(writer.native_id)
            wall = asyncio.run(commit_all())
            cpu = thread_cpu_seconds(writer.native_id) - cpu_before
            stop.set()
            if busy:
                spinner.join()
        finally:
            ledger.close()
    return {
        "wall_ms_per_group": wall * 1000 / GROUPS,
        "writer_cpu_ms_per_group": cpu * 1000 / GROUPS,
    }


def main() -> None:
    console = Console(width=120)
    alone, busy = run(busy=False), run(busy=True)
    table = Table(title=f"Ledger writer, groups of {GROUP} transfers (sealed), {GROUPS} groups")
    for column in ("scenario", "wall ms/group", "writer CPU ms/group", "wall ×", "CPU ×"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, row in (("alone", alone), ("beside a busy Python thread", busy)):
        table.add_row(
            name,
            f"{row['wall_ms_per_group']:.2f}",
            f"{row['writer_cpu_ms_per_group']:.2f}",
            f"{row['wall_ms_per_group'] / alone['wall_ms_per_group']:.1f}",
            f"{row['writer_cpu_ms_per_group'] / alone['writer_cpu_ms_per_group']:.1f}",
        )
    console.print(table)
    console.print(f"machine: {machine()}")
    RESULTS.mkdir(exist_ok=True)
    document = {"machine": machine(), "group": GROUP, "alone": alone, "busy": busy}
    (RESULTS / "gil.json").write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
