"""What the demo and its traffic process say to each other, over the child's stdin and stdout.

The demo starts the traffic as `python -m clearline.demo.traffic --child --clock-file PATH`
(`clearline.demo.traffic.process`), so the child's `__main__` is this package and nothing of the
user's program is imported again. Then:

- parent → child, one line each on stdin: first the options as one JSON object
  (`TrafficOptions.to_json`; the API key travels here, not on the command line where other users
  could read it), later `go` (the model is installed: start the replay) and `stop`. End of input
  means the parent is gone or done: the child stops as for `stop`, and exits by itself after
  `ORPHAN_EXIT_S` whatever it was doing.
- child → parent, on stdout: one JSON object per line with an `event`: `plan`,
  `setup_progress`, `setup` (with the world → platform account `mapping`), `progress`, then
  `done` (the final tally) or `error` (`message`). Nothing else is written there: the child
  points its own stdout at stderr before it starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

GO = "go"
STOP = "stop"
ORPHAN_EXIT_S = 20.0
"""How long a child whose stdin closed may take to stop before it exits regardless."""

Report = Callable[[dict[str, Any]], None]
"""Where the traffic sends its messages (a line on stdout, or a test's list)."""


@dataclass(frozen=True, slots=True)
class TrafficOptions:
    """url, key: the server and an operator (or admin) key. world_dir, from_day: the world and its
    first replayed day (earlier days are history). replay_days, payments: optional bounds.
    rate: payments per second (0: as fast as possible). concurrency: requests in flight."""

    url: str
    key: str
    world_dir: Path
    from_day: int
    replay_days: int | None = None
    payments: int | None = None
    rate: float = 0.0
    concurrency: int = 32

    def to_json(self) -> str:
        """One line of JSON (no newline inside), as the child reads it first on stdin."""
        return json.dumps({**asdict(self), "world_dir": str(self.world_dir)})

    @classmethod
    def from_json(cls, line: str) -> TrafficOptions:
        fields = json.loads(line)
        if not isinstance(fields, dict):
            raise ValueError("traffic options must be one JSON object")
        return cls(**{**fields, "world_dir": Path(fields["world_dir"])})


def encode(message: dict[str, Any]) -> str:
    """A message as one line of JSON, newline included."""
    return json.dumps(message) + "\n"


def decode(line: str) -> dict[str, Any]:
    """A message from one line; a line that is not a JSON object is an `error` message."""
    try:
        message = json.loads(line)
    except ValueError:
        return {"event": "error", "message": f"unreadable line from traffic: {line[:200]!r}"}
    if not isinstance(message, dict):
        return {"event": "error", "message": f"unexpected message from traffic: {line[:200]!r}"}
    return message
