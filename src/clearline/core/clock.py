"""Injected time.

Every room takes a `Clock` instead of reading the wall clock, so tests control time and never sleep.
Times are nanoseconds since the Unix epoch (UTC) as `int`; `datetime` values are always aware, UTC.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol

NANOSECONDS_PER_SECOND = 1_000_000_000


class Clock(Protocol):
    """A source of UTC time in nanoseconds since the epoch."""

    def now_ns(self) -> int: ...


class SystemClock:
    """The real wall clock."""

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that only moves when told to (tests, replays, simulations). Thread-safe."""

    def __init__(self, start_ns: int = 1_767_225_600 * NANOSECONDS_PER_SECOND) -> None:
        self._now_ns = start_ns
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        with self._lock:
            return self._now_ns

    def advance(self, *, seconds: int = 0, nanoseconds: int = 0) -> int:
        """Move forward and return the new time."""
        if seconds < 0 or nanoseconds < 0:
            raise ValueError("a clock never moves backwards")
        with self._lock:
            self._now_ns += seconds * NANOSECONDS_PER_SECOND + nanoseconds
            return self._now_ns

    def set(self, now_ns: int) -> None:
        with self._lock:
            if now_ns < self._now_ns:
                raise ValueError("a clock never moves backwards")
            self._now_ns = now_ns


def to_datetime(timestamp_ns: int) -> datetime:
    """An aware UTC datetime for a nanosecond timestamp (microsecond precision)."""
    return datetime.fromtimestamp(timestamp_ns / NANOSECONDS_PER_SECOND, tz=UTC)
