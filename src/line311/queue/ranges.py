"""Statistics of a time range of stored queue events (pure).

A call belongs to the 15-minute interval it *entered*; the facts that follow it (answer,
completion) are read up to `FOLLOW_UP` seconds past the end of the range. The database only
loads the events (`line311.db.queue_models.load_events`); `fold` does the maths here, with
the same `IntervalAccumulator` the live figures use.
"""

from __future__ import annotations

from collections.abc import Iterable
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
) -> tuple[dict[tuple[str, int], IntervalStats], dict[int, AgentTimeStats]]:
    """Fold events into statistics for calls that entered in [``start``, ``end``).

    Events may come in any order: a call's answer stored before its enqueue still counts."""
    events = list(events)
    entered = {
        (e.queue, e.call_id) for e in events if isinstance(e, CallEnqueued) and start <= e.at < end
    }
    kept: list[QueueEvent] = []
    for e in events:
        if isinstance(e, AgentStateChanged):
            if e.at < end:
                kept.append(e)
        elif (e.queue, e.call_id) in entered:
            kept.append(e)
    acc = IntervalAccumulator(policy)
    acc.feed_all(kept)
    return dict(acc.intervals()), dict(acc.agent_time())
