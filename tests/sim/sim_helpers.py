"""Helpers for the simulator tests (imported by name; this directory is on sys.path)."""

from __future__ import annotations

import numpy as np

from clearline.sim.config import FraudConfig, LaunderingConfig, SimConfig, preset
from clearline.sim.engine import SimResult

RICH_FACTOR = 5
"""The `rich` world has five times the default illicit rates, so every shape appears many times."""


def rich_config(seed: int = 5, people: int = 5_000) -> SimConfig:
    fraud = FraudConfig(
        *(RICH_FACTOR * getattr(FraudConfig(), name) for name in FraudConfig.__slots__)
    )
    laundering = LaunderingConfig(illicit_share=RICH_FACTOR / 1_000)
    return preset("hi", people=people, days=30, seed=seed, fraud=fraud, laundering=laundering)


def attempts_of(result: SimResult, code_column: str, code: int):
    """(attempt id, rows of that attempt in output order) for every attempt with `code`."""
    events = result.events
    column = getattr(events, code_column)
    rows = np.flatnonzero(column == code)
    for attempt in np.unique(events.attempt[rows]).tolist():
        yield attempt, rows[events.attempt[rows] == attempt]
