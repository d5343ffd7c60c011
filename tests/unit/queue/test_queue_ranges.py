"""Statistics of a stored time range: calls count in the interval they entered."""

from __future__ import annotations

from line311.queue.events import CallAbandoned, CallAnswered, CallEnqueued
from line311.queue.ranges import FOLLOW_UP, fold

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
