"""Live demo benchmark: the replay's payments/s as `clearline demo` reports it, and peak memory.

Run: `python -m bench.demo` (3 runs of a 2,000-person, 15-day world, 5 days replayed, model
trained on the 10 history days). `--baseline SRC` also runs another checkout's `src/` (e.g. a
`git worktree` of an older commit), alternating baseline and current run by run (baseline first
in odd runs, current first in even ones), so both see the same machine load. Figures go to
bench/results/demo.json, each run's output to bench/results/demo-logs/; docs/benchmarks.md
records them.

What is measured, per run, all in that run:
- payments/s: the demo's own figure, "payments/s (average)" of its final table (answers per
  second over the whole replay, timed by the traffic process);
- p50 / p99 latency, from the same table;
- peak RSS: every 0.2 s the resident memory of the demo and all its descendants (the traffic
  process, the sealer's hashing workers, multiprocessing helpers) is read from /proc and summed;
  the largest sum is kept. It is sampled, so a peak shorter than 0.2 s can be missed;
- wall time of the whole command (world generation is cached after the first run), and its CPU
  time (user + system, of the demo and every descendant it waited for: all of them), which a
  busy machine disturbs far less than it disturbs payments/s.

Each run is the command `python -c 'from clearline.cli import main; main()' --data-dir DATA demo
ARGS`, with PYTHONPATH set to the source tree under test; `--exit-after-replay` is added where
that tree's demo has it (a demo without it stops after the replay by itself).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import machine

RESULTS = Path(__file__).parent / "results" / "demo.json"
LOGS = RESULTS.with_name("demo-logs")
CURRENT_SOURCE = Path(__file__).resolve().parent.parent / "src"
DEMO_ARGS = ("--people", "2000", "--days", "15", "--history-days", "10", "--training-days", "0")
SAMPLE_EVERY_S = 0.2
RUN_TIMEOUT_S = 900.0
RATE = re.compile(r"payments/s \(average\)\D*([\d,]+)")
LATENCY = re.compile(r"latency p50 / p99\D*([\d.]+) ms / ([\d.]+) ms")
ANSWERED = re.compile(r"payments answered\D*([\d,]+) of ([\d,]+)")


def _command(source: Path, data_dir: Path, args: list[str]) -> tuple[list[str], dict[str, str]]:
    cli = [sys.executable, "-c", "from clearline.cli import main; main()"]
    env = {**os.environ, "PYTHONPATH": str(source), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    shown = subprocess.run(
        [*cli, "demo", "--help"], capture_output=True, text=True, env=env, check=True
    )
    extra = ["--exit-after-replay"] if "--exit-after-replay" in shown.stdout else []
    return [*cli, "--data-dir", str(data_dir), "demo", *args, *extra], env


def _tree_rss_bytes(root: int) -> int:
    """Resident bytes of `root` and every process below it (0 for those already gone)."""
    parents: dict[int, int] = {}
    resident: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pages = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        resident[int(entry.name)] = pages * os.sysconf("SC_PAGE_SIZE")
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(resident.get(pid, 0) for pid in tree)


def run_once(source: Path, data_dir: Path, args: list[str], log: Path) -> dict[str, Any]:
    command, env = _command(source, data_dir, args)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    peak = 0
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the demo ran over {RUN_TIMEOUT_S:.0f} s; see {log}")
            peak = max(peak, _tree_rss_bytes(process.pid))
            time.sleep(SAMPLE_EVERY_S)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = log.read_text(encoding="utf-8")
    rate, latency, answered = RATE.search(text), LATENCY.search(text), ANSWERED.search(text)
    if process.returncode != 0 or rate is None or latency is None or answered is None:
        raise RuntimeError(f"the demo failed (exit {process.returncode}); see {log}")
    return {
        "payments_per_s": int(rate.group(1).replace(",", "")),
        "latency_ms_p50": float(latency.group(1)),
        "latency_ms_p99": float(latency.group(2)),
        "payments": int(answered.group(1).replace(",", "")),
        "peak_rss_mib": round(peak / 2**20, 1),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(cpu_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each source tree")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout's src/")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary one")
    parser.add_argument(
        "demo_args", nargs="*", help=f"clearline demo options (default {DEMO_ARGS})"
    )
    arguments = parser.parse_args()
    args = list(arguments.demo_args or DEMO_ARGS)
    trees = {"current": CURRENT_SOURCE}
    if arguments.baseline is not None:
        trees = {"baseline": arguments.baseline.resolve(), **trees}
    console = Console()
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        data_dir = arguments.data_dir or Path(scratch)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        LOGS.mkdir(parents=True, exist_ok=True)
        for number in range(arguments.runs):
            order = list(trees.items())
            for name, source in order if number % 2 == 0 else reversed(order):
                log = LOGS / f"{name}-{number}.log"
                figures = run_once(source, data_dir, args, log)
                runs[name].append(figures)
                console.print(f"run {number + 1} {name}: {figures}")
    table = Table(title="clearline demo: replay through HTTP")
    columns = ("tree", "payments/s (runs)", "median", "p50 / p99 ms", "peak RSS MiB", "CPU s")
    for column in columns:
        table.add_column(column, justify="left" if column == "tree" else "right")
    for name, figures in runs.items():
        rates = [f["payments_per_s"] for f in figures]
        table.add_row(
            name,
            " · ".join(f"{rate:,}" for rate in rates),
            f"{statistics.median(rates):,.0f}",
            ", ".join(f"{f['latency_ms_p50']} / {f['latency_ms_p99']}" for f in figures),
            ", ".join(str(f["peak_rss_mib"]) for f in figures),
            ", ".join(str(f["cpu_s"]) for f in figures),
        )
    console.print(table)
    report = {
        "machine": machine(),
        "demo_args": args,
        "trees": {k: str(v) for k, v in trees.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**report, "runs": runs}, indent=2) + "\n", encoding="utf-8")
    console.print(f"machine: {report['machine']}\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
