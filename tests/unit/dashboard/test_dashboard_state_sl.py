"""Per-queue SL policies and the projected SL on the wallboard's live state (issue 16)."""

from __future__ import annotations

import pytest

from line311.dashboard.state import LiveState
from line311.queue.events import CallAbandoned, CallAnswered, CallEnqueued
from line311.queue.service_level import SlPolicies, SlPolicy

T0 = 1_700_000_100.0
DEFAULT = SlPolicy(threshold=30, goal=0.8, short_abandon_threshold=5)


def queue_of(snapshot: dict, name: str) -> dict:
    return next(q for q in snapshot["queues"] if q["name"] == name)


def test_callers_past_threshold_make_a_perfect_queue_at_risk_not_on_goal() -> None:
    # the wallboard of the issue: finished calls all within T, 11 callers waiting, the
    # longest for 39 s
    state = LiveState(DEFAULT)
    for i in range(5):
        state.apply(CallEnqueued(f"ok{i}", "general", T0 + i))
        state.apply(CallAnswered(f"ok{i}", "general", T0 + i + 10, agent_id="a"))
    for i in range(11):
        state.apply(CallEnqueued(f"w{i}", "general", T0 + 21 + i * 2))  # waits 39 .. 19 s
    now = T0 + 60
    q = queue_of(state.snapshot(now), "general")
    assert q["interval"]["sl"] == 1.0
    assert q["waiting"] == 11
    assert q["longest_wait"] == 39.0
    past = sum(1 for i in range(11) if now - (T0 + 21 + i * 2) > 30)
    assert q["waiting_past_threshold"] == past == 5
    assert q["interval"]["projected_sl"] == round(5 / (5 + past), 4)
    assert (q["state"], q["status"]) == ("at-risk", "amber")


def test_nobody_past_threshold_keeps_the_queue_on_goal() -> None:
    state = LiveState(DEFAULT)
    state.apply(CallEnqueued("a", "general", T0))
    state.apply(CallAnswered("a", "general", T0 + 5, agent_id="x"))
    state.apply(CallEnqueued("b", "general", T0 + 10))
    q = queue_of(state.snapshot(T0 + 40), "general")  # b has waited exactly 30 s: within
    assert q["waiting_past_threshold"] == 0
    assert q["interval"]["projected_sl"] == q["interval"]["sl"] == 1.0
    assert (q["state"], q["status"]) == ("on-goal", "green")


def test_only_waiting_callers_past_threshold_is_at_risk_not_none() -> None:
    state = LiveState(DEFAULT)
    state.apply(CallEnqueued("a", "general", T0))
    q = queue_of(state.snapshot(T0 + 31), "general")
    assert q["interval"]["sl"] is None
    assert q["interval"]["projected_sl"] == 0.0
    assert (q["state"], q["status"]) == ("at-risk", "amber")


def test_below_goal_stays_red_whatever_waits() -> None:
    state = LiveState(DEFAULT)
    for i in range(4):
        state.apply(CallEnqueued(f"c{i}", "general", T0))
        state.apply(CallAnswered(f"c{i}", "general", T0 + (10 if i == 0 else 60), agent_id="x"))
    q = queue_of(state.snapshot(T0 + 100), "general")
    assert (q["state"], q["status"]) == ("below-goal", "red")


