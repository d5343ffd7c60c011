"""The abandoned-calls report: who hung up, who timed out, and how each callback went."""

from __future__ import annotations

import csv
import io
from datetime import timedelta, timezone

import pytest

from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.report import (
    ABANDONED_COLUMNS,
    AbandonedCall,
    abandoned_calls,
    render_abandoned_csv,
)

T0 = 1_700_006_400.0  # 2023-11-15 00:00 UTC


def events() -> list[object]:
    return [
        # answered and completed: not in the report
        CallEnqueued("ok", "housing", T0 + 1),
        CallAnswered("ok", "housing", T0 + 5, agent_id="a"),
        CallCompleted("ok", "housing", T0 + 60, talk_seconds=55),
        # hung up while waiting
        CallEnqueued("gone", "housing", T0 + 10),
        CallAbandoned("gone", "housing", T0 + 40),
        # the queue gave up
        CallEnqueued("late", "noise", T0 + 20),
        CallTimedOut("late", "noise", T0 + 620),
        # callback, reached
        CallEnqueued("cb-ok", "housing", T0 + 30),
        CallbackRequested("cb-ok", "housing", T0 + 50),
        CallAnswered("cb-ok", "housing", T0 + 900, agent_id="b"),
        # callback, not reached
        CallEnqueued("cb-fail", "housing", T0 + 40),
        CallbackRequested("cb-fail", "housing", T0 + 60, at_max_wait=True),
        CallAbandoned("cb-fail", "housing", T0 + 1000),
        # callback, still pending
        CallEnqueued("cb-wait", "noise", T0 + 50),
        CallbackRequested("cb-wait", "noise", T0 + 70),
        # entered outside the range
        CallEnqueued("before", "housing", T0 - 1),
        CallAbandoned("before", "housing", T0 + 3),
    ]


def test_each_outcome_in_order_of_entry() -> None:
    calls = abandoned_calls(events(), T0, T0 + 3600, now=T0 + 2000)
    assert [(c.call_id, c.queue, c.outcome) for c in calls] == [
        ("gone", "housing", "abandoned"),
        ("late", "noise", "timed-out"),
        ("cb-ok", "housing", "callback-answered"),
        ("cb-fail", "housing", "callback-failed"),
        ("cb-wait", "noise", "callback-pending"),
    ]
    gone, late, cb_ok, cb_fail, cb_wait = calls
    assert (gone.waited, gone.ended_at, gone.agent_id) == (30.0, T0 + 40, None)
    assert late.waited == 600.0
    assert (cb_ok.waited, cb_ok.agent_id, cb_ok.callback_requested_at) == (870.0, "b", T0 + 50)
    assert (cb_fail.waited, cb_fail.ended_at) == (960.0, T0 + 1000)
    assert cb_wait.ended_at is None
    assert cb_wait.waited == 1950.0  # runs on to now while pending


def test_a_pending_callback_without_now_has_waited_nothing() -> None:
    calls = abandoned_calls(events(), T0, T0 + 3600)
    pending = next(c for c in calls if c.outcome == "callback-pending")
    assert pending.waited == 0.0


def test_a_caller_lost_with_their_asterisk_is_listed_as_such_not_as_an_abandon() -> None:
    evs = [
        CallEnqueued("lost", "q", T0 + 10),
        CallAbandoned("lost", "q", T0 + 25, media_server_lost=True),
    ]
    [call] = abandoned_calls(evs, T0, T0 + 60)
    assert (call.outcome, call.waited, call.ended_at) == ("media-server-lost", 15.0, T0 + 25)


def test_a_wait_is_never_negative() -> None:
    calls = abandoned_calls(
        [CallEnqueued("x", "q", T0 + 10), CallAbandoned("x", "q", T0 + 5)], T0, T0 + 60
    )
    assert calls[0].waited == 0.0


def test_the_range_is_half_open() -> None:
    evs = [CallEnqueued("edge", "q", T0 + 60), CallAbandoned("edge", "q", T0 + 70)]
    assert abandoned_calls(evs, T0, T0 + 60) == []
    assert [c.call_id for c in abandoned_calls(evs, T0 + 60, T0 + 120)] == ["edge"]


def test_values_give_iso_times_in_the_zone_asked() -> None:
    call = AbandonedCall("x", "q", T0, T0 + 12.3456, 12.3456, "abandoned")
    values = call.values(timezone(timedelta(hours=-5)))
    assert values["enqueued_at"] == "2023-11-14T19:00:00-05:00"
    assert values["wait_seconds"] == 12.346
    assert values["callback_requested_at"] is None
    pending = AbandonedCall("y", "q", T0, None, 0.0, "callback-pending", T0 + 1)
    assert pending.values()["abandoned_at"] is None
    assert pending.values()["callback_requested_at"] == "2023-11-15T00:00:01+00:00"


def test_csv_has_the_header_and_one_line_per_call() -> None:
    calls = abandoned_calls(events(), T0, T0 + 3600, now=T0 + 2000)
    table = list(csv.reader(io.StringIO(render_abandoned_csv(calls))))
    assert tuple(table[0]) == ABANDONED_COLUMNS
    assert [line[0] for line in table[1:]] == [c.call_id for c in calls]
    cb_ok = dict(zip(ABANDONED_COLUMNS, table[3], strict=True))
    assert cb_ok["outcome"] == "callback-answered"
    assert cb_ok["agent_id"] == "b"
    gone = dict(zip(ABANDONED_COLUMNS, table[1], strict=True))
    assert gone["agent_id"] == ""
    assert gone["wait_seconds"] == "30"


@pytest.mark.parametrize("outcome", ["abandoned", "timed-out"])
def test_a_call_without_a_callback_keeps_its_end(outcome: str) -> None:
    end = (
        CallAbandoned("x", "q", T0 + 9)
        if outcome == "abandoned"
        else CallTimedOut("x", "q", T0 + 9)
    )
    (call,) = abandoned_calls([CallEnqueued("x", "q", T0), end], T0, T0 + 60)
    assert (call.outcome, call.ended_at, call.waited) == (outcome, T0 + 9, 9.0)
