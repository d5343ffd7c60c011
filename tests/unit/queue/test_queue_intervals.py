"""The interval accumulator: events in, per-(queue, interval) statistics and live figures out."""

from __future__ import annotations

import pytest

from line311.queue.errors import InconsistentEventError, InvalidParameterError
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
from line311.queue.intervals import IntervalAccumulator
from line311.queue.service_level import AgentTimeStats, SlFormula, SlPolicy

T0 = 1_700_000_100.0  # 08:15:00 UTC on 2023-11-14 — on a 15-minute boundary
assert T0 % 900 == 0


def enq(call_id: str, at: float, queue: str = "general") -> CallEnqueued:
    return CallEnqueued(call_id=call_id, queue=queue, at=at)


def test_given_a_call_answered_within_30s_then_it_counts_as_answered_within_threshold() -> None:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            enq("c1", T0 + 10),
            CallAnswered("c1", "general", T0 + 40, agent_id="a1"),
            CallCompleted("c1", "general", T0 + 220, talk_seconds=180, wrapup_seconds=30),
        ]
    )
    stats = acc.intervals()[("general", int(T0))]
    assert (stats.offered, stats.answered, stats.answered_within, stats.handled) == (1, 1, 1, 1)
    assert stats.asa == 30.0
    assert stats.aht == 210.0
    assert stats.service_level() == 1.0


def test_given_calls_answered_abandoned_and_timed_out_then_each_is_counted_once() -> None:
    acc = IntervalAccumulator(SlPolicy(short_abandon_threshold=5))
    acc.feed_all(
        [
            enq("late", T0),
            enq("short", T0 + 1),
            enq("impatient", T0 + 2),
            enq("timeout", T0 + 3),
            enq("waiting", T0 + 4),
            CallAnswered("late", "general", T0 + 31, agent_id="a"),  # 31 s: not within 30
            CallAbandoned("short", "general", T0 + 4),  # 3 s: a short abandon
            CallAbandoned("impatient", "general", T0 + 22),  # 20 s
            CallTimedOut("timeout", "general", T0 + 303),
        ]
    )
    stats = acc.stats("general", T0, T0 + 900)
    assert stats.offered == 5
    assert (stats.answered, stats.answered_within) == (1, 0)
    assert (stats.abandoned, stats.abandoned_within, stats.short_abandons) == (2, 2, 1)
    assert stats.timed_out == 1
    assert stats.longest_wait == 300.0
    assert stats.abandon_rate == pytest.approx(2 / 5)
    assert stats.service_level(SlFormula.EXCLUDE_SHORT_ABANDONS) == 0.0
    live = acc.live("general", now=T0 + 604)
    assert (live.waiting, live.callbacks_pending, live.longest_wait) == (1, 0, 600.0)


def test_a_wait_of_exactly_the_threshold_counts_as_within() -> None:
    acc = IntervalAccumulator()
    acc.feed_all([enq("c", T0), CallAnswered("c", "general", T0 + 30, agent_id="a")])
    assert acc.stats("general", T0, T0 + 900).answered_within == 1


def test_calls_belong_to_the_interval_they_entered_the_queue_in() -> None:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            enq("c", T0 + 899),
            CallAnswered("c", "general", T0 + 960, agent_id="a"),
        ]
    )
    fifteen = acc.intervals(900)
    assert list(fifteen) == [("general", int(T0))]
    assert fifteen[("general", int(T0))].answered == 1


def test_thirty_minute_intervals_are_sums_of_the_fifteen_minute_ones() -> None:
    acc = IntervalAccumulator()
    base = T0 - 900  # 08:00, a half-hour boundary
    for i, offset in enumerate([0, 100, 900, 1000, 1800]):
        acc.feed(enq(f"c{i}", base + offset))
        acc.feed(CallAnswered(f"c{i}", "general", base + offset + 10 * i, agent_id="a"))
    fifteen = acc.intervals(900)
    thirty = acc.intervals(1800)
    assert len(fifteen) == 3
    assert len(thirty) == 2
    first_half = thirty[("general", int(base))]
    assert first_half == fifteen[("general", int(base))] + fifteen[("general", int(base + 900))]
    assert first_half.offered == 4
    with pytest.raises(InvalidParameterError):
        acc.intervals(600)


@pytest.mark.parametrize("length", [900, 1800, 3600])
def test_intervals_since_a_time_are_the_ones_starting_then_or_later_as_without_it(
    length: int,
) -> None:
    acc = IntervalAccumulator()
    for i in range(3 * 96):  # three days, a call every 15 minutes, in two queues
        queue = "general" if i % 3 else "es"
        acc.feed(enq(f"c{i}", T0 + 900 * i + 60, queue))
        acc.feed(CallAnswered(f"c{i}", queue, T0 + 900 * i + 60 + i % 50, agent_id="a"))
    every = acc.intervals(length)
    for since in (T0 + 86_400, T0 + 86_400 + 450, T0 + 2 * 86_400 + 2700, T0 + 9 * 86_400):
        kept = acc.intervals(length, since=since)
        assert kept == {k: v for k, v in every.items() if k[1] >= since}


