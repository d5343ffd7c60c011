"""The queued call as a sans-I/O session: one caller from ``Enqueue`` to the end of its leg.

Over 400 lines: the whole per-call machine (one table, its handlers and its state) reads in
one place, which is the point of the module.

The router (global: who takes which call) stays in the edge; it tells the leg its decisions
as events (`AgentOffered`, `MaxWaitReached`, `OfferWithdrawn`), and the leg asks it for
changes with router commands (`LeaveQueue`, `AcceptOffer`, ...) that the edge answers at
once with an event where one is due. Everything the leg asks of Asterisk is a command too;
channel and bridge ids are chosen here, so a saved state names them.

    WAITING ──AgentOffered──▶ RINGING ──ChannelUp(agent)+OfferAccepted──▶ WHISPER
       ▲  │                     │ ChannelGone(agent) / timer / OfferWithdrawn / Resumed: WAITING
       │  └──MaxWaitReached──▶ EXPIRED ──1 + contact──▶ WAITING (callback) ; else goodbye, ENDED
    WHISPER ──PlaybackFinished──▶ CONNECTED (caller + CCR) | DIALING (callback) ──ChannelUp──▶
    CONNECTED ──any side hangs up──▶ ENDED (CallCompleted)
    the caller hangs up (ChannelGone(caller) or CallerHungUp) while waiting / ringing ──▶
        ENDED (CallAbandoned; ``media_server_lost`` when CallerHungUp says their Asterisk died)

A callback's CCR calls the resident back once the caller is let go; one who answers while
the caller still hears the callback confirmation has them put through instead.

``TRANSITIONS`` is the table: (phase, event type) -> handler. A pair not in it is ignored
(logged at DEBUG): every event may arrive in every phase (late ARI events are normal).
Times are wall-clock epoch seconds from the edge's clock. The caller's number never enters
the leg: `ReadContact` leaves it with the edge, which dials it for `Originate(callback=True)`
(and keeps it, sealed, with the call's saved state: `line311.ari.contact_seal`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from line311.call.commands import (
    AcceptOffer,
    AddToBridge,
    Command,
    CreateBridge,
    DestroyBridge,
    EmitQueueEvent,
    HangupChannel,
    HideIdentity,
    HoldCaller,
    LeaveQueue,
    NoteInterpreterJoined,
    Originate,
    PlayPrompts,
    ReadContact,
    ReleaseAgent,
    RemoveFromBridge,
    RequestCallback,
    RingOut,
    StartMoh,
    StopMoh,
    StopPlayback,
    TellPosition,
)
from line311.call.events import (
    AgentOffered,
    CallbackGranted,
    CallerHungUp,
    ChannelGone,
    ChannelUp,
    CommandFailed,
    ContactRead,
    DtmfReceived,
    Event,
    MaxWaitReached,
    OfferAccepted,
    OfferRefused,
    OfferWithdrawn,
    PlaybackFinished,
    PositionTold,
    Resumed,
)
from line311.ivr.catalogue import spoken_language
from line311.ivr.say import say_minutes, say_number
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallTimedOut,
)

__all__ = ["TRANSITIONS", "LegOptions", "Phase", "QueuedCall", "Role"]

logger = logging.getLogger(__name__)

CALLBACK_DIGIT = "1"
RING_GRACE = 3.0


class Phase(enum.Enum):
    WAITING = "waiting"
    EXPIRED = "expired"  # max wait reached: the apology and the callback offer
    RINGING = "ringing"
    WHISPER = "whisper"
    DIALING = "dialing"  # callback: the CCR is in, the resident is being called
    CONNECTED = "connected"
    ENDED = "ended"


class Role(enum.Enum):
    CALLER = "caller"
    AGENT = "agent"
    RESIDENT = "resident"
    INTERPRETER = "interpreter"


class _Offer(enum.Enum):
    """Where the max-wait offer stands (phase EXPIRED)."""

    PLAYING = "playing"
    ANSWERING = "answering"  # played; the caller has a few seconds to press 1
    READING = "reading"  # pressed 1; reading the contact / asking the router
    GOODBYE = "goodbye"


@dataclass(frozen=True, slots=True)
class LegOptions:
    """The settings a leg needs (from `line311.ari.queueing.QueueOptions` and the queue)."""

    ring_timeout: int = 15
    announce_first: float = 2.0
    announce_interval: float = 45.0
    periodic_interval: float = 60.0
    whisper_language: str = "en"
    max_wait_offer_timeout: float = 8.0
    interpreter_endpoint: str = "PJSIP/interpreter"
    callback_dial_timeout: int = 30
    caller_id: str = "311"
    wrapup_seconds: float = 0.0


Handler = Callable[["QueuedCall", Any, float], None]


class QueuedCall:
    """One queued call. See the module docstring."""

    def __init__(
        self,
        call_id: str,
        queue: str,
        *,
        language: str,
        topic: str,
        whisper_topic: str,
        entered_at: float,
        options: LegOptions,
        caller_channel: str | None = None,
        priority: int = 0,
    ) -> None:
        self.call_id = call_id
        self.priority = priority
        self.queue = queue
        self.language = language
        self.topic = topic
        self.whisper_topic = whisper_topic
        self.entered_at = entered_at
        self.options = options
        self.phase = Phase.WAITING
        self.callback = False
        self.callback_at: float | None = None
        """When the callback was granted (kept with the state: the record of a resumed call
        still says a callback was requested)."""
        self.has_contact = False
        self.caller_channel: str | None = caller_channel if caller_channel is not None else call_id
        self.hold_bridge: str | None = None
        """A holding bridge: only in a state saved by an earlier version (which put the caller
        in one); it is destroyed as it was then. `HoldCaller` now needs none."""
        self.bridge: str | None = None
        self.agent_channel: str | None = None
        self.resident_channel: str | None = None
        self.interpreter_channel: str | None = None
        self.agent_id: str | None = None
        self.endpoint: str | None = None
        self.step = 0
        self.interpreter = False
        self.accepting = False
        self.answered_at: float | None = None
        self.next_position_at: float | None = entered_at + options.announce_first
        self.next_periodic_at: float | None = (
            entered_at + options.periodic_interval if options.periodic_interval > 0 else None
        )
        self.announcing: str | None = None  # playback id of a running announcement
        self.asking_position = False
        self.requesting = False  # pressed 1 while waiting: contact / router being asked
        self.confirming: str | None = None  # playback id of the callback confirmation
        self.offer_stage: _Offer | None = None
        self.offer_playback: str | None = None
        self.answer_deadline: float | None = None
        self.ring_deadline: float | None = None
        self.goodbye: str | None = None
        self.ended_by: str | None = None
        self.result: str | None = None
        self.seq = 0
        self.playing: dict[str, float] = {}
        """Playbacks under way -> when to carry on as if they ended (their ``max_wait``)."""
        self._commands: list[Command] = [HoldCaller(self.caller_channel)]

    # ------------------------------------------------------------------ Session
    @property
    def heard_in(self) -> str:
        """The language the caller hears the queue's prompts in: ``language``, or English for
        a caller of none of the seven (``und``: routing's requirement, the record's value)."""
        return spoken_language(self.language)

    @property
    def finished(self) -> bool:
        return self.phase is Phase.ENDED

    @property
    def outcome(self) -> str | None:
        """``answered``, ``abandoned``, ``timed_out`` (or ``None`` while the leg goes on)."""
        return self.result

    def receive(self, event: Event, now: float) -> None:
        handler = TRANSITIONS.get((self.phase, type(event)))
        if handler is None:
            logger.debug("call %s: %s ignored in %s", self.call_id, event, self.phase.value)
            return
        before = self.phase
        if isinstance(event, PlaybackFinished):
            self.playing.pop(event.playback_id, None)
        handler(self, event, now)
        self._arm_playbacks(now)
        logger.debug(
            "call %s: transition %s --%s--> %s",
            self.call_id, before.value, type(event).__name__, self.phase.value,
        )  # fmt: skip

    def commands(self) -> list[Command]:
        out, self._commands = self._commands, []
        return out

    def next_deadline(self) -> float | None:
        times: list[float] = list(self.playing.values())
        if self.phase is Phase.RINGING and self.ring_deadline is not None:
            times.append(self.ring_deadline)
        if self.phase is Phase.EXPIRED and self.answer_deadline is not None:
            times.append(self.answer_deadline)
        if self._may_announce():
            times += [t for t in (self.next_position_at, self.next_periodic_at) if t is not None]
        return min(times) if times else None

    def handle_timer(self, now: float) -> None:
        overdue = sorted(pid for pid, at in self.playing.items() if at <= now)
        if overdue:
            for pid in overdue:
                logger.warning("call %s: playback %s did not finish in time", self.call_id, pid)
                self.receive(PlaybackFinished(pid), now)
            self.playing = {p: t for p, t in self.playing.items() if p not in overdue}
            return
        self._timers(now)
        self._arm_playbacks(now)

    def _arm_playbacks(self, now: float) -> None:
        """Each playback asked for has a deadline: its end may never be reported (the channel
        went, or the event was lost while no controller listened)."""
        if self.phase is Phase.ENDED:
            self.playing.clear()
            return
        for command in self._commands:
            if isinstance(command, PlayPrompts) and command.playback_id not in self.playing:
                self.playing[command.playback_id] = now + command.max_wait

    def _timers(self, now: float) -> None:
        if self.phase is Phase.RINGING and self.ring_deadline is not None:
            if self.ring_deadline <= now and self.agent_channel is not None:
                logger.info("call %s: %s did not answer in time", self.call_id, self.agent_id)
                self.ring_deadline = None
                self._do(HangupChannel(self.agent_channel))
        elif self.phase is Phase.EXPIRED:
            if self.answer_deadline is not None and self.answer_deadline <= now:
                self.answer_deadline = None
                self._max_wait_goodbye(now)
        elif self._may_announce():
            if self.next_position_at is not None and self.next_position_at <= now:
                self.next_position_at = now + self.options.announce_interval
                self.asking_position = True
                self._do(TellPosition())
            elif self.next_periodic_at is not None and self.next_periodic_at <= now:
                self.next_periodic_at = now + self.options.periodic_interval
                self._announce(["queue/periodic"])

    # ------------------------------------------------------------------ state
    def channels(self) -> dict[str, Role]:
        """The live channels of this call and what each is."""
        pairs = (
            (self.caller_channel, Role.CALLER),
            (self.agent_channel, Role.AGENT),
            (self.resident_channel, Role.RESIDENT),
            (self.interpreter_channel, Role.INTERPRETER),
        )
        return {c: r for c, r in pairs if c is not None}

    _FIELDS: ClassVar[tuple[str, ...]] = (
        "call_id", "queue", "priority", "language", "topic", "whisper_topic", "entered_at",
        "callback", "has_contact", "caller_channel", "hold_bridge", "bridge", "agent_channel",
        "resident_channel", "interpreter_channel", "agent_id", "endpoint", "step",
        "interpreter", "accepting", "answered_at", "next_position_at", "next_periodic_at",
        "announcing", "asking_position", "requesting", "confirming", "offer_playback",
        "answer_deadline", "ring_deadline", "goodbye", "ended_by", "result", "seq",
    )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in self._FIELDS}
        data["phase"] = self.phase.value
        data["offer_stage"] = None if self.offer_stage is None else self.offer_stage.value
        data["options"] = asdict(self.options)
        data["playing"] = dict(self.playing)
        data["callback_at"] = self.callback_at
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueuedCall:
        leg = cls(
            data["call_id"],
            data["queue"],
            language=data["language"],
            topic=data["topic"],
            whisper_topic=data["whisper_topic"],
            entered_at=data["entered_at"],
            options=LegOptions(**data["options"]),
        )
        for name in cls._FIELDS:
            setattr(leg, name, data[name])
        leg.phase = Phase(data["phase"])
        stage = data["offer_stage"]
        leg.offer_stage = None if stage is None else _Offer(stage)
        leg.playing = {str(k): float(v) for k, v in (data.get("playing") or {}).items()}
        at = data.get("callback_at")  # absent in a state saved before it was kept
        leg.callback_at = None if at is None else float(at)
        leg._commands = []
        return leg

    # ------------------------------------------------------------------ helpers
    def _do(self, *commands: Command) -> None:
        self._commands.extend(commands)

    def _next_id(self, kind: str) -> str:
        self.seq += 1
        return f"{self.call_id}-{kind}{self.seq}"

    def _emit(self, event: object) -> None:
        self._do(EmitQueueEvent(event))

    def _may_announce(self) -> bool:
        return (
            self.phase is Phase.WAITING
            and not self.callback
            and self.announcing is None
            and not self.asking_position
            and not self.requesting
            and self.caller_channel is not None
        )

    def _announce(self, prompts: list[str]) -> None:
        channel = self.caller_channel
        if channel is None:
            return
        playback = self._next_id("ann")
        self.announcing = playback
        prompts = [*prompts, "queue/callback_offer"]
        self._do(StopMoh(channel), PlayPrompts(channel, playback, tuple(prompts), self.heard_in))

    def _stop_announcement(self) -> None:
        if self.announcing is not None:
            self._do(StopPlayback(self.announcing))

    def _confirm_callback(self) -> None:
        """Tell the caller they will be called back (then let them go; the call stays)."""
        channel = self.caller_channel
        if channel is None:
            return
        self.confirming = self._next_id("cb")
        prompts = ("queue/callback_confirmed",)
        self._do(StopMoh(channel), PlayPrompts(channel, self.confirming, prompts, self.heard_in))

    def _let_caller_go(self) -> None:
        if self.hold_bridge is not None:
            self._do(DestroyBridge(self.hold_bridge))
            self.hold_bridge = None
        if self.caller_channel is not None:
            channel, self.caller_channel = self.caller_channel, None
            self._do(HangupChannel(channel))

    def _finish(self, result: str) -> None:
        self.result = result
        self.phase = Phase.ENDED
        self._teardown()

    def _teardown(self) -> None:
        """Hang up whatever legs remain and destroy the bridges (the call is over)."""
        self.phase = Phase.ENDED
        for channel in (
            self.caller_channel,
            self.agent_channel,
            self.resident_channel,
            self.interpreter_channel,
        ):
            if channel is not None:
                self._do(HangupChannel(channel))
        self.caller_channel = self.agent_channel = None
        self.resident_channel = self.interpreter_channel = None
        for bridge in (self.hold_bridge, self.bridge):
            if bridge is not None:
                self._do(DestroyBridge(bridge))
        self.hold_bridge = self.bridge = None
        self.ring_deadline = self.answer_deadline = None

    def _release_agent(self) -> None:
        if self.agent_id is not None:
            self._do(ReleaseAgent(self.agent_id))

    def _end_connected(self, now: float, ended_by: str) -> None:
        answered = self.answered_at if self.answered_at is not None else now
        self.ended_by = ended_by
        self._emit(
            CallCompleted(
                self.call_id,
                self.queue,
                now,
                talk_seconds=max(0.0, now - answered),
                wrapup_seconds=self.options.wrapup_seconds,
                ended_by=ended_by,
            )
        )
        logger.info("call %s ended by the %s after %.1f s", self.call_id, ended_by, now - answered)
        self._release_agent()
        self._finish("answered")

    def _callback_failed(self, now: float) -> None:
        """The resident could not be reached: an abandon; the CCR goes to wrap-up."""
        logger.info("call %s: callback did not reach the resident", self.call_id)
        self._emit(CallAbandoned(self.call_id, self.queue, now))
        self._release_agent()
        self._finish("abandoned")

    def _back_to_waiting(self) -> None:
        self.agent_channel = self.agent_id = self.endpoint = None
        self.accepting = False
        self.ring_deadline = None
        self.phase = Phase.WAITING

    def _max_wait_goodbye(self, now: float) -> None:
        """The max-wait offer ended without a callback: record it and say goodbye."""
        self._emit(CallTimedOut(self.call_id, self.queue, now, "max-wait", callback_offered=True))
        self.result = "timed_out"
        channel = self.caller_channel
        if channel is None:
            self._teardown()
            return
        self.offer_stage = _Offer.GOODBYE
        self.goodbye = self._next_id("bye")
        prompts = ("queue/max_wait_goodbye",)
        self._do(PlayPrompts(channel, self.goodbye, prompts, self.heard_in))

    def _dial_interpreter(self) -> None:
        channel = self._next_id("i")
        self.interpreter_channel = channel
        self._do(
            Originate(
                channel,
                self.options.interpreter_endpoint,
                ("outbound", "interpreter", self.call_id),
                self.options.caller_id,
                30,
            )
        )

    def _hide(self, channel: str) -> HideIdentity:
        name = f"{self.options.caller_id} {self.language} {self.topic}"
        return HideIdentity(channel, name, self.options.caller_id)

    # ------------------------------------------------------------------ handlers: router
    def _on_offered(self, event: AgentOffered, now: float) -> None:
        channel = self._next_id("a")
        self.phase = Phase.RINGING
        self.agent_id, self.endpoint = event.agent_id, event.endpoint
        self.step, self.interpreter = event.step, event.interpreter
        self.agent_channel = channel
        self.ring_deadline = now + self.options.ring_timeout + RING_GRACE
        logger.info("call %s: offering to %s", self.call_id, event.agent_id)
        self._do(
            Originate(
                channel,
                event.endpoint,
                ("outbound", "agent", self.call_id),
                f"{self.options.caller_id} {self.language} {self.topic}",
                self.options.ring_timeout,
            )
        )

    def _on_withdrawn(self, event: OfferWithdrawn, now: float) -> None:
        if self.agent_channel is not None:
            self._do(HangupChannel(self.agent_channel))
        self._back_to_waiting()

    def _on_accepted(self, event: OfferAccepted, now: float) -> None:
        if not self.accepting or self.agent_channel is None or self.agent_id is None:
            return
        self.accepting = False
        self.ring_deadline = None
        self.phase = Phase.WHISPER
        if not self.callback:
            self.answered_at = now
            self._emit(CallAnswered(self.call_id, self.queue, now, self.agent_id))
        logger.info("call %s answered by %s", self.call_id, self.agent_id)
        prompts = ["whisper/callback"] if self.callback else []
        prompts += [f"whisper/lang/{self.language}", f"whisper/topic/{self.whisper_topic}"]
        if self.interpreter:
            prompts.append("whisper/interpreter")
        channel = self.agent_channel
        whisper = PlayPrompts(
            channel, f"{channel}-whisper", tuple(prompts), self.options.whisper_language, 15.0
        )
        self._do(whisper)

    def _put_through(self) -> None:
        """A CCR answers a callback whose caller is still on the line, hearing the callback
        confirmation: they are put through as they are (calling their number back would
        ring the very phone still on this call). The callback stays asked for (its record
        says so); the call goes on as a live one."""
        logger.info("call %s: a CCR came before the caller was let go; put through", self.call_id)
        if self.confirming is not None:
            self._do(StopPlayback(self.confirming))
            self.playing.pop(self.confirming, None)
            self.confirming = None
        self.callback = False

    def _on_refused(self, event: OfferRefused, now: float) -> None:
        if not self.accepting:
            return
        logger.info("call %s: answer for a stale offer; hanging the CCR up", self.call_id)
        if self.agent_channel is not None:
            self._do(HangupChannel(self.agent_channel))
        self._back_to_waiting()
        if self.callback_at is not None and not self.callback:  # `_put_through` it was
            self.callback = True  # the router keeps it as a callback: so does the leg
            self._confirm_callback()  # told again from the start, then let go

    def _on_max_wait(self, event: MaxWaitReached, now: float) -> None:
        channel = self.caller_channel
        if channel is None:
            self._emit(CallTimedOut(self.call_id, self.queue, now, "max-wait"))
            self._finish("timed_out")
            return
        logger.info("call %s waited %.0f s: offering a callback", self.call_id, event.waited)
        self.phase = Phase.EXPIRED
        self._stop_announcement()
        self.requesting = False
        self._do(StopMoh(channel), self._offer(channel))

    def _offer(self, channel: str) -> PlayPrompts:
        """The max-wait offer, played from its start (a new playback id)."""
        self.offer_stage = _Offer.PLAYING
        self.offer_playback = self._next_id("mw")
        prompts = ("queue/max_wait_offer",)
        return PlayPrompts(channel, self.offer_playback, prompts, self.heard_in)

    def _on_position(self, event: PositionTold, now: float) -> None:
        if not self.asking_position:
            return
        self.asking_position = False
        if event.position is None or not self._may_announce():
            return  # the call left the queue meanwhile
        prompts = ["queue/position", *say_number(event.position, self.heard_in)]
        if event.estimate is not None:
            minutes = round(event.estimate / 60)
            if minutes < 1:
                prompts.append("queue/wait_short")
            else:
                prompts += ["queue/wait_about", *say_minutes(min(minutes, 999), self.heard_in)]
        self._announce(prompts)

    def _on_granted(self, event: CallbackGranted, now: float) -> None:
        if self.phase is Phase.EXPIRED:
            if self.offer_stage is not _Offer.READING:
                return
            if not event.ok:
                self._max_wait_goodbye(now)
                return
            self.phase = Phase.WAITING
            self.offer_stage = None
            self.callback, self.callback_at = True, now
            self._emit(CallbackRequested(self.call_id, self.queue, now, at_max_wait=True))
            logger.info("call %s: callback taken at max wait; place kept", self.call_id)
            self._confirm_callback()
            return
        if not self.requesting:
            return
        self.requesting = False
        if not event.ok:
            return
        self.callback, self.callback_at = True, now
        self._emit(CallbackRequested(self.call_id, self.queue, now))
        logger.info("call %s: callback requested; the call keeps its place", self.call_id)
        self._confirm_callback()

    # ------------------------------------------------------------------ handlers: the caller
    def _on_digit(self, event: DtmfReceived, now: float) -> None:
        if event.digit != CALLBACK_DIGIT or self.caller_channel is None:
            return
        if self.phase is Phase.EXPIRED:
            if self.offer_stage is _Offer.PLAYING and self.offer_playback is not None:
                self._do(StopPlayback(self.offer_playback))  # pressed during the offer
            if self.offer_stage in (_Offer.PLAYING, _Offer.ANSWERING):
                self.offer_stage = _Offer.READING
                self.answer_deadline = None
                self._do(ReadContact(self.caller_channel))
            return
        if self.phase is not Phase.WAITING or self.callback or self.requesting:
            return
        self.requesting = True
        self._stop_announcement()
        self._do(ReadContact(self.caller_channel))

    def _on_contact(self, event: ContactRead, now: float) -> None:
        if self.phase is Phase.EXPIRED:
            if self.offer_stage is not _Offer.READING:
                return
            if event.found:
                self.has_contact = True
                self._do(RequestCallback(at_max_wait=True))
            else:
                logger.warning("call %s: cannot call back after max wait", self.call_id)
                self._max_wait_goodbye(now)
            return
        if not self.requesting:
            return
        if not event.found:
            logger.warning("call %s: cannot tell where to call back", self.call_id)
            self.requesting = False
            return
        self.has_contact = True
        self._do(RequestCallback())

    def _on_playback(self, event: PlaybackFinished, now: float) -> None:
        pid = event.playback_id
        if pid == self.announcing:
            self.announcing = None
            back = self.phase in (Phase.WAITING, Phase.RINGING) and self.confirming is None
            if back and self.caller_channel is not None:
                self._do(StartMoh(self.caller_channel))  # music again after the message
        elif pid == self.confirming:
            self.confirming = None
            self._let_caller_go()
        elif pid == self.offer_playback:
            self.offer_playback = None
            if self.phase is Phase.EXPIRED and self.offer_stage is _Offer.PLAYING:
                self.offer_stage = _Offer.ANSWERING
                self.answer_deadline = now + self.options.max_wait_offer_timeout
        elif pid == self.goodbye:
            self.goodbye = None
            self._teardown()
        elif self.phase is Phase.WHISPER and pid == f"{self.agent_channel}-whisper":
            self._connect(now)

    # ------------------------------------------------------------------ handlers: other legs
    def _connect(self, now: float) -> None:
        agent = self.agent_channel
        if agent is None:
            return
        self.bridge = f"conn-{self.call_id}"
        create = CreateBridge(self.bridge, f"call-{self.call_id}")
        if self.callback:
            self._do(create, AddToBridge(self.bridge, (agent,)))
            self.phase = Phase.DIALING
            if not self.has_contact:
                logger.warning("call %s: callback without a contact; giving up", self.call_id)
                self._callback_failed(now)
                return
            channel = self._next_id("r")
            self.resident_channel = channel
            logger.info("call %s: calling the resident back", self.call_id)
            self._do(
                Originate(
                    channel,
                    "",
                    ("outbound", "resident", self.call_id),
                    self.options.caller_id,
                    self.options.callback_dial_timeout,
                    callback=True,
                )
            )
            return
        caller = self.caller_channel
        if caller is None:
            return
        self._stop_announcement()
        self._do(create, StopMoh(caller), self._hide(caller))
        if self.hold_bridge is not None:
            self._do(RemoveFromBridge(self.hold_bridge, caller))
        self._do(AddToBridge(self.bridge, (caller, agent)))
        self.phase = Phase.CONNECTED
        if self.hold_bridge is not None:
            self._do(DestroyBridge(self.hold_bridge))
            self.hold_bridge = None
        if self.interpreter:
            self._dial_interpreter()

    def _on_up(self, event: ChannelUp, now: float) -> None:
        channel = event.channel_id
        if (
            self.phase is Phase.RINGING
            and channel == self.agent_channel
            and not self.accepting
            and self.agent_id is not None
        ):
            self.accepting = True
            if self.callback and self.caller_channel is not None:
                self._put_through()
            self._do(AcceptOffer(self.agent_id, callback=self.callback))
        elif (
            self.phase is Phase.DIALING
            and channel == self.resident_channel
            and self.bridge is not None
            and self.agent_id is not None
        ):
            self.answered_at = now
            self.phase = Phase.CONNECTED
            self._emit(CallAnswered(self.call_id, self.queue, now, self.agent_id))
            self._do(self._hide(channel), AddToBridge(self.bridge, (channel,)))
            if self.interpreter:
                self._dial_interpreter()
        elif (
            self.phase is Phase.CONNECTED
            and channel == self.interpreter_channel
            and self.bridge is not None
        ):
            self._do(NoteInterpreterJoined(), AddToBridge(self.bridge, (channel,), critical=False))
        else:
            self._do(HangupChannel(channel))  # not a leg we wait for: hang it up

    def _on_gone(self, event: ChannelGone, now: float) -> None:
        channel = event.channel_id
        if channel == self.caller_channel:
            self.caller_channel = None
            if not self.callback:
                self._caller_gone(now)
        elif channel == self.agent_channel:
            self.agent_channel = None
            if self.phase is Phase.RINGING:
                agent = self.agent_id
                # our own hang-up at the ring deadline (it cleared the deadline) is a miss,
                # whatever the channel's state: the phone had its whole ring time
                unreachable = event.unreachable and self.ring_deadline is not None
                self._back_to_waiting()
                if agent is not None:
                    self._do(RingOut(agent, unreachable=unreachable))
            elif self.callback and self.phase is not Phase.CONNECTED:
                self._callback_failed(now)  # the CCR left before the resident was in
            else:
                self._end_connected(now, "agent")
        elif channel == self.resident_channel:
            self.resident_channel = None
            if self.phase is Phase.DIALING:
                self._callback_failed(now)
            else:
                self._end_connected(now, "caller")
        elif channel == self.interpreter_channel:
            self.interpreter_channel = None

    def _on_hung_up(self, event: CallerHungUp, now: float) -> None:
        """The caller's own channel hung up, as a runner reports it (no channel id: the
        caller's); the same as `ChannelGone` of the caller's channel. Lost with its Asterisk
        (``media_server_lost``): see `_caller_gone`."""
        if self.caller_channel is None:
            return
        if not event.media_server_lost:
            self._on_gone(ChannelGone(self.caller_channel), now)
            return
        self.caller_channel = None
        if not self.callback:
            self._caller_gone(now, media_server_lost=True)

    def _on_resumed(self, event: Resumed, now: float) -> None:
        """Rebuilt by another process. A ringing offer's CCR channel belonged to the old one,
        so the offer is withdrawn (the router has the call back in line); a waiting caller
        hears music again (an announcement under way is cut short) and a question to the
        edge that got no answer (position, contact) is dropped. A kept callback whose
        contact the edge could not give back (``has_contact`` cleared) cannot call anyone:
        it ends as an abandon (the edge has not put it back in line). A caller in the
        max-wait offer: see `_resume_offer`."""
        if self.phase is Phase.EXPIRED:
            self._resume_offer(now)
            return
        if self.callback and not self.has_contact:
            logger.warning("call %s: kept callback has no contact; it ends", self.call_id)
            self._emit(CallAbandoned(self.call_id, self.queue, now))
            self._finish("abandoned")
            return
        if self.phase is Phase.RINGING:
            self._on_withdrawn(OfferWithdrawn(), now)
        self.asking_position = False
        if self.requesting:
            self.requesting = False
        if self.announcing is not None:
            self._stop_announcement()
            self.playing.pop(self.announcing, None)
            self.announcing = None
        if self.confirming is None and self.caller_channel is not None:
            self._do(StartMoh(self.caller_channel))

    def _resume_offer(self, now: float) -> None:
        """Resumed in the max-wait offer (phase EXPIRED; the edge has the call's entry as it
        left the line again, so a callback still keeps its place). Keys pressed and playback
        ends while no controller listened are lost, so: an offer being played or waiting for
        the key is played again from the start (the caller then has the full time to press
        1); a caller who had pressed 1 (contact being read) is asked for nothing again: the
        contact is read again. A goodbye under way ends on its own (its playback deadline)."""
        channel = self.caller_channel
        if channel is None or self.offer_stage is _Offer.GOODBYE:
            return
        if self.offer_stage is _Offer.READING:
            self._do(ReadContact(channel))
            return
        if self.offer_playback is not None:
            self._do(StopPlayback(self.offer_playback))
            self.playing.pop(self.offer_playback, None)
        logger.info("call %s: max-wait offer played again after a restart", self.call_id)
        self.answer_deadline = None
        self._do(self._offer(channel))

    def _caller_gone(self, now: float, *, media_server_lost: bool = False) -> None:
        """The caller's channel is gone: an abandon in line, the end of a conversation. Lost
        with its Asterisk, the abandon says so (the record's outcome is then
        ``media_server_lost``) and a conversation ends ``ended_by="media_server_lost"``."""
        if self.phase in (Phase.WAITING, Phase.RINGING):
            self._do(LeaveQueue())
            self._emit(CallAbandoned(self.call_id, self.queue, now, media_server_lost))
            if media_server_lost:
                logger.warning(
                    "call %s: lost with its media server after %.1f s in queue",
                    self.call_id, now - self.entered_at,
                )  # fmt: skip
            else:
                logger.info(
                    "call %s: caller hung up after %.1f s in queue",
                    self.call_id, now - self.entered_at,
                )  # fmt: skip
            self._finish("abandoned")
        elif self.phase in (Phase.WHISPER, Phase.CONNECTED):
            self._end_connected(now, "media_server_lost" if media_server_lost else "caller")
        elif self.phase is Phase.EXPIRED:
            if self.offer_stage is _Offer.GOODBYE:
                self._teardown()
                return
            logger.info("call %s: caller hung up during the max-wait offer", self.call_id)
            self._emit(
                CallTimedOut(self.call_id, self.queue, now, "max-wait", callback_offered=True)
            )
            self._finish("timed_out")

    def _on_failed(self, event: CommandFailed, now: float) -> None:
        logger.warning("call %s: could not connect the call: %s", self.call_id, event.reason)
        if self.callback and self.answered_at is None:
            # the resident was never in the call (whisper, or dialing them back): the
            # callback failed, an abandon as when they do not answer, never a completion
            # with no answer before it (which no figure would count, and the wallboard
            # would keep as a callback pending)
            self._callback_failed(now)
        else:
            self._end_connected(now, "agent")


_LIVE = tuple(p for p in Phase if p is not Phase.ENDED)
_TABLE: dict[type, tuple[Handler, tuple[Phase, ...]]] = {
    AgentOffered: (QueuedCall._on_offered, (Phase.WAITING,)),
    OfferWithdrawn: (QueuedCall._on_withdrawn, (Phase.RINGING,)),
    OfferAccepted: (QueuedCall._on_accepted, (Phase.RINGING,)),
    OfferRefused: (QueuedCall._on_refused, (Phase.RINGING,)),
    MaxWaitReached: (QueuedCall._on_max_wait, (Phase.WAITING,)),
    PositionTold: (QueuedCall._on_position, _LIVE),
    CallbackGranted: (QueuedCall._on_granted, (Phase.WAITING, Phase.RINGING, Phase.EXPIRED)),
    DtmfReceived: (QueuedCall._on_digit, (Phase.WAITING, Phase.EXPIRED)),
    ContactRead: (QueuedCall._on_contact, (Phase.WAITING, Phase.RINGING, Phase.EXPIRED)),
    PlaybackFinished: (QueuedCall._on_playback, _LIVE),
    ChannelUp: (QueuedCall._on_up, _LIVE),
    ChannelGone: (QueuedCall._on_gone, _LIVE),
    CallerHungUp: (QueuedCall._on_hung_up, _LIVE),
    Resumed: (QueuedCall._on_resumed, (Phase.WAITING, Phase.RINGING, Phase.EXPIRED)),
    CommandFailed: (QueuedCall._on_failed, (Phase.WHISPER, Phase.DIALING, Phase.CONNECTED)),
}
TRANSITIONS: dict[tuple[Phase, type], Handler] = {
    (phase, event): handler for event, (handler, phases) in _TABLE.items() for phase in phases
}
"""(phase, event type) -> handler: the whole machine. Pairs not listed are ignored."""
