"""The ONE place where ARI's JSON events become line311 core events.

`translate` never raises: an event it does not need gives ``None`` (logged at DEBUG), a
malformed one gives ``None`` too (logged at WARNING, without the event's content, which may
hold a caller's number).

    StasisStart                  -> NewCall(channel_id, kind, dialed_number, caller_number)
    ChannelDtmfReceived          -> DtmfReceived(digit)
    PlaybackStarted              -> PlaybackStarted(playback_id)       (channel targets only)
    PlaybackFinished             -> PlaybackFinished(playback_id, failed=state == "failed")
    StasisEnd, ChannelDestroyed,
    ChannelHangupRequest         -> CallerHungUp(unreachable: the cause says nobody was reached)
    RecordingFinished,
    RecordingFailed              -> RecordingFinished(name, failed=RecordingFailed)
                                                                        (channel targets only)
    ApplicationMoveFailed        -> MoveFailed()        (a hand-off to another app failed)
    anything else                -> None

The caller number travels only inside `NewCall` (hidden from its repr) so that the controller
can hash it with `line311.privacy.caller_hash`; it is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from line311.ari.models import target_of
from line311.call.events import (
    CallerHungUp,
    DtmfReceived,
    Event,
    MoveFailed,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFinished,
)

__all__ = [
    "APP_EVENTS",
    "DTMF_DIGITS",
    "UNREACHABLE_CAUSES",
    "NewCall",
    "Translated",
    "translate",
    "unreachable",
]

logger = logging.getLogger(__name__)

DTMF_DIGITS = frozenset("0123456789*#ABCD")

APP_EVENTS: tuple[str, ...] = (
    "StasisStart",
    "StasisEnd",
    "ChannelDestroyed",
    "ChannelHangupRequest",
    "ChannelDtmfReceived",
    "PlaybackContinuing",
    "PlaybackFinished",
    "RecordingFinished",
    "RecordingFailed",
    "ApplicationReplaced",
    "ApplicationMoveFailed",
    "CallBroadcast",
    "DeviceStateChanged",
)
"""Every ARI event type the controller acts on: the ones `translate` turns into core events,
plus ``ApplicationReplaced`` (the client's own), ``CallBroadcast`` (an IVR worker's offer of a
new call, `line311.ari.workers.Claimer`) and ``DeviceStateChanged`` (a CCR phone's
registration, `line311.ari.phones`). The controller asks Asterisk for these only
(`line311.ari.client.AriClient` ``events``), so the rest of a call's chatter (ChannelVarset,
ChannelStateChange, ChannelDialplan, PlaybackContinuing, bridge events, ...) is never
serialised, sent or parsed. A type added to `translate` must be added here.

``ChannelHangupRequest`` repeats what ``StasisEnd`` says a moment later, but it is kept: it
comes first, before the caller's channel leaves Stasis, so the session hears of the hang-up
before it asks anything more of that channel (without it, a prompt started in that moment
fails with 404 and the call's outcome reads ``failed`` instead of the caller's hang-up).

