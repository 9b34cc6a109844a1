"""Ledger benchmark: durable throughput and latency, group commit, and a conventional baseline.

Run: `python -m bench.ledger` (add `--quick` for a short smoke run; `--hot-path` for the CPU path
alone, below). Every figure is measured in
this run, on this machine; the ratios against the baseline (measured in the same run, on the same
disk, with the same durability) are the numbers to trust on a noisy machine.

The ledger is measured alone (`sealed=False`); `python -m bench.chain` measures it with the
verifiable log on and off in one run. Scenarios, each on a fresh data directory with 10,000
accounts in one asset:
- `batch N`: one client calls `create_transfers` with batches of N random transfers, back to back.
  Throughput counts transfers acknowledged per second (each acknowledgement follows an fsynced
  commit); latency is per call.
- `64 clients`: 64 threads each send single-transfer calls; the ledger group-commits them.
- `baseline`: the conventional way, one SQLite transaction per transfer (read both balances,
  insert the transfer, update both balances), WAL with synchronous=FULL, like the ledger.
- `--hot-path`: only the ledger's own work, without the disk: batch 8,190, batch 100 and batch 1
  on a data directory in /dev/shm (tmpfs) with `PRAGMA synchronous=OFF`, reporting transfers/s and
  the process's CPU µs per transfer. Not durable, so not a throughput claim: it is what an A/B of
  two versions of the engine should compare on a shared machine, where fsync latency swamps the
  difference. It uses only the public API, so it runs against an older checkout too
  (`PYTHONPATH=<old>/src:. python -m bench.ledger --hot-path`).
Transfer records are built before timing starts, as a client would have them ready, and then
frozen out of Python's cyclic garbage collector (`gc.freeze()`, as servers do after start-up):
otherwise every full collection walks the hundreds of thousands of prebuilt records, an artifact of
prebuilding that a server whose requests come and go does not have. Every scenario, the baseline
included, is measured the same way.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sqlite3
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.common import machine, percentile, settle_heap, thaw_heap
from clearline.ledger import Account, Ledger, Transfer

ACCOUNT_COUNT = 10_000
BATCH_SIZES = (1, 10, 100, 1_000, 8_190)
CLIENT_COUNT = 64
RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Measurement:
    scenario: str
    transfers: int
    seconds: float
    transfers_per_second: float
    latency_ms_p50: float
    latency_ms_p99: float


def _measurement(scenario: str, count: int, seconds: float, latencies: list[float]) -> Measurement:
    return Measurement(
        scenario,
        count,
        round(seconds, 3),
        round(count / seconds, 1),
        round(percentile(latencies, 0.50) * 1000, 3),
        round(percentile(latencies, 0.99) * 1000, 3),
    )


def _random_transfers(rng: random.Random, first_id: int, count: int) -> list[Transfer]:
    transfers = []
    for offset in range(count):
        debit = rng.randrange(1, ACCOUNT_COUNT + 1)
        credit = rng.randrange(1, ACCOUNT_COUNT)
        credit += credit >= debit  # any account but the debit one
        transfers.append(
            Transfer(
                id=first_id + offset,
                debit_account_id=debit,
                credit_account_id=credit,
                amount=rng.randrange(1, 100_000),
                code=1,
            )
        )
    return transfers


def _open_with_accounts(directory: Path) -> Ledger:
    ledger = Ledger.open(directory, sealed=False)  # the ledger alone; bench.chain adds the log
    ids = list(range(1, ACCOUNT_COUNT + 1))
    for start in range(0, len(ids), 8_190):
        results = ledger.create_accounts(
            [Account(id=i, asset="USD", code=1) for i in ids[start : start + 8_190]]
        )
        assert all(result.result.value == "ok" for result in results)
    return ledger


def bench_batches(
    batch_size: int, transfer_target: int, seconds_max: float, progress: Progress
) -> Measurement:
    """One client, back-to-back batches of `batch_size`."""
    rng = random.Random(batch_size)
    batch_count = max(3, transfer_target // batch_size)
    batches = [
        _random_transfers(rng, 1 + index * batch_size, batch_size) for index in range(batch_count)
    ]
    task = progress.add_task(f"batch {batch_size:>5}", total=batch_count)
    with tempfile.TemporaryDirectory() as directory:
        ledger = _open_with_accounts(Path(directory))
        ledger.create_transfers(_random_transfers(rng, 10**12, batch_size))  # warm up
        settle_heap()
        latencies: list[float] = []
        done = 0
        started = time.perf_counter()
        for batch in batches:
            before = time.perf_counter()
            results = ledger.create_transfers(batch)
            latencies.append(time.perf_counter() - before)
            assert results[-1].result.value == "ok", results[-1]
            done += len(batch)
            progress.advance(task)
            if time.perf_counter() - started > seconds_max:
                break
        elapsed = time.perf_counter() - started
        ledger.close()
        thaw_heap()
    progress.update(task, completed=batch_count)
    return _measurement(f"batch {batch_size}", done, elapsed, latencies)


HOT_PATH_DIRECTORY = Path("/dev/shm")
HOT_PATH_SCENARIOS = ((8_190, 60), (100, 1_000), (1, 20_000))
"""(batch size, batches) of `--hot-path`."""


@dataclass
class HotPathMeasurement:
    scenario: str
    transfers: int
    seconds: float
    transfers_per_second: float
    cpu_us_per_transfer: float


def bench_hot_path(batch_size: int, batch_count: int, progress: Progress) -> HotPathMeasurement:
    """Back-to-back batches on tmpfs without fsync: the engine's and the writer's CPU path."""
    rng = random.Random(batch_size)
    batches = [
        _random_transfers(rng, 1 + index * batch_size, batch_size) for index in range(batch_count)
    ]
    task = progress.add_task(f"hot path, batch {batch_size:>5}", total=batch_count)
    root = HOT_PATH_DIRECTORY if HOT_PATH_DIRECTORY.is_dir() else None
    with tempfile.TemporaryDirectory(dir=root) as directory:
        ledger = _open_with_accounts(Path(directory))
        ledger.read_store(lambda connection: connection.execute("PRAGMA synchronous=OFF"))
        ledger.create_transfers(_random_transfers(rng, 10**12, batch_size))  # warm up
        settle_heap()
        cpu_started, started = time.process_time(), time.perf_counter()
        for batch in batches:
            results = ledger.create_transfers(batch)
            assert results[-1].result.value == "ok", results[-1]
            progress.advance(task)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        ledger.close()
        thaw_heap()
    count = batch_size * batch_count
    return HotPathMeasurement(
        f"batch {batch_size}",
        count,
        round(elapsed, 3),
        round(count / elapsed, 1),
        round(cpu / count * 1e6, 3),
    )


def hot_path_main(console: Console) -> None:
    with Progress(console=console, transient=True, refresh_per_second=2) as progress:
        found = [bench_hot_path(size, count, progress) for size, count in HOT_PATH_SCENARIOS]
    table = Table(title="Clearline ledger, hot path (tmpfs, synchronous=OFF: not durable)")
    for column in ("scenario", "transfers", "seconds", "transfers/s", "CPU µs/transfer"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for item in found:
        table.add_row(
            item.scenario,
            f"{item.transfers:,}",
            f"{item.seconds:.2f}",
            f"{item.transfers_per_second:,.0f}",
            f"{item.cpu_us_per_transfer:.2f}",
        )
    console.print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / "ledger_hot_path.json"
    report = {
        "command": "python -m bench.ledger --hot-path",
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [asdict(item) for item in found],
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {path}")


def bench_clients(calls_per_client: int, progress: Progress) -> Measurement:
    """CLIENT_COUNT threads, each sending single-transfer calls as fast as answers come."""
    rng = random.Random(64)
    work = [
        _random_transfers(rng, 1 + client * calls_per_client, calls_per_client)
        for client in range(CLIENT_COUNT)
    ]
    task = progress.add_task(f"{CLIENT_COUNT} clients", total=CLIENT_COUNT * calls_per_client)
    latencies: list[list[float]] = [[] for _ in range(CLIENT_COUNT)]
    with tempfile.TemporaryDirectory() as directory:
        ledger = _open_with_accounts(Path(directory))
        start_line = threading.Barrier(CLIENT_COUNT + 1)

        def client(index: int) -> None:
            start_line.wait()
            for transfer in work[index]:
                before = time.perf_counter()
                (result,) = ledger.create_transfers([transfer])
                latencies[index].append(time.perf_counter() - before)
                assert result.result.value == "ok", result
                progress.advance(task)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENT_COUNT)]
        settle_heap()
        for thread in threads:
            thread.start()
        start_line.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        commits = ledger.stats.commits
        ledger.close()
        thaw_heap()
    flat = [value for per_client in latencies for value in per_client]
    measurement = _measurement(f"{CLIENT_COUNT} clients", len(flat), elapsed, flat)
    measurement.scenario += f" ({len(flat) / max(commits, 1):.0f} per commit)"
    return measurement


_BASELINE_SCHEMA = """
CREATE TABLE accounts(id INTEGER PRIMARY KEY, debits_posted INTEGER NOT NULL,
                      credits_posted INTEGER NOT NULL);
