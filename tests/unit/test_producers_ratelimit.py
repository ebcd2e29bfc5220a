"""Token buckets per department, with a hand-stepped clock."""

from __future__ import annotations

import pytest

from producers.errors import BatchTooLarge
from producers.ratelimit import RateLimit, TokenBucketLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock) -> TokenBucketLimiter:
    return TokenBucketLimiter({"sw": RateLimit(per_second=10, burst=20)}, clock=clock)


def test_a_full_bucket_allows_a_burst_then_asks_to_wait() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    assert limits.allow("sw", 20) == 0.0
    assert limits.allow("sw") == pytest.approx(0.1)
    assert limits.allow("sw", 5) == pytest.approx(0.5)


def test_tokens_come_back_with_time_up_to_the_burst() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    limits.allow("sw", 20)
    clock.now += 0.5
    assert limits.allow("sw", 5) == 0.0
    assert limits.allow("sw", 1) == pytest.approx(0.1)
    clock.now += 3600
    assert limits.allow("sw", 20) == 0.0
    assert limits.allow("sw", 1) > 0


def test_a_refused_request_takes_nothing() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    limits.allow("sw", 15)
    assert limits.allow("sw", 10) == pytest.approx(0.5)
    assert limits.allow("sw", 5) == 0.0


def test_departments_have_their_own_buckets_and_unlimited_ones_pass() -> None:
    clock = FakeClock()
    limits = TokenBucketLimiter({"sw": RateLimit(10, 20)}, default=RateLimit(1, 2), clock=clock)
    limits.allow("sw", 20)
    assert limits.allow("fy", 2) == 0.0
    assert limits.allow("fy") == pytest.approx(1.0)
    assert TokenBucketLimiter({}, clock=clock).allow("anyone", 10**6) == 0.0


def test_a_batch_larger_than_the_burst_can_never_pass() -> None:
    with pytest.raises(BatchTooLarge, match="at most 20 at once"):
        limiter(FakeClock()).allow("sw", 21)
    with pytest.raises(ValueError, match="at least 1"):
        limiter(FakeClock()).allow("sw", 0)


def test_a_clock_stepping_back_mints_no_tokens() -> None:
    clock = FakeClock()
    limits = limiter(clock)
    limits.allow("sw", 20)
    clock.now -= 100
    assert limits.allow("sw") == pytest.approx(0.1)
