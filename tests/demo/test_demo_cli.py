"""`clearline demo` as a person runs it, in its own process: with `--exit-after-replay` it ends by
itself; without, the API and /docs stay up after the replay until Ctrl-C; Ctrl-C (SIGINT) during
the replay stops cleanly with a directory that still verifies; and the traffic process never
outlives the demo, even one killed outright."""

from __future__ import annotations

import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

TINY = ("--people", "300", "--days", "9", "--training-people", "300", "--training-days", "12")
"""The sizes `demo_data_dir` has cached (see conftest.py)."""
EXIT_WAIT_S = 90
LINE_WAIT_S = 300
CHILD_EXIT_WAIT_S = 40
CLEARLINE = str(Path(sys.executable).with_name("clearline"))
"""The console script of the environment running the tests."""
READY = re.compile(r"replay done: the API at (\S+) and /docs at (\S+) stay up; admin key (\S+);")


class Demo:
    """`clearline demo` in a subprocess, its output read line by line with deadlines."""

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [CLEARLINE, "--data-dir", str(data_dir), "demo", *TINY, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # wide enough that rich never wraps a line a test waits for
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"},
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str) -> str:
        """The first line containing `text` (failing with the output so far if none comes)."""
        deadline = time.monotonic() + LINE_WAIT_S
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        self.process.kill()
        raise AssertionError(f"the demo never printed {text!r}:\n" + "".join(self.lines))

    def finish(self) -> str:
        """Wait for the exit; all the output."""
        self.process.wait(timeout=EXIT_WAIT_S)
        while (line := self._queue.get(timeout=5.0)) is not None:
            self.lines.append(line)
        return "".join(self.lines)


def _run_dir(data_dir: Path) -> Path:
    (run_dir,) = [path for path in (data_dir / "demo").iterdir() if path.name.startswith("run-")]
    return run_dir


def _audit_accepts(run_dir: Path, export: Path) -> None:
    for args in (
        ["--data-dir", str(run_dir), "audit", "export", str(export)],
        ["audit", "verify", str(export)],
    ):
        done = subprocess.run(
            [CLEARLINE, *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_exit_after_replay_ends_by_itself_with_exit_code_0(demo_data_dir: Path) -> None:
    demo = Demo(demo_data_dir, "--payments", "150", "--exit-after-replay")
    output = demo.finish()
    assert demo.process.returncode == 0, output
    assert "replay finished; server stopped, ledger closed" in output
    assert "payments answered" in output and "150 of 150" in output
    assert "replay done" not in output  # it never waited to be looked at


@pytest.mark.slow  # about 20 s alone, more on a busy machine
def test_the_api_stays_up_after_the_replay_until_ctrl_c(demo_data_dir: Path) -> None:
    demo = Demo(demo_data_dir, "--payments", "150")
    ready = READY.search(demo.wait_for("replay done"))
    assert ready is not None, "".join(demo.lines)
    url, docs, admin_key = ready.groups()
    assert docs == f"{url}/docs"
    with httpx.Client(base_url=url, timeout=30.0) as client:
        customers = client.get("/v1/customers", headers={"Authorization": f"Bearer {admin_key}"})
        assert customers.status_code == 200, customers.text
        assert customers.json()["data"]  # the world's customers, set up through the API
        assert client.get("/docs").status_code == 200
        assert client.get("/v1/customers").status_code == 401  # the key is what let us in
    assert demo.process.poll() is None  # still serving: nothing stopped it
    demo.process.send_signal(signal.SIGINT)
    output = demo.finish()
    assert demo.process.returncode == 0, output
    assert "replay finished, then stopped by Ctrl-C; server stopped, ledger closed" in output
    _audit_accepts(_run_dir(demo_data_dir), demo_data_dir / "export")


@pytest.mark.slow  # about 25 s alone, more on a busy machine
def test_sigint_during_the_replay_stops_cleanly(demo_data_dir: Path) -> None:
    demo = Demo(demo_data_dir, "--rate", "40")
    demo.wait_for("feature state warmed")
    time.sleep(2.0)  # some payments at 40 per second, far from the end of the replay
    demo.process.send_signal(signal.SIGINT)
    output = demo.finish()
    assert demo.process.returncode == 0, output
    assert "stopped by Ctrl-C; server stopped, ledger closed" in output
    assert "replay done" not in output
    run_dir = _run_dir(demo_data_dir)
    with sqlite3.connect(run_dir / "platform.sqlite") as connection:
        (stored,) = connection.execute("SELECT count(*) FROM payments").fetchone()
    assert 0 < stored < 1_000  # stopped part way: the tiny world has more payments than that
    _audit_accepts(run_dir, demo_data_dir / "export")


def _traffic_children(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"clearline.demo.traffic" in command:
            children.append(int(entry.name))
    return children


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie has exited; only its parent's wait is missing


@pytest.mark.slow  # about 20 s alone
def test_the_traffic_process_exits_when_the_demo_is_killed(demo_data_dir: Path) -> None:
    demo = Demo(demo_data_dir, "--rate", "40")
    demo.wait_for("feature state warmed")
    (child,) = _traffic_children(demo.process.pid)
    demo.process.kill()  # no cleanup at all: only the closed pipe tells the child
    demo.finish()
    deadline = time.monotonic() + CHILD_EXIT_WAIT_S
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(child), f"the traffic process {child} outlived the demo"
