"""Chain benchmark: what the sealing log costs the ledger, and proof latency at scale.

Run: `python -m bench.chain` (add `--quick` for a short smoke run, `--ten-million` to add the 10
million leaf log). Every figure is measured in this run, on this machine.

- `ledger`: throughput at batch 8,190 with the log off (`Ledger.open(path, sealed=False)`) and
  on (`Ledger.open(path)`: the default sealer, Ed25519 + ML-DSA-65 checkpoints at most one per
  `--checkpoint-interval-ms`, default 200 on the system clock, large groups hashed by a worker
  process), in the same run: each repetition runs both, in alternating order, each on a fresh
  data directory with 10,000 accounts, the transfers prebuilt and frozen out of the cyclic GC
  (`gc.collect(); gc.freeze()`, as bench/ledger.py does). The overhead is reported two ways:
  1 − on/off per repetition (its median and range), and 1 − median(on) / median(off); and the
  time the writer thread spends inside the sealer's hook per batch (the log's share of the
  critical path; the hashing worker's CPU on another core is not in it).
- `audit`: a sealed ledger of `--audit-transfers` transfers (default 200,000) exported with
  `clearline.chain.audit.export_log` and verified offline with `verify_export`, in events/s.
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
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.common import percentile, settle_heap, thaw_heap
from bench.ledger import ACCOUNT_COUNT, _random_transfers
from clearline.chain import merkle
from clearline.chain.audit import export_log, verify_export
from clearline.chain.log import CHECKPOINT_INTERVAL_MS_UNDER_LOAD, ChainLog, SealingHook
from clearline.chain.merkle import NodeId
from clearline.chain.node import NodeConfig, default_origin, save_node_config
from clearline.ledger import Account, Ledger
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
    sealer_ms_per_batch: float = 0.0
    """Time the writer thread spent in the sealer's commit hook, per batch (0 when off)."""


_sealer_seconds = [0.0]


def _timed_seal_rows() -> None:
    """Count the time spent in `SealingHook.seal_rows` (the writer thread's share of the log)."""
    seal_rows = SealingHook.seal_rows

    def timed(self: SealingHook, *arguments: Any) -> None:
        started = time.perf_counter()
        try:
            seal_rows(self, *arguments)
        finally:
            _sealer_seconds[0] += time.perf_counter() - started

    SealingHook.seal_rows = timed


@dataclass
class AuditThroughput:
    events: int
    checkpoints: int
    export_seconds: float
    export_events_per_second: float
    verify_seconds: float
    verify_events_per_second: float


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
        ledger = _open_with_accounts(path, log_on, interval_ms)
        ledger.create_transfers(_random_transfers(rng, 10**12, BATCH_SIZE))  # warm up
        settle_heap()
        _sealer_seconds[0] = 0.0
        started = time.perf_counter()
        for batch in batches:
            results = ledger.create_transfers(batch)
            assert results[-1].result.value == "ok", results[-1]
        elapsed = time.perf_counter() - started
        sealer_ms = _sealer_seconds[0] * 1000 / batch_count
        ledger.close()
        thaw_heap()
    count = batch_count * BATCH_SIZE
    return ThroughputRun(
        "on" if log_on else "off",
        repetition,
        count,
        round(elapsed, 3),
        round(count / elapsed, 1),
        round(sealer_ms, 2),
    )


def _open_with_accounts(path: Path, sealed: bool, interval_ms: int) -> Ledger:
    """A ledger with `ACCOUNT_COUNT` accounts, sealed by default or not at all."""
    if sealed:
        config = NodeConfig(default_origin(path), checkpoint_interval_ms=interval_ms)
        save_node_config(path, config)
    ledger = Ledger.open(path, sealed=sealed)
    ids = list(range(1, ACCOUNT_COUNT + 1))
    for start in range(0, len(ids), BATCH_SIZE):
        results = ledger.create_accounts(
            [Account(id=i, asset="USD", code=1) for i in ids[start : start + BATCH_SIZE]]
        )
        assert all(result.result.value == "ok" for result in results)
    return ledger


