"""One record per call: the IVR part, the queue leg, and the final outcome (pure).

Theory of operation
-------------------
A call that stays in the IVR ends there, and its record is the IVR's. A call that asks for a
CCR leaves the IVR with ``Outcome.QUEUED`` and goes on in a queue; its record is written only
when the queue leg is over, with the leg's facts (`QueueLeg`) and the outcome of the *whole*
call (`final_outcome`)::

    IVR path ─┬─ resolved / hung up in the menus ──────────────────────▶ CallRecord
              └─ QUEUED ─▶ queue leg (answered, abandoned, timed out) ─▶ CallRecord

`Outcome` is the one vocabulary of call outcomes: the IVR session, the record schema of the
CRM bridge, the database and the dashboard all use it. Every stored time is an aware UTC
`datetime` taken from the same POSIX wall clock (``time.time``); `to_dict` writes ISO-8601.
The IVR path's own times (``at``, ``started_at``, ...) are POSIX seconds of that same clock:
the session runs on a monotonic clock, and `path_on_wall_clock` moves its times onto the wall
clock when the record is built.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Self

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


class RecordError(ValueError):
    """A call record (or queue leg) that does not hold together; the message says why."""


class Outcome(enum.StrEnum):
    """How a call ended. The value is what the record, the database and the dashboard carry."""

    # the IVR
    COMPLETED = "completed"
    """The IVR finished its flow and hung up, with no resolution."""
    ABANDONED = "abandoned"
    """The caller hung up in the thin layer (before the start node was left)."""
    FAILED = "failed"
    """Something went wrong (a command failed, a watchdog fired, the controller stopped)."""
    SELF_SERVED = "self_served"
    """The caller heard self-service information."""
    QUEUED = "queued"
    """Handed to a queue; only the IVR's own view: the final record says how the leg ended."""
    REFERRED = "referred"
    """Transferred to another agency's line."""
    SR_LOOKUP = "sr_lookup"
    """The caller heard the status of their service request."""
    ABANDONED_IN_IVR = "abandoned_in_ivr"
    """The caller hung up in the menus without a resolution."""
    # the queue leg
    HANDLED = "handled"
    """A CCR answered and spoke with the caller."""
    CALLBACK_HANDLED = "callback_handled"
    """The caller asked for a callback, kept their place, and a CCR reached them."""
    ABANDONED_IN_QUEUE = "abandoned_in_queue"
    """The caller hung up while waiting (or while a CCR's phone rang)."""
    CALLBACK_FAILED = "callback_failed"
    """The caller asked for a callback and could not be reached when their turn came."""
    QUEUE_TIMEOUT = "queue_timeout"
    """The queue gave up (maximum wait reached)."""


IVR_RESOLVED = frozenset({Outcome.SELF_SERVED, Outcome.SR_LOOKUP, Outcome.REFERRED})
"""Outcomes that count as resolved in the IVR (no CCR needed)."""


class LegEnd(enum.StrEnum):
    """How a queue leg ended."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    """The controller stopped while the call was still in the queue."""


def path_on_wall_clock(path: Any, offset: float) -> Any:
    """``path`` with every time in it (a number under a key ``at`` or ``*_at``) moved by
    ``offset`` seconds, from the session's clock onto the wall clock; nothing else changes."""
    if isinstance(path, Mapping):
        return {
            key: (
                round(value + offset, 3)
                if (key == "at" or key.endswith("_at"))
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                else path_on_wall_clock(value, offset)
            )
            for key, value in path.items()
        }
    if isinstance(path, list):
        return [path_on_wall_clock(item, offset) for item in path]
    return path


def from_timestamp(ts: float) -> datetime:
    """A POSIX wall-clock time as an aware UTC datetime (millisecond precision)."""
    return datetime.fromtimestamp(round(ts, 3), tz=UTC)


def parse_time(value: object, name: str) -> datetime:
    """An aware datetime from a datetime or an ISO-8601 string; `RecordError` otherwise."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(f"{name} is not an ISO-8601 time") from None
    else:
        raise RecordError(f"{name} must be an ISO-8601 time")
    if when.tzinfo is None:
        raise RecordError(f"{name} must carry a timezone")
    return when


def _opt_time(value: object, name: str) -> datetime | None:
    return None if value is None else parse_time(value, name)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds")


def _str(value: object, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{name} must be a string")
    return value


def _num(value: object, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{name} must be a number")
    if value < 0:
        raise RecordError(f"{name} must not be negative")
    return float(value)


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecordError(f"{name} must be an object")
    return value


def _known(data: Mapping[str, Any], cls: type[Any], name: str) -> None:
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise RecordError(f"{name}: unknown field(s) {', '.join(unknown)}")


@dataclass(frozen=True, slots=True)
class Announcement:
    """What the waiting caller was told: their position and, when known, the expected wait."""

    at: datetime
    position: int
    ewt_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": _iso(self.at), "position": self.position, "ewt_seconds": self.ewt_seconds}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        _known(data, cls, "announcement")
        position = data.get("position")
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise RecordError("announcement.position must be a whole number")
        return cls(
            parse_time(data.get("at"), "announcement.at"),
            position,
            _num(data.get("ewt_seconds"), "announcement.ewt_seconds", optional=True),
        )


@dataclass(frozen=True, slots=True)
class Offered:
    """A CCR's phone rang for the call. ``step``: escalation steps in force (0: none)."""

    at: datetime
    agent_id: str
    step: int = 0
    answered: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "agent_id": self.agent_id,
            "step": self.step,
            "answered": self.answered,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        _known(data, cls, "offer")
        step = data.get("step", 0)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise RecordError("offer.step must be a whole number")
        answered = data.get("answered", False)
        if not isinstance(answered, bool):
            raise RecordError("offer.answered must be true or false")
        return cls(
            parse_time(data.get("at"), "offer.at"),
            _str(data.get("agent_id"), "offer.agent_id"),
            step,
            answered,
        )


