"""One caller's path through the IVR: a pure, sans-I/O state machine.

Theory of operation
-------------------
The ARI edge owns the sockets and the clock; this module owns the decisions. The edge feeds
`CallSession.receive` the *events* it translated from Asterisk (past tense: ``Answered``,
``PlaybackFinished``, ``DtmfReceived`` ...) together with the time they happened, then drains
`CallSession.commands` and carries them out (imperative: ``Answer``, ``Play``, ``Hangup``).
The session never reads a clock: it tells the edge when it next needs to be woken
(`next_deadline`) and the edge calls `handle_timer` once that time has passed::

        edge                              CallSession
    StasisStart     ── CallSession(...) ──▶ ANSWERING   ──▶ [Answer]
    ChannelStateUp  ── Answered ──────────▶ PLAYING     ──▶ [Play greeting]
    PlaybackFinished ─ PlaybackFinished ──▶ DONE        ──▶ [Hangup]
    (deadline)      ── handle_timer ──────▶ DONE/failed ──▶ [Hangup]

Every transition is one entry of ``_TRANSITIONS``, keyed by ``(State, event type)``. A pair
missing from the table is a protocol violation: the session hangs up, ends in ``DONE`` with
outcome ``failed`` and puts the reason in `record` (the edge logs it at WARNING). Once the
session is ``DONE`` it emits nothing more, whatever it is fed.

Ids of playbacks are chosen here (``<call_id>-p<n>``) so the edge can register a waiter for
an id before it asks Asterisk to play.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

from line311.ivr.commands import Answer, Command, Hangup, Play
from line311.ivr.errors import SessionRestoreError
from line311.ivr.events import (
    Answered,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    Event,
    PlaybackFinished,
    PlaybackStarted,
)

__all__ = [
    "ANSWER_TIMEOUT",
    "DEFAULT_MAX_PLAYBACK",
    "CallSession",
    "Outcome",
    "State",
]

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT = 5.0
"""Seconds the edge has to confirm our ``Answer`` before the session gives up on the call."""

DEFAULT_MAX_PLAYBACK = 120.0
"""Default longest time one prompt may take to play before the session assumes it is stuck."""

_SCHEMA = 1


class State(enum.Enum):
    """Where the session is. ``DONE`` is the only terminal state."""

    ANSWERING = "answering"
    PLAYING = "playing"
    DONE = "done"


class Outcome(enum.Enum):
    """How the call left the IVR; the value is what goes into the call record."""

    COMPLETED = "completed"
    """The IVR finished its flow and hung up."""
    ABANDONED = "abandoned"
    """The caller hung up before the flow finished."""
    FAILED = "failed"
    """Something went wrong (a command failed, a watchdog fired, an unexpected event)."""
    SELF_SERVED = "self_served"
    QUEUED = "queued"
    REFERRED = "referred"
    SR_LOOKUP = "sr_lookup"
    ABANDONED_IN_IVR = "abandoned_in_ivr"


_Handler = Callable[["CallSession", Any, float], None]


class CallSession:
    """The call-flow state machine for one call. See the module docstring.

    ``flow`` is reserved for the declarative flow engine; ``None`` runs the built-in
    "greeting, then hang up" flow.
    """

    def __init__(
        self,
        call_id: str,
        dialed_number: str,
        now: float,
        *,
        flow: object | None = None,
        language: str = "en",
        max_playback: float = DEFAULT_MAX_PLAYBACK,
    ) -> None:
        self.call_id = call_id
        self.dialed_number = dialed_number
        self.language = language
        self.max_playback = max_playback
        self._flow = flow
        self._state = State.ANSWERING
        self._outcome: Outcome | None = None
        self._pending: list[Command] = []
        self._deadline: float | None = now + ANSWER_TIMEOUT
        self._deadline_reason = "answer-timeout"
        self._playback_seq = 0
        self._current_playback: str | None = None
        self._record: dict[str, Any] = {
            "schema": _SCHEMA,
            "call_id": call_id,
            "dialed_number": dialed_number,
            "started_at": now,
            "answered_at": None,
            "ended_at": None,
            "language": language,
            "nodes": [],
            "digits": [],
            "prompts": [],
            "alerts": [],
            "outcome": None,
            "end_reason": None,
        }
        self._emit(Answer())

    # ------------------------------------------------------------------ public API
    @property
    def state(self) -> State:
        return self._state

    @property
    def finished(self) -> bool:
        return self._state is State.DONE

    @property
    def outcome(self) -> Outcome | None:
        return self._outcome

    def receive(self, event: Event, now: float) -> None:
        """Feed one event that happened at ``now``. Deadlines already passed fire first."""
        self.handle_timer(now)
        if self.finished:
            return
        handler = _TRANSITIONS.get((self._state, type(event)))
        before = self._state
        if handler is None:
            self._end(
                now,
                Outcome.FAILED,
                f"unexpected {type(event).__name__} in state {self._state.value}",
            )
        else:
            handler(self, event, now)
        logger.debug(
            "transition %s --%s--> %s", before.value, type(event).__name__, self._state.value
        )

    def commands(self) -> list[Command]:
        """Return and forget the commands emitted since the last call, in order."""
        out, self._pending = self._pending, []
        return out

    def next_deadline(self) -> float | None:
        """When `handle_timer` must next be called; ``None`` when nothing is timed."""
        return None if self.finished else self._deadline

    def handle_timer(self, now: float) -> None:
        """Fire the pending deadline if ``now`` has reached it; otherwise do nothing."""
        if self.finished or self._deadline is None or now < self._deadline:
            return
        before = self._state
        reason = self._deadline_reason
        self._end(now, Outcome.FAILED, reason)
        logger.debug("transition %s --%s--> %s", before.value, reason, self._state.value)

    def record(self) -> dict[str, Any]:
        """The JSON-able path of the call so far (a copy)."""
        record: dict[str, Any] = _copy(self._record)
        return record

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to resume this call in another process (JSON-able)."""
        return {
            "schema": _SCHEMA,
            "call_id": self.call_id,
            "dialed_number": self.dialed_number,
            "language": self.language,
            "max_playback": self.max_playback,
            "state": self._state.value,
            "outcome": None if self._outcome is None else self._outcome.value,
            "deadline": self._deadline,
            "deadline_reason": self._deadline_reason,
            "playback_seq": self._playback_seq,
            "current_playback": self._current_playback,
            "record": _copy(self._record),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, flow: object | None = None) -> CallSession:
        """Rebuild a session saved by `to_dict`. Pending (undrained) commands are not kept."""
        try:
            if data["schema"] != _SCHEMA:
                raise SessionRestoreError(f"unsupported session schema {data['schema']!r}")
            self = cls.__new__(cls)
            self.call_id = str(data["call_id"])
            self.dialed_number = str(data["dialed_number"])
            self.language = str(data["language"])
            self.max_playback = float(data["max_playback"])
            self._flow = flow
            self._state = State(data["state"])
            self._outcome = None if data["outcome"] is None else Outcome(data["outcome"])
            self._pending = []
            self._deadline = None if data["deadline"] is None else float(data["deadline"])
            self._deadline_reason = str(data["deadline_reason"])
            self._playback_seq = int(data["playback_seq"])
            self._current_playback = data["current_playback"]
            self._record = _copy(data["record"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SessionRestoreError(f"cannot resume session: {exc!r}") from exc
        return self

    # ------------------------------------------------------------------ helpers
    def _emit(self, command: Command) -> None:
        self._pending.append(command)

    def _play(self, prompt_id: str, now: float) -> None:
        self._playback_seq += 1
        playback_id = f"{self.call_id}-p{self._playback_seq}"
        self._current_playback = playback_id
        self._record["prompts"].append(
            {"prompt_id": prompt_id, "language": self.language, "at": now}
        )
        self._deadline = now + self.max_playback
        self._deadline_reason = "playback-timeout"
        self._emit(Play(playback_id=playback_id, prompt_id=prompt_id, language=self.language))

    def _end(self, now: float, outcome: Outcome, reason: str, *, hangup: bool = True) -> None:
        if hangup:
            self._emit(Hangup(reason="normal" if outcome is Outcome.COMPLETED else reason))
        self._state = State.DONE
        self._outcome = outcome
        self._deadline = None
        self._current_playback = None
        self._record["ended_at"] = now
        self._record["outcome"] = outcome.value
        self._record["end_reason"] = reason

    # ------------------------------------------------------------------ transitions
    def _on_answered(self, event: Answered, now: float) -> None:
        self._record["answered_at"] = now
        self._record["nodes"].append({"node": "greeting", "at": now})
        self._state = State.PLAYING
        self._play("greeting", now)

    def _on_playback_finished(self, event: PlaybackFinished, now: float) -> None:
        if event.playback_id != self._current_playback:
            return  # a stale playback (one we stopped earlier): nothing to do
        if event.failed:
            self._end(now, Outcome.FAILED, f"playback-failed:{event.playback_id}")
        else:
            self._end(now, Outcome.COMPLETED, "flow-finished")

    def _on_caller_hung_up(self, event: CallerHungUp, now: float) -> None:
        self._end(now, Outcome.ABANDONED, "caller-hung-up", hangup=False)

    def _on_command_failed(self, event: CommandFailed, now: float) -> None:
        self._end(now, Outcome.FAILED, f"command-failed:{event.command}:{event.reason}")

    def _ignore(self, event: Event, now: float) -> None:
        """Benign events that change nothing (e.g. PlaybackStarted, DTMF while answering)."""


_TRANSITIONS: dict[tuple[State, type[Any]], _Handler] = {
    (State.ANSWERING, Answered): CallSession._on_answered,
    (State.ANSWERING, DtmfReceived): CallSession._ignore,
    (State.ANSWERING, CallerHungUp): CallSession._on_caller_hung_up,
    (State.ANSWERING, CommandFailed): CallSession._on_command_failed,
    (State.PLAYING, PlaybackStarted): CallSession._ignore,
    (State.PLAYING, PlaybackFinished): CallSession._on_playback_finished,
    (State.PLAYING, DtmfReceived): CallSession._ignore,
    (State.PLAYING, CallerHungUp): CallSession._on_caller_hung_up,
    (State.PLAYING, CommandFailed): CallSession._on_command_failed,
}
"""The whole behaviour of the session: (state, event type) -> handler. Anything else is fatal."""


def _copy(value: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, scalars)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
