"""Token buckets per key: burst, refill, Retry-After, isolation between keys, the bound."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline.access import RateLimit, RateLimited, RateLimiter
from clearline.core.errors import InvalidInput


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **options: int) -> RateLimiter:
    limits = {"customer": RateLimit(2.0, 3), "auditor": None}
    return RateLimiter(limits, now=clock, **options)


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limits = limiter(clock)
    for _ in range(3):
        limits.take("k1", "customer")
    with pytest.raises(RateLimited) as refused:
        limits.take("k1", "customer")
    assert refused.value.retry_after_s == pytest.approx(0.5)
    assert refused.value.code == "rate_limited" and "retry after 1 s" in str(refused.value)
    clock.now += 0.5  # one token back at 2 per second
    limits.take("k1", "customer")
    with pytest.raises(RateLimited):
        limits.take("k1", "customer")
    assert limits.refused == 2


def test_a_refused_request_takes_no_token() -> None:
    clock = Clock()
    limits = limiter(clock)
    for _ in range(3):
        limits.take("k1", "customer")
    for _ in range(50):  # hammering while empty does not push the wait further out
        with pytest.raises(RateLimited):
            limits.take("k1", "customer")
    clock.now += 0.5
    limits.take("k1", "customer")


def test_keys_do_not_share_a_bucket() -> None:
    clock = Clock()
    limits = limiter(clock)
    for _ in range(3):
        limits.take("flood", "customer")
    for _ in range(100):
        with pytest.raises(RateLimited):
            limits.take("flood", "customer")
    for _ in range(3):
        limits.take("quiet", "customer")  # a full bucket of its own


def test_an_unlimited_role_and_an_unknown_role_are_not_limited() -> None:
    limits = limiter(Clock())
    for _ in range(1000):
        limits.take("audit", "auditor")
        limits.take("other", "no-such-role")
    assert limits.buckets == 0


def test_buckets_are_bounded_least_recently_used_first() -> None:
    clock = Clock()
    limits = limiter(clock, buckets_max=10)
    for _ in range(3):
        limits.take("old", "customer")
    for index in range(10):
        limits.take(f"k{index}", "customer")
    assert limits.buckets == 10
    limits.take("old", "customer")  # dropped, so it starts again with a full bucket


def test_limits_are_validated() -> None:
    for rate, burst in ((0, 1), (-1, 1), (float("inf"), 1), (float("nan"), 1), (1, 0)):
        with pytest.raises(InvalidInput):
            RateLimit(rate, burst)


@given(
    st.lists(st.floats(min_value=0, max_value=2, allow_nan=False), min_size=1, max_size=200),
    st.floats(min_value=0.1, max_value=100),
    st.integers(min_value=1, max_value=50),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    gaps: list[float], rate: float, burst: int
) -> None:
    clock = Clock()
    limits = RateLimiter({"customer": RateLimit(rate, burst)}, now=clock)
    start, granted = clock.now, 0
    for gap in gaps:
        clock.now += gap
        try:
            limits.take("k", "customer")
            granted += 1
        except RateLimited as refused:
            assert refused.retry_after_s > 0
    assert granted <= burst + rate * (clock.now - start) + 1e-6
