"""Running the traffic: alone against any server, or as the child process of `clearline demo`.

`python -m clearline.demo.traffic --url URL --key KEY --world DIR --from-day N` sets the world up
on a running Clearline server and replays its later payments through `POST /v1/payments`,
printing one JSON object per line (progress, then a final tally); it exits 1 if any payment got
no answer or a 5xx. `clearline demo` starts the same module with `--child` and speaks the
protocol of `clearline.demo.traffic.protocol` with it.

Guarantees:
- The child ignores Ctrl-C (SIGINT) and stops when the parent says `stop` or its stdin closes,
  so the parent decides the order of shutdown and an orphaned child does not outlive its parent
  by more than `ORPHAN_EXIT_S`.
- The child's stdout carries protocol lines only: its own `print`s and libraries' go to stderr.
- A failure in the child reaches the parent as one `error` message before the child exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

from clearline.demo.traffic.clock import SharedClock
from clearline.demo.traffic.plan import load_plan
from clearline.demo.traffic.protocol import (
    GO,
    ORPHAN_EXIT_S,
    STOP,
    Report,
    TrafficOptions,
    encode,
)
from clearline.demo.traffic.provision import setup
from clearline.demo.traffic.replay import replay

GO_POLL_S = 0.05
EXIT_ORPHANED = 3


async def run_traffic(
    options: TrafficOptions,
    report: Report,
    should_stop: Callable[[], bool] = lambda: False,
    *,
    world_clock: SharedClock | None = None,
    wait_for_go: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Set the world up, optionally wait until `wait_for_go()` is true, replay; the final tally."""
    plan = load_plan(options.world_dir, options.from_day, options.replay_days, options.payments)
    report({"event": "plan", "accounts": len(plan.owners), "payments": len(plan.rows)})
    started = time.perf_counter()
    mapping, funded = await setup(options.url, options.key, plan.owners, report)
    report(
        {
            "event": "setup",
            "accounts": len(mapping),
            "funded": funded,
            "seconds": time.perf_counter() - started,
            "mapping": {str(world): platform for world, platform in mapping.items()},
        }
    )
    while wait_for_go is not None and not wait_for_go():
        if should_stop():
            break
        await asyncio.sleep(GO_POLL_S)
    tally = await replay(
        options.url,
        options.key,
        plan,
        mapping,
        concurrency=options.concurrency,
        rate=options.rate,
        should_stop=should_stop,
        report=report,
        world_clock=world_clock,
    )
    final = {**tally.snapshot(), "event": "done", "stopped": should_stop()}
    report(final)
    return final


def run_on_fast_loop(work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run a coroutine on uvloop when installed (a cheaper event loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    result: dict[str, Any] = uvloop.run(work)
    return result


def _listen(commands: TextIO, go: threading.Event, stop: threading.Event) -> None:
    """Follow the parent's commands; at end of input stop, and exit by force if stopping hangs."""
    for line in commands:
        command = line.strip()
        if command == GO:
            go.set()
        elif command == STOP:
            stop.set()
    stop.set()
    go.set()
    deadline = threading.Timer(ORPHAN_EXIT_S, os._exit, args=(EXIT_ORPHANED,))
    deadline.daemon = True
    deadline.start()


def _protocol_stdout() -> TextIO:
    """The real stdout, for protocol lines only; fd 1 (and `print`) then goes to stderr."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return channel


def child_main(clock_file: Path) -> int:
    """The traffic child of `clearline demo`: options from stdin, messages to stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _protocol_stdout()

    def report(message: dict[str, Any]) -> None:
        channel.write(encode(message))
        channel.flush()

    try:
        options = TrafficOptions.from_json(sys.stdin.readline())
    except (ValueError, TypeError, KeyError) as error:
        report({"event": "error", "message": f"bad traffic options: {error}"})
        return 2
    go, stop = threading.Event(), threading.Event()
    threading.Thread(target=_listen, args=(sys.stdin, go, stop), name="parent", daemon=True).start()
    clock = SharedClock(clock_file)
    try:
        work = run_traffic(options, report, stop.is_set, world_clock=clock, wait_for_go=go.is_set)
        run_on_fast_loop(work)
    except BrokenPipeError:
        return 1  # the parent stopped reading: nobody to tell
    except Exception as error:  # reported to the parent, which shows it and stops
        with contextlib.suppress(OSError):
            report({"event": "error", "message": f"{type(error).__name__}: {error}"})
        return 1
    finally:
        clock.close()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clearline.demo.traffic", description=__doc__)
    parser.add_argument("--url", help="server URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", help="an operator or admin API key")
    parser.add_argument("--world", type=Path, help="world directory")
    parser.add_argument("--from-day", type=int, default=0, help="first replayed day")
    parser.add_argument("--days", type=int, default=None, help="days to replay (default all)")
    parser.add_argument("--payments", type=int, default=None, help="at most this many")
    parser.add_argument("--rate", type=float, default=0.0, help="payments/s (0: fast as possible)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument(
        "--child", action="store_true", help="run as `clearline demo`'s child (options on stdin)"
    )
    parser.add_argument("--clock-file", type=Path, help="--child: the shared world clock file")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m clearline.demo.traffic`: set up and replay a world on a running server."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.child:
        if args.clock_file is None:
            parser.error("--child needs --clock-file")
        return child_main(args.clock_file)
    if args.url is None or args.key is None or args.world is None:
        parser.error("--url, --key and --world are required")
    options = TrafficOptions(
        args.url,
        args.key,
        args.world,
        args.from_day,
        args.days,
        args.payments,
        args.rate,
        args.concurrency,
    )

    def emit(message: dict[str, Any]) -> None:
        shown = {k: v for k, v in message.items() if k != "mapping"}
        print(encode(shown), end="", flush=True)

    final = run_on_fast_loop(run_traffic(options, emit))
    return 0 if final["errors"] == 0 else 1