def test_queues_are_kept_apart() -> None:
    acc = IntervalAccumulator()
    acc.feed_all([enq("c", T0, queue="housing"), enq("c", T0, queue="noise")])
    assert acc.queues() == ["housing", "noise"]
    assert set(acc.intervals(queue="noise")) == {("noise", int(T0))}


def test_given_an_answer_before_its_enqueue_then_it_is_held_until_the_enqueue_arrives() -> None:
    acc = IntervalAccumulator()
    acc.feed(CallCompleted("c", "general", T0 + 100, talk_seconds=50))
    acc.feed(CallAnswered("c", "general", T0 + 50, agent_id="a"))
    assert acc.pending_out_of_order == 2
    acc.feed(enq("c", T0))
    assert acc.pending_out_of_order == 0
    stats = acc.stats("general", T0, T0 + 900)
    assert (stats.answered, stats.handled, stats.talk_total) == (1, 1, 50.0)
    assert stats.asa == 50.0


def test_given_a_completion_before_its_answer_then_it_waits_for_the_answer() -> None:
    acc = IntervalAccumulator()
    acc.feed(enq("c", T0))
    acc.feed(CallCompleted("c", "general", T0 + 100, talk_seconds=80))
    assert acc.stats("general", T0, T0 + 900).handled == 0
    acc.feed(CallAnswered("c", "general", T0 + 20, agent_id="a"))
    assert acc.stats("general", T0, T0 + 900).handled == 1


def test_duplicate_events_are_ignored() -> None:
    acc = IntervalAccumulator(strict=True)
    events = [
        enq("c", T0),
        CallAnswered("c", "general", T0 + 5, agent_id="a"),
        CallCompleted("c", "general", T0 + 65, talk_seconds=60),
    ]
    acc.feed_all(events + events)
    stats = acc.stats("general", T0, T0 + 900)
    assert (stats.offered, stats.answered, stats.handled) == (1, 1, 1)
    assert acc.duplicates == 3


def test_given_an_abandon_after_an_answer_then_it_is_an_anomaly() -> None:
    acc = IntervalAccumulator()
    acc.feed_all([enq("c", T0), CallAnswered("c", "general", T0 + 5, agent_id="a")])
    acc.feed(CallAbandoned("c", "general", T0 + 6))
    assert acc.anomalies == 1
    assert acc.stats("general", T0, T0 + 900).abandoned == 0
    strict = IntervalAccumulator(strict=True)
    strict.feed_all([enq("c", T0), CallAnswered("c", "general", T0 + 5, agent_id="a")])
    with pytest.raises(InconsistentEventError, match="CallAbandoned after the call was answered"):
        strict.feed(CallAbandoned("c", "general", T0 + 6))


def test_given_a_wait_that_ends_before_it_starts_then_it_is_an_anomaly_counted_as_zero() -> None:
    acc = IntervalAccumulator()
    acc.feed_all([enq("c", T0), CallAnswered("c", "general", T0 - 5, agent_id="a")])
    assert acc.anomalies == 1
    assert acc.stats("general", T0, T0 + 900).answer_wait_total == 0.0


def test_a_negative_handle_time_is_an_anomaly() -> None:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            enq("c", T0),
            CallAnswered("c", "general", T0 + 5, agent_id="a"),
            CallCompleted("c", "general", T0 + 9, talk_seconds=-4),
        ]
    )
    assert acc.anomalies == 1
    assert acc.stats("general", T0, T0 + 900).handled == 0


def test_given_a_callback_then_the_wait_runs_on_until_the_resident_is_reached() -> None:
    acc = IntervalAccumulator(strict=True)
    acc.feed_all([enq("c", T0), CallbackRequested("c", "general", T0 + 20)])
    live = acc.live("general", now=T0 + 100)
    assert (live.waiting, live.callbacks_pending, live.longest_wait) == (0, 1, 100.0)
    acc.feed(CallAnswered("c", "general", T0 + 400, agent_id="a"))
    stats = acc.stats("general", T0, T0 + 900)
    assert (stats.callbacks_requested, stats.answered, stats.answered_within) == (1, 1, 0)
    assert stats.asa == 400.0
    assert acc.live("general", now=T0 + 500).callbacks_pending == 0


