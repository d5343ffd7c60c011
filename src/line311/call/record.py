"""One record per call: the IVR part, the queue leg, and the final outcome (pure).

Theory of operation
-------------------
A call that stays in the IVR ends there, and its record is the IVR's. A call that asks for a
CCR leaves the IVR with ``Outcome.QUEUED`` and goes on in a queue; its record is written only
when the queue leg is over, with the leg's facts (`QueueLeg`) and the outcome of the *whole*
call (`final_outcome`)::

    IVR path ─┬─ resolved / hung up in the menus ──────────────────────▶ CallRecord
              └─ QUEUED ─▶ queue leg (answered, abandoned, timed out) ─▶ CallRecord

A call whose Asterisk died under it ends ``media_server_lost`` (in the IVR, or in the queue
before a CCR answered; an answered leg stays ``handled`` with ``ended_by`` naming the loss).

`Outcome` is the one vocabulary of call outcomes: the IVR session, the record schema of the
CRM bridge, the database and the dashboard all use it. Every stored time is an aware UTC
`datetime` taken from the same POSIX wall clock (``time.time``); `to_dict` writes ISO-8601.
The IVR path's own times (``at``, ``started_at``, ...) are POSIX seconds of that same clock:
the session runs on a monotonic clock, and `path_on_wall_clock` moves its times onto the wall
clock when the record is built.

The outcome vocabulary is in `line311.call.outcome`, the queue leg in `line311.call.queue_leg`
and the value checks in `line311.call.values`; the public names are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Self

from line311.call.outcome import IVR_RESOLVED, LegEnd, Outcome, RecordError
from line311.call.queue_leg import Announcement, Offered, QueueLeg
from line311.call.values import (
    _iso,
    _known,
    _mapping,
    _opt_time,
    _str,
    from_timestamp,
    parse_time,
    path_on_wall_clock,
)

__all__ = [
    "IVR_RESOLVED",
    "Announcement",
    "CallRecord",
    "LegEnd",
    "Offered",
    "Outcome",
    "QueueLeg",
    "RecordError",
    "final_outcome",
    "from_timestamp",
    "parse_time",
    "path_on_wall_clock",
]


def final_outcome(ivr_outcome: Outcome, leg: QueueLeg | None) -> Outcome:
    """The outcome of the whole call: the IVR's, or how its queue leg ended."""
    if leg is None:
        return ivr_outcome
    callback = leg.callback_requested_at is not None
    if leg.end is LegEnd.ANSWERED:
        return Outcome.CALLBACK_HANDLED if callback else Outcome.HANDLED
    if leg.end is LegEnd.ABANDONED:
        return Outcome.CALLBACK_FAILED if callback else Outcome.ABANDONED_IN_QUEUE
    if leg.end is LegEnd.TIMED_OUT:
        return Outcome.QUEUE_TIMEOUT
    if leg.end is LegEnd.MEDIA_SERVER_LOST:
        return Outcome.MEDIA_SERVER_LOST
    return Outcome.FAILED


@dataclass(frozen=True, slots=True)
class CallRecord:
    """The one record of a finished call. No caller number: ``caller_hash`` only.

    ``answered_at`` is when line311 answered the line (the IVR); the CCR's answer is
    ``queue_leg.answered_at``. ``queue`` and ``agent_id`` repeat the leg's, for indexing.
    """

    call_id: str
    dialed_number: str
    started_at: datetime
    ended_at: datetime
    outcome: Outcome
    caller_hash: str | None = None
    answered_at: datetime | None = None
    language: str = "en"
    queue: str | None = None
    agent_id: str | None = None
    path: Any = field(default_factory=dict)
    queue_leg: QueueLeg | None = None

    def __post_init__(self) -> None:
        if self.ended_at < self.started_at:
            raise RecordError("ended_at is before started_at")
        if self.answered_at is not None and not (
            self.started_at <= self.answered_at <= self.ended_at
        ):
            raise RecordError("answered_at must lie between started_at and ended_at")
        leg = self.queue_leg
        if leg is not None:
            if self.queue not in (None, leg.queue):
                raise RecordError("queue differs from queue_leg.queue")
            if self.agent_id not in (None, leg.agent_id):
                raise RecordError("agent_id differs from queue_leg.agent_id")
            object.__setattr__(self, "queue", leg.queue)
            object.__setattr__(self, "agent_id", leg.agent_id)

    def with_leg(self, leg: QueueLeg) -> CallRecord:
        """This (IVR) record joined with its queue leg: the call ends when the leg does."""
        ivr = Outcome(self.outcome)
        return replace(
            self,
            queue_leg=leg,
            queue=leg.queue,
            agent_id=leg.agent_id,
            ended_at=max(self.ended_at, leg.ended_at),
            outcome=final_outcome(ivr, leg),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, the shape ``POST /v1/calls`` takes."""
        return {
            "call_id": self.call_id,
            "dialed_number": self.dialed_number,
            "caller_hash": self.caller_hash,
            "started_at": _iso(self.started_at),
            "answered_at": _iso(self.answered_at),
            "ended_at": _iso(self.ended_at),
            "outcome": self.outcome.value,
            "language": self.language,
            "queue": self.queue,
            "agent_id": self.agent_id,
            "path": self.path,
            "queue_leg": None if self.queue_leg is None else self.queue_leg.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Parse `to_dict`'s output (or the controller's IVR record); `RecordError` if bad."""
        data = _mapping(data, "record")
        _known(data, cls, "record")
        try:
            outcome = Outcome(str(data.get("outcome")))
        except ValueError:
            raise RecordError(
                f"outcome must be one of {', '.join(o.value for o in Outcome)}"
            ) from None
        leg = data.get("queue_leg")
        return cls(
            call_id=_str(data.get("call_id"), "call_id"),
            dialed_number=_str(data.get("dialed_number"), "dialed_number"),
            caller_hash=_str(data.get("caller_hash"), "caller_hash", optional=True),
            started_at=parse_time(data.get("started_at"), "started_at"),
            answered_at=_opt_time(data.get("answered_at"), "answered_at"),
            ended_at=parse_time(data.get("ended_at"), "ended_at"),
            outcome=outcome,
            language=_str(data.get("language", "en"), "language"),
            queue=_str(data.get("queue"), "queue", optional=True),
            agent_id=_str(data.get("agent_id"), "agent_id", optional=True),
            path=data.get("path", {}),
            queue_leg=None if leg is None else QueueLeg.from_dict(_mapping(leg, "queue_leg")),
        )
