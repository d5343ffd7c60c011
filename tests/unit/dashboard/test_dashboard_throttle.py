"""The sign-in throttle (pure, fake clock)."""

from __future__ import annotations

from line311.dashboard.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_attempts_count_when_they_start_so_parallel_ones_cannot_outrun_the_limit() -> None:
    throttle = LoginThrottle(Clock(), per_name=5, per_client=100)
    started = [throttle.begin("sam", "c1") for _ in range(60)]  # none has finished yet
    assert sum(a is not None for a in started) == 5


def test_a_successful_attempt_gives_its_slot_back() -> None:
    throttle = LoginThrottle(Clock(), per_name=2, per_client=100)
    for _ in range(10):
        attempt = throttle.begin("sam", "c1")
        assert attempt is not None
        throttle.succeeded(attempt)


def test_a_client_trying_many_names_is_locked_and_freed_when_the_window_passes() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock, per_name=5, per_client=3, window=60)
    assert all(throttle.begin(f"u{i}", "c1") for i in range(3))
    assert throttle.begin("u9", "c1") is None
    assert throttle.begin("u9", "c2") is not None  # another client is not affected
    clock.now += 60
    assert throttle.begin("u9", "c1") is not None


def test_the_tables_stay_bounded() -> None:
    throttle = LoginThrottle(Clock(), per_name=5, per_client=10**9, max_keys=100)
    for i in range(1000):
        throttle.begin(f"user{i}", f"client{i}")
    assert len(throttle._names) <= 100
    assert len(throttle._clients) <= 100
