"""The shapes every call session and every edge agree on (pure).

A *session* is one party's part of a call as a sans-I/O state machine: the IVR caller
(`line311.ivr.session.CallSession`), the queued call (`line311.queue.leg`), the supervisor
line (`line311.messaging.phone`). The runner (`line311.ari`) feeds it events with the time
they happened, takes the commands it asks for, wakes it at its deadline, and saves its
`to_dict` after every step so another controller process can carry it on (`from_dict`).

A *clock* is the one time source of a process. Every time a session sees is a wall-clock
instant in seconds since the epoch (``clock.now()``), so a state saved by one process means
the same thing to the next; nothing in the core reads the clock itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from line311.call.events import Event

__all__ = ["Clock", "Session", "SystemClock"]


class Clock(Protocol):
    """The one clock of a process, injected wherever time is needed."""

    def now(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...


class SystemClock:
    """The real clock (`time.time`)."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()


@runtime_checkable
class Session(Protocol):
    """One sans-I/O call session, as the runner drives it."""

    @property
    def finished(self) -> bool: ...

    @property
    def outcome(self) -> object: ...

    def receive(self, event: Event, now: float) -> None:
        """Take one event that happened at ``now``."""
        ...

    def commands(self) -> Sequence[object]:
        """The commands the last `receive`/`handle_timer` produced (taken once)."""
        ...

    def next_deadline(self) -> float | None:
        """When `handle_timer` must be called next (None: no timer)."""
        ...

    def handle_timer(self, now: float) -> None: ...

    def to_dict(self) -> dict[str, Any]:
        """The whole state, JSON-serialisable; `from_dict` of the same class rebuilds it."""
        ...