def test_a_repeated_callback_request_is_a_duplicate_and_a_late_one_is_still_counted() -> None:
    acc = IntervalAccumulator(strict=True)
    acc.feed_all(
        [enq("c", T0), CallbackRequested("c", "general", T0 + 1)] * 2
        + [enq("d", T0), CallAnswered("d", "general", T0 + 2, agent_id="a")]
        + [CallbackRequested("d", "general", T0 + 1)]  # delivered late: before the answer
    )
    assert (acc.duplicates, acc.anomalies) == (2, 0)
    stats = acc.stats("general", T0, T0 + 900)
    assert (stats.callbacks_requested, stats.answered) == (2, 1)
    assert acc.live("general", now=T0 + 3).callbacks_pending == 1


def test_callers_past_threshold_count_in_the_interval_they_entered_not_the_current_one() -> None:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            enq("before", T0 + 899.999),  # the last instant of the 08:15 interval
            enq("at-start", T0 + 900),  # the first instant of 08:30's
            CallbackRequested("at-start", "general", T0 + 905),  # keeping their place
            enq("after", T0 + 901),
            enq("recent", T0 + 950),  # waited 20 s: within T
        ]
    )
    live = acc.live("general", now=T0 + 970)
    assert live.waiting_past_threshold == 3
    assert live.past_threshold_entered == (T0 + 899.999, T0 + 900, T0 + 901)
    assert live.waiting_past_threshold_entered(T0, T0 + 900) == 1
    assert live.waiting_past_threshold_entered(T0 + 900, T0 + 1800) == 2
    assert live.waiting_past_threshold_entered(T0, T0 + 1800) == 3
    # half-hours: both intervals are in 08:00-08:30 and 08:30-09:00 the same way
    assert live.waiting_past_threshold_entered(T0 - 900, T0 + 900, 1800) == 1
    assert live.waiting_past_threshold_entered(T0 + 900, T0 + 2700, 1800) == 2


def test_an_empty_queue_has_no_live_wait() -> None:
    live = IntervalAccumulator().live("general", now=T0)
    assert (live.waiting, live.longest_wait, live.oldest_enqueued_at) == (0, 0.0, None)


def test_forget_drops_finished_calls_and_stale_held_events_but_keeps_statistics() -> None:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            enq("old", T0),
            CallAbandoned("old", "general", T0 + 10),
            enq("live", T0 + 5000),
            CallAnswered("orphan", "general", T0 + 20, agent_id="a"),
        ]
    )
    assert acc.forget(before=T0 + 1000) == 2
    assert acc.pending_out_of_order == 0
    assert acc.stats("general", T0, T0 + 10_000).offered == 2
    assert acc.live("general", now=T0 + 5001).waiting == 1


def test_feeding_something_that_is_not_a_queue_event_is_refused() -> None:
    with pytest.raises(InvalidParameterError):
        IntervalAccumulator().feed("ENTERQUEUE")  # type: ignore[arg-type]


def test_agent_time_is_split_across_interval_boundaries() -> None:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            AgentStateChanged("a1", AgentActivity.AVAILABLE, T0 + 800),
            AgentStateChanged("a1", AgentActivity.ON_CALL, T0 + 850),
            AgentStateChanged("a1", AgentActivity.WRAP_UP, T0 + 1000),
            AgentStateChanged("a1", AgentActivity.PAUSED, T0 + 1030, reason="lunch"),
            AgentStateChanged("a1", AgentActivity.LOGGED_OUT, T0 + 1100),
        ]
    )
    times = acc.agent_time()
    assert times[int(T0)] == AgentTimeStats(available=50, on_call=50)
    assert times[int(T0 + 900)] == AgentTimeStats(on_call=100, wrap_up=30, paused=70)
    assert times[int(T0 + 900)].occupancy == 1.0


def test_agent_time_with_now_counts_current_states_up_to_now_without_changing_history() -> None:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            AgentStateChanged("a1", AgentActivity.AVAILABLE, T0),
            AgentStateChanged("a2", AgentActivity.AVAILABLE, T0),
            AgentStateChanged("a2", AgentActivity.ON_CALL, T0 + 300),
        ]
    )
    live = acc.agent_time(1800, now=T0 + 600)
    (start,) = live
    assert live[start] == AgentTimeStats(available=900, on_call=300)
    assert live[start].occupancy == pytest.approx(300 / 1200)
    assert acc.agent_time() == {int(T0): AgentTimeStats(available=300)}
    assert acc.agents_by_state()[AgentActivity.AVAILABLE] == 1
    assert acc.agents_by_state()[AgentActivity.ON_CALL] == 1
    with pytest.raises(InvalidParameterError):
        acc.agent_time(100)


def test_an_agent_state_older_than_the_current_one_is_an_anomaly() -> None:
    acc = IntervalAccumulator()
    acc.feed(AgentStateChanged("a1", AgentActivity.AVAILABLE, T0 + 10))
    acc.feed(AgentStateChanged("a1", AgentActivity.ON_CALL, T0))
    assert acc.anomalies == 1
    assert acc.agents_by_state()[AgentActivity.AVAILABLE] == 1
