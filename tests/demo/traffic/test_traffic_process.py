"""The traffic child process: started as `python -m clearline.demo.traffic --child`, it reports
over its stdout pipe, waits for `go`, and stops when its stdin closes (the parent is gone), even
in the middle of waiting; bad options are an `error` message, not a hang."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from clearline.demo.options import LiveDemoOptions
from clearline.demo.platform import open_platform
from clearline.demo.server import ServerThread
from clearline.demo.traffic.clock import SharedClock
from clearline.demo.traffic.plan import DAY_NS, world_start_ns
from clearline.demo.traffic.protocol import ORPHAN_EXIT_S, TrafficOptions, decode
from clearline.demo.world import ensure_world


def test_bad_options_are_reported_and_the_child_exits(tmp_path: Path) -> None:
    clock = SharedClock.create(tmp_path / "clock", 0)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "clearline.demo.traffic",
            "--child",
            "--clock-file",
            str(clock.path),
        ],
        input="not json\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert '"event": "error"' in done.stdout and "bad traffic options" in done.stdout


def test_the_child_stops_when_its_stdin_closes_while_it_waits_for_go(
    tmp_path: Path, demo_cache: Path
) -> None:
    world = ensure_world(
        demo_cache, LiveDemoOptions(people=300, days=9), Console(file=io.StringIO())
    )
    history_days = 6
    start_ns = world_start_ns(world) + history_days * DAY_NS
    clock = SharedClock.create(tmp_path / "clock", start_ns)
    platform = open_platform(tmp_path / "run", clock, world)
    server = ServerThread(platform.app, "127.0.0.1", 0)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        options = TrafficOptions(url, platform.traffic_key, world, history_days, payments=20)
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clearline.demo.traffic",
                "--child",
                "--clock-file",
                str(clock.path),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(options.to_json() + "\n")
        child.stdin.flush()
        events = []
        for line in child.stdout:  # bounded: the child sends `setup` or fails, then waits
            events.append(decode(line)["event"])
            assert events[-1] != "error", line
            if events[-1] == "setup":
                break
        child.stdin.close()  # as when the parent dies: no `go`, no `stop`
        assert child.wait(timeout=ORPHAN_EXIT_S + 10) == 0
        rest = [decode(line)["event"] for line in child.stdout]
        assert events[0] == "plan" and rest == ["done"]  # stopped before sending any payment
        assert clock.now_ns() == start_ns  # it never replayed: the world clock did not move
    finally:
        server.stop()
        platform.close()
        clock.close()
