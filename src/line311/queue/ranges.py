"""Statistics of a time range of stored queue events (pure).

A call belongs to the 15-minute interval it *entered*; the facts that follow it (answer,
completion) are read up to `FOLLOW_UP` seconds past the end of the range. The database only
loads the events (`line311.db.queue_models.load_events`); `fold` does the maths here, with
the same `IntervalAccumulator` the live figures use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Final

from line311.queue.events import AgentStateChanged, CallEnqueued, QueueEvent
from line311.queue.intervals import IntervalAccumulator
from line311.queue.service_level import (
    DEFAULT_POLICY,
    AgentTimeStats,
    IntervalStats,
    SlPolicies,
    SlPolicy,
)

__all__ = ["FOLLOW_UP", "fold"]

FOLLOW_UP: Final = 86_400.0
"""Seconds past a range's end within which a call's later facts are still read."""


def fold(
    events: Iterable[QueueEvent],
    start: float,
    end: float,
    policy: SlPolicy | SlPolicies = DEFAULT_POLICY,
    *,
    now: float | None = None,
) -> tuple[dict[tuple[str, int], IntervalStats], dict[int, AgentTimeStats]]:
    """Fold events into statistics for calls that entered in [``start``, ``end``).

    Events may come in any order: a call's answer stored before its enqueue still counts.

    Agent time covers [``start``, ``end``) exactly: an agent's last state change before
    ``start`` (when the events hold one, as `line311.db.queue_models.load_events` gives with
    ``agent_states``) counts from ``start``, and the state an agent is in at ``end`` counts up
    to ``end`` (or to ``now`` when the range runs past it); changes at or after ``end`` are not
    read."""
    events = list(events)
    entered = {
        (e.queue, e.call_id) for e in events if isinstance(e, CallEnqueued) and start <= e.at < end
    }
    before: dict[str, AgentStateChanged] = {}
    agents: list[AgentStateChanged] = []
    calls: list[QueueEvent] = []
    for e in events:
        if isinstance(e, AgentStateChanged):
            if e.at < start:
                last = before.get(e.agent_id)
                if last is None or e.at >= last.at:
                    before[e.agent_id] = e
            elif e.at < end:
                agents.append(e)
        elif (e.queue, e.call_id) in entered:
            calls.append(e)
    agents.sort(key=lambda e: e.at)  # an agent's states are read in time order
    acc = IntervalAccumulator(policy)
    acc.feed_all(replace(e, at=start) for e in before.values())
    acc.feed_all(agents)
    acc.feed_all(calls)
    until = end if now is None else max(start, min(end, now))
    return dict(acc.intervals()), dict(acc.agent_time(now=until))
