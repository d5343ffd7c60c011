"""The buckets `line311.queue.intervals.IntervalAccumulator` folds events into.

A `_Cell` holds the mutable counters of one (queue, 15-minute interval) and freezes into
`IntervalStats`; `_Call` is the little record kept per call in progress; `_AgentCell` holds
agent seconds per activity for one interval, filled by `add_agent_time`. Pure, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from line311.queue.events import (
    AgentActivity,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.service_level import BASE_INTERVAL, IntervalStats, SlPolicy


class _Cell:
    """Mutable counters of one (queue, 15-minute interval); frozen into IntervalStats on read."""

    __slots__ = (
        "abandon_wait_total",
        "abandoned",
        "abandoned_within",
        "answer_wait_total",
        "answered",
        "answered_within",
        "callbacks_requested",
        "handled",
        "hold_total",
        "longest_wait",
        "offered",
        "short_abandons",
        "talk_total",
        "timed_out",
        "wrapup_total",
    )

    def __init__(self) -> None:
        self.offered = 0
        self.answered = 0
        self.answered_within = 0
        self.abandoned = 0
        self.abandoned_within = 0
        self.short_abandons = 0
        self.timed_out = 0
        self.callbacks_requested = 0
        self.handled = 0
        self.answer_wait_total = 0.0
        self.abandon_wait_total = 0.0
        self.longest_wait = 0.0
        self.talk_total = 0.0
        self.hold_total = 0.0
        self.wrapup_total = 0.0

    def freeze(self, policy: SlPolicy) -> IntervalStats:
        return IntervalStats(
            threshold=policy.threshold,
            short_abandon_threshold=policy.short_abandon_threshold,
            offered=self.offered,
            answered=self.answered,
            answered_within=self.answered_within,
            abandoned=self.abandoned,
            abandoned_within=self.abandoned_within,
            short_abandons=self.short_abandons,
            timed_out=self.timed_out,
            callbacks_requested=self.callbacks_requested,
            handled=self.handled,
            answer_wait_total=self.answer_wait_total,
            abandon_wait_total=self.abandon_wait_total,
            longest_wait=self.longest_wait,
            talk_total=self.talk_total,
            hold_total=self.hold_total,
            wrapup_total=self.wrapup_total,
        )


class _Status(enum.Enum):
    WAITING = "waiting"
    CALLBACK = "callback"
    ANSWERED = "answered"
    FINISHED = "finished"  # abandoned, timed out or completed: later events are duplicates


@dataclass(slots=True)
class _Call:
    enqueued_at: float
    cell: _Cell
    status: _Status = _Status.WAITING
    callback: bool = False


_CallKey = tuple[str, str]  # (queue, call_id)

# Held events of one call are replayed by time, and at equal times in the order they happen.
_CAUSAL_RANK: Final[Mapping[type, int]] = {
    CallEnqueued: 0,
    CallbackRequested: 1,
    CallAnswered: 2,
    CallAbandoned: 2,
    CallTimedOut: 2,
    CallCompleted: 3,
}

_AGENT_FIELDS: Final[Mapping[AgentActivity, str | None]] = {
    AgentActivity.AVAILABLE: "available",
    AgentActivity.RESERVED: "reserved",
    AgentActivity.ON_CALL: "on_call",
    AgentActivity.WRAP_UP: "wrap_up",
    AgentActivity.PAUSED: "paused",
    AgentActivity.LOGGED_OUT: None,
}


@dataclass(slots=True)
class _AgentSegment:
    state: AgentActivity
    since: float


@dataclass(slots=True)
class _AgentCell:
    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(
            ("available", "reserved", "on_call", "wrap_up", "paused"), 0.0
        )
    )


def add_agent_time(
    cells: dict[int, _AgentCell], state: AgentActivity, start: float, end: float
) -> None:
    """Add an agent's time in ``state`` from ``start`` to ``end`` to ``cells``, split at the
    15-minute boundaries it spans."""
    name = _AGENT_FIELDS[state]
    if name is None:
        return
    t = start
    while t < end:
        boundary = int(t // BASE_INTERVAL) * BASE_INTERVAL
        stop = min(end, boundary + BASE_INTERVAL)
        cell = cells.get(boundary)
        if cell is None:
            cell = cells[boundary] = _AgentCell()
        cell.seconds[name] += stop - t
        t = stop
