"""The traffic process as the demo sees it: started, told `go`, read, stopped, joined.

Guarantees:
- The child is `python -m clearline.demo.traffic --child` with the parent's interpreter and the
  parent's copy of `clearline` first on its path: it imports this package as its `__main__`,
  never the user's program (unlike multiprocessing's `spawn`, which re-imports `__main__`).
- It runs in its own process group, so a Ctrl-C at the terminal reaches only the demo, which
  then stops the traffic first, the server next and the ledger last.
- It cannot outlive the demo: its stdin is a pipe from this process, and end of input stops it
  (`clearline.demo.traffic.protocol`).
- `finish` always ends the child within about `STOP_WAIT_S` + `KILL_WAIT_S`, politely first.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clearline
from clearline.demo.traffic.protocol import GO, STOP, TrafficOptions, decode

STOP_WAIT_S = 20.0
KILL_WAIT_S = 5.0


def _child_environment() -> dict[str, str]:
    """The parent's environment with the parent's `clearline` first on PYTHONPATH."""
    source = str(Path(clearline.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": source if not path else f"{source}{os.pathsep}{path}"}


class TrafficProcess:
    """One traffic child; messages arrive on a queue filled by a reader thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="traffic-reader", daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, options: TrafficOptions, clock_file: Path) -> TrafficProcess:
        """Start the child and hand it its options (the first line on its stdin)."""
        command = [sys.executable, "-m", "clearline.demo.traffic", "--child"]
        process = subprocess.Popen(
            [*command, "--clock-file", str(clock_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=_child_environment(),
            process_group=0,
        )
        traffic = cls(process)
        traffic._send(options.to_json())
        return traffic

    def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        for line in stdout:
            self._messages.put(decode(line))

    def _send(self, line: str) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        with contextlib.suppress(OSError, ValueError):  # the child is gone: `alive` will say so
            stdin.write(line + "\n")
            stdin.flush()

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    @property
    def ended(self) -> bool:
        """The child has exited and every message it sent has been taken."""
        return not self.alive and not self._reader.is_alive() and self._messages.empty()

    @property
    def exit_code(self) -> int | None:
        return self._process.poll()

    def messages(self, timeout_s: float) -> Iterator[dict[str, Any]]:
        """Wait up to `timeout_s` for the first message, then take all that are there."""
        try:
            yield self._messages.get(timeout=timeout_s)
            while True:
                yield self._messages.get_nowait()
        except queue.Empty:
            return

    def go(self) -> None:
        """Start the replay (the child waits for this after the setup)."""
        self._send(GO)

    def finish(self) -> dict[str, Any] | None:
        """Stop the child and wait for it to exit (by force after `STOP_WAIT_S`); its final
        `done` message if one arrived here."""
        self._send(STOP)
        final = None
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline and (
            self._reader.is_alive() or not self._messages.empty()
        ):
            for message in self.messages(0.1):
                if message.get("event") == "done":
                    final = message
        stdin = self._process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        if self.alive:
            self._process.terminate()
        try:
            self._process.wait(timeout=KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=KILL_WAIT_S)
        if self._process.stdout is not None and not self._reader.is_alive():
            self._process.stdout.close()
        return final
