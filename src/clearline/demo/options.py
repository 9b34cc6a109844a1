"""What a live demo run is asked to do (`LiveDemoOptions`) and what it leaves (`LiveDemoResult`).

Guarantees:
- The model never learns from the days it is shown: the separate training world has seed 1, or 2
  when the demo world itself has seed 1 (`training_world_seed`).
- There is always at least one history day and one replayed day (`history`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRAINING_SEED = 1


@dataclass(frozen=True, slots=True)
class LiveDemoOptions:
    """people, days, seed: the world. history_days: the days before the replay (default: the
    first two thirds); they warm the feature state, and the rest is replayed, at most
    `replay_days` of it and at most `payments` payments. training_people, training_days: the
    separate simulated world the model learns from (`training_world_seed`; trained once through
    `clearline.risk.pipeline.train_world`, the protocol of docs/risk.md, and cached under
    DATA/demo/); training_days 0 trains on the history days of the demo's own world instead.
    rate: payments per second (0: as fast as the server answers). concurrency: requests in flight.
    host, port: where the API listens (port 0: a free port). plot: write demo.png of the replay.
    exit_after_replay: stop the server once the replay is done (tests, benchmarks); otherwise the
    API and its docs stay up until Ctrl-C, so there is time to look."""

    people: int = 2_000
    days: int = 30
    seed: int = 7
    training_people: int = 5_000
    training_days: int = 180
    history_days: int | None = None
    replay_days: int | None = None
    payments: int | None = None
    rate: float = 0.0
    concurrency: int = 32
    host: str = "127.0.0.1"
    port: int = 0
    plot: bool = True
    exit_after_replay: bool = False

    def training_world_seed(self) -> int:
        """Seed 1, as in docs/risk.md, unless the demo world itself has seed 1: then 2, so the
        model never learns from the days it is shown."""
        return 2 if self.seed == TRAINING_SEED else TRAINING_SEED

    def history(self) -> int:
        """The history days actually used: at least 1, and at least one day left to replay."""
        chosen = self.history_days if self.history_days is not None else (self.days * 2) // 3
        return min(max(chosen, 1), self.days - 1)


@dataclass(slots=True)
class LiveDemoResult:
    """What a run left: its platform directory and URL, the setup and final tally the traffic
    reported, the model that decided, the plot and the last checkpoint read. interrupted: Ctrl-C
    (or SIGTERM) stopped the run before the replay was done; a stop while serving after the
    replay leaves it False."""

    run_dir: Path
    url: str
    final: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    setup: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""
    plot: Path | None = None
    checkpoint: dict[str, Any] = field(default_factory=dict)
