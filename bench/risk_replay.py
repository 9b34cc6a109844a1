"""Features alone, long enough to compare two builds: `replay` over bench.risk's world, repeated.

Run: `python -m bench.risk_replay` (`--repeats N`, default 15). bench.risk times the features once
over 24,470 events (0.2-0.3 s), too short to tell two builds apart on a shared machine; this
builds the same world (1,500 people, 14 days, seed 1), replays it once to warm up, then times
`replay` over the same events `--repeats` times in this process and prints the median and the
best rate, by the process's CPU time (what other processes on the machine take from it is not
counted, unlike wall time) and by wall time. To compare two commits, run it in a worktree of
each, alternating, and compare the medians. It only uses the public API of
`clearline.risk.features`, so it runs on code from before the features were split as well.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

from bench.common import machine
from bench.risk import build_world
from clearline import native
from clearline.risk.features import events_from_table, replay

PEOPLE = 1_500
DAYS = 14
SEED = 1


def timed_seconds(
    repeats: int, clock: Callable[[], float], run: Callable[[], object]
) -> list[float]:
    """Seconds per run of `run`, `repeats` times, on `clock`."""
    seconds = []
    for _ in range(repeats):
        started = clock()
        run()
        seconds.append(clock() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed replays")
    arguments = parser.parse_args()
    world = build_world(PEOPLE, DAYS, SEED)
    events = list(events_from_table(world.transactions))
    replay(events, world.context)  # warm-up
    gc.collect()
    gc.freeze()  # the prebuilt events are not the features' garbage (as in bench.risk)
    print(f"python -m bench.risk_replay --repeats {arguments.repeats}  ({machine()})")
    print(f"features: {native.status('clearline.risk.features')}; {len(events):,} events")
    for name, clock in (("CPU time", time.process_time), ("wall time", time.perf_counter)):
        seconds = timed_seconds(arguments.repeats, clock, lambda: replay(events, world.context))
        rates = [len(events) / value for value in seconds]
        print(
            f"replay by {name}: median {statistics.median(rates):,.0f} events/s,"
            f" best {max(rates):,.0f}, worst {min(rates):,.0f}"
        )


if __name__ == "__main__":
    main()
