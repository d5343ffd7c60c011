"""The wallboard's live state: facts in, a JSON-able snapshot out, at a fake ``now``."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

import line311.dashboard.state as state_module
from line311.dashboard.state import (
    AgentNamed,
    AlertRaised,
    AlertWithdrawn,
    CallEnteredIvr,
    CallLeftIvr,
    HandleMeasured,
    LiveState,
    QueueConfigured,
    QueueGoalChanged,
    WaitMeasured,
    sl_status,
)
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.report import AbandonedCall
from line311.queue.service_level import SlPolicy

T0 = 1_700_000_100.0  # on a 15-minute boundary (UTC)
assert T0 % 900 == 0


def queue_of(snapshot: dict, name: str) -> dict:
    return next(q for q in snapshot["queues"] if q["name"] == name)


def test_given_no_calls_at_all_then_the_snapshot_is_complete_and_json_serialisable() -> None:
    state = LiveState()
    state.apply(QueueConfigured("general", goal=0.8))
    snap = state.snapshot(T0)
    json.dumps(snap)
    q = queue_of(snap, "general")
    assert q["waiting"] == 0
    assert q["longest_wait"] == 0
    assert q["status"] == "none"
    assert q["interval"]["sl"] is None
    assert q["today"]["asa"] is None
    assert snap["agents"] == []
    assert snap["ivr"] == {
        "in_ivr": 0,
        "left_today": 0,
        "resolved_today": 0,
        "resolved_share": None,
    }
    assert snap["alerts"] == []
    assert all(point["offered"] == 0 and point["sl"] is None for point in snap["chart"])


def test_given_an_empty_state_with_no_queues_then_the_snapshot_lists_none() -> None:
    snap = LiveState().snapshot(T0)
    assert snap["queues"] == []
    assert snap["agent_counts"]["available"] == 0


def test_given_waiting_calls_then_the_queue_shows_how_many_and_the_longest_wait() -> None:
    state = LiveState()
    state.apply_all(
        [
            CallEnqueued("c1", "housing", T0 + 10),
            CallEnqueued("c2", "housing", T0 + 20),
            CallbackRequested("c2", "housing", T0 + 25),
        ]
    )
    q = queue_of(state.snapshot(T0 + 70), "housing")
    assert q["waiting"] == 1
    assert q["callbacks_pending"] == 1
    assert q["longest_wait"] == 60.0


def test_given_answers_within_threshold_then_sl_asa_and_status_come_from_the_accumulator() -> None:
    state = LiveState()
    measurements = state.apply_all(
        [
            CallEnqueued("c1", "general", T0),
            CallAnswered("c1", "general", T0 + 10, agent_id="a1"),
            CallEnqueued("c2", "general", T0 + 1),
            CallAnswered("c2", "general", T0 + 21, agent_id="a1"),
        ]
    )
    assert measurements == [
        WaitMeasured("general", 10.0, "answered"),
        WaitMeasured("general", 20.0, "answered"),
    ]
    q = queue_of(state.snapshot(T0 + 60), "general")
    assert q["interval"]["sl"] == 1.0
    assert q["interval"]["asa"] == 15.0
    assert q["today"]["answered"] == 2
    assert q["status"] == "green"


def test_given_sl_below_goal_then_the_queue_is_red_and_within_the_margin_it_is_amber() -> None:
    state = LiveState(amber_margin=0.05)
    events = []
    for i in range(10):  # 7 of 10 answered within 30 s
        events.append(CallEnqueued(f"c{i}", "general", T0 + i))
        wait = 10 if i < 7 else 60
        events.append(CallAnswered(f"c{i}", "general", T0 + i + wait, agent_id="a"))
    state.apply_all(events)
    snap = state.snapshot(T0 + 120)
    assert queue_of(snap, "general")["interval"]["sl"] == 0.7
    assert queue_of(snap, "general")["status"] == "red"
    state.apply(QueueGoalChanged("general", 0.74, T0 + 121))
    assert queue_of(state.snapshot(T0 + 122), "general")["status"] == "amber"
    state.apply(QueueGoalChanged("general", 0.7, T0 + 123))
    assert queue_of(state.snapshot(T0 + 124), "general")["status"] == "green"


@pytest.mark.parametrize(
    ("sl", "expected"),
    [(None, "none"), (0.8, "green"), (0.9, "green"), (0.75, "amber"), (0.7499, "red")],
)
def test_sl_status_is_judged_against_the_goal_with_an_amber_margin(
    sl: float | None, expected: str
) -> None:
    assert sl_status(sl, 0.8, 0.05) == expected


def test_given_no_calls_in_the_current_interval_then_the_status_falls_back_to_today() -> None:
    state = LiveState()
    state.apply_all([CallEnqueued("c1", "general", T0), CallAbandoned("c1", "general", T0 + 100)])
    q = queue_of(state.snapshot(T0 + 3600), "general")
    assert q["interval"]["status"] == "none"
    assert q["today"]["sl"] == 0.0
    assert q["status"] == "red"
    assert q["today"]["abandoned"] == 1


def test_given_agents_then_each_shows_state_reason_calls_handled_aht_and_time_in_state() -> None:
    state = LiveState()
    measurements = state.apply_all(
        [
            AgentNamed("a1", "Ana"),
            AgentStateChanged("a1", AgentActivity.AVAILABLE, T0),
            AgentStateChanged("a2", AgentActivity.PAUSED, T0 + 5, reason="lunch"),
            CallEnqueued("c1", "general", T0 + 10),
            AgentStateChanged("a1", AgentActivity.RESERVED, T0 + 11),
            CallAnswered("c1", "general", T0 + 15, agent_id="a1"),
            AgentStateChanged("a1", AgentActivity.ON_CALL, T0 + 15),
            CallCompleted("c1", "general", T0 + 195, talk_seconds=180, wrapup_seconds=30),
            AgentStateChanged("a1", AgentActivity.WRAP_UP, T0 + 195),
            AgentStateChanged("a3", AgentActivity.LOGGED_OUT, T0),
        ]
    )
    assert HandleMeasured("general", 210.0) in measurements
    snap = state.snapshot(T0 + 205)
    agents = {a["id"]: a for a in snap["agents"]}
    assert set(agents) == {"a1", "a2"}  # logged-out CCRs are not on the board
    assert agents["a1"] == {
        "id": "a1",
        "name": "Ana",
        "state": "wrap_up",
        "reason": "",
        "time_in_state": 10.0,
        "calls_handled": 1,
        "aht": 210.0,
    }
    assert agents["a2"]["state"] == "paused"
    assert agents["a2"]["reason"] == "lunch"
    assert agents["a2"]["aht"] is None
    assert snap["agent_counts"]["wrap_up"] == 1
    assert snap["agent_counts"]["paused"] == 1
    assert snap["agent_counts"]["logged_out"] == 1


def test_given_an_agent_change_out_of_order_then_the_newer_state_is_kept() -> None:
    state = LiveState()
    state.apply(AgentStateChanged("a1", AgentActivity.AVAILABLE, T0 + 10))
    state.apply(AgentStateChanged("a1", AgentActivity.PAUSED, T0 + 5, reason="late"))
    assert state.agent_state("a1") is AgentActivity.AVAILABLE


def test_given_ivr_calls_then_in_ivr_and_the_share_resolved_today_are_shown() -> None:
    state = LiveState()
    state.apply_all(
        [
            CallEnteredIvr("i1", T0),
            CallEnteredIvr("i2", T0 + 1),
            CallEnteredIvr("i3", T0 + 2),
            CallLeftIvr("i1", T0 + 60, resolved=True),
            CallLeftIvr("i2", T0 + 70, resolved=False),
        ]
    )
    assert state.snapshot(T0 + 80)["ivr"] == {
        "in_ivr": 1,
        "left_today": 2,
        "resolved_today": 1,
        "resolved_share": 0.5,
    }


def test_given_a_new_day_in_new_york_then_today_starts_at_local_midnight() -> None:
    ny = ZoneInfo("America/New_York")
    state = LiveState(tz=ny)
    # 2023-11-14 04:59:00 UTC is 23:59 the day before in New York
    before_midnight = 1_699_937_940.0
    state.apply_all(
        [
            CallEnqueued("old", "general", before_midnight),
            CallAnswered("old", "general", before_midnight + 5, agent_id="a"),
            CallLeftIvr("x", before_midnight, resolved=True),
        ]
    )
    snap = state.snapshot(before_midnight + 120)  # 00:01 New York
    assert queue_of(snap, "general")["today"]["offered"] == 0
    assert snap["ivr"]["left_today"] == 0
    assert snap["chart"][0]["start"] == snap["day_start"]


def test_given_alerts_then_only_active_ones_are_listed() -> None:
    state = LiveState()
    state.apply_all(
        [
            AlertRaised("snow", T0, "Schools closed", "All public schools closed", "major"),
            AlertRaised("asp", T0 + 1, "ASP suspended"),
            AlertWithdrawn("snow", T0 + 2),
        ]
    )
    snap = state.snapshot(T0 + 3)
    assert [a["id"] for a in snap["alerts"]] == ["asp"]
    assert state.alert_ids() == ["asp"]


def test_given_calls_over_the_day_then_the_chart_has_offered_and_sl_per_interval() -> None:
    state = LiveState()
    state.apply_all(
        [
            CallEnqueued("a", "q1", T0),
            CallAnswered("a", "q1", T0 + 5, agent_id="x"),
            CallEnqueued("b", "q2", T0 + 900),
            CallAnswered("b", "q2", T0 + 900 + 60, agent_id="x"),
        ]
    )
    snap = state.snapshot(T0 + 1000)
    by_start = {p["start"]: p for p in snap["chart"]}
    assert by_start[int(T0)] == {"start": int(T0), "offered": 1, "sl": 1.0}
    assert by_start[int(T0) + 900] == {"start": int(T0) + 900, "offered": 1, "sl": 0.0}
    assert snap["chart"][-1]["start"] == snap["interval_start"]


def test_given_thousands_of_calls_then_the_figures_add_up() -> None:
    state = LiveState(SlPolicy(short_abandon_threshold=0))
    events = []
    for i in range(5000):
        q = f"q{i % 5}"
        at = T0 + i * 0.5
        events.append(CallEnqueued(f"c{i}", q, at))
        if i % 10 == 0:
            events.append(CallAbandoned(f"c{i}", q, at + 40))
        elif i % 10 == 1:
            events.append(CallTimedOut(f"c{i}", q, at + 600))
        elif i < 4900:
            events.append(CallAnswered(f"c{i}", q, at + 20, agent_id="a"))
    state.apply_all(events)
    snap = state.snapshot(T0 + 2500)
    total = sum(q["today"]["offered"] for q in snap["queues"])
    waiting = sum(q["waiting"] for q in snap["queues"])
    abandoned = sum(q["today"]["abandoned"] for q in snap["queues"])
    assert total == 5000
    assert abandoned == 500
    assert waiting == 5000 - 500 - 500 - 3920
    assert sum(p["offered"] for p in snap["chart"]) == 5000
    json.dumps(snap)


def test_given_abandoned_calls_then_they_are_listed_by_the_time_they_entered() -> None:
    state = LiveState()
    state.apply_all(
        [
            CallEnqueued("c1", "general", T0),
            CallEnqueued("c2", "general", T0 + 1),
            CallAbandoned("c2", "general", T0 + 20, media_server_lost=True),
            CallAbandoned("c1", "general", T0 + 62),  # abandoned past the range: still listed
        ]
    )
    assert state.abandoned_calls(T0, T0 + 60) == [
        AbandonedCall("c1", "general", T0, T0 + 62, 62.0, "abandoned"),
        AbandonedCall("c2", "general", T0 + 1, T0 + 20, 19.0, "media-server-lost"),
    ]
    assert state.abandoned_calls(T0 + 60, T0 + 120) == []


def test_given_callbacks_and_timeouts_then_the_list_has_them_and_their_outcome() -> None:
    state = LiveState()
    state.apply_all(
        [
            CallEnqueued("ok", "general", T0),
            CallAnswered("ok", "general", T0 + 5, agent_id="a"),
            CallEnqueued("late", "general", T0 + 1),
            CallTimedOut("late", "general", T0 + 301),
            CallEnqueued("cb", "general", T0 + 2),
            CallbackRequested("cb", "general", T0 + 10),
        ]
    )
    pending = AbandonedCall("cb", "general", T0 + 2, None, 398.0, "callback-pending", T0 + 10)
    assert state.abandoned_calls(T0, T0 + 900, now=T0 + 400) == [
        AbandonedCall("late", "general", T0 + 1, T0 + 301, 300.0, "timed-out"),
        pending,
    ]
    state.apply(CallAnswered("cb", "general", T0 + 500, agent_id="b"))
    reached = AbandonedCall(
        "cb", "general", T0 + 2, T0 + 500, 498.0, "callback-answered", T0 + 10, "b"
    )
    assert state.abandoned_calls(T0, T0 + 900)[1] == reached


def test_the_list_in_memory_keeps_the_newest_calls_and_nothing_of_answered_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(state_module, "MAX_LISTED_CALLS", 20)
    monkeypatch.setattr(state_module, "MAX_OPEN_CALLS", 30)
    state = LiveState()
    for i in range(25):
        state.apply(CallEnqueued(f"gone{i}", "general", T0 + i))
        state.apply(CallAbandoned(f"gone{i}", "general", T0 + i + 10))
        state.apply(CallEnqueued(f"ok{i}", "general", T0 + i))
        state.apply(CallAnswered(f"ok{i}", "general", T0 + i + 10, agent_id="a"))
    listed = [c.call_id for c in state.abandoned_calls(T0, T0 + 900)]
    # past 20, the oldest tenth (2) goes: the newest calls stay, in order of entry
    assert listed == [f"gone{i}" for i in range(6, 25)]
    assert state._open == {}
    for i in range(40):  # enqueues whose end never comes: bounded too
        state.apply(CallEnqueued(f"stuck{i}", "general", T0 + 100 + i))
    assert len(state._open) <= 30
    state.forget(T0 + 2 * 86400 + 200)  # and forgotten with the rest of the calls' memory
    assert state._open == {}


def test_given_a_bad_goal_or_margin_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="goal"):
        LiveState(goals={"q": 1.5})
    with pytest.raises(ValueError, match="margin"):
        LiveState(amber_margin=1.0)
    with pytest.raises(ValueError, match="900"):
        LiveState(interval_length=600)
    with pytest.raises(TypeError):
        LiveState().apply(object())  # type: ignore[arg-type]


def test_forget_drops_old_per_call_memory_but_keeps_the_statistics() -> None:
    state = LiveState()
    state.apply_all([CallEnqueued("c1", "general", T0), CallEnteredIvr("i", T0)])
    state.forget(T0 + 3 * 86400)
    assert state.snapshot(T0 + 3 * 86400)["ivr"]["in_ivr"] == 0
    assert state.accumulator.intervals()[("general", int(T0))].offered == 1
