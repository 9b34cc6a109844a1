"""Simulator benchmark: how fast `clearline.sim` generates a world of about a million payments.

Run `python -m bench.sim` (options: --people, --days, --seed, --write DIR). It builds the world,
settles every day, then (optionally) writes the Parquet tables, timing each stage with
`time.perf_counter`, prints a table and writes the figures to bench/results/sim.json.
The target (issue 4): one million transactions generated in at most 30 seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.common import machine
from clearline.sim.config import preset
from clearline.sim.engine import World
from clearline.sim.writer import write_world

RESULTS = Path(__file__).parent / "results" / "sim.json"
TARGET_TRANSACTIONS = 1_000_000
TARGET_SECONDS = 30.0


def run(people: int, days: int, seed: int, write_dir: Path | None) -> dict:
    config = preset("hi", people=people, days=days, seed=seed)
    started = time.perf_counter()
    world = World(config)
    built = time.perf_counter()
    result = world.generate()
    generated = time.perf_counter()
    figures = {
        "command": f"python -m bench.sim --people {people} --days {days} --seed {seed}",
        "machine": machine(),
        "people": people,
        "days": days,
        "seed": seed,
        "transactions": len(result.events),
        "candidates": result.candidates,
        "refused": result.refused,
        "build_s": round(built - started, 3),
        "simulate_s": round(generated - built, 3),
        "generate_s": round(generated - started, 3),
    }
    figures["transactions_per_s"] = round(figures["transactions"] / figures["generate_s"])
    figures["seconds_per_million"] = round(figures["generate_s"] * 1e6 / figures["transactions"], 2)
    with tempfile.TemporaryDirectory() as scratch:
        target = write_dir or Path(scratch)
        before = time.perf_counter()
        write_world(result, target)
        figures["write_parquet_s"] = round(time.perf_counter() - before, 3)
        figures["transactions_parquet_mib"] = round(
            (target / "transactions.parquet").stat().st_size / 2**20, 1
        )
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    figures["meets_target"] = (
        figures["transactions"] >= TARGET_TRANSACTIONS and figures["generate_s"] <= TARGET_SECONDS
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--write", type=Path, default=None, help="keep the tables in this directory"
    )
    arguments = parser.parse_args()
    figures = run(arguments.people, arguments.days, arguments.seed, arguments.write)
    table = Table(title="clearline.sim: generate a synthetic world")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(
            key,
            f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value),
        )
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