def test_each_queue_is_measured_with_its_own_threshold_and_goal() -> None:
    policies = SlPolicies.build(DEFAULT, {"housing": (20.0, 0.9), "noise": (None, 0.7)})
    state = LiveState(policies)
    for queue in ("housing", "noise"):
        state.apply(CallEnqueued(f"{queue}-1", queue, T0))
        state.apply(CallAnswered(f"{queue}-1", queue, T0 + 25, agent_id="x"))  # 25 s
        state.apply(CallEnqueued(f"{queue}-2", queue, T0))
        state.apply(CallAbandoned(f"{queue}-2", queue, T0 + 2))  # short: not counted
    snap = state.snapshot(T0 + 100)
    housing, noise = queue_of(snap, "housing"), queue_of(snap, "noise")
    assert (housing["threshold"], housing["goal"]) == (20.0, 0.9)
    assert (noise["threshold"], noise["goal"]) == (30.0, 0.7)
    assert housing["today"]["sl"] == 0.0  # 25 s > housing's 20 s
    assert noise["today"]["sl"] == 1.0
    # the center-wide chart adds each queue counted by its own T: 1 met of 2
    current = [c for c in snap["chart"] if c["offered"]]
    assert len(current) == 1
    assert current[0]["sl"] == 0.5
    assert current[0]["offered"] == 4
    assert state.policy_for("housing").threshold == 20.0


def test_policies_build_keeps_only_real_overrides() -> None:
    policies = SlPolicies.build(DEFAULT, {"a": (None, None), "b": (30.0, 0.8), "c": (45.0, None)})
    assert set(policies.by_queue) == {"c"}
    assert policies("c") == SlPolicy(threshold=45, goal=0.8, short_abandon_threshold=5)
    assert policies("anything") == DEFAULT


# a call belongs to the interval in which it entered the queue (IntervalAccumulator); a
# caller still waiting counts as a miss there, not in whatever interval holds "now"
START = T0 + 900  # an interval boundary (T0 is one too): "09:15" of the issue
DAY = 1_699_920_000.0  # T0's midnight in UTC


@pytest.mark.parametrize(
    ("entered", "interval_projected"),
    [
        (START - 0.001, 1.0),  # entered in the interval before: not this interval's miss
        (START, 0.5),  # entered at the interval's start: this interval's
        (START + 1, 0.5),
    ],
)
def test_given_a_caller_past_threshold_then_only_the_interval_they_entered_counts_them(
    entered: float, interval_projected: float
) -> None:
    state = LiveState(DEFAULT)
    state.apply(CallEnqueued("ok", "general", START + 2))
    state.apply(CallAnswered("ok", "general", START + 7, agent_id="a"))  # within T
    state.apply(CallEnqueued("waiting", "general", entered))
    q = queue_of(state.snapshot(START + 60), "general")
    assert q["waiting_past_threshold"] == 1  # the supervisor sees them either way
    assert q["interval"]["sl"] == 1.0
    assert q["interval"]["projected_sl"] == interval_projected
    assert q["interval"]["waiting_past_threshold"] == (interval_projected < 1)
    # today holds both intervals: the caller is a miss of today whichever one they entered in
    assert q["today"]["projected_sl"] == 0.5
    assert q["today"]["waiting_past_threshold"] == 1


def test_given_only_an_earlier_interval_caller_past_t_then_today_judges_the_queue() -> None:
    state = LiveState(DEFAULT)
    state.apply(CallEnqueued("waiting", "general", START - 20))
    q = queue_of(state.snapshot(START + 40), "general")
    assert q["interval"]["projected_sl"] is None  # nothing of this interval counts yet
    assert q["interval"]["state"] == "none"
    assert q["today"]["projected_sl"] == 0.0
    assert (q["state"], q["status"]) == ("at-risk", "amber")


@pytest.mark.parametrize(("entered", "today_projected"), [(DAY - 0.001, 1.0), (DAY, 0.5)])
def test_given_a_caller_past_threshold_since_before_midnight_then_today_does_not_count_them(
    entered: float, today_projected: float
) -> None:
    state = LiveState(DEFAULT)
    state.apply(CallEnqueued("ok", "general", DAY + 2))
    state.apply(CallAnswered("ok", "general", DAY + 7, agent_id="a"))
    state.apply(CallEnqueued("waiting", "general", entered))
    q = queue_of(state.snapshot(DAY + 60), "general")
    assert q["waiting_past_threshold"] == 1
    assert q["today"]["projected_sl"] == today_projected
