"""Chain benchmark: what the sealing log costs the ledger, and proof latency at scale.

Run: `python -m bench.chain` (add `--quick` for a short smoke run, `--ten-million` to add the 10
million leaf log). Every figure is measured in this run, on this machine.

- `ledger`: throughput at batch 8,190 with the log off and on (`raw_hooks=[hook.seal_rows]`,
  Ed25519 + ML-DSA-65 checkpoints at most one per `--checkpoint-interval-ms`, default 200 on the
  system clock; 0 signs one per batch), in the same run: the two alternate, several
  repetitions, each on a fresh data directory with 10,000 accounts, the transfers prebuilt and
  frozen out of the cyclic GC (`gc.collect(); gc.freeze()`, as bench/ledger.py does). The overhead
  is 1 − median(on) / median(off).
- `proofs`: a log of 1 million leaves (10 million with `--ten-million`) built by the hook on
  synthetic transfer rows in 8,190-leaf groups; then inclusion proofs for random indices at random
  past checkpoint sizes, generation (`ChainLog.inclusion_proof`, reading tiles from SQLite) and
  verification (`merkle.verify_inclusion`) timed one by one.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.common import percentile, settle_heap, thaw_heap
from bench.ledger import _open_with_accounts, _random_transfers
from clearline.chain import merkle
from clearline.chain.log import CHECKPOINT_INTERVAL_MS_UNDER_LOAD, ChainLog, SealingHook
from clearline.chain.merkle import NodeId
from clearline.core.clock import SystemClock
from clearline.ledger import Ledger
from clearline.ledger.store import DATABASE_FILE, TRANSFER_ROW

BATCH_SIZE = 8_190
ORIGIN = "bench.clearline.example/node"
RESULTS_DIR = Path(__file__).parent / "results"
PROOFS_PER_SIZE = 2_000


@dataclass
class ThroughputRun:
    log: str  # "off" | "on"
    repetition: int
    transfers: int
    seconds: float
    transfers_per_second: float


@dataclass
class ProofLatency:
    leaves: int
    proofs: int
    build_seconds: float
    generate_ms_p50: float
    generate_ms_p99: float
    verify_ms_p50: float
    verify_ms_p99: float


def _ledger_run(log_on: bool, repetition: int, batch_count: int, interval_ms: int) -> ThroughputRun:
    rng = random.Random(repetition)
    batches = [
        _random_transfers(rng, 1 + index * BATCH_SIZE, BATCH_SIZE) for index in range(batch_count)
    ]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory)
        seeded = _open_with_accounts(path)  # accounts unsealed: the same setup for both
        seeded.close()
        hook = SealingHook.open(
            path, ORIGIN, clock=SystemClock(), checkpoint_interval_ms=interval_ms
        )
        raw_hooks = [hook.seal_rows] if log_on else []
        ledger = Ledger.open(path, raw_hooks=raw_hooks)
        ledger.create_transfers(_random_transfers(rng, 10**12, BATCH_SIZE))  # warm up
        settle_heap()
        started = time.perf_counter()
        for batch in batches:
            results = ledger.create_transfers(batch)
            assert results[-1].result.value == "ok", results[-1]
        elapsed = time.perf_counter() - started
        ledger.close()
        thaw_heap()
    count = batch_count * BATCH_SIZE
    return ThroughputRun(
        "on" if log_on else "off", repetition, count, round(elapsed, 3), round(count / elapsed, 1)
    )


def bench_ledger(
    repetitions: int, batch_count: int, interval_ms: int, progress: Progress
) -> list[ThroughputRun]:
    task = progress.add_task("ledger on/off", total=2 * repetitions)
    runs = []
    for repetition in range(repetitions):
        order = (False, True) if repetition % 2 == 0 else (True, False)
        for log_on in order:
            runs.append(_ledger_run(log_on, repetition, batch_count, interval_ms))
            progress.advance(task)
    return runs


def _synthetic_rows(first_timestamp: int, count: int, rng: random.Random) -> list[bytes]:
    zero = bytes(16)
    return [
        TRANSFER_ROW.pack(
            first_timestamp + offset,
            (first_timestamp + offset).to_bytes(16, "big"),
            rng.randrange(1, 10_000).to_bytes(16, "big"),
            rng.randrange(10_001, 20_000).to_bytes(16, "big"),
            rng.randrange(1, 100_000),
            zero,
            zero,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
        )
        for offset in range(count)
    ]


def _build_log(path: Path, leaves: int, progress: Progress) -> float:
    hook = SealingHook.open(path, ORIGIN, ml_dsa=False)
    connection = sqlite3.connect(path / DATABASE_FILE, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    rng = random.Random(leaves)
    task = progress.add_task(f"build {leaves:,} leaves", total=leaves)
    started = time.perf_counter()
    for first in range(0, leaves, BATCH_SIZE):
        count = min(BATCH_SIZE, leaves - first)
        connection.execute("BEGIN")
        hook.seal_rows(connection, _synthetic_rows(1 + first, count, rng), [])
        connection.execute("COMMIT")
        progress.advance(task, count)
    connection.close()
    return time.perf_counter() - started


def bench_proofs(leaves: int, proofs: int, progress: Progress) -> ProofLatency:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory)
        build_seconds = _build_log(path, leaves, progress)
        rng = random.Random(1)
        with ChainLog(path) as log:
            sizes = [int(note.split("\n")[1]) for note in log.checkpoint_notes()]
            roots = {
                size: log.checkpoint(size).root for size in rng.sample(sizes, min(20, len(sizes)))
            }
            cases = []
            for size in roots:
                for _ in range(proofs // len(roots)):
                    index = rng.randrange(size)
                    cases.append((index, size, log.read_nodes([NodeId(0, index)])[0]))
            settle_heap()
            generate, verify = [], []
            task = progress.add_task(f"proofs at {leaves:,}", total=len(cases))
            for index, size, leaf in cases:
                before = time.perf_counter()
                proof = log.inclusion_proof(index, size)
                between = time.perf_counter()
                merkle.verify_inclusion(index, size, leaf, proof, roots[size])
                after = time.perf_counter()
                generate.append(between - before)
                verify.append(after - between)
                progress.advance(task)
            gc.unfreeze()
    return ProofLatency(
        leaves,
        len(cases),
        round(build_seconds, 1),
        round(percentile(generate, 0.50) * 1000, 4),
        round(percentile(generate, 0.99) * 1000, 4),
        round(percentile(verify, 0.50) * 1000, 4),
        round(percentile(verify, 0.99) * 1000, 4),
    )


def _overhead(runs: list[ThroughputRun]) -> dict[str, float]:
    off = statistics.median(r.transfers_per_second for r in runs if r.log == "off")
    on = statistics.median(r.transfers_per_second for r in runs if r.log == "on")
    return {
        "median_off": round(off, 1),
        "median_on": round(on, 1),
        "overhead_percent": round(100 * (1 - on / off), 1),
    }


def _print(console: Console, runs: list[ThroughputRun], proofs: list[ProofLatency]) -> None:
    table = Table(title=f"Ledger at batch {BATCH_SIZE:,}, sealing log off / on (same run)")
    for column in ("repetition", "log", "transfers", "seconds", "transfers/s"):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            str(run.repetition),
            run.log,
            f"{run.transfers:,}",
            f"{run.seconds:.2f}",
            f"{run.transfers_per_second:,.0f}",
        )
    console.print(table)
    summary = _overhead(runs)
    console.print(
        f"median off {summary['median_off']:,.0f}/s, on {summary['median_on']:,.0f}/s: "
        f"the log costs {summary['overhead_percent']:.1f}% (target ≤ 15%)"
    )
    latency = Table(title="Inclusion proofs (random index, random past checkpoint)")
    for column in ("leaves", "proofs", "build s", "gen p50 ms", "gen p99 ms", "ver p50", "ver p99"):
        latency.add_column(column, justify="right")
    for item in proofs:
        latency.add_row(
            f"{item.leaves:,}",
            f"{item.proofs:,}",
            f"{item.build_seconds:.1f}",
            f"{item.generate_ms_p50:.3f}",
            f"{item.generate_ms_p99:.3f}",
            f"{item.verify_ms_p50:.3f}",
            f"{item.verify_ms_p99:.3f}",
        )
    console.print(latency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument(
        "--checkpoint-interval-ms", type=int, default=CHECKPOINT_INTERVAL_MS_UNDER_LOAD
    )
    parser.add_argument("--ten-million", action="store_true", help="add a 10 million leaf log")
    arguments = parser.parse_args()
    quick = arguments.quick
    console = Console()
    sizes = [50_000] if quick else [1_000_000] + ([10_000_000] if arguments.ten_million else [])
    with Progress(console=console, transient=True, refresh_per_second=2) as progress:
        interval_ms = arguments.checkpoint_interval_ms
        runs = bench_ledger(
            2 if quick else arguments.repetitions, 3 if quick else 20, interval_ms, progress
        )
        proofs = [bench_proofs(size, 200 if quick else PROOFS_PER_SIZE, progress) for size in sizes]
    _print(console, runs, proofs)
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "command": "python -m bench.chain"
        + (" --quick" if quick else "")
        + (" --ten-million" if arguments.ten_million else "")
        + f" --checkpoint-interval-ms {arguments.checkpoint_interval_ms}",
        "checkpoint_interval_ms": arguments.checkpoint_interval_ms,
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"python {platform.python_version()} sqlite {sqlite3.sqlite_version}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "batch_size": BATCH_SIZE,
        "ledger_runs": [asdict(run) for run in runs],
        "ledger_overhead": _overhead(runs),
        "proofs": [asdict(item) for item in proofs],
    }
    path = RESULTS_DIR / "chain.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
