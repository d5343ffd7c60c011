"""Statistics of a stored time range: calls count in the interval they entered."""

from __future__ import annotations

from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnqueued,
)
from line311.queue.ranges import FOLLOW_UP, fold
from line311.queue.service_level import AgentTimeStats

DAY0 = 1_790_000_100.0 - 1_790_000_100.0 % 86_400


def test_given_events_out_of_order_when_folded_then_a_call_counts_where_it_entered() -> None:
    start, end = DAY0, DAY0 + 1800
    events = [
        CallAnswered("c1", "general", DAY0 + 40, "agent1"),  # stored before its enqueue
        CallEnqueued("c1", "general", DAY0 + 10),
        CallEnqueued("c2", "general", DAY0 + 20),
        CallAbandoned("c2", "general", DAY0 + 3600),  # after the range: still read
        CallEnqueued("c3", "general", DAY0 - 10),  # entered before the range: left out
        CallAnswered("c3", "general", DAY0 + 5, "agent2"),
    ]
    stats, _agent_time = fold(events, start, end)
    total = stats[("general", int(DAY0))]
    assert (total.offered, total.answered, total.abandoned) == (2, 1, 1)
    assert FOLLOW_UP == 86_400.0


def test_given_no_events_then_there_are_no_statistics() -> None:
    assert fold([], DAY0, DAY0 + 900) == ({}, {})


def test_given_an_agents_state_from_before_the_range_then_it_counts_from_the_start_to_the_end() -> (
    None
):
    available, on_call = AgentActivity.AVAILABLE, AgentActivity.ON_CALL
    events = [
        AgentStateChanged("a1", AgentActivity.PAUSED, DAY0 - 7200, "break"),
        AgentStateChanged("a1", available, DAY0 - 3600),  # the state at the range's start
        AgentStateChanged("a1", available, DAY0 + 2400),  # stored before the call it follows
        AgentStateChanged("a1", on_call, DAY0 + 600),
        AgentStateChanged("a1", AgentActivity.LOGGED_OUT, DAY0 + 28_800),  # after the end
    ]
    _, agent_time = fold(events, DAY0, DAY0 + 3600)
    assert sorted(agent_time) == [int(DAY0) + q * 900 for q in range(4)]
    total = sum(agent_time.values(), AgentTimeStats())
    assert (total.available, total.on_call, total.paused) == (1800, 1800, 0)
    assert total.occupancy == 0.5


def test_given_a_range_running_past_now_then_agent_time_stops_at_now() -> None:
    events = [AgentStateChanged("a1", AgentActivity.AVAILABLE, DAY0 - 60)]
    _, agent_time = fold(events, DAY0, DAY0 + 1800, now=DAY0 + 300)
    assert sum(agent_time.values(), AgentTimeStats()).available == 300
    assert fold(events, DAY0, DAY0 + 1800, now=DAY0 - 900)[1] == {}
