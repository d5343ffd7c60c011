"""Commands the call-flow core emits: what the edge must *do* (imperative).

Ids are chosen by the core (deterministic, per call), so the edge can register waiters
for an id before it makes the REST call that may trigger the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Answer",
    "CheckAudio",
    "CheckPin",
    "Command",
    "Enqueue",
    "Hangup",
    "Play",
    "PlayRecording",
    "Record",
    "SrLookup",
    "StopPlayback",
    "StopRecording",
    "SubmitAlert",
    "Transfer",
]


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


# ------------------------------------------------ messaging: the supervisor line
# Recording on the call's channel (generic ARI), and the supervisor line's own steps, which
# the edge answers with `line311.call.events` PinChecked, AudioChecked, AlertSubmitted.
@dataclass(frozen=True, slots=True)
class Record:
    """Record the channel into the stored recording ``name`` (overwritten if it exists), at
    most ``max_seconds``; ``beep`` first; ``terminate_on`` (a DTMF digit) ends it. The edge
    answers with `RecordingFinished` when it ends."""

    name: str
    max_seconds: int
    beep: bool = True
    terminate_on: str = "#"


@dataclass(frozen=True, slots=True)
class StopRecording:
    """Stop the live recording ``name`` (keeping what was recorded)."""

    name: str


@dataclass(frozen=True, slots=True)
class PlayRecording:
    """Play the stored recording ``name`` back to the caller (a playback like `Play`)."""

    playback_id: str
    name: str


@dataclass(frozen=True, slots=True)
class CheckPin:
    """Check a supervisor's sign-in on ``line`` (the calling endpoint, where failures count)."""

    line: str
    phone_id: str
    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class CheckAudio:
    """Measure the stored recording ``name`` (length, loudness) against the alert limits."""

    name: str


@dataclass(frozen=True, slots=True)
class SubmitAlert:
    """Create an IVR announcement from the stored recording and submit it for approval."""

    username: str
    recording: str
    language: str
    all_callers: bool
    hours: int


Command = (
    Answer
    | Play
    | StopPlayback
    | Hangup
    | Enqueue
    | Transfer
    | SrLookup
    # messaging: the supervisor line
    | Record
    | StopRecording
    | PlayRecording
    | CheckPin
    | CheckAudio
    | SubmitAlert
)
