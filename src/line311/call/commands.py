"""Commands the call-flow core emits: what the edge must *do* (imperative).

Ids are chosen by the core (deterministic, per call), so the edge can register waiters
for an id before it makes the REST call that may trigger the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ROUTER_COMMANDS",
    "AcceptOffer",
    "AddToBridge",
    "Answer",
    "CheckAudio",
    "CheckPin",
    "Command",
    "CreateBridge",
    "DestroyBridge",
    "EmitQueueEvent",
    "Enqueue",
    "Hangup",
    "HangupChannel",
    "HideIdentity",
    "HoldCaller",
    "LeaveQueue",
    "NoteInterpreterJoined",
    "Originate",
    "Play",
    "PlayPrompts",
    "PlayRecording",
    "QueueLegCommand",
    "ReadContact",
    "Record",
    "ReleaseAgent",
    "RemoveFromBridge",
    "RequestCallback",
    "RingOut",
    "SrLookup",
    "StartMoh",
    "StopMoh",
    "StopPlayback",
    "StopRecording",
    "SubmitAlert",
    "TellPosition",
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
    then: tuple[tuple[str, str], ...] = ()
    """Further ``(prompt_id, language)`` played after it in the same playback (one media
    list: one request, one ``PlaybackFinished`` at the end of the last)."""


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


# ---------------------------------------------------------------------- queue area
# Commands of the queued-call session (`line311.queue.leg`). The ARI ones are carried out in
# order by the queue edge; the router ones are answered at once with an event (see each).


@dataclass(frozen=True, slots=True)
class HoldCaller:
    """Put the caller on hold: music on hold on their own channel (no bridge: a holding
    bridge cost four requests per queued call -- create, add, remove, destroy -- for nothing
    the channel's own music does not do)."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class StartMoh:
    channel_id: str


@dataclass(frozen=True, slots=True)
class StopMoh:
    channel_id: str


@dataclass(frozen=True, slots=True)
class PlayPrompts:
    """Play prompts on one channel; the edge answers with `PlaybackFinished` (also when the
    playback fails, times out or the channel is gone)."""

    channel_id: str
    playback_id: str
    prompts: tuple[str, ...]
    language: str
    max_wait: float = 60.0
    """Seconds to wait for the end before carrying on as if it ended."""


@dataclass(frozen=True, slots=True)
class Originate:
    """Call ``endpoint`` into the app as channel ``channel_id`` (answers come as `ChannelUp`,
    failures as `ChannelGone`). ``callback``: the endpoint is the edge's callback dial string
    for the contact it read."""

    channel_id: str
    endpoint: str
    app_args: tuple[str, ...]
    caller_id: str
    dial_timeout: int
    callback: bool = False


@dataclass(frozen=True, slots=True)
class HangupChannel:
    channel_id: str


@dataclass(frozen=True, slots=True)
class CreateBridge:
    """Create mixing bridge ``bridge_id`` (a failure is reported as `CommandFailed`)."""

    bridge_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AddToBridge:
    """``critical``: a failure is reported as `CommandFailed` (and the rest of the batch is
    dropped); otherwise it is only logged."""

    bridge_id: str
    channel_ids: tuple[str, ...]
    critical: bool = True


@dataclass(frozen=True, slots=True)
class RemoveFromBridge:
    bridge_id: str
    channel_id: str


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True, slots=True)
class HideIdentity:
    """Give a channel a neutral caller id (``name``, ``number``) before it is bridged."""

    channel_id: str
    name: str
    number: str


@dataclass(frozen=True, slots=True)
class ReadContact:
    """Read where to call the caller back (kept by the edge); answered with `ContactRead`."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    """Router: the caller left the line (an abandon)."""


@dataclass(frozen=True, slots=True)
class AcceptOffer:
    """Router: the CCR answered; answered with `OfferAccepted` or `OfferRefused`.

    ``callback``: the leg calls the resident back once the whisper is over (False for a
    caller put through from the callback confirmation, whose place the router still keeps
    as a callback's); what the screen pop says. None (a worker of the release before, over
    the desk link): the router's own word on the call."""

    agent_id: str
    callback: bool | None = None


@dataclass(frozen=True, slots=True)
class RingOut:
    """Router: the offer to ``agent_id`` rang out (the call keeps its place).

    ``unreachable``: the CCR's phone could not be rung at all (not registered, Asterisk out
    of channels or media ports): not the CCR's miss, so no auto-pause for it; the CCR is held
    out of offers for a moment instead (`line311.routing.agents.AutoPausePolicy`)."""

    agent_id: str
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """Router: keep (``at_max_wait``: give back) the call's place as a callback; answered
    with `CallbackGranted`."""

    at_max_wait: bool = False


@dataclass(frozen=True, slots=True)
class ReleaseAgent:
    """Router: the CCR's call is over (wrap-up starts)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class TellPosition:
    """Router: where is the call in line? Answered with `PositionTold`."""


@dataclass(frozen=True, slots=True)
class EmitQueueEvent:
    """Hand a queue fact (`line311.queue.events`) to the hub and the call's record."""

    event: Any


@dataclass(frozen=True, slots=True)
class NoteInterpreterJoined:
    """For the call's record: the interpreter joined."""


ROUTER_COMMANDS: tuple[type, ...] = (
    LeaveQueue,
    AcceptOffer,
    RingOut,
    RequestCallback,
    ReleaseAgent,
    TellPosition,
    EmitQueueEvent,
    NoteInterpreterJoined,
)
"""What a queued call's leg asks of the router, not of Asterisk: answered by the edge that
holds the router (`line311.ari.queue_router`), in the same process or over the desk link
(`line311.live.desk`)."""

QueueLegCommand = (
    HoldCaller
    | StartMoh
    | StopMoh
    | PlayPrompts
    | Originate
    | HangupChannel
    | CreateBridge
    | AddToBridge
    | RemoveFromBridge
    | DestroyBridge
    | HideIdentity
    | ReadContact
    | StopPlayback
    | LeaveQueue
    | AcceptOffer
    | RingOut
    | RequestCallback
    | ReleaseAgent
    | TellPosition
    | EmitQueueEvent
    | NoteInterpreterJoined
)


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
    # queue area: the queued-call session
    | QueueLegCommand
)
