"""Token buckets: bursts, refill, and the wait they report (time is passed in)."""

from __future__ import annotations

import pytest

from line311.crm_bridge.auth import Principal, RateLimiter, TokenBucket
from line311.db.api_keys import Scope


def test_given_a_full_bucket_when_the_burst_is_spent_then_the_next_request_waits() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)


def test_given_an_empty_bucket_when_time_passes_then_it_refills_up_to_capacity() -> None:
    bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) > 0
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) > 0


def test_given_two_keys_when_one_is_limited_then_the_other_is_not() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    a = Principal("1", "a", Scope.OPEN311_CLIENT, 1.0, 1)
    b = Principal("2", "b", Scope.OPEN311_CLIENT, 1.0, 1)
    assert limiter.check(a) == 0.0
    assert limiter.check(a) > 0
    assert limiter.check(b) == 0.0
    now[0] = 1.0
    assert limiter.check(a) == 0.0
