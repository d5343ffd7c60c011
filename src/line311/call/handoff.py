"""A call on its way from an IVR worker to the controller that runs the queues (pure core).

An IVR worker (`line311.ari.workers`) runs the IVR of the calls it claimed. When a caller asks
for a representative, the IVR session ends with ``Enqueue`` and the call goes on as a
`HandoffSession` on the same channel::

    start / Resumed ──▶ MoveCall(app, args)          (handler: stores the hand-off, then
                                                      POST /channels/{id}/move)
      moved ──▶ CallerHungUp (StasisEnd here)   ──▶ finished, outcome "handed_off"
      MoveFailed / CommandFailed / no StasisEnd in `MOVE_WAIT` s
            ──▶ StartHold (music) once, try again in `RETRY_SECONDS`
      `MAX_TRIES` tries without a move ──▶ Hangup, outcome "failed"

The controller that receives the channel (StasisStart ``handover``) reads the stored hand-off
(the ``Enqueue`` and the IVR half of the record) and puts the caller in line. The caller hears
music while a move has to be tried again (the controller is restarting, say).

No I/O, no clock: ``now`` comes with every event; the state is a plain dict (`to_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from line311.call.commands import Hangup
from line311.call.events import CallerHungUp, CommandFailed, Event, MoveFailed, Resumed

__all__ = [
    "HANDED_OFF",
    "MAX_TRIES",
    "MOVE_WAIT",
    "RETRY_SECONDS",
    "HandoffSession",
    "MoveCall",
    "StartHold",
]

HANDED_OFF = "handed_off"
MOVE_WAIT = 3.0
"""Seconds to wait for the StasisEnd of an accepted move before trying again."""
RETRY_SECONDS = 1.0
MAX_TRIES = 30
"""About half a minute of tries: longer than the supervisor takes to restart a controller."""


@dataclass(frozen=True, slots=True)
class MoveCall:
    """Store the hand-off and move the channel to application ``app`` with ``args``."""

    channel_id: str
    app: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StartHold:
    """Music on hold on the channel while the move is tried again."""

    channel_id: str


class HandoffSession:
    """See the module docstring."""

    __slots__ = (
        "_commands",
        "_deadline",
        "_holding",
        "_outcome",
        "_tries",
        "app",
        "args",
        "call_id",
    )

    def __init__(self, call_id: str, app: str, args: Sequence[str], now: float) -> None:
        self.call_id = call_id
        self.app = app
        self.args = tuple(args)
        self._tries = 0
        self._holding = False
        self._outcome: str | None = None
        self._deadline: float | None = None
        self._commands: list[object] = []
        self._move(now)

    # ------------------------------------------------------------------ Session
    @property
    def finished(self) -> bool:
        return self._outcome is not None

    @property
    def outcome(self) -> object:
        return self._outcome

    @property
    def tries(self) -> int:
        return self._tries

    def receive(self, event: Event, now: float) -> None:
        if self.finished:
            return
        if isinstance(event, CallerHungUp):  # StasisEnd: it left us (moved, or hung up)
            self._end(HANDED_OFF)
        elif isinstance(event, Resumed):
            self._move(now)
        elif isinstance(event, MoveFailed | CommandFailed):
            self._retry_later(now)

    def commands(self) -> Sequence[object]:
        out, self._commands = self._commands, []
        return out

    def next_deadline(self) -> float | None:
        return None if self.finished else self._deadline

    def handle_timer(self, now: float) -> None:
        if self.finished or self._deadline is None or now < self._deadline:
            return
        self._move(now)

    # ------------------------------------------------------------------ steps
    def _move(self, now: float) -> None:
        if self._tries >= MAX_TRIES:
            self._commands.append(Hangup())
            self._end("failed")
            return
        self._tries += 1
        self._commands.append(MoveCall(self.call_id, self.app, self.args))
        self._deadline = now + MOVE_WAIT

    def _retry_later(self, now: float) -> None:
        if not self._holding:
            self._holding = True
            self._commands.append(StartHold(self.call_id))
        self._deadline = now + RETRY_SECONDS

    def _end(self, outcome: str) -> None:
        self._outcome = outcome
        self._deadline = None

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "app": self.app,
            "args": list(self.args),
            "tries": self._tries,
            "holding": self._holding,
            "deadline": self._deadline,
            "outcome": self._outcome,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HandoffSession:
        """A saved session; the runner then feeds `Resumed` (which tries the move again)."""
        session = cls.__new__(cls)
        session.call_id = str(data["call_id"])
        session.app = str(data["app"])
        session.args = tuple(str(a) for a in data.get("args") or ())
        session._tries = int(data.get("tries") or 0)
        session._holding = bool(data.get("holding"))
        deadline = data.get("deadline")
        session._deadline = None if deadline is None else float(deadline)
        outcome = data.get("outcome")
        session._outcome = None if outcome is None else str(outcome)
        session._commands = []
        return session
