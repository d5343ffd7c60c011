"""Gathering a queue leg's facts as they happen (pure; times are POSIX wall-clock seconds).

The queue runtime keeps one `LegBuilder` per queued call and tells it what happened: the
queue facts it emits anyway (`feed`), plus what is not a queue event (an offer rang, the
position was announced, the interpreter joined). Wherever the leg runs, its router commands
(`note`) and the router's answers and decisions for it (`heard`) say all of that. `build`
gives the frozen `QueueLeg` once the leg is over (`ended` is then true).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from line311.call.commands import EmitQueueEvent, NoteInterpreterJoined, RingOut
from line311.call.events import AgentOffered, PositionTold
from line311.call.record import Announcement, LegEnd, Offered, QueueLeg, from_timestamp
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)

__all__ = ["LegBuilder"]


class LegBuilder:
    """The facts of one queue leg so far. See the module docstring."""

    def __init__(self, event: CallEnqueued, skills: Iterable[str] = ()) -> None:
        self.call_id = event.call_id
        self.queue = event.queue
        self.topic = event.topic
        self.priority = event.priority
        self.enqueued_at = event.at
        self.skills = tuple(sorted(set(skills)))
        self.announcements: list[Announcement] = []
        self.offers: list[Offered] = []
        self.escalation_step = 0
        self.callback_at: float | None = None
        self.answered_at: float | None = None
        self.agent_id: str | None = None
        self.abandoned_at: float | None = None
        self.timed_out_at: float | None = None
        self.completed: CallCompleted | None = None
        self.interpreter = False
        self.interpreter_joined_at: float | None = None
        self.transfers: list[str] = []
        self.end: LegEnd | None = None
        self.ended_at: float | None = None

    @property
    def ended(self) -> bool:
        return self.end is not None

    # ------------------------------------------------------------------ facts
    def feed(self, event: object) -> None:
        """A queue event of this call (others, and events after the end, are ignored)."""
        if self.ended or getattr(event, "call_id", None) != self.call_id:
            return
        if isinstance(event, CallbackRequested):
            self.callback_at = event.at
        elif isinstance(event, CallAnswered):
            self.answered_at = event.at
            self.agent_id = event.agent_id
            self._mark_last_offer(event.agent_id, answered=True)
        elif isinstance(event, CallCompleted):
            self.completed = event
            self._finish(LegEnd.ANSWERED, event.at)
        elif isinstance(event, CallAbandoned) and event.media_server_lost:
            self._finish(LegEnd.MEDIA_SERVER_LOST, event.at)
        elif isinstance(event, CallAbandoned):
            self.abandoned_at = event.at
            self._finish(LegEnd.ABANDONED, event.at)
        elif isinstance(event, CallTimedOut):
            self.timed_out_at = event.at
            self._finish(LegEnd.TIMED_OUT, event.at)

    def note(self, command: object, now: float) -> None:
        """A router command of the leg at ``now``: the fact it emits, the interpreter who
        joined, an offer whose phone could not be rung (others say nothing of the call)."""
        if isinstance(command, EmitQueueEvent):
            self.feed(command.event)
        elif isinstance(command, NoteInterpreterJoined):
            self.interpreter_joined(now)
        elif isinstance(command, RingOut) and command.unreachable:
            self._mark_last_offer(command.agent_id, unreachable=True)

    def heard(self, event: object, now: float) -> None:
        """The router's answer or decision for the leg at ``now``: an offer (`offered`), the
        position told (`announced`); others say nothing of the call."""
        if isinstance(event, AgentOffered):
            self.offered(event.agent_id, now, step=event.step, interpreter=event.interpreter)
        elif isinstance(event, PositionTold) and event.position is not None:
            self.announced(now, event.position, event.estimate)

    def offered(
        self, agent_id: str, at: float, *, step: int = 0, interpreter: bool = False
    ) -> None:
        """A CCR's phone rings for this call, under escalation ``step``."""
        self.offers.append(Offered(from_timestamp(at), agent_id, step))
        self.escalation_step = max(self.escalation_step, step)
        self.interpreter = self.interpreter or interpreter

    def _mark_last_offer(
        self, agent_id: str, *, answered: bool = False, unreachable: bool = False
    ) -> None:
        for i in range(len(self.offers) - 1, -1, -1):
            offer = self.offers[i]
            if offer.agent_id == agent_id:
                self.offers[i] = Offered(
                    offer.at,
                    agent_id,
                    offer.step,
                    offer.answered or answered,
                    offer.unreachable or unreachable,
                )
                return

    def announced(self, at: float, position: int, ewt_seconds: float | None) -> None:
        """The caller was told their position (and the expected wait, when known)."""
        self.announcements.append(Announcement(from_timestamp(at), position, ewt_seconds))

    def interpreter_joined(self, at: float) -> None:
        self.interpreter_joined_at = at

    def transferred(self, target: str) -> None:
        self.transfers.append(target)

    def _finish(self, end: LegEnd, at: float) -> None:
        if self.end is None:
            self.end, self.ended_at = end, max(at, self.enqueued_at)

    # ------------------------------------------------------------------ result
    def build(self, now: float | None = None) -> QueueLeg:
        """The leg as it stands. A leg that is not over is built as interrupted at ``now``
        (default: its last fact), e.g. when the controller stops; the builder is unchanged."""
        end = self.end if self.end is not None else LegEnd.INTERRUPTED
        ended_at = self.ended_at
        if ended_at is None:
            ended_at = max(self._last_fact(), now if now is not None else self.enqueued_at)
        done = self.completed
        if end is LegEnd.ANSWERED and (self.answered_at is None or self.agent_id is None):
            end = LegEnd.INTERRUPTED  # completed without an answer: a bug upstream; keep it
        stop = {
            LegEnd.ANSWERED: self.answered_at,
            LegEnd.ABANDONED: self.abandoned_at,
            LegEnd.TIMED_OUT: self.timed_out_at,
            LegEnd.MEDIA_SERVER_LOST: ended_at,
        }.get(end)
        wait = None if stop is None else round(max(0.0, stop - self.enqueued_at), 3)
        return QueueLeg(
            queue=self.queue,
            enqueued_at=from_timestamp(self.enqueued_at),
            end=end,
            ended_at=from_timestamp(ended_at),
            skills=self.skills,
            topic=self.topic,
            priority=self.priority,
            escalation_step=self.escalation_step,
            announcements=tuple(self.announcements),
            offers=tuple(self.offers),
            callback_requested_at=_ts(self.callback_at),
            callback_kept=None if self.callback_at is None else end is LegEnd.ANSWERED,
            answered_at=_ts(self.answered_at),
            abandoned_at=_ts(self.abandoned_at),
            timed_out_at=_ts(self.timed_out_at),
            wait_seconds=wait,
            agent_id=self.agent_id,
            talk_seconds=None if done is None else round(done.talk_seconds, 3),
            hold_seconds=None if done is None else round(done.hold_seconds, 3),
            wrapup_seconds=None if done is None else round(done.wrapup_seconds, 3),
            ended_by=None if done is None else done.ended_by,
            transfers=tuple(self.transfers),
            interpreter=self.interpreter,
            interpreter_joined_at=_ts(self.interpreter_joined_at),
        )

    def _last_fact(self) -> float:
        times = [self.enqueued_at, self.callback_at, self.answered_at, self.interpreter_joined_at]
        return max(t for t in times if t is not None)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else from_timestamp(value)
