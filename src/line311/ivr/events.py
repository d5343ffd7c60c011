"""Events the call-flow core receives: things that *happened* (past tense).

The ARI edge (`line311.ari.translate`) is the only place that turns Asterisk's JSON into
these. They carry no caller number: the core never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Answered",
    "CallerHungUp",
    "CommandFailed",
    "DtmfReceived",
    "Event",
    "PlaybackFinished",
    "PlaybackStarted",
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


Event = Answered | PlaybackStarted | PlaybackFinished | DtmfReceived | CallerHungUp | CommandFailed
