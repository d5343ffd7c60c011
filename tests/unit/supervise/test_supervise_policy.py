"""The restart policy of one supervised process: events + now in, start decisions out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from line311.supervise.policy import (
    Backoff,
    Exited,
    PolicyError,
    ProcessPolicy,
    ProcessState,
    Started,
    StartFailed,
    StartProcess,
)


def running(name: str = "controller", now: float = 0.0) -> ProcessPolicy:
    policy = ProcessPolicy(name)
    assert policy.start() == [StartProcess(name)]
    policy.receive(Started(100), now)
    return policy


def test_given_a_running_process_when_it_dies_then_it_is_started_again_after_half_a_second() -> (
    None
):
    policy = running(now=10.0)
    policy.receive(Exited(-9), now=20.0)
    assert policy.state is ProcessState.BACKOFF
    assert policy.next_deadline() == pytest.approx(20.5)
    assert policy.handle_timer(20.4) == []
    assert policy.handle_timer(20.5) == [StartProcess("controller")]
    policy.receive(Started(101), now=20.6)
    assert policy.to_dict() | {"restart_at": None} == {
        "name": "controller",
        "state": "running",
        "pid": 101,
        "started_at": 20.6,
        "restarts": 1,
        "rolled": 0,
        "generation": 2,
        "last_exit": -9,
        "last_error": None,
        "restart_at": None,
    }


def test_given_a_running_process_when_a_rolling_restart_replaces_it_then_it_stays_running_with_the_new_pid_and_one_more_generation() -> (
    None
):
    policy = running(now=10.0)
    policy.replaced(202, now=30.0)
    assert policy.state is ProcessState.RUNNING
    assert (policy.pid, policy.started_at) == (202, 30.0)
    assert (policy.restarts, policy.rolled, policy.generation) == (1, 1, 2)
    assert policy.next_deadline() is None
    # a death of the new one is an ordinary death: backoff from the first failure
    policy.receive(Exited(1), now=31.0)
    assert policy.state is ProcessState.BACKOFF
    assert policy.next_deadline() == pytest.approx(31.5)


@pytest.mark.parametrize("state", ["stopped", "backoff", "stopping"])
def test_given_a_process_not_running_then_a_rolling_restart_is_refused(state: str) -> None:
    policy = ProcessPolicy("controller")
    if state != "stopped":
        policy = running(now=0.0)
        if state == "backoff":
            policy.receive(Exited(1), now=1.0)
        else:
            assert policy.stop()
    with pytest.raises(PolicyError):
        policy.replaced(303, now=2.0)
    assert policy.pid != 303


def test_given_quick_deaths_then_the_delay_doubles_up_to_the_cap() -> None:
    policy = running()
    now, delays = 0.0, []
    for pid in range(10):
        policy.receive(Exited(1), now)
        deadline = policy.next_deadline()
        assert deadline is not None
        delays.append(deadline - now)
        now = deadline
        assert policy.handle_timer(now) == [StartProcess("controller")]
        policy.receive(Started(200 + pid), now)
        now += 1.0
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]


def test_given_a_process_up_for_a_minute_when_it_dies_then_the_delay_starts_again() -> None:
    policy = running()
    for now in (1.0, 2.0, 3.0):
        policy.receive(Exited(1), now)
        policy.handle_timer(now + 100)
        policy.receive(Started(1), now + 100)
    policy.receive(Exited(1), now + 100 + 60)
    assert policy.next_deadline() == pytest.approx(now + 160.5)


def test_given_a_start_that_fails_then_it_backs_off_and_keeps_the_reason() -> None:
    policy = ProcessPolicy("redis")
    policy.start()
    policy.receive(StartFailed("port taken"), 5.0)
    assert policy.state is ProcessState.BACKOFF
    assert policy.last_error == "port taken"
    assert policy.restarts == 0
    assert policy.handle_timer(5.5) == [StartProcess("redis")]


def test_given_a_stop_when_running_then_the_exit_is_not_restarted() -> None:
    policy = running()
    assert policy.stop() is True
    policy.receive(Exited(0), 3.0)
    assert policy.state is ProcessState.STOPPED
    assert policy.next_deadline() is None
    assert policy.handle_timer(1e9) == []


def test_given_a_stop_in_backoff_then_nothing_is_signalled_and_nothing_starts() -> None:
    policy = running()
    policy.receive(Exited(1), 1.0)
    assert policy.stop() is False
    assert policy.state is ProcessState.STOPPED
    assert policy.handle_timer(1e9) == []


def test_given_events_out_of_order_then_the_policy_refuses_them() -> None:
    policy = ProcessPolicy("x")
    with pytest.raises(PolicyError):
        policy.receive(Exited(0), 0.0)
    with pytest.raises(PolicyError):
        policy.receive(Started(1), 0.0)
    running_policy = running()
    with pytest.raises(PolicyError):
        running_policy.start()


@given(st.integers(min_value=1, max_value=10_000))
def test_every_delay_lies_between_initial_and_maximum(failures: int) -> None:
    backoff = Backoff()
    assert backoff.initial <= backoff.delay(failures) <= backoff.maximum


steps = st.lists(
    st.tuples(
        st.sampled_from(["exit", "fail", "timer", "stop", "start"]),
        st.floats(min_value=0.0, max_value=120.0, allow_nan=False),
    ),
    max_size=60,
)


@given(steps)
def test_any_history_keeps_the_policy_consistent(history: list[tuple[str, float]]) -> None:
    """Whatever happens: one start per death, never a start after stop, delays within bounds,
    restarts counts the starts after the first, and quick deaths never shorten the delay."""
    backoff = Backoff()
    policy = ProcessPolicy("p", backoff)
    policy.start()
    now, starts, pid = 0.0, 1, 0
    policy.receive(Started(pid), now)
    stopped = False
    last_delay = 0.0
    for action, dt in history:
        now += dt
        state = policy.state
        if action in ("exit", "fail") and state in (ProcessState.RUNNING, ProcessState.STOPPING):
            up_for = now - (policy.started_at or 0.0)
            policy.receive(Exited(1) if action == "exit" else StartFailed("x"), now)
            if stopped:
                assert policy.state is ProcessState.STOPPED
            else:
                deadline = policy.next_deadline()
                assert deadline is not None
                delay = deadline - now
                eps = 1e-6  # deadline - now: float rounding
                assert backoff.initial - eps <= delay <= backoff.maximum + eps
                if action == "exit" and up_for >= backoff.reset_after:
                    assert delay == pytest.approx(backoff.initial)
                else:  # a quick death never shortens the wait
                    assert delay >= min(last_delay, backoff.maximum) - eps
                last_delay = delay
        elif action == "timer":
            decisions = policy.handle_timer(now)
            if decisions:
                assert state is ProcessState.BACKOFF
                assert not stopped
                starts += 1
                pid += 1
                policy.receive(Started(pid), now)
        elif action == "stop":
            policy.stop()
            stopped = True
        elif action == "start" and state is ProcessState.STOPPED:
            assert stopped
            continue
        assert policy.restarts == starts - 1
        if stopped:
            assert policy.state in (ProcessState.STOPPING, ProcessState.STOPPED)
            assert policy.next_deadline() is None
