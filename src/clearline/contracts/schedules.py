"""Standing orders: when a schedule's occurrences fall, and what happens to those it missed.

A schedule is a cron expression (five fields, Debian cron's semantics including `L`, `#`, `W`
and its daylight-saving rules, via `cronsim`, the cron engine of Healthchecks.io) in an IANA
time zone, or a fixed interval in seconds from the start; bounded by an optional end time and
an optional count. A contract's series is the schedule's occurrences at or after both the start
and the contract's creation; occurrence 0 is the first of them, and `count` counts from it.

Missed occurrences: an occurrence is *late* when it is handled more than `grace_s` after its time
(the platform was down, or the sweep could not keep up). What happens to late occurrences is the
schedule's `missed` policy, as in Quartz's misfire instructions:
- `run_all`: every late occurrence runs, oldest first (a rent that was due is still due);
- `run_latest`: only the most recent one runs, the earlier ones are recorded skipped (a sensor
  reading, a sweep of a balance: only the latest matters);
- `skip`: late occurrences are recorded skipped; the series goes on with the next one.
An occurrence that is not late always runs. Skipped occurrences count toward `count`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from clearline.core.errors import InvalidInput

NS: Final = 1_000_000_000
POLICIES: Final = ("run_all", "run_latest", "skip")
GRACE_S_DEFAULT: Final = 300
EVERY_S_MAX: Final = 10 * 366 * 86_400
COUNT_MAX: Final = 1_000_000
CRON_LENGTH_MAX: Final = 128
SCAN_MAX: Final = 10_000


class InvalidSchedule(InvalidInput):
    code = "invalid_schedule"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A validated schedule (see the module)."""

    cron: str | None
    every_s: int | None
    start_ns: int
    end_ns: int | None
    count: int | None
    timezone: str
    missed: str
    grace_s: int

    @classmethod
    def from_terms(cls, terms: Mapping[str, Any], now_ns: int) -> Schedule:
        """Check a schedule given as terms: `cron` or `every_s`, `start_ns` (default: now),
        `end_ns`, `count`, `timezone` (IANA, default UTC; cron only), `missed`, `grace_s`."""
        cron, every = terms.get("cron"), terms.get("every_s")
        if (cron is None) == (every is None):
            raise InvalidSchedule("give a schedule as `cron` or as `every_s`, one of the two")
        zone = terms.get("timezone") or "UTC"
        if not isinstance(zone, str):
            raise InvalidSchedule("timezone: an IANA zone name such as Asia/Shanghai")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidSchedule(
                f"timezone {zone!r} is not an IANA zone name (such as Asia/Shanghai)"
            ) from None
        if cron is not None:
            if not isinstance(cron, str) or not 0 < len(cron) <= CRON_LENGTH_MAX:
                raise InvalidSchedule(f"cron: a cron expression, 1..{CRON_LENGTH_MAX} characters")
            try:
                CronSim(cron, datetime.now(UTC))
            except CronSimError as error:
                raise InvalidSchedule(
                    f"cron {cron!r}: {error} (five fields: minute hour day month weekday)"
                ) from None
        elif type(every) is not int or not 0 < every <= EVERY_S_MAX:
            raise InvalidSchedule(f"every_s: a whole number of seconds in 1..{EVERY_S_MAX}")
        elif zone != "UTC":
            raise InvalidSchedule("timezone applies to a cron schedule; an interval is in seconds")
        start = terms.get("start_ns", now_ns)
        end = terms.get("end_ns")
        count = terms.get("count")
        if type(start) is not int or start < 0:
            raise InvalidSchedule("start: a time")
        if end is not None and (type(end) is not int or end <= start):
            raise InvalidSchedule("end must be after the start")
        if count is not None and (type(count) is not int or not 0 < count <= COUNT_MAX):
            raise InvalidSchedule(f"count: a whole number of occurrences in 1..{COUNT_MAX}")
        missed = terms.get("missed", "run_all")
        if missed not in POLICIES:
            raise InvalidSchedule(f"missed: one of {', '.join(POLICIES)}")
        grace = terms.get("grace_s", GRACE_S_DEFAULT)
        if type(grace) is not int or not 0 <= grace <= EVERY_S_MAX:
            raise InvalidSchedule(f"grace_s: a whole number of seconds in 0..{EVERY_S_MAX}")
        return cls(cron, every, start, end, count, zone, missed, grace)

    def terms(self) -> dict[str, Any]:
        return {
            "cron": self.cron,
            "every_s": self.every_s,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "count": self.count,
            "timezone": self.timezone,
            "missed": self.missed,
            "grace_s": self.grace_s,
        }

    # -- the series ---------------------------------------------------------------------------

    def first_from(self, at_ns: int) -> tuple[int, int] | None:
        """The series' first occurrence at or after `at_ns` (and the start), as occurrence 0:
        `count` counts from it. None: the series has none (it ends before)."""
        at_ns = max(at_ns, self.start_ns)
        if self.every_s is not None:
            step = self.every_s * NS
            return self._bounded(0, self.start_ns + -(-(at_ns - self.start_ns) // step) * step)
        found = next(self._cron_after(at_ns - 1), None)
        return None if found is None else self._bounded(0, found)

    def next_after(self, index: int, when_ns: int) -> tuple[int, int] | None:
        """The occurrence after occurrence `index` at `when_ns` (None: the series has ended)."""
        if self.every_s is not None:
            return self._bounded(index + 1, when_ns + self.every_s * NS)
        found = next(self._cron_after(when_ns), None)
        return None if found is None else self._bounded(index + 1, found)

    def due(self, index: int, when_ns: int, now_ns: int, most: int) -> list[tuple[int, int]]:
        """Occurrences from (`index`, `when_ns`) that are due by `now_ns`, at most `most`."""
        found: list[tuple[int, int]] = []
        current: tuple[int, int] | None = (index, when_ns)
        while current is not None and current[1] <= now_ns and len(found) < most:
            found.append(current)
            current = self.next_after(*current)
        return found

    def skip_until(
        self, index: int, when_ns: int, until_ns: int
    ) -> tuple[tuple[int, int] | None, int, tuple[int, int]]:
        """Pass the occurrences from (`index`, `when_ns`) that fall before `until_ns` (at least
        that one): the first occurrence after them (None: the series ended), how many were
        passed, and the last passed. A cron series is walked at most `SCAN_MAX` occurrences
        at a time (the caller goes on from where it stopped)."""
        last = (index, when_ns)
        if self.every_s is not None:
            step = self.every_s * NS
            passed = max(1, -(-(until_ns - when_ns) // step))
            if self.count is not None:
                passed = min(passed, self.count - index)
            last = (index + passed - 1, when_ns + (passed - 1) * step)
            return self.next_after(*last), passed, last
        passed = 1
        following = self.next_after(*last)
        while following is not None and following[1] < until_ns and passed < SCAN_MAX:
            last, passed = following, passed + 1
            following = self.next_after(*last)
        return following, passed, last

    def late(self, when_ns: int, now_ns: int) -> bool:
        return now_ns - when_ns > self.grace_s * NS

    def _bounded(self, index: int, when_ns: int) -> tuple[int, int] | None:
        if self.count is not None and index >= self.count:
            return None
        if self.end_ns is not None and when_ns > self.end_ns:
            return None
        return index, when_ns

    def _cron_after(self, after_ns: int) -> Iterator[int]:
        assert self.cron is not None
        zone = ZoneInfo(self.timezone)
        start = datetime.fromtimestamp(after_ns // NS, zone) + timedelta(
            microseconds=(after_ns % NS) // 1000
        )
        for moment in CronSim(self.cron, start):
            when = int(moment.timestamp()) * NS
            if self.end_ns is not None and when > self.end_ns:
                return
            yield when


def occurrence_name(when_ns: int) -> str:
    """The step name of an occurrence: its time in UTC, to the second."""
    moment = datetime.fromtimestamp(when_ns // NS, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = when_ns % NS
    return f"{text}.{fraction:09d}Z" if fraction else f"{text}Z"
