"""Vault benchmark: what encrypting personal data costs, against raw AES-GCM in the same run.

Run: `python -m bench.vault` (add `--quick` for a short smoke run). Every figure is measured in
this run, on this machine; writes `bench/results/vault.json`.

- `tokens`: one encrypt + one decrypt of a ~200-byte name (UTF-8, some non-ASCII) per operation,
  through `DataKeyRing.encrypt` / `decrypt` (fresh nonce, context as AAD, token framing: prefix,
  key id, base64url, strict parsing, UTF-8). The baseline is the same AES-256-GCM work called
  directly (`AESGCM.encrypt(os.urandom(12), data, aad)` then `decrypt`) on bytes, without the
  framing. Repetitions alternate the two; the median of each and the ratio per repetition are
  reported.
- `columns`: a WAL database (synchronous=FULL) with `--rows` customers and three encrypted
  columns: `encrypt_plaintext` (the first start-up on an old database, scrub included), the same
  call again with nothing left to do (every later start-up), and `rotate` (re-encrypt every
  value, remove the old key, scrub), each in values per second.
- Peak RSS of the process (`resource.getrusage`, max resident set size) at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from rich.console import Console
from rich.table import Table

from bench.common import machine
from clearline.vault import (
    DataKeyRing,
    EncryptedColumn,
    column_context,
    encrypt_plaintext,
    rotate,
)

RESULTS_DIR = Path(__file__).parent / "results"
NAME_BYTES = 200
COLUMNS = ("name", "phone", "address")
_SYLLABLES = ["an", "be", "ço", "da", "el", "fi", "gö", "ha", "is", "jo", "ka", "lu", "ñe", "or"]


@dataclass
class TokenRun:
    ring_ops_per_s: float
    baseline_ops_per_s: float
    ratio: float  # ring / baseline, same repetition


@dataclass
class ColumnRun:
    step: str
    values: int
    seconds: float
    values_per_s: float


def _names(count: int, seed: int) -> list[str]:
    """Names of about NAME_BYTES bytes of UTF-8 (given names, family names, a locality)."""
    chooser = random.Random(seed)
    names = []
    for _ in range(count):
        name = ""
        while len(name.encode()) < NAME_BYTES - 4:
            name += "".join(chooser.choice(_SYLLABLES) for _ in range(3)).title() + " "
        names.append(name.strip())
    return names


def _time_ring(ring: DataKeyRing, names: list[str], contexts: list[bytes]) -> float:
    started = time.perf_counter()
    for name, context in zip(names, contexts, strict=True):
        ring.decrypt(ring.encrypt(name, context), context)
    return len(names) / (time.perf_counter() - started)


def _time_baseline(aead: AESGCM, payloads: list[bytes], contexts: list[bytes]) -> float:
    started = time.perf_counter()
    for payload, context in zip(payloads, contexts, strict=True):
        nonce = os.urandom(12)
        aead.decrypt(nonce, aead.encrypt(nonce, payload, context), context)
    return len(payloads) / (time.perf_counter() - started)


def bench_tokens(directory: Path, operations: int, repetitions: int) -> list[TokenRun]:
    ring = DataKeyRing.open(directory / "keys")
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    names = _names(operations, seed=1)
    payloads = [name.encode() for name in names]
    contexts = [f"clearline.vault/customers.name/{index}".encode() for index in range(operations)]
    runs = []
    for repetition in range(repetitions):
        if repetition % 2:
            baseline = _time_baseline(aead, payloads, contexts)
            ring_rate = _time_ring(ring, names, contexts)
        else:
            ring_rate = _time_ring(ring, names, contexts)
            baseline = _time_baseline(aead, payloads, contexts)
        runs.append(TokenRun(ring_rate, baseline, ring_rate / baseline))
    return runs


def _customers_database(path: Path, rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, phone TEXT, address TEXT)"
    )
    names = _names(rows, seed=2)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?, ?)",
        ((i, names[i], f"+44790{i:07d}", f"{i} Example Street, Town") for i in range(rows)),
    )
    conn.execute("COMMIT")
    return conn


def bench_columns(directory: Path, rows: int) -> list[ColumnRun]:
    conn = _customers_database(directory / "customers.db", rows)
    ring = DataKeyRing.open(directory / "column-keys")
    specs = [
        EncryptedColumn("customers", "id", column, column_context("customers", column))
        for column in COLUMNS
    ]
    values = rows * len(COLUMNS)
    results = []
    started = time.perf_counter()
    assert encrypt_plaintext(conn, ring, specs) == values
    results.append(_finished("encrypt_plaintext (first start-up, scrub)", values, started))
    started = time.perf_counter()
    assert encrypt_plaintext(conn, ring, specs) == 0
    results.append(_finished("encrypt_plaintext (nothing to do)", values, started))
    started = time.perf_counter()
    report = rotate(conn, ring, specs)
    assert report.rows_reencrypted == values and report.scrubbed
    results.append(_finished("rotate (re-encrypt, remove key, scrub)", values, started))
    conn.close()
    return results


def _finished(step: str, values: int, started: float) -> ColumnRun:
    seconds = time.perf_counter() - started
    return ColumnRun(step, values, seconds, values / seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--operations", type=int, default=50_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    options = parser.parse_args()
    if options.quick:
        options.operations, options.repetitions, options.rows = 5_000, 2, 5_000
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-vault-") as temporary:
        directory = Path(temporary)
        token_runs = bench_tokens(directory, options.operations, options.repetitions)
        column_runs = bench_columns(directory, options.rows)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    table = Table(title=f"tokens: encrypt + decrypt of a {NAME_BYTES}-byte name")
    for column in ("repetition", "ring ops/s", "raw AES-GCM ops/s", "ring / raw"):
        table.add_column(column, justify="right")
    for index, run in enumerate(token_runs, 1):
        table.add_row(
            str(index),
            f"{run.ring_ops_per_s:,.0f}",
            f"{run.baseline_ops_per_s:,.0f}",
            f"{run.ratio:.2f}",
        )
    median_ring = statistics.median(run.ring_ops_per_s for run in token_runs)
    median_baseline = statistics.median(run.baseline_ops_per_s for run in token_runs)
    median_ratio = statistics.median(run.ratio for run in token_runs)
    table.add_row("median", f"{median_ring:,.0f}", f"{median_baseline:,.0f}", f"{median_ratio:.2f}")
    console.print(table)

    columns_table = Table(title=f"columns: {options.rows:,} customers × {len(COLUMNS)} columns")
    for column in ("step", "values", "seconds", "values/s"):
        columns_table.add_column(column, justify="right")
    for column_run in column_runs:
        columns_table.add_row(
            column_run.step,
            f"{column_run.values:,}",
            f"{column_run.seconds:.2f}",
            f"{column_run.values_per_s:,.0f}",
        )
    console.print(columns_table)
    console.print(f"peak RSS {peak_rss_mib:,.0f} MiB · {machine()}")
    command = "python -m bench.vault" + (" --quick" if options.quick else "")
    console.print(f"command: {command}")

    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "vault.json").write_text(
        json.dumps(
            {
                "command": command,
                "machine": machine(),
                "options": vars(options),
                "tokens": [asdict(run) for run in token_runs],
                "tokens_median": {
                    "ring_ops_per_s": median_ring,
                    "baseline_ops_per_s": median_baseline,
                    "ratio": median_ratio,
                },
                "columns": [asdict(run) for run in column_runs],
                "peak_rss_mib": peak_rss_mib,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
