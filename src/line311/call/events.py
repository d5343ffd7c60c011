"""Events the call-flow core receives: things that *happened* (past tense).

The ARI edge (`line311.ari.translate`) is the only place that turns Asterisk's JSON into
these. They carry no caller number: the core never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

from line311.call.alerts import PushedAlert

__all__ = [
    "AgentOffered",
    "AlertSubmitted",
    "AlertsChanged",
    "Answered",
    "AudioChecked",
    "CallbackGranted",
    "CallerHungUp",
    "ChannelGone",
    "ChannelUp",
    "CommandFailed",
    "ContactRead",
    "DtmfReceived",
    "Event",
    "MaxWaitReached",
    "MoveFailed",
    "OfferAccepted",
    "OfferRefused",
    "OfferWithdrawn",
    "PinChecked",
    "PlaybackContinuing",
    "PlaybackFinished",
    "PlaybackStarted",
    "PositionTold",
    "QueueLegEvent",
    "RecordingFinished",
    "Resumed",
    "SrLookupResult",
]


@dataclass(frozen=True, slots=True)
class Answered:
    """The caller's channel is up (our Answer command succeeded)."""


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    playback_id: str


@dataclass(frozen=True, slots=True)
class PlaybackContinuing:
    """One media of a list ended and the next begins (ARI ``PlaybackContinuing``, sent after
    every media of a list but the last, also after one Asterisk could not play)."""

    playback_id: str


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A playback ended. ``failed`` is true when Asterisk could not play the media
    (ARI reports state ``failed``, e.g. a missing file); a stopped playback is not a failure."""

    playback_id: str
    failed: bool = False


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    digit: str  # one of 0-9, *, #, A-D


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    """The caller's channel went away (StasisEnd / ChannelDestroyed / ChannelHangupRequest).

    ``media_server_lost``: the channel went because the Asterisk that held it died (the edge
    found at a re-sync that the server started after the call did): a system failure, not a
    caller who gave up, and the record says so.

    ``unreachable``: Asterisk's hang-up cause says the channel's far end could not be reached
    at all (no route, not registered, congestion, no channel or media port free, no reply):
    for a channel line311 dialled (a CCR's phone), the system's failure, not a person's."""

    media_server_lost: bool = False
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """The edge could not carry out a command (Asterisk refused it or is unreachable)."""

    command: str
    reason: str


@dataclass(frozen=True, slots=True)
class SrLookupResult:
    """The answer to an `SrLookup` command.

    ``result`` is ``"found"``, ``"not_found"`` or ``"unavailable"`` (CRM unreachable or
    erroring). When found, ``status`` is the request's status code (``open``, ``in_progress``,
    ``assigned``, ``pending``, ``closed``; anything else is read as "being handled") and
    ``updated`` the ISO date (``YYYY-MM-DD``) of its last update, when known.
    """

    sr_number: str
    result: str
    status: str | None = None
    updated: str | None = None


@dataclass(frozen=True, slots=True)
class AlertsChanged:
    """The pushed alerts now live changed; ``alerts`` replaces the session's list (a plain
    prompt id stands for an untargeted alert).

    An alert already played in this call is not played again; the others play at their
    moment (after the greeting, the language choice or on entering their node) if they are
    still in the list then.
    """

    alerts: tuple[str | PushedAlert, ...]


# ------------------------------------------------ messaging: the supervisor line
# Recording on a channel (ARI RecordingFinished / RecordingFailed), and the answers of the
# supervisor line's own commands (`line311.call.commands` CheckPin, CheckAudio, SubmitAlert).
@dataclass(frozen=True, slots=True)
class RecordingFinished:
    """The live recording ``name`` on the call's channel ended (``failed``: RecordingFailed)."""

    name: str
    failed: bool = False


@dataclass(frozen=True, slots=True)
class PinChecked:
    """The answer to `CheckPin`: ``ok`` with the supervisor's ``username``; ``locked`` when
    the line is (now) locked."""

    ok: bool
    username: str = ""
    locked: bool = False


@dataclass(frozen=True, slots=True)
class AudioChecked:
    """The answer to `CheckAudio`. ``problem``: None when the recording ``name`` is usable,
    else ``too-short``, ``too-long``, ``silent`` or ``corrupt``."""

    name: str
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class AlertSubmitted:
    """The answer to `SubmitAlert`: the new alert's id, or None when submitting failed."""

    alert_id: str | None


# ---------------------------------------------------------------------- queue area
# Events of the queued-call session (`line311.queue.leg`). Channel ids are the ones the leg
# chose (or the caller's own); the edge feeds what Asterisk and the router said.


@dataclass(frozen=True, slots=True)
class AgentOffered:
    """The router reserved a CCR for this call: ring ``endpoint``."""

    agent_id: str
    endpoint: str
    step: int = 0
    interpreter: bool = False


@dataclass(frozen=True, slots=True)
class OfferWithdrawn:
    """The router withdrew the ringing offer (the CCR logged out)."""


@dataclass(frozen=True, slots=True)
class OfferAccepted:
    """The router took the CCR's answer (reply to `AcceptOffer`)."""


@dataclass(frozen=True, slots=True)
class OfferRefused:
    """The router found the answered offer stale (reply to `AcceptOffer`)."""


@dataclass(frozen=True, slots=True)
class MaxWaitReached:
    """The router took the call out of line: its queue's maximum wait ran out."""

    waited: float


@dataclass(frozen=True, slots=True)
class ChannelUp:
    """A channel the leg originated answered (its StasisStart)."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class ChannelGone:
    """One of the leg's channels hung up, vanished, or could not be originated.

    ``unreachable``: it could not be originated, or Asterisk could not reach its far end
    (see `CallerHungUp`); for a CCR's phone, nobody was rung."""

    channel_id: str
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class ContactRead:
    """Reply to `ReadContact`: whether a number and address to call back are known (the edge
    keeps them; the core never sees them)."""

    found: bool


@dataclass(frozen=True, slots=True)
class PositionTold:
    """Reply to `TellPosition`: the place in line (None: no longer in line) and the
    expected wait in seconds (None: unknown)."""

    position: int | None
    estimate: float | None = None


@dataclass(frozen=True, slots=True)
class CallbackGranted:
    """Reply to `RequestCallback`: ``ok`` when the router keeps (or gives back) the place."""

    ok: bool


QueueLegEvent = (
    AgentOffered
    | OfferWithdrawn
    | OfferAccepted
    | OfferRefused
    | MaxWaitReached
    | ChannelUp
    | ChannelGone
    | ContactRead
    | PositionTold
    | CallbackGranted
)


# ---------------------------------------------------------------------------- runner
@dataclass(frozen=True, slots=True)
class Resumed:
    """The session was rebuilt from its saved state by another controller process (or after a
    restart): what was under way on the channel may have been lost while nobody listened (a
    prompt's end, a lookup's answer). The session re-does it: replays the interrupted prompt,
    asks again, answers again."""


@dataclass(frozen=True, slots=True)
class MoveFailed:
    """Asterisk could not move the channel to the application it was sent to
    (``ApplicationMoveFailed``): the channel is still in ours."""


Event = (
    Answered
    | PlaybackStarted
    | PlaybackContinuing
    | PlaybackFinished
    | DtmfReceived
    | CallerHungUp
    | CommandFailed
    | SrLookupResult
    | AlertsChanged
    # messaging: the supervisor line
    | RecordingFinished
    | PinChecked
    | AudioChecked
    | AlertSubmitted
    # queue area: the queued-call session
    | QueueLegEvent
    | Resumed  # runner
    | MoveFailed  # a hand-off between controller processes
)