CREATE TABLE transfers(id INTEGER PRIMARY KEY, debit_account_id INTEGER NOT NULL,
                       credit_account_id INTEGER NOT NULL, amount INTEGER NOT NULL,
                       timestamp INTEGER NOT NULL);
"""


def bench_baseline(transfer_count: int, progress: Progress) -> Measurement:
    """One database transaction per transfer: read both balances, insert, update both."""
    rng = random.Random(1)
    transfers = _random_transfers(rng, 1, transfer_count)
    task = progress.add_task("baseline", total=transfer_count)
    with tempfile.TemporaryDirectory() as directory:
        connection = sqlite3.connect(Path(directory) / "baseline.sqlite3", isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.executescript(_BASELINE_SCHEMA)
        connection.executemany(
            "INSERT INTO accounts VALUES(?, 0, 0)", [(i,) for i in range(1, ACCOUNT_COUNT + 1)]
        )
        latencies: list[float] = []
        settle_heap()
        started = time.perf_counter()
        for transfer in transfers:
            before = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            debit = connection.execute(
                "SELECT debits_posted, credits_posted FROM accounts WHERE id=?",
                (transfer.debit_account_id,),
            ).fetchone()
            credit = connection.execute(
                "SELECT debits_posted, credits_posted FROM accounts WHERE id=?",
                (transfer.credit_account_id,),
            ).fetchone()
            assert debit is not None and credit is not None
            connection.execute(
                "INSERT INTO transfers VALUES(?,?,?,?,?)",
                (
                    transfer.id,
                    transfer.debit_account_id,
                    transfer.credit_account_id,
                    transfer.amount,
                    time.time_ns(),
                ),
            )
            connection.execute(
                "UPDATE accounts SET debits_posted=? WHERE id=?",
                (debit[0] + transfer.amount, transfer.debit_account_id),
            )
            connection.execute(
                "UPDATE accounts SET credits_posted=? WHERE id=?",
                (credit[1] + transfer.amount, transfer.credit_account_id),
            )
            connection.execute("COMMIT")
            latencies.append(time.perf_counter() - before)
            progress.advance(task)
        elapsed = time.perf_counter() - started
        connection.close()
        thaw_heap()
    return _measurement("baseline (1 txn/transfer)", transfer_count, elapsed, latencies)


def bench_reopen(transfer_count: int) -> dict[str, float]:
    """Open time (replay and verification of the whole log) for a ledger of `transfer_count`."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as directory:
        ledger = _open_with_accounts(Path(directory))
        for start in range(0, transfer_count, 8_190):
            size = min(8_190, transfer_count - start)
            ledger.create_transfers(_random_transfers(rng, 1 + start, size))
        ledger.close()
        started = time.perf_counter()
        Ledger.open(directory, sealed=False).close()
        seconds = time.perf_counter() - started
    return {"transfers": transfer_count, "open_seconds": round(seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--hot-path", action="store_true", help="the CPU path alone: tmpfs, no fsync, not durable"
    )
    arguments = parser.parse_args()
    quick = arguments.quick
    console = Console()
    if arguments.hot_path:
        hot_path_main(console)
        return
    measurements: list[Measurement] = []
    with Progress(console=console, transient=True, refresh_per_second=2) as progress:
        baseline = bench_baseline(300 if quick else 3_000, progress)
        for size in BATCH_SIZES:
            target = {1: 2_000, 10: 10_000, 100: 50_000, 1_000: 200_000, 8_190: 491_400}[size]
            measurements.append(
                bench_batches(size, target // (20 if quick else 1), 5 if quick else 60, progress)
            )
        measurements.append(bench_clients(20 if quick else 200, progress))
    measurements.append(baseline)
    reopen = bench_reopen(50_000 if quick else 500_000)

    table = Table(title="Clearline ledger, durable (SQLite WAL, synchronous=FULL)")
    for column in ("scenario", "transfers", "seconds", "transfers/s", "p50 ms", "p99 ms", "× base"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for item in measurements:
        table.add_row(
            item.scenario,
            f"{item.transfers:,}",
            f"{item.seconds:.2f}",
            f"{item.transfers_per_second:,.0f}",
            f"{item.latency_ms_p50:.2f}",
            f"{item.latency_ms_p99:.2f}",
            f"{item.transfers_per_second / baseline.transfers_per_second:.1f}",
        )
    console.print(table)
    console.print(
        f"open + full verification of {reopen['transfers']:,} transfers: "
        f"{reopen['open_seconds']:.2f} s"
    )
    RESULTS_DIR.mkdir(exist_ok=True)
    report = {
        "command": "python -m bench.ledger" + (" --quick" if quick else ""),
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"python {platform.python_version()} sqlite {sqlite3.sqlite_version}",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": [asdict(item) for item in measurements],
        "open": reopen,
        "median_batch_8190_vs_baseline": round(
            statistics.median(
                [m.transfers_per_second for m in measurements if m.scenario == "batch 8190"]
            )
            / baseline.transfers_per_second,
            1,
        ),
    }
    path = RESULTS_DIR / "ledger.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
