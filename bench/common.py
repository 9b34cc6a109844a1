"""What every benchmark shares: percentiles, the machine's name, and a quiet heap.

`settle_heap()` freezes everything alive now out of Python's cyclic garbage collector
(`gc.freeze()`, as servers do after start-up), so that full collections during timing do not walk
the benchmark's own prebuilt inputs, an artifact a server whose requests come and go does not have.
`thaw_heap()` undoes it between scenarios.
"""

from __future__ import annotations

import gc
import os
import platform
from pathlib import Path


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` (0..1) of the sorted values; 0.0 for none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def machine() -> str:
    """The CPU model, the number of CPUs and the Python version, for recording figures."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def settle_heap() -> None:
    """Freeze what exists now (prebuilt inputs, opened stores) out of the cyclic GC."""
    gc.collect()
    gc.freeze()


def thaw_heap() -> None:
    gc.unfreeze()
    gc.collect()


def stat_cpu_seconds(stat: Path) -> float:
    """User + system CPU seconds from a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` file
    (a process: all its threads; a task: that thread)."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
