"""Rolling windows: the payments of one account in one direction (or of one device) over the
last hour, day and week, read in O(1) amortised per event.

Guarantees:
- Exact. Counts and sums are of the entries strictly inside each window at the time read (an
  entry exactly one window old has left it); sums are exact integers in the entries' own units.
- Bounded. A window holds at most MAX_WINDOW_EVENTS entries (the newest: counts saturate there);
  expired entries are dropped in bulk once COMPACT_AT of them have piled up.
- Forward only. Times must arrive in non-decreasing order (`FeatureState.observe` refuses
  others), so a window start only moves forward; `_first_after` is tested equal to bisection.
- A `Flow` pickles as a plain dict of its slots (`state_of`), the same whether this module runs
  as Python or compiled (`clearline.native`), so a snapshot moves between the two.
"""

from __future__ import annotations

from typing import Final

from clearline.risk.feature_catalogue import DAY_NS, HOUR_NS, WEEK_NS

MAX_WINDOW_EVENTS: Final = 512
"""Events kept per account, per direction, per window; counts saturate here."""
COMPACT_AT: Final = 256
"""Expired entries a window list may keep before it is compacted (bounds memory)."""

FLOW_FIELDS: Final = (
    "cumulative",
    "fan_day",
    "fan_week",
    "parties",
    "start_day",
    "start_hour",
    "start_week",
    "times",
)
"""The slots of `Flow`: what its pickled state holds."""


FlowCounts = tuple[int, int, int, int, int, int, int, int]
"""What `Flow.read` returns (a fixed-length tuple: compiled, it is a C struct, not an object)."""


class Flow:
    """Payments of one account in one direction (or of one device) over the last 7 days.

    Entries are kept in arrival order in plain lists with a prefix sum of the amounts; the first
    entry inside each window (1 h, 24 h, 7 d) is kept as an index that only moves forward, so
    reading a count or a sum is O(1) amortised. Distinct parties are counted incrementally for
    24 h and 7 d. A window holds at most MAX_WINDOW_EVENTS entries (the newest); expired entries
    are dropped in bulk once COMPACT_AT of them have piled up, so memory stays bounded.
    """

    __slots__ = FLOW_FIELDS

    def __init__(self) -> None:
        self.times: list[int] = []
        self.cumulative: list[int] = [0]
        """cumulative[i]: sum of the amounts of the entries before entry i."""
        self.parties: list[int] = []
        self.start_hour = 0
        self.start_day = 0
        self.start_week = 0
        self.fan_day: dict[int, int] = {}
        self.fan_week: dict[int, int] = {}

    def expire(self, now_ns: int) -> None:
        """Move the 24 h and 7 d starts past what left the windows (idempotent for one time)."""
        times, size = self.times, len(self.times)
        floor = size - MAX_WINDOW_EVENTS
        week = _first_after(times, now_ns - WEEK_NS, self.start_week, floor)
        if week > self.start_week:
            _forget(self.fan_week, self.parties, self.start_week, week)
            self.start_week = week
        day = _first_after(times, now_ns - DAY_NS, self.start_day, week)
        if day > self.start_day:
            _forget(self.fan_day, self.parties, self.start_day, day)
            self.start_day = day
        self.start_hour = _first_after(times, now_ns - HOUR_NS, self.start_hour, day)
        if week >= COMPACT_AT:
            del times[:week], self.parties[:week], self.cumulative[:week]
            self.start_hour -= week
            self.start_day -= week
            self.start_week = 0

    def read(self, now_ns: int) -> FlowCounts:
        """Expire, then (count 1h, 24h, 7d, sum 1h, 24h, 7d, distinct parties 24h, 7d)."""
        self.expire(now_ns)
        size, cumulative = len(self.times), self.cumulative
        hour, day, week = self.start_hour, self.start_day, self.start_week
        total = cumulative[size]
        return (
            size - hour,
            size - day,
            size - week,
            total - cumulative[hour],
            total - cumulative[day],
            total - cumulative[week],
            len(self.fan_day),
            len(self.fan_week),
        )

    def __getstate__(self) -> dict[str, object]:
        return state_of(self, FLOW_FIELDS)

    def __setstate__(self, state: dict[str, object]) -> None:
        set_state(self, state)

    def add(self, now_ns: int, amount: int, party: int) -> None:
        self.times.append(now_ns)
        self.parties.append(party)
        self.cumulative.append(self.cumulative[-1] + amount)
        self.fan_day[party] = self.fan_day.get(party, 0) + 1
        self.fan_week[party] = self.fan_week.get(party, 0) + 1


def state_of(value: object, names: tuple[str, ...]) -> dict[str, object]:
    """Pickle state as a plain dict of the slots, the same whether this module runs as Python
    or compiled (`clearline.native`), so a snapshot written by one loads in the other."""
    return {name: getattr(value, name) for name in names}


def set_state(value: object, state: dict[str, object]) -> None:
    for name, item in state.items():
        setattr(value, name, item)


def _first_after(times: list[int], edge_ns: int, start: int, lowest: int) -> int:
    """The first index at or after max(start, lowest) whose time is after `edge_ns`.

    Equal to `max(bisect_right(times, edge_ns, start), lowest)` on sorted `times` (tested), but
    a window start only moves forward (events arrive in time order), so scanning on from the
    last start costs O(1) amortised: usually one comparison, no call."""
    index, size = (start if start > lowest else lowest), len(times)
    while index < size and times[index] <= edge_ns:
        index += 1
    return index


def _forget(counts: dict[int, int], parties: list[int], start: int, stop: int) -> None:
    for party in parties[start:stop]:
        left = counts[party] - 1
        if left:
            counts[party] = left
        else:
            del counts[party]