def bench_audit(transfers: int, progress: Progress) -> AuditThroughput:
    """Export a sealed ledger's log and verify the export offline, timed."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "node"
        ledger = _open_with_accounts(path, True, CHECKPOINT_INTERVAL_MS_UNDER_LOAD)
        task = progress.add_task("audit: fill", total=transfers)
        for first in range(0, transfers, BATCH_SIZE):
            count = min(BATCH_SIZE, transfers - first)
            ledger.create_transfers(_random_transfers(rng, 1 + first, count))
            progress.advance(task, count)
        ledger.close()
        started = time.perf_counter()
        counts = export_log(path, Path(directory) / "export")
        exported = time.perf_counter() - started
        started = time.perf_counter()
        report = verify_export(Path(directory) / "export")
        verified = time.perf_counter() - started
    assert report.events == counts["events"]
    events = counts["events"]
    return AuditThroughput(
        events,
        counts["checkpoints"],
        round(exported, 2),
        round(events / exported, 1),
        round(verified, 2),
        round(events / verified, 1),
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
    pairs = {
        (r.repetition, r.log): r.transfers_per_second for r in runs
    }  # each repetition ran both, back to back
    per_pair = [
        100 * (1 - pairs[(rep, "on")] / pairs[(rep, "off")])
        for rep in sorted({r.repetition for r in runs})
    ]
    return {
        "median_off": round(off, 1),
        "median_on": round(on, 1),
        "overhead_percent": round(100 * (1 - on / off), 1),
        "pair_overhead_percent_median": round(statistics.median(per_pair), 1),
        "pair_overhead_percent_min": round(min(per_pair), 1),
        "pair_overhead_percent_max": round(max(per_pair), 1),
        "sealer_ms_per_batch_median": round(
            statistics.median(r.sealer_ms_per_batch for r in runs if r.log == "on"), 2
        ),
    }


def _print(
    console: Console,
    runs: list[ThroughputRun],
    proofs: list[ProofLatency],
    audits: list[AuditThroughput],
) -> None:
    table = Table(title=f"Ledger at batch {BATCH_SIZE:,}, sealing log off / on (same run)")
    for column in ("repetition", "log", "transfers", "seconds", "transfers/s", "sealer ms/batch"):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            str(run.repetition),
            run.log,
            f"{run.transfers:,}",
            f"{run.seconds:.2f}",
            f"{run.transfers_per_second:,.0f}",
            f"{run.sealer_ms_per_batch:.2f}" if run.log == "on" else "",
        )
    console.print(table)
    summary = _overhead(runs)
    console.print(
        f"median off {summary['median_off']:,.0f}/s, on {summary['median_on']:,.0f}/s: "
        f"the log costs {summary['overhead_percent']:.1f}% (target ≤ 15%); per repetition "
        f"(on against off, back to back) median {summary['pair_overhead_percent_median']:.1f}%, "
        f"range {summary['pair_overhead_percent_min']:.1f}–"
        f"{summary['pair_overhead_percent_max']:.1f}%; the writer thread spent a median "
        f"{summary['sealer_ms_per_batch_median']:.2f} ms per batch in the sealer"
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
    if proofs:
        console.print(latency)
    for audit in audits:
        console.print(
            f"audit: {audit.events:,} events, {audit.checkpoints:,} checkpoints; export "
            f"{audit.export_seconds:.2f} s = {audit.export_events_per_second:,.0f} events/s, "
            f"offline verify {audit.verify_seconds:.2f} s = "
            f"{audit.verify_events_per_second:,.0f} events/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument(
        "--checkpoint-interval-ms", type=int, default=CHECKPOINT_INTERVAL_MS_UNDER_LOAD
    )
    parser.add_argument("--ten-million", action="store_true", help="add a 10 million leaf log")
    parser.add_argument("--skip-proofs", action="store_true", help="no proof latency runs")
    parser.add_argument("--skip-audit", action="store_true", help="no export/verify run")
    parser.add_argument("--audit-transfers", type=int, default=200_000)
    arguments = parser.parse_args()
    quick = arguments.quick
    _timed_seal_rows()
    console = Console()
    sizes = [50_000] if quick else [1_000_000] + ([10_000_000] if arguments.ten_million else [])
    sizes = [] if arguments.skip_proofs else sizes
    with Progress(console=console, transient=True, refresh_per_second=2) as progress:
        interval_ms = arguments.checkpoint_interval_ms
        runs = bench_ledger(
            2 if quick else arguments.repetitions, 3 if quick else 20, interval_ms, progress
        )
        proofs = [bench_proofs(size, 200 if quick else PROOFS_PER_SIZE, progress) for size in sizes]
        audit_transfers = 20_000 if quick else arguments.audit_transfers
        audits = [] if arguments.skip_audit else [bench_audit(audit_transfers, progress)]
    _print(console, runs, proofs, audits)
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "command": "python -m bench.chain"
        + (" --quick" if quick else "")
        + (f" --repetitions {arguments.repetitions}")
        + (" --ten-million" if arguments.ten_million else "")
        + (" --skip-proofs" if arguments.skip_proofs else "")
        + (" --skip-audit" if arguments.skip_audit else "")
        + f" --checkpoint-interval-ms {arguments.checkpoint_interval_ms}",
        "checkpoint_interval_ms": arguments.checkpoint_interval_ms,
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"python {platform.python_version()} sqlite {sqlite3.sqlite_version}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "batch_size": BATCH_SIZE,
        "ledger_runs": [asdict(run) for run in runs],
        "ledger_overhead": _overhead(runs),
        "proofs": [asdict(item) for item in proofs],
        "audit": [asdict(item) for item in audits],
    }
    path = RESULTS_DIR / "chain.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
