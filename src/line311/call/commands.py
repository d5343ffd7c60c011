"""Commands the call-flow core emits: what the edge must *do* (imperative).

Ids are chosen by the core (deterministic, per call), so the edge can register waiters
for an id before it makes the REST call that may trigger the event.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Answer", "Command", "Enqueue", "Hangup", "Play", "SrLookup", "StopPlayback", "Transfer"]


@dataclass(frozen=True, slots=True)
class Answer:
    pass


@dataclass(frozen=True, slots=True)
class Play:
    """Play prompt ``prompt_id`` in ``language``; the edge maps it to a sound file.

    Dynamic values (dates, numbers, SR digits) arrive already broken into catalogue prompts
    (``digits/3``, ``months/july`` ... see `line311.ivr.say`): the edge only plays prompt ids.
    """

    playback_id: str
    prompt_id: str
    language: str


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str = "normal"


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Hand the caller to the queue for a representative. The IVR session ends here.

    ``language`` is the caller's language (a routing requirement), ``topic`` the menu topic
    they were in (e.g. ``parking``, ``sr_status``, ``general``).
    """

    language: str
    topic: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class Transfer:
    """Refer the caller to another agency's line (a PJSIP trunk dial string). The session ends."""

    endpoint: str
    agency: str


@dataclass(frozen=True, slots=True)
class SrLookup:
    """Look up the status of service request ``sr_number`` (already validated); the edge
    answers with an `SrLookupResult` event. The caller's number is never part of a lookup."""

    sr_number: str


Command = Answer | Play | StopPlayback | Hangup | Enqueue | Transfer | SrLookup