_LEG_TIMES = (
    "enqueued_at",
    "callback_requested_at",
    "answered_at",
    "abandoned_at",
    "timed_out_at",
    "interpreter_joined_at",
    "ended_at",
)


@dataclass(frozen=True, slots=True)
class QueueLeg:
    """The queue half of a call: from entering the queue to the end of the conversation.

    ``wait_seconds`` runs from ``enqueued_at`` to the answer, abandon or time-out (a callback
    keeps its place, so its wait runs until the resident is reached). ``talk_seconds``,
    ``hold_seconds`` and ``wrapup_seconds`` are set for answered calls.
    """

    queue: str
    enqueued_at: datetime
    end: LegEnd
    ended_at: datetime
    skills: tuple[str, ...] = ()
    topic: str = ""
    priority: int = 0
    escalation_step: int = 0
    announcements: tuple[Announcement, ...] = ()
    offers: tuple[Offered, ...] = ()
    callback_requested_at: datetime | None = None
    callback_kept: bool | None = None
    """None: no callback asked; True: the resident was reached; False: they were not."""
    answered_at: datetime | None = None
    abandoned_at: datetime | None = None
    timed_out_at: datetime | None = None
    wait_seconds: float | None = None
    agent_id: str | None = None
    talk_seconds: float | None = None
    hold_seconds: float | None = None
    wrapup_seconds: float | None = None
    ended_by: str | None = None
    transfers: tuple[str, ...] = ()
    interpreter: bool = False
    interpreter_joined_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.ended_at < self.enqueued_at:
            raise RecordError("queue leg: ended_at is before enqueued_at")
        if self.end is LegEnd.ANSWERED and (self.answered_at is None or self.agent_id is None):
            raise RecordError("queue leg: an answered leg needs answered_at and agent_id")
        if self.end is LegEnd.ABANDONED and self.abandoned_at is None:
            raise RecordError("queue leg: an abandoned leg needs abandoned_at")
        for name in _LEG_TIMES:
            when = getattr(self, name)
            if when is not None and when.tzinfo is None:
                raise RecordError(f"queue leg: {name} must carry a timezone")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = _iso(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            elif f.name in ("announcements", "offers"):
                value = [item.to_dict() for item in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Parse `to_dict`'s output; `RecordError` names the first field that is wrong."""
        data = _mapping(data, "queue_leg")
        _known(data, cls, "queue_leg")
        try:
            end = LegEnd(str(data.get("end")))
        except ValueError:
            raise RecordError(f"queue_leg.end must be one of {[e.value for e in LegEnd]}") from None
        times = {n: _opt_time(data.get(n), f"queue_leg.{n}") for n in _LEG_TIMES}
        for required in ("enqueued_at", "ended_at"):
            if times[required] is None:
                raise RecordError(f"queue_leg.{required} is required")

        def strings(name: str) -> tuple[str, ...]:
            value = data.get(name, [])
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise RecordError(f"queue_leg.{name} must be a list of strings")
            return tuple(value)

        def items(name: str, parse: Any) -> tuple[Any, ...]:
            value = data.get(name, [])
            if not isinstance(value, list | tuple):
                raise RecordError(f"queue_leg.{name} must be a list")
            return tuple(parse(_mapping(v, f"queue_leg.{name}[]")) for v in value)

        def whole(name: str) -> int:
            value = data.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise RecordError(f"queue_leg.{name} must be a whole number")
            return value

        def flag(name: str, default: bool | None) -> Any:
            value = data.get(name, default)
            if value is not None and not isinstance(value, bool):
                raise RecordError(f"queue_leg.{name} must be true or false")
            return value

        nums = {
            n: _num(data.get(n), f"queue_leg.{n}", optional=True)
            for n in ("wait_seconds", "talk_seconds", "hold_seconds", "wrapup_seconds")
        }
        return cls(
            queue=_str(data.get("queue"), "queue_leg.queue"),
            end=end,
            skills=strings("skills"),
            topic=_str(data.get("topic", ""), "queue_leg.topic"),
            priority=whole("priority"),
            escalation_step=whole("escalation_step"),
            announcements=items("announcements", Announcement.from_dict),
            offers=items("offers", Offered.from_dict),
            callback_kept=flag("callback_kept", None),
            agent_id=_str(data.get("agent_id"), "queue_leg.agent_id", optional=True),
            ended_by=_str(data.get("ended_by"), "queue_leg.ended_by", optional=True),
            transfers=strings("transfers"),
            interpreter=bool(flag("interpreter", False)),
            **times,  # type: ignore[arg-type]
            **nums,
        )


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
