"""Commands the call-flow core emits: what the edge must *do* (imperative).

Ids are chosen by the core (deterministic, per call), so the edge can register waiters
for an id before it makes the REST call that may trigger the event.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Answer", "Command", "Hangup", "Play", "StopPlayback"]


@dataclass(frozen=True, slots=True)
class Answer:
    pass


@dataclass(frozen=True, slots=True)
class Play:
    """Play prompt ``prompt_id`` in ``language``; the edge maps it to a sound file."""

    playback_id: str
    prompt_id: str
    language: str


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str = "normal"


Command = Answer | Play | StopPlayback | Hangup
