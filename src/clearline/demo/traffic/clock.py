"""The world's clock, shared between the traffic process and the platform through one small file.

The platform in `clearline demo` runs on the world's time: its clock reads the timestamp of the
payment the traffic process most recently sent. The two are separate processes (the traffic is
started as `python -m clearline.demo.traffic`, so nothing of the user's program is re-imported),
and they share that one number as an 8-byte file in the run directory, memory-mapped by both.

Guarantees:
- The file holds one signed 64-bit integer in native byte order: nanoseconds since the Unix
  epoch (UTC), as `Clock.now_ns` returns them. It is created with the start time before the
  platform opens, so the clock is never read before it has a value.
- The value only moves forward: `advance` ignores an earlier timestamp (payments in flight may be
  sent slightly out of order).
- Reads and writes are single aligned 8-byte accesses (a `memoryview` of format `q` over the
  page-aligned mapping), which x86-64 and AArch64 perform atomically: a reader never sees half
  of an update. One process writes (the traffic), any number read.
- `SharedClock` satisfies `clearline.core.clock.Clock`.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

CLOCK_FORMAT = "=q"
CLOCK_BYTES = struct.calcsize(CLOCK_FORMAT)


class SharedClock:
    """A `Clock` whose time lives in a memory-mapped file; `advance` moves it forward."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with self.path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), CLOCK_BYTES)
        self._value = memoryview(self._map).cast("q")

    @classmethod
    def create(cls, path: Path, start_ns: int) -> SharedClock:
        """A new clock file at `path` holding `start_ns` (an existing file is replaced)."""
        target = Path(path)
        target.write_bytes(struct.pack(CLOCK_FORMAT, start_ns))
        return cls(target)

    def now_ns(self) -> int:
        return int(self._value[0])

    def advance(self, timestamp_ns: int) -> None:
        """Move to `timestamp_ns` if that is later than now (the writer's side)."""
        if timestamp_ns > self._value[0]:
            self._value[0] = timestamp_ns

    def close(self) -> None:
        self._value.release()
        self._map.close()