``PlaybackStarted`` is not asked for: `translate` still turns it into a core event (a client
without the filter hears it), but no session acts on it (the IVR, the queue and the
supervisor line wait for ``PlaybackFinished``), and it was the most frequent event of a queued
call (2.8 per call: each prompt and each position message). ``PlaybackContinuing`` comes only
between the prompts of a media list (the IVR's, `line311.ivr.steps`): it tells which prompt of
the list is playing, for the call's record and for a resumed call."""


@dataclass(frozen=True, slots=True)
class Translated:
    """A core event for the call on channel ``channel_id``."""

    channel_id: str
    event: Event


@dataclass(frozen=True, slots=True)
class NewCall:
    """A channel entered our Stasis application.

    ``kind`` is the first Stasis argument (the dialplan passes ``inbound,${EXTEN}``; channels
    we originate carry ``outbound,...``); ``args`` are the remaining ones. ``dialed_number`` is
    the second argument when given, else the channel's dialplan extension.
    """

    channel_id: str
    kind: str
    dialed_number: str
    caller_number: str | None = field(default=None, repr=False)
    args: tuple[str, ...] = ()
    channel_name: str = ""


class _Malformed(Exception):
    pass


def _obj(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = event.get(key)
    if not isinstance(value, Mapping):
        raise _Malformed(f"missing object {key!r}")
    return value


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _Malformed(f"missing string {key!r}")
    return value


UNREACHABLE_CAUSES: Final = frozenset(
    {
        1,  # unallocated number
        2,  # no route to the network
        3,  # no route to the destination
        20,  # subscriber absent: the endpoint has no registered contact
        27,  # destination out of order
        34,  # no circuit or channel available (Asterisk's congestion)
        38,  # network out of order
        41,  # temporary failure
        42,  # switching equipment congestion
        44,  # requested channel not available
        47,  # resource unavailable (e.g. no RTP port free)
        58,  # bearer capability not available
        66,  # channel type not implemented
        88,  # incompatible destination
        102,  # recovery on timer expiry: the phone never replied (SIP timer B)
        111,  # protocol error
        127,  # interworking
    }
)
"""Q.850 hang-up causes (Asterisk's ``cause`` of ``ChannelDestroyed`` and
``ChannelHangupRequest``) that say the far end could not be reached at all. Not among them:
a phone that rang (16 normal clearing, 18 no user response, 19 no answer) or whose user said
no (17 busy, 21 rejected): that is a person's answer."""


def unreachable(event: Mapping[str, Any]) -> bool:
    """Whether a hang-up event says the channel's far end could not be reached: its
    ``cause`` is one of `UNREACHABLE_CAUSES`, or it has none (absent or 0, "Unknown") and the
    channel never left ``Down`` -- how Asterisk reports a dial it could not even start (seen
    with every RTP port taken: ``ChannelHangupRequest`` without a cause, then
    ``ChannelDestroyed`` cause 0, both ``Down``). A hang-up line311 asked for (a ring timeout)
    looks the same; the leg that asked knows it (`line311.queue.leg`)."""
    cause = event.get("cause")
    if type(cause) is int and cause in UNREACHABLE_CAUSES:
        return True
    channel = event.get("channel")
    state = channel.get("state") if isinstance(channel, Mapping) else None
    return cause in (None, 0) and state == "Down"


def _channel_id(event: Mapping[str, Any]) -> str:
    return _text(_obj(event, "channel"), "id")


def _new_call(event: Mapping[str, Any]) -> NewCall:
    channel = _obj(event, "channel")
    channel_id = _text(channel, "id")
    raw_args = event.get("args", [])
    if not isinstance(raw_args, list):
        raise _Malformed("'args' is not a list")
    args = tuple(str(a) for a in raw_args)
    kind = args[0] if args else "inbound"
    dialplan = channel.get("dialplan")
    exten = dialplan.get("exten") if isinstance(dialplan, Mapping) else None
    if len(args) > 1 and args[1]:
        dialed = args[1]
    elif isinstance(exten, str):
        dialed = exten
    else:
        dialed = ""
    caller = channel.get("caller")
    number = caller.get("number") if isinstance(caller, Mapping) else None
    name = channel.get("name")
    return NewCall(
        channel_id=channel_id,
        kind=kind,
        dialed_number=dialed,
        caller_number=number if isinstance(number, str) and number else None,
        args=args[1:],
        channel_name=name if isinstance(name, str) else "",
    )


def _playback(event: Mapping[str, Any]) -> tuple[str | None, str, str]:
    """(channel id or None for non-channel targets, playback id, state)."""
    playback = _obj(event, "playback")
    playback_id = _text(playback, "id")
    target = target_of(_text(playback, "target_uri"))
    if target is None:
        raise _Malformed("unparsable 'target_uri'")
    state = playback.get("state")
    channel_id = target[1] if target[0] == "channel" else None
    return channel_id, playback_id, state if isinstance(state, str) else ""


def _recording_finished(event: Mapping[str, Any], kind: str) -> Translated | None:
    recording = _obj(event, "recording")
    name = _text(recording, "name")
    target = target_of(_text(recording, "target_uri"))
    if target is None:
        raise _Malformed("unparsable 'target_uri'")
    if target[0] != "channel":
        logger.debug("ignoring %s on a non-channel target", kind)
        return None
    return Translated(target[1], RecordingFinished(name, failed=kind == "RecordingFailed"))


def _translate(event: Mapping[str, Any], kind: str) -> Translated | NewCall | None:
    if kind == "StasisStart":
        return _new_call(event)
    if kind == "ChannelDtmfReceived":
        digit = _text(event, "digit")
        if digit not in DTMF_DIGITS:
            raise _Malformed(f"unknown DTMF digit {digit!r}")
        return Translated(_channel_id(event), DtmfReceived(digit=digit))
    if kind in ("PlaybackStarted", "PlaybackContinuing", "PlaybackFinished"):
        channel_id, playback_id, state = _playback(event)
        if channel_id is None:
            logger.debug("ignoring %s on a non-channel target", kind)
            return None
        if kind == "PlaybackStarted":
            return Translated(channel_id, PlaybackStarted(playback_id=playback_id))
        if kind == "PlaybackContinuing":
            return Translated(channel_id, PlaybackContinuing(playback_id=playback_id))
        return Translated(
            channel_id, PlaybackFinished(playback_id=playback_id, failed=state == "failed")
        )
    if kind in ("StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"):
        return Translated(_channel_id(event), CallerHungUp(unreachable=unreachable(event)))
    if kind in ("RecordingFinished", "RecordingFailed"):
        return _recording_finished(event, kind)
    if kind == "ApplicationMoveFailed":
        return Translated(_channel_id(event), MoveFailed())
    logger.debug("ARI event %s has no core translation", kind)
    return None


def translate(event: Any) -> Translated | NewCall | None:
    """Translate one decoded ARI event; see the module docstring. Never raises."""
    if not isinstance(event, Mapping):
        logger.warning("dropping an ARI event that is not an object (%s)", type(event).__name__)
        return None
    kind = event.get("type")
    if not isinstance(kind, str) or not kind:
        logger.warning("dropping an ARI event without a type")
        return None
    try:
        return _translate(event, kind)
    except _Malformed as exc:
        logger.warning("dropping a malformed ARI %s event: %s", kind, exc)
        return None
