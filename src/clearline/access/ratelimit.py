"""Rate limits per API key: a token bucket for every key, its size and rate set by the key's role.

Guarantees:
- A key may send `burst` requests at once and `requests_per_s` on average after that; a request
  over it is refused before any work is done (the API answers 429 with `Retry-After`), and a
  refused request takes no token, so a client that waits as told gets through.
- Keys never share a bucket: one key's flood empties only its own, so it cannot slow another key
  down beyond the CPU its refusals cost (measured in `bench.ratelimit`).
- Bounded: at most `BUCKETS_MAX` buckets, least recently used dropped first (a dropped key starts
  again with a full bucket). Time is monotonic and injectable; nothing is stored.
- A role without a limit (`None`) is not limited; every role has a default (`DEFAULT_LIMITS`)
  that `platform.toml` may change.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from clearline.core.errors import ClearlineError, InvalidInput

BUCKETS_MAX = 100_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`requests_per_s` on average, `burst` at once."""

    requests_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.requests_per_s > 0 and math.isfinite(self.requests_per_s)):
            raise InvalidInput("requests_per_s must be a positive number", code="invalid_limit")
        if self.burst < 1:
            raise InvalidInput("burst must be at least 1", code="invalid_limit")


DEFAULT_LIMITS: dict[str, RateLimit | None] = {
    "admin": RateLimit(5_000, 10_000),
    "operator": RateLimit(5_000, 10_000),
    "analyst": RateLimit(100, 200),
    "auditor": RateLimit(100, 200),
    "customer": RateLimit(20, 40),
}
"""Per role: operators move money in bulk (the demo sends about 1,500 payments/s with one
operator key); a customer's app needs a few requests a second."""


class RateLimited(ClearlineError):
    """The key sent more requests than its role allows; `retry_after_s` says when to retry."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimiter:
    """One token bucket per key id."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit | None] = DEFAULT_LIMITS,
        *,
        now: Callable[[], float] = time.monotonic,
        buckets_max: int = BUCKETS_MAX,
    ) -> None:
        self.limits = dict(limits)
        self._now = now
        self._buckets_max = buckets_max
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key → [tokens, time]
        self.refused = 0

    def take(self, key_id: str, role: str) -> None:
        """Take one token of `key_id`'s bucket; `RateLimited` when it is empty."""
        limit = self.limits.get(role)
        if limit is None:
            return
        now = self._now()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = [float(limit.burst), now]
            if len(self._buckets) > self._buckets_max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key_id)
            bucket[0] = min(
                float(limit.burst), bucket[0] + (now - bucket[1]) * limit.requests_per_s
            )
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return
        self.refused += 1
        wait_s = (1.0 - bucket[0]) / limit.requests_per_s
        raise RateLimited(
            f"this key sent more than its {role} role allows ({limit.requests_per_s:g} "
            f"requests/s, bursts of {limit.burst}): retry after {math.ceil(wait_s)} s",
            retry_after_s=wait_s,
        )

    @property
    def buckets(self) -> int:
        return len(self._buckets)
