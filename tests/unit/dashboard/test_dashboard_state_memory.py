"""A live state that runs for weeks forgets each call two days on, driven by the time of the
facts it is fed, and shows exactly what one that forgets nothing shows."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from line311.dashboard.state import (
    AlertRaised,
    CallEnteredIvr,
    CallLeftIvr,
    LiveState,
    QueueConfigured,
    local_day_start,
)
from line311.queue.events import (
    CallAnswered,
    CallbackRequested,
    CallEnqueued,
)
from line311.queue.intervals import FORGET_EVERY, KEEP_CALLS
from tests.fixtures.call_days import DAY0, QUEUES, call_days

NY = ZoneInfo("America/New_York")


class Remembers(LiveState):
    """The reference: a live state that never forgets (its accumulator neither)."""

    def forget(self, now: float) -> None:
        pass


def per_call(state: LiveState) -> dict[str, int]:
    """The sizes of every per-call store of ``state``."""
    return {
        "calls": len(state.accumulator._calls),
        "held": len(state.accumulator._held),
        "waiting": sum(len(w) for w in state.accumulator._waiting.values()),
        "callbacks": sum(len(c) for c in state.accumulator._callbacks.values()),
        "enqueued": len(state._enqueued),
        "answered_by": len(state._answered_by),
        "in_ivr": len(state._in_ivr),
        "open": len(state._open),
        "listed": len(state._listed),
    }


def configured(state: LiveState) -> LiveState:
    for queue in QUEUES:
        state.apply(QueueConfigured(queue, 0.8))
    return state


def test_given_six_days_of_calls_then_the_figures_are_unchanged_and_the_calls_memory_bounded() -> (
    None
):
    days, per_day = 6, 1_200
    facts = call_days(days, per_day)
    state, reference = configured(LiveState(tz=NY)), configured(Remembers(tz=NY))
    looks = iter(DAY0 + h * 3600 for h in range(4, days * 24 + 1, 4))  # every 4 hours
    look = next(looks)
    calls_at_midnight: list[int] = []
    for fact in facts:
        while fact.at >= look:  # what the wallboard shows, as the facts come
            assert state.snapshot(look) == reference.snapshot(look)
            if (look - DAY0) % 86_400 == 0:
                calls_at_midnight.append(per_call(state)["calls"])
            look = next(looks, float("inf"))
        assert state.apply(fact) == reference.apply(fact)  # the same waits and handle times
    end = facts[-1].at
    assert state.snapshot(end) == reference.snapshot(end)
    assert state.accumulator.intervals() == reference.accumulator.intervals()  # every day's
    # the abandoned report without a database: each day, and the whole run
    for day in range(days):
        lo = local_day_start(DAY0 + day * 86_400 + 43_200, NY)
        assert state.abandoned_calls(lo, lo + 86_400, end) == reference.abandoned_calls(
            lo, lo + 86_400, end
        )
    assert state.abandoned_calls(DAY0, end, end) == reference.abandoned_calls(DAY0, end, end)
    # memory: two days of calls at most, however many days run; the rest ends with its call
    queued = sum(isinstance(f, CallEnqueued) for f in facts)
    assert per_call(reference)["calls"] == queued
    assert max(calls_at_midnight[2:]) <= 2.2 * queued / days
    assert max(calls_at_midnight[2:]) - min(calls_at_midnight[2:]) <= 0.1 * queued / days
    sizes = per_call(state)
    assert sizes["calls"] <= 2.2 * queued / days
    assert max(sizes[k] for k in ("held", "enqueued", "answered_by", "in_ivr", "open")) <= 50


def test_given_calls_that_lost_their_end_then_every_store_drops_them_two_days_on() -> None:
    t0 = DAY0 + 9 * 3600
    state = configured(LiveState(tz=NY))
    state.apply_all(
        [
            CallEnteredIvr("in-ivr", t0),  # its exit never came
            CallEnqueued("stuck", "general", t0),  # nor its end
            CallEnqueued("talking", "general", t0 + 1),
            CallAnswered("talking", "general", t0 + 2, agent_id="ccr1"),  # nor its completion
            CallEnqueued("cb", "general", t0 + 3),
            CallbackRequested("cb", "general", t0 + 4),  # nor the callback
        ]
    )
    before = per_call(state)
    assert (before["calls"], before["in_ivr"], before["answered_by"]) == (3, 1, 1)
    # a quiet line: one call a day, each through the IVR only
    for day in (1, 2):
        at = t0 + day * 86_400 + FORGET_EVERY + 60
        state.apply_all([CallEnteredIvr(f"d{day}", at), CallLeftIvr(f"d{day}", at + 30, True)])
    after = per_call(state)
    assert after == dict.fromkeys(after, 0) | {"listed": 1}  # the callback stays listed
    snap = state.snapshot(t0 + 2 * 86_400 + FORGET_EVERY + 100)
    general = next(q for q in snap["queues"] if q["name"] == "general")
    assert (general["waiting"], general["callbacks_pending"], snap["ivr"]["in_ivr"]) == (0, 0, 0)
    assert state.accumulator.stats("general", t0 - 900, t0 + 900).offered == 3  # stats stay


def test_an_alerts_time_does_not_drive_the_forgetting() -> None:
    t0 = DAY0 + 9 * 3600
    state = LiveState(tz=NY)
    state.apply(CallEnqueued("stuck", "general", t0))
    state.apply(AlertRaised("a1", t0 + 10 * 86_400, "Snow"))  # set by hand: any time
    assert len(state.accumulator._calls) == 1
    state.apply(CallEnteredIvr("c1", t0 + KEEP_CALLS + FORGET_EVERY + 1))
    assert len(state.accumulator._calls) == 0


def test_ivr_activity_forgets_a_call_whose_record_never_came_two_days_on() -> None:
    from line311.dashboard.feeds import IvrActivity
    from line311.dashboard.live import LiveHub
    from line311.dashboard.state import LiveState

    now = [1_700_000_000.0]
    activity = IvrActivity(LiveHub(LiveState()), clock=lambda: now[0])
    activity.entered("orphan")  # its record never comes
    now[0] += 2 * 86_400 + 3_601
    activity.entered("fresh")
    assert list(activity._in_ivr) == ["fresh"]
    activity.on_record({"call_id": "fresh", "outcome": "ivr_resolved"})
    assert activity._in_ivr == {}
