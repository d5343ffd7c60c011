"""The interval accumulator of a long-running process forgets its calls, driven by the events'
own time, without changing a figure."""

from __future__ import annotations

from itertools import pairwise

import pytest

from line311.dashboard.facts import QUEUE_EVENTS
from line311.queue.errors import InvalidParameterError
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    QueueEvent,
)
from line311.queue.intervals import FORGET_EVERY, KEEP_CALLS, IntervalAccumulator
from tests.fixtures.call_days import QUEUES, call_days

T0 = 1_700_000_100.0


def enq(call_id: str, at: float) -> CallEnqueued:
    return CallEnqueued(call_id, "general", at)


def queue_events(days: int, per_day: int) -> list[QueueEvent]:
    return [f for f in call_days(days, per_day) if isinstance(f, QUEUE_EVENTS)]


def most_entered_within(entered: list[float], span: float) -> int:
    """The most calls that entered within any ``span`` seconds (``entered`` sorted)."""
    most, first = 0, 0
    for last, at in enumerate(entered):
        while entered[first] < at - span:
            first += 1
        most = max(most, last - first + 1)
    return most


def test_given_days_of_calls_when_fed_with_keep_then_the_figures_are_those_of_one_that_keeps_all() -> (
    None
):
    events = queue_events(days=5, per_day=1_200)
    kept, reference = IntervalAccumulator(keep=KEEP_CALLS), IntervalAccumulator()
    most = 0
    for event in events:
        kept.feed(event)
        reference.feed(event)
        most = max(most, len(kept._calls))
    end = events[-1].at
    assert kept.intervals() == reference.intervals()
    assert kept.intervals(1800) == reference.intervals(1800)
    assert kept.agent_time(now=end) == reference.agent_time(now=end)
    for queue in QUEUES:
        assert kept.live(queue, end) == reference.live(queue, end)
    assert kept.duplicates == reference.duplicates > 0  # answers delivered twice, recognised
    assert kept.anomalies == reference.anomalies == 0
    # bounded: never more calls than entered within two days and an hour
    entered = [e.at for e in events if isinstance(e, CallEnqueued)]
    assert len(reference._calls) == len(entered)
    assert most <= most_entered_within(entered, KEEP_CALLS + FORGET_EVERY)
    assert len(kept._calls) < len(entered) / 2
    assert kept._held == {}


def test_given_keep_then_feed_forgets_once_per_hour_of_the_events_time_not_per_event() -> None:
    acc = IntervalAccumulator(keep=KEEP_CALLS)
    horizons: list[float] = []
    forget = acc.forget

    def counted(before: float) -> int:
        horizons.append(before)
        return forget(before)

    acc.forget = counted  # type: ignore[method-assign]
    events = queue_events(days=3, per_day=600)
    acc.feed_all(events)
    assert len(horizons) <= (events[-1].at - events[0].at) / FORGET_EVERY + 1
    assert all(b - a > FORGET_EVERY for a, b in pairwise(horizons))
    assert horizons[0] == events[0].at - KEEP_CALLS


def test_given_no_keep_then_nothing_is_forgotten_unless_asked() -> None:
    acc = IntervalAccumulator()
    acc.feed_all([enq("c1", T0), CallAbandoned("c1", "general", T0 + 5)])
    acc.feed(enq("c2", T0 + 30 * 86_400))
    assert len(acc._calls) == 2


def test_given_calls_that_lost_their_end_then_they_leave_the_live_figures_two_days_on() -> None:
    acc = IntervalAccumulator(keep=KEEP_CALLS)
    acc.feed_all(
        [
            enq("stuck", T0),
            enq("cb", T0 + 1),
            CallbackRequested("cb", "general", T0 + 2),
            enq("talking", T0 + 3),
            CallAnswered("talking", "general", T0 + 4, agent_id="a"),
            enq("later", T0 + KEEP_CALLS - 10),
        ]
    )
    live = acc.live("general", T0 + KEEP_CALLS)
    assert (live.waiting, live.callbacks_pending) == (2, 1)  # kept two days
    acc.feed(enq("next", T0 + KEEP_CALLS + FORGET_EVERY + 10))
    live = acc.live("general", T0 + KEEP_CALLS + FORGET_EVERY + 10)
    assert (live.waiting, live.callbacks_pending) == (2, 0)  # "later" and "next"
    assert set(acc._calls) == {("general", "later"), ("general", "next")}
    assert acc.stats("general", T0, T0 + 3 * 86_400).offered == 5  # statistics stay
    # a fact of a forgotten call is held, and goes at a later forget
    acc.feed(CallCompleted("talking", "general", T0 + KEEP_CALLS + FORGET_EVERY + 20, 60.0))
    assert acc.pending_out_of_order == 1
    acc.feed(enq("after", T0 + 2 * KEEP_CALLS + 2 * FORGET_EVERY + 30))
    assert acc.pending_out_of_order == 0
    assert acc.stats("general", T0, T0 + 900).handled == 0


def test_forget_walks_the_calls_in_the_order_they_were_fed() -> None:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            enq("new", T0 + 100),
            CallAbandoned("new", "general", T0 + 110),
            enq("old", T0),  # fed behind a newer call
            CallAbandoned("old", "general", T0 + 5),
        ]
    )
    assert acc.forget(before=T0 + 50) == 0  # waits behind "new"
    assert acc.forget(before=T0 + 200) == 2
    assert acc.stats("general", T0, T0 + 900).offered == 2


@pytest.mark.parametrize("keep", [0, -1.0])
def test_a_keep_that_is_not_positive_is_refused(keep: float) -> None:
    with pytest.raises(InvalidParameterError, match="keep"):
        IntervalAccumulator(keep=keep)
