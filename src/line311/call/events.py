"""Events the call-flow core receives: things that *happened* (past tense).

The ARI edge (`line311.ari.translate`) is the only place that turns Asterisk's JSON into
these. They carry no caller number: the core never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

from line311.call.alerts import PushedAlert

__all__ = [
    "AlertsChanged",
    "Answered",
    "CallerHungUp",
    "CommandFailed",
    "DtmfReceived",
    "Event",
    "PlaybackFinished",
    "PlaybackStarted",
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
    """The caller's channel went away (StasisEnd / ChannelDestroyed / ChannelHangupRequest)."""


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


# ---------------------------------------------------------------------------- runner
@dataclass(frozen=True, slots=True)
class Resumed:
    """The session was rebuilt from its saved state by another controller process (or after a
    restart): what was under way on the channel may have been lost while nobody listened (a
    prompt's end, a lookup's answer). The session re-does it: replays the interrupted prompt,
    asks again, answers again."""


Event = (
    Answered
    | PlaybackStarted
    | PlaybackFinished
    | DtmfReceived
    | CallerHungUp
    | CommandFailed
    | SrLookupResult
    | AlertsChanged
    | Resumed  # runner
)
