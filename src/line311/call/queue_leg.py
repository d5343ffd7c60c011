"""The queue half of a call record: `QueueLeg`, with the `Announcement`s heard and the
`Offered` attempts to reach a CCR (pure; serialised with `to_dict` / `from_dict`)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

from line311.call.outcome import LegEnd, RecordError
from line311.call.values import _iso, _known, _mapping, _name, _num, _opt_time, _str, parse_time

__all__ = ["Announcement", "Offered", "QueueLeg"]


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
    """A CCR's phone was rung for the call. ``step``: escalation steps in force (0: none);
    ``unreachable``: the phone could not be rung at all (not registered, no channel or port
    free in Asterisk), which is no miss of the CCR's."""

    at: datetime
    agent_id: str
    step: int = 0
    answered: bool = False
    unreachable: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {
            "at": _iso(self.at),
            "agent_id": self.agent_id,
            "step": self.step,
            "answered": self.answered,
        }
        if self.unreachable:  # only then: a CRM bridge of the release before reads the rest
            out["unreachable"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        _known(data, cls, "offer")
        step = data.get("step", 0)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise RecordError("offer.step must be a whole number")
        answered = data.get("answered", False)
        unreachable = data.get("unreachable", False)  # absent in records before it was kept
        for name, flag in (("answered", answered), ("unreachable", unreachable)):
            if not isinstance(flag, bool):
                raise RecordError(f"offer.{name} must be true or false")
        return cls(
            parse_time(data.get("at"), "offer.at"),
            _name(data.get("agent_id"), "offer.agent_id"),
            step,
            answered,
            unreachable,
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
            queue=_name(data.get("queue"), "queue_leg.queue"),
            end=end,
            skills=strings("skills"),
            topic=_str(data.get("topic", ""), "queue_leg.topic"),
            priority=whole("priority"),
            escalation_step=whole("escalation_step"),
            announcements=items("announcements", Announcement.from_dict),
            offers=items("offers", Offered.from_dict),
            callback_kept=flag("callback_kept", None),
            agent_id=_name(data.get("agent_id"), "queue_leg.agent_id", optional=True),
            ended_by=_str(data.get("ended_by"), "queue_leg.ended_by", optional=True),
            transfers=strings("transfers"),
            interpreter=bool(flag("interpreter", False)),
            **times,  # type: ignore[arg-type]
            **nums,
        )
