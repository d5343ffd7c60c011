"""The sign-in throttle (pure, fake clock)."""

from __future__ import annotations

from line311.dashboard.throttle import Attempt, LoginThrottle, Refusal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_attempts_count_when_they_start_so_parallel_ones_cannot_outrun_the_limit() -> None:
    throttle = LoginThrottle(Clock(), per_pair=5, per_client=100)
    started = [throttle.begin("sam", "c1") for _ in range(60)]  # none has finished yet
    assert sum(isinstance(a, Attempt) for a in started) == 5
    assert started[-1] == Refusal("client", 60.0)


def test_a_successful_attempt_gives_its_slot_back() -> None:
    throttle = LoginThrottle(Clock(), per_pair=2, per_client=100)
    for _ in range(10):
        attempt = throttle.begin("sam", "c1")
        assert isinstance(attempt, Attempt)
        throttle.succeeded(attempt)


def test_a_client_trying_many_names_is_locked_and_freed_when_the_window_passes() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock, per_pair=5, per_client=3, window=60)
    assert all(isinstance(throttle.begin(f"u{i}", "c1"), Attempt) for i in range(3))
    clock.now += 15
    assert throttle.begin("u9", "c1") == Refusal("client", 45.0)
    assert isinstance(throttle.begin("u9", "c2"), Attempt)  # another client is not affected
    clock.now += 45
    assert isinstance(throttle.begin("u9", "c1"), Attempt)


def test_failures_from_one_address_do_not_lock_the_name_for_another_address() -> None:
    """Before, five wrong passwords for a name from anywhere locked that name for a minute:
    anyone who knew a supervisor's user name could keep them out."""
    throttle = LoginThrottle(Clock())
    for _ in range(5):
        assert isinstance(throttle.begin("sam", "attacker"), Attempt)
    assert isinstance(throttle.begin("sam", "attacker"), Refusal)
    assert isinstance(throttle.begin("sam", "sams-desk"), Attempt)


def test_many_addresses_guessing_one_name_are_held_off_but_not_its_owners_known_address() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock, per_pair=5, per_name=12, name_window=900)
    owner = throttle.begin("sam", "sams-desk")
    assert isinstance(owner, Attempt)
    throttle.succeeded(owner)  # sam signed in here before
    clock.now += 60
    for bot in range(4):  # 3 addresses' worth of tries each under their own limits
        for _ in range(3):
            assert isinstance(throttle.begin("sam", f"bot{bot}"), Attempt)
    clock.now += 100
    refused = throttle.begin("sam", "bot9")  # a new address: the name is held off
    assert refused == Refusal("account", 800.0)
    assert isinstance(throttle.begin("sam", "sams-desk"), Attempt)  # its owner still gets in
    assert isinstance(throttle.begin("olga", "bot9"), Attempt)  # other names are not affected
    clock.now += 800
    assert isinstance(throttle.begin("sam", "bot9"), Attempt)


def test_a_known_address_is_forgotten_after_known_seconds() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock, per_name=1, known_seconds=3600)
    attempt = throttle.begin("sam", "sams-desk")
    assert isinstance(attempt, Attempt)
    throttle.succeeded(attempt)
    assert throttle.known("sam", "sams-desk")
    assert not throttle.known("sam", "elsewhere")
    clock.now += 3600
    assert not throttle.known("sam", "sams-desk")


def test_the_tables_stay_bounded() -> None:
    throttle = LoginThrottle(Clock(), per_pair=5, per_client=10**9, max_keys=100)
    for i in range(1000):
        attempt = throttle.begin(f"user{i}", f"client{i}")
        assert isinstance(attempt, Attempt)
        throttle.succeeded(attempt)
        throttle.begin(f"user{i}", f"client{i}")
    assert len(throttle._pairs) <= 100
    assert len(throttle._names) <= 100
    assert len(throttle._clients) <= 100
    assert len(throttle._known) <= 100
