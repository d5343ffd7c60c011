"""The queue runtime: callers wait on hold, CCR phones ring, calls are bridged (ARI edge).

Theory of operation
-------------------
The `Router` (pure) decides who takes which call; this module carries its decisions out over
ARI and feeds back what happened. Time is POSIX wall-clock seconds everywhere (the router's
``now`` and every queue event's ``at``), so the SL report and the queue_log agree with the
timestamps of the run.

    IVR Enqueue ──▶ enqueue(): holding bridge + MOH, router.call_arrived, CallEnqueued
    pump (one task): router.tick/decide at next_deadline or when woken ─▶ Offer
        Offer ──▶ originate PJSIP/agentN (args outbound,agent,<call>) ─┬─ answered (StasisStart)
                                                                    └─ destroyed: offer_timeout
        answered ──▶ offer_accepted, CallAnswered ──▶ whisper (language, topic) to the CCR only
                 ──▶ mixing bridge: caller + CCR (+ interpreter) ──▶ either hangs up:
                     call_ended (wrap-up), CallCompleted
    caller hangs up while waiting ──▶ call_left, CallAbandoned
    max wait reached (router.tick) ──▶ apology + callback offer in the caller's language ──┐
        1 within max_wait_offer_timeout ──▶ readmit_callback (old place), CallbackRequested ┤
        otherwise (or hung up) ──▶ CallTimedOut(callback_offered), "how to reach us", hang up
    caller presses 1 ──▶ request_callback (place kept), CallbackRequested, goodbye, hang up
        their turn ──▶ CCR rings and answers ──▶ originate the resident ──▶ bridge, CallAnswered

Every call is in one `_Phase`; the only other state is which channel plays which role. All
router calls are synchronous (no ``await`` between a check and a change), so the single
event loop serialises them; REST sequences on one caller's media (announcement, callback
goodbye, connecting) take the call's lock.

Every queue fact is handed to `QueueEventHub.emit`: the live `IntervalAccumulator`, the
Asterisk-format ``queue_log`` file and any number of sinks (the database writer, a dashboard).

Privacy: a callback needs the caller's number and the address their call came from. Both are
read from the channel when the caller presses 1, kept only in this process's memory (in a
field hidden from ``repr``), used for the one dial string, and dropped when the call ends.
They are never logged, stored or put in an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from line311.ari.errors import AriError, AriNotFound
from line311.ari.models import Channel
from line311.ari.translate import NewCall
from line311.call.commands import Enqueue
from line311.call.events import CallerHungUp, DtmfReceived, Event
from line311.call.leg import LegBuilder
from line311.call.record import QueueLeg
from line311.ivr.say import say_number
from line311.logs import CallLogger, call_logger
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
)
from line311.queue.intervals import IntervalAccumulator
from line311.queue.pops import AnsweredCall, skills_asked
from line311.routing.agents import AgentFigures, AgentState
from line311.routing.errors import RoutingError, StaleOfferError
from line311.routing.results import Offer, QueueStats, WaitExpired
from line311.routing.router import Router

__all__ = [
    "EventSink",
    "QueueAriPort",
    "QueueEventHub",
    "QueueOptions",
    "QueueRuntime",
]

logger = logging.getLogger(__name__)

EventSink = Callable[[object], None]
"""Called with every queue event (`line311.queue.events`); must not block."""
LegSink = Callable[[str, QueueLeg], None]
"""``sink(call_id, leg)``: a call's queue leg is over (once per call); must not block."""

CALLBACK_DIGIT = "1"
_PLAYBACK_WAIT = 60.0
_WHISPER_WAIT = 15.0
_RING_GRACE = 3.0


class QueueAriPort(Protocol):
    """The part of `line311.ari.client.AriClient` the queue runtime uses."""

    app: str

    def expect(
        self,
        type: str | Iterable[str],  # noqa: A002 - the ARI field name
        *,
        channel_id: str | None = None,
        playback_id: str | None = None,
        recording_name: str | None = None,
        bridge_id: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[asyncio.Future[dict[str, Any]]]: ...

    async def answer(self, channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def get_channel(self, channel_id: str) -> Channel: ...

    async def get_channel_var(self, channel_id: str, variable: str) -> str | None: ...

    async def set_channel_var(self, channel_id: str, variable: str, value: str) -> None: ...

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None: ...

    async def stop_moh(self, channel_id: str) -> None: ...

    async def play(
        self, channel_id: str, media: str | Iterable[str], playback_id: str, lang: str | None = None
    ) -> object: ...

    async def stop_playback(self, playback_id: str) -> None: ...

    async def originate(
        self,
        endpoint: str,
        channel_id: str,
        *,
        app_args: str | Iterable[str] | None = None,
        caller_id: str | None = None,
        dial_timeout: int = 30,
        variables: Mapping[str, str] | None = None,
        app: str | None = None,
        other_channel_id: str | None = None,
    ) -> object: ...

    async def create_bridge(
        self,
        bridge_id: str,
        type: str = "mixing",  # noqa: A002 - ARI's own parameter name
        name: str | None = None,
    ) -> object: ...

    async def add_channel(
        self, bridge_id: str, channel_id: str | Iterable[str], *, role: str | None = None
    ) -> None: ...

    async def remove_channel(self, bridge_id: str, channel_id: str | Iterable[str]) -> None: ...

    async def destroy_bridge(self, bridge_id: str) -> None: ...


# ---------------------------------------------------------------------- events out
class QueueEventHub:
    """Fans every queue event out to the live accumulator and the sinks (in that order).

    A failing sink is logged and skipped: it never stops a call.
    """

    def __init__(
        self, accumulator: IntervalAccumulator | None = None, sinks: Sequence[EventSink] = ()
    ) -> None:
        self.accumulator = accumulator if accumulator is not None else IntervalAccumulator()
        self.sinks: list[EventSink] = list(sinks)
        self.emitted = 0

    def subscribe(self, sink: EventSink) -> None:
        """Add a sink (e.g. the dashboard's live hub)."""
        self.sinks.append(sink)

    def emit(self, event: QueueEvent) -> None:
        self.emitted += 1
        try:
            self.accumulator.feed(event)
        except Exception:
            logger.exception("SL accumulator refused %s", type(event).__name__)
        for sink in list(self.sinks):
            try:
                sink(event)
            except Exception:
                logger.exception("queue event sink %r failed", sink)


# ---------------------------------------------------------------------- options
@dataclass(frozen=True, slots=True)
class QueueOptions:
    """Edge settings of the queue runtime (see `line311.config.Settings` ``queue_*``)."""

    sounds_uri_prefix: str
    ring_timeout: int = 15
    announce_first: float = 2.0
    announce_interval: float = 45.0
    periodic_interval: float = 60.0
    whisper_language: str = "en"
    max_wait_offer_timeout: float = 8.0
    """Seconds a caller whose maximum wait ran out has, after the offer, to press 1."""
    interpreter_endpoint: str = "PJSIP/interpreter"
    callback_dial: str = "PJSIP/carrier/sip:{number}@{address}"
    callback_dial_timeout: int = 30
    caller_id: str = "311"
    topic_queues: Mapping[str, str] = field(default_factory=dict)
    """Enqueue topic -> queue name; unknown topics go to ``default_queue``."""
    default_queue: str = "general"


class _Phase(enum.Enum):
    WAITING = "waiting"
    EXPIRED = "expired"  # max wait reached: the apology and the callback offer are playing
    RINGING = "ringing"
    WHISPER = "whisper"
    DIALING = "dialing"  # callback: the CCR is in, the resident is being called
    CONNECTED = "connected"
    ENDED = "ended"


class _Role(enum.Enum):
    CALLER = "caller"
    AGENT = "agent"
    RESIDENT = "resident"
    INTERPRETER = "interpreter"


@dataclass(slots=True)
class _Contact:
    """Where to call a resident back. Memory only; never logged (hence repr=False)."""

    number: str = field(repr=False)
    address: str = field(repr=False)


@dataclass(eq=False, slots=True)
class _QCall:
    call_id: str
    queue: str
    language: str
    topic: str
    entered_at: float
    log: CallLogger
    caller_channel: str | None
    hold_bridge: str | None = None
    phase: _Phase = _Phase.WAITING
    callback: bool = False
    contact: _Contact | None = field(default=None, repr=False)
    offer: Offer | None = None
    agent_channel: str | None = None
    resident_channel: str | None = None
    interpreter_channel: str | None = None
    bridge: str | None = None
    answered_at: float | None = None
    next_position_at: float | None = None
    next_periodic_at: float | None = None
    playback: str | None = None
    busy: bool = False
    """An announcement or the callback goodbye is running (no new announcement)."""
    callback_pending: bool = False
    answer: asyncio.Future[bool] | None = None
    """While the max-wait offer runs: True when the caller pressed 1, False when they left."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    leg: LegBuilder | None = None
    """The facts of this call's queue leg, gathered as they happen (for its call record)."""


# ---------------------------------------------------------------------- the runtime
class QueueRuntime:
    """Runs the queues of one controller. See the module docstring.

    ``roster``: agent ids whose state changes are reported (the router knows their profiles).
    Call `run` in a task; hand `enqueue` to the controller as the ``Enqueue`` command handler,
    and `on_outbound` / `on_channel_event` / `owns` as its channel owner.
    """

    def __init__(
        self,
        ari: QueueAriPort,
        router: Router,
        options: QueueOptions,
        *,
        hub: QueueEventHub | None = None,
        roster: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
        on_answer: Callable[[AnsweredCall], None] | None = None,
        leg_sink: LegSink | None = None,
    ) -> None:
        self._ari = ari
        self.on_answer = on_answer
        """Called when a CCR answers (the screen pop); synchronous, must not block or raise."""
        self.leg_sink = leg_sink
        self.router = router
        self.options = options
        self.hub = hub if hub is not None else QueueEventHub()
        self._clock = clock
        self._roster = list(roster)
        self._agent_states: dict[str, AgentState] = {}
        self._calls: dict[str, _QCall] = {}
        self._channels: dict[str, tuple[_QCall, _Role]] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)
        self._prefix = options.sounds_uri_prefix.rstrip("/")
        for agent_id in self._roster:
            self._agent_states[agent_id] = router.agent(agent_id).state

    # ------------------------------------------------------------------ public: controller
    def owns(self, channel_id: str) -> bool:
        """True for channels this runtime handles (callers on hold, its originated legs)."""
        return channel_id in self._channels

    async def enqueue(self, channel_id: str, command: Enqueue) -> Event | None:
        """The controller's ``Enqueue`` handler: the caller leaves the IVR for a queue."""
        now = self._clock()
        queue = self.queue_for(command.topic)
        log = call_logger(logger, call_id=channel_id)
        entry = self.router.call_arrived(
            channel_id, queue, now, language=command.language, topic=command.topic,
            priority=command.priority,
        )  # fmt: skip
        call = _QCall(
            call_id=channel_id,
            queue=entry.queue,
            language=command.language,
            topic=command.topic,
            entered_at=now,
            log=log,
            caller_channel=channel_id,
            hold_bridge=f"hold-{channel_id}",
        )
        self._calls[channel_id] = call
        self._channels[channel_id] = (call, _Role.CALLER)
        enqueued = CallEnqueued(
            channel_id, entry.queue, now, command.language, command.topic, command.priority
        )
        asked = skills_asked(
            self.router.queues.get(entry.queue), command.language, extra=entry.requires
        )
        call.leg = LegBuilder(enqueued, asked)
        self._emit(enqueued)
        call.next_position_at = now + self.options.announce_first
        if self.options.periodic_interval > 0:
            call.next_periodic_at = now + self.options.periodic_interval
        assert call.hold_bridge is not None
        try:
            await self._ari.create_bridge(call.hold_bridge, "holding", f"queue-{entry.queue}")
            await self._ari.add_channel(call.hold_bridge, channel_id)
            await self._ari.start_moh(channel_id)
        except AriNotFound:
            log.info("caller left while being put on hold")
            self._caller_gone(call, self._clock())
            return None
        self._wake.set()
        return None

    async def on_outbound(self, new: NewCall, received_at: float) -> None:
        """StasisStart of a channel we originated: a CCR, the resident or the interpreter
        answered."""
        found = self._channels.get(new.channel_id)
        if found is None:
            logger.info("outbound channel %s belongs to no queue call; hanging up", new.channel_id)
            await self._hangup(new.channel_id)
            return
        call, role = found
        if role is _Role.AGENT:
            self._agent_answered(call, new.channel_id)
        elif role is _Role.RESIDENT:
            await self._resident_answered(call, new.channel_id)
        elif role is _Role.INTERPRETER:
            await self._interpreter_answered(call, new.channel_id)

    async def on_channel_event(self, channel_id: str, event: Event, received_at: float) -> None:
        """A translated event for a channel we own (`owns`)."""
        found = self._channels.get(channel_id)
        if found is None:
            return
        call, role = found
        if isinstance(event, CallerHungUp):
            self._channels.pop(channel_id, None)
            self._leg_gone(call, role, channel_id)
        elif (
            isinstance(event, DtmfReceived)
            and role is _Role.CALLER
            and event.digit == CALLBACK_DIGIT
            and call.phase is _Phase.WAITING
            and not call.callback_pending
        ):
            call.callback_pending = True
            self._spawn(self._callback_requested(call), f"callback-{call.call_id}")
        elif (
            isinstance(event, DtmfReceived)
            and role is _Role.CALLER
            and event.digit == CALLBACK_DIGIT
            and call.answer is not None
            and not call.answer.done()
        ):
            call.answer.set_result(True)

    def reconcile(self, listed: set[str]) -> None:
        """After an ARI reconnect: channels of ours that vanished count as hung up."""
        for channel_id in [c for c in self._channels if c not in listed]:
            call, role = self._channels.pop(channel_id)
            call.log.warning("%s channel vanished while ARI was away", role.value)
            self._leg_gone(call, role, channel_id)

    # ------------------------------------------------------------------ public: agents, API
    def agent_login(self, agent_id: str) -> None:
        self.router.agent_login(agent_id, self._clock())
        self._after_change()

    def agent_logout(self, agent_id: str) -> None:
        cancelled = self.router.agent_logout(agent_id, self._clock())
        if cancelled is not None:
            self._offer_cancelled(cancelled)
        self._after_change()

    def agent_pause(self, agent_id: str, reason: str = "break") -> None:
        self.router.agent_pause(agent_id, self._clock(), reason)
        self._after_change()

    def agent_resume(self, agent_id: str) -> None:
        self.router.agent_resume(agent_id, self._clock())
        self._after_change()

    def agents(self) -> list[AgentFigures]:
        now = self._clock()
        return [self.router.agent_figures(a, now) for a in self._roster]

    def queues(self) -> list[QueueStats]:
        now = self._clock()
        return [self.router.queue_stats(q, now) for q in self.router.queues]

    def queue_for(self, topic: str) -> str:
        """The queue that serves an IVR topic."""
        name = self.options.topic_queues.get(topic, topic)
        if name in self.router.queues:
            return name
        return self.options.default_queue

    @property
    def waiting_calls(self) -> int:
        return len(self._calls)

    # ------------------------------------------------------------------ the pump
    async def run(self) -> None:
        """Fire the router's timers, make its offers and the announcements, until cancelled."""
        try:
            while True:
                now = self._clock()
                self._step(now)
                wake_at = self._next_wake()
                self._wake.clear()
                timeout = None if wake_at is None else max(0.0, wake_at - self._clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def _step(self, now: float) -> None:
        for expired in self.router.tick(now):
            call = self._calls.get(expired.call_id)
            if call is not None and call.caller_channel is not None:
                call.log.info(
                    "waited %.0f s: max wait reached; offering a callback", expired.waited
                )
                call.phase = _Phase.EXPIRED
                self._spawn(self._max_wait_reached(call, expired), f"max-wait-{call.call_id}")
                continue
            self._emit(CallTimedOut(expired.call_id, expired.queue, now, "max-wait"))
            if call is not None:
                call.phase = _Phase.ENDED
                self._forget(call)
        for offer in self.router.decide(now):
            self._ring(offer, now)
        self._sync_agents()
        for call in list(self._calls.values()):
            if call.phase is not _Phase.WAITING or call.callback or call.busy:
                continue
            if call.next_position_at is not None and call.next_position_at <= now:
                call.next_position_at = now + self.options.announce_interval
                self._spawn(self._announce(call, position=True), f"announce-{call.call_id}")
            elif call.next_periodic_at is not None and call.next_periodic_at <= now:
                call.next_periodic_at = now + self.options.periodic_interval
                self._spawn(self._announce(call, position=False), f"announce-{call.call_id}")

    def _next_wake(self) -> float | None:
        times = [t for t in (self.router.next_deadline(),) if t is not None]
        for call in self._calls.values():
            if call.phase is _Phase.WAITING and not call.callback:
                times.extend(t for t in (call.next_position_at, call.next_periodic_at) if t)
        return min(times) if times else None

    def _after_change(self) -> None:
        self._sync_agents()
        self._wake.set()

    # ------------------------------------------------------------------ offers
    def _ring(self, offer: Offer, now: float) -> None:
        call = self._calls.get(offer.call_id)
        if call is None:  # the router holds a call the edge forgot: give it back
            logger.error("offer for unknown call %s; releasing it", offer.call_id)
            self.router.call_left(offer.call_id, now)
            return
        channel_id = f"{call.call_id}-a{next(self._seq)}"
        call.phase = _Phase.RINGING
        call.offer = offer
        call.agent_channel = channel_id
        self._channels[channel_id] = (call, _Role.AGENT)
        if call.leg is not None:
            call.leg.offered(offer.agent_id, now, step=offer.step, interpreter=offer.interpreter)
        call.log.info(
            "offering to %s (%s%s)",
            offer.agent_id,
            "callback, " if offer.callback else "",
            "interpreter" if offer.interpreter else f"step {offer.step}",
        )
        self._spawn(self._originate_agent(call, offer, channel_id), f"ring-{channel_id}")

    async def _originate_agent(self, call: _QCall, offer: Offer, channel_id: str) -> None:
        try:
            await self._ari.originate(
                offer.endpoint,
                channel_id,
                app_args=("outbound", "agent", call.call_id),
                caller_id=f"{self.options.caller_id} {call.language} {call.topic}",
                dial_timeout=self.options.ring_timeout,
            )
        except AriError as exc:
            call.log.warning("could not ring %s: %s", offer.agent_id, exc)
            if self._channels.pop(channel_id, None) is not None:
                self._leg_gone(call, _Role.AGENT, channel_id)
            return
        await asyncio.sleep(self.options.ring_timeout + _RING_GRACE)
        if call.phase is _Phase.RINGING and call.agent_channel == channel_id:
            call.log.info("%s did not answer in time; stopping the ring", offer.agent_id)
            await self._hangup(channel_id)

    def _agent_answered(self, call: _QCall, channel_id: str) -> None:
        offer = call.offer
        if call.phase is not _Phase.RINGING or offer is None or call.agent_channel != channel_id:
            self._channels.pop(channel_id, None)
            self._spawn(self._hangup(channel_id), "hangup")
            return
        now = self._clock()
        try:
            waiting = self.router.offer_accepted(call.call_id, offer.agent_id, now)
        except StaleOfferError as exc:
            call.log.info("answer for a stale offer (%s); hanging the CCR up", exc)
            self._channels.pop(channel_id, None)
            self._spawn(self._hangup(channel_id), "hangup")
            return
        call.phase = _Phase.WHISPER
        if self.on_answer is not None:  # the desk's screen pop, before whisper and bridge
            self.on_answer(
                AnsweredCall(
                    call.call_id, offer.agent_id, call.queue, call.language, call.topic,
                    call.entered_at, now, call.callback, offer.interpreter, waiting.requires,
                )
            )  # fmt: skip
        if not call.callback:
            call.answered_at = now
            self._emit(CallAnswered(call.call_id, call.queue, now, offer.agent_id))
        self._after_change()
        call.log.info("answered by %s", offer.agent_id)
        self._spawn(self._connect(call, channel_id), f"connect-{call.call_id}")

    def _offer_cancelled(self, call_id: str) -> None:
        """The router withdrew an offer (the CCR logged out): stop ringing, keep the call."""
        call = self._calls.get(call_id)
        if call is None or call.agent_channel is None:
            return
        channel_id = call.agent_channel
        self._channels.pop(channel_id, None)
        call.agent_channel = None
        call.offer = None
        call.phase = _Phase.WAITING
        self._spawn(self._hangup(channel_id), "hangup")

    # ------------------------------------------------------------------ connecting
    async def _connect(self, call: _QCall, agent_channel: str) -> None:
        offer = call.offer
        assert offer is not None
        prompts: list[str] = []
        if call.callback:
            prompts.append("whisper/callback")
        prompts.append(f"whisper/lang/{call.language}")
        prompts.append(f"whisper/topic/{self._whisper_topic(call)}")
        if offer.interpreter:
            prompts.append("whisper/interpreter")
        await self._play_and_wait(
            agent_channel,
            prompts,
            self.options.whisper_language,
            f"{agent_channel}-whisper",
            _WHISPER_WAIT,
        )
        if call.phase is not _Phase.WHISPER:
            return  # someone hung up during the whisper
        call.bridge = f"conn-{call.call_id}"
        try:
            await self._ari.create_bridge(call.bridge, "mixing", f"call-{call.call_id}")
            if call.callback:
                await self._ari.add_channel(call.bridge, agent_channel)
                call.phase = _Phase.DIALING
                await self._dial_resident(call)
                return
            await self._stop_announcement(call)
            async with call.lock:
                if call.phase is not _Phase.WHISPER or call.caller_channel is None:
                    return
                with contextlib.suppress(AriNotFound):
                    await self._ari.stop_moh(call.caller_channel)
                await self._hide_identity(call, call.caller_channel)
                if call.hold_bridge is not None:
                    with contextlib.suppress(AriNotFound):
                        await self._ari.remove_channel(call.hold_bridge, call.caller_channel)
                await self._ari.add_channel(call.bridge, [call.caller_channel, agent_channel])
                call.phase = _Phase.CONNECTED
            call.log.info("caller and %s bridged", offer.agent_id)
            await self._destroy_bridge(call.hold_bridge)
            call.hold_bridge = None
            if offer.interpreter:
                await self._dial_interpreter(call)
        except AriError as exc:
            call.log.warning("could not connect the call: %s", exc)
            self._end_connected(call, "agent")

    async def _dial_resident(self, call: _QCall) -> None:
        contact = call.contact
        channel_id = f"{call.call_id}-r{next(self._seq)}"
        if contact is None:
            call.log.warning("callback without a contact; giving up")
            self._callback_failed(call)
            return
        call.resident_channel = channel_id
        self._channels[channel_id] = (call, _Role.RESIDENT)
        endpoint = self.options.callback_dial.format(number=contact.number, address=contact.address)
        call.log.info("calling the resident back")
        try:
            await self._ari.originate(
                endpoint,
                channel_id,
                app_args=("outbound", "resident", call.call_id),
                caller_id=self.options.caller_id,
                dial_timeout=self.options.callback_dial_timeout,
            )
        except AriError as exc:
            call.log.warning("could not call the resident back: %s", exc)
            if self._channels.pop(channel_id, None) is not None:
                self._callback_failed(call)

    async def _resident_answered(self, call: _QCall, channel_id: str) -> None:
        if call.phase is not _Phase.DIALING or call.bridge is None or call.offer is None:
            self._channels.pop(channel_id, None)
            await self._hangup(channel_id)
            return
        now = self._clock()
        call.answered_at = now
        call.phase = _Phase.CONNECTED
        self._emit(CallAnswered(call.call_id, call.queue, now, call.offer.agent_id))
        call.log.info("resident reached: bridging with %s", call.offer.agent_id)
        try:
            await self._hide_identity(call, channel_id)
            await self._ari.add_channel(call.bridge, channel_id)
        except AriError as exc:
            call.log.warning("could not bridge the resident: %s", exc)
            self._end_connected(call, "agent")
            return
        if call.offer.interpreter:
            await self._dial_interpreter(call)

    def _callback_failed(self, call: _QCall) -> None:
        """The resident could not be reached: an abandon; the CCR goes to wrap-up."""
        now = self._clock()
        call.log.info("callback did not reach the resident")
        self._emit(CallAbandoned(call.call_id, call.queue, now))
        self._release_agent(call, now)
        call.phase = _Phase.ENDED
        self._teardown(call)

    async def _dial_interpreter(self, call: _QCall) -> None:
        channel_id = f"{call.call_id}-i{next(self._seq)}"
        call.interpreter_channel = channel_id
        self._channels[channel_id] = (call, _Role.INTERPRETER)
        try:
            await self._ari.originate(
                self.options.interpreter_endpoint,
                channel_id,
                app_args=("outbound", "interpreter", call.call_id),
                caller_id=self.options.caller_id,
                dial_timeout=30,
            )
        except AriError as exc:
            call.log.warning("could not call the interpreter line: %s", exc)
            self._channels.pop(channel_id, None)
            call.interpreter_channel = None

    async def _interpreter_answered(self, call: _QCall, channel_id: str) -> None:
        if call.phase is not _Phase.CONNECTED or call.bridge is None:
            self._channels.pop(channel_id, None)
            await self._hangup(channel_id)
            return
        call.log.info("interpreter joined")
        if call.leg is not None:
            call.leg.interpreter_joined(self._clock())
        try:
            await self._ari.add_channel(call.bridge, channel_id)
        except AriError as exc:
            call.log.warning("could not bridge the interpreter: %s", exc)

    # ------------------------------------------------------------------ legs going away
    def _leg_gone(self, call: _QCall, role: _Role, channel_id: str) -> None:
        now = self._clock()
        if role is _Role.CALLER:
            call.caller_channel = None
            if call.callback:
                return  # we hung up after the goodbye; the call keeps its place
            self._caller_gone(call, now)
        elif role is _Role.AGENT:
            if call.agent_channel != channel_id:
                return
            if call.phase is _Phase.RINGING:
                self._offer_failed(call, now)
            elif call.phase in (_Phase.WHISPER, _Phase.DIALING, _Phase.CONNECTED):
                call.agent_channel = None
                if call.callback and call.phase is not _Phase.CONNECTED:
                    self._callback_failed(call)  # the CCR left before the resident was in
                else:
                    self._end_connected(call, "agent")
        elif role is _Role.RESIDENT:
            call.resident_channel = None
            if call.phase is _Phase.DIALING:
                self._callback_failed(call)
            elif call.phase is _Phase.CONNECTED:
                self._end_connected(call, "caller")
        elif role is _Role.INTERPRETER:
            call.interpreter_channel = None

    def _caller_gone(self, call: _QCall, now: float) -> None:
        if call.phase in (_Phase.WAITING, _Phase.RINGING):
            cancelled = self.router.call_left(call.call_id, now)
            self._emit(CallAbandoned(call.call_id, call.queue, now))
            call.log.info("caller hung up after %.1f s in queue", now - call.entered_at)
            if cancelled is not None and call.agent_channel is not None:
                self._channels.pop(call.agent_channel, None)
                self._spawn(self._hangup(call.agent_channel), "hangup")
            call.phase = _Phase.ENDED
            self._teardown(call)
            self._after_change()
        elif call.phase in (_Phase.WHISPER, _Phase.CONNECTED):
            self._end_connected(call, "caller")
        elif call.phase is _Phase.EXPIRED:
            call.log.info("caller hung up during the max-wait offer")
            if call.answer is not None and not call.answer.done():
                call.answer.set_result(False)
            self._max_wait_timed_out(call, now)
            self._teardown(call)

    def _offer_failed(self, call: _QCall, now: float) -> None:
        offer = call.offer
        assert offer is not None
        call.agent_channel = None
        call.offer = None
        call.phase = _Phase.WAITING
        try:
            paused = self.router.offer_timeout(call.call_id, offer.agent_id, now)
        except StaleOfferError as exc:
            call.log.info("ring ended for a settled offer: %s", exc)
            return
        call.log.info(
            "%s did not answer%s; the call keeps its place",
            offer.agent_id,
            " and is paused" if paused else "",
        )
        self._after_change()

    def _end_connected(self, call: _QCall, ended_by: str) -> None:
        if call.phase is _Phase.ENDED:
            return
        now = self._clock()
        answered = call.answered_at if call.answered_at is not None else now
        call.phase = _Phase.ENDED
        wrapup = self.router.queues[call.queue].wrapup_seconds
        self._emit(
            CallCompleted(
                call.call_id,
                call.queue,
                now,
                talk_seconds=max(0.0, now - answered),
                wrapup_seconds=wrapup,
                ended_by=ended_by,
            )
        )
        call.log.info("call ended by the %s after %.1f s", ended_by, now - answered)
        self._release_agent(call, now)
        self._teardown(call)

    def _release_agent(self, call: _QCall, now: float) -> None:
        if call.offer is None:
            return
        agent_id = call.offer.agent_id
        try:
            if self.router.agent(agent_id).state is AgentState.ON_CALL:
                self.router.call_ended(agent_id, now)
        except RoutingError as exc:
            call.log.warning("could not end %s's call: %s", agent_id, exc)
        self._after_change()

    def _teardown(self, call: _QCall) -> None:
        """Hang up whatever legs remain and destroy the bridges (the call is over)."""
        for channel_id in (
            call.caller_channel,
            call.agent_channel,
            call.resident_channel,
            call.interpreter_channel,
        ):
            if channel_id is not None and self._channels.pop(channel_id, None) is not None:
                self._spawn(self._hangup(channel_id), "hangup")
        call.caller_channel = call.agent_channel = None
        call.resident_channel = call.interpreter_channel = None
        for bridge in (call.hold_bridge, call.bridge):
            if bridge is not None:
                self._spawn(self._destroy_bridge(bridge), "bridge")
        call.hold_bridge = call.bridge = None
        self._forget(call)

    def _forget(self, call: _QCall) -> None:
        self._calls.pop(call.call_id, None)
        call.contact = None
        self._leg_over(call)
        for channel_id in [c for c, (owner, _) in self._channels.items() if owner is call]:
            del self._channels[channel_id]

    # ------------------------------------------------------------------ waiting: media
    async def _announce(self, call: _QCall, *, position: bool) -> None:
        if call.caller_channel is None:
            return
        lang = call.language
        prompts: list[str] = []
        try:
            if position:
                place = self.router.position(call.call_id)
                prompts += ["queue/position", *say_number(place, lang)]
                estimate = self.router.estimated_wait(call.call_id, self._clock())
                if call.leg is not None:
                    call.leg.announced(self._clock(), place, estimate)
                if estimate is not None:
                    minutes = round(estimate / 60)
                    if minutes < 1:
                        prompts.append("queue/wait_short")
                    else:
                        prompts += ["queue/wait_about", *say_number(min(minutes, 999), lang)]
                        prompts.append("queue/minutes")
            else:
                prompts.append("queue/periodic")
        except RoutingError:
            return  # the call left the queue meanwhile
        prompts.append("queue/callback_offer")
        call.busy = True
        try:
            async with call.lock:
                if call.phase is not _Phase.WAITING or call.caller_channel is None:
                    return
                channel = call.caller_channel
                with contextlib.suppress(AriNotFound):
                    await self._ari.stop_moh(channel)
                playback = f"{call.call_id}-ann{next(self._seq)}"
                call.playback = playback
                await self._play_and_wait(channel, prompts, lang, playback, _PLAYBACK_WAIT)
                call.playback = None
                if call.phase in (_Phase.WAITING, _Phase.RINGING) and call.caller_channel:
                    with contextlib.suppress(AriNotFound):
                        await self._ari.start_moh(call.caller_channel)
        except AriError as exc:
            call.log.warning("announcement failed: %s", exc)
        finally:
            call.busy = False
            call.playback = None

    async def _stop_announcement(self, call: _QCall) -> None:
        playback = call.playback
        if playback is not None:
            with contextlib.suppress(AriError):
                await self._ari.stop_playback(playback)

    async def _callback_requested(self, call: _QCall) -> None:
        channel = call.caller_channel
        if channel is None:
            return
        call.busy = True
        await self._stop_announcement(call)
        try:
            async with call.lock:
                if call.phase is not _Phase.WAITING or call.caller_channel is None:
                    return
                contact = await self._read_contact(channel)
                if call.phase in (_Phase.EXPIRED, _Phase.ENDED):
                    return  # the max wait ran out meanwhile (its own offer follows), or gone
                if contact is None:
                    call.log.warning("cannot tell where to call back; staying in queue")
                    return
                now = self._clock()
                self.router.request_callback(call.call_id, now)
                call.callback = True
                call.contact = contact
                self._emit(CallbackRequested(call.call_id, call.queue, now))
                call.log.info("callback requested; the call keeps its place")
                await self._confirm_callback(call, channel)
        except AriError as exc:
            call.log.warning("callback request failed: %s", exc)
        finally:
            call.busy = False
            call.callback_pending = call.callback
            self._wake.set()

    async def _confirm_callback(self, call: _QCall, channel: str) -> None:
        """Tell the caller they will be called back, then let them go (the call stays queued)."""
        with contextlib.suppress(AriNotFound):
            await self._ari.stop_moh(channel)
        await self._play_and_wait(
            channel,
            ["queue/callback_confirmed"],
            call.language,
            f"{call.call_id}-cb{next(self._seq)}",
            _PLAYBACK_WAIT,
        )
        if call.hold_bridge is not None:
            await self._destroy_bridge(call.hold_bridge)
            call.hold_bridge = None
        if call.caller_channel is not None:
            self._channels.pop(call.caller_channel, None)
            call.caller_channel = None
            await self._hangup(channel)

    # ------------------------------------------------------------------ waiting: max wait
    async def _max_wait_reached(self, call: _QCall, expired: WaitExpired) -> None:
        """The queue's maximum wait ran out (the router took the call out of line): apologise
        and offer a callback that keeps the caller's place; on 1 readmit the call and confirm,
        otherwise tell them how else to reach us. Either way the line is then hung up."""
        call.busy = True
        await self._stop_announcement(call)
        try:
            async with call.lock:
                channel = call.caller_channel
                if call.phase is not _Phase.EXPIRED or channel is None:
                    return
                with contextlib.suppress(AriNotFound):
                    await self._ari.stop_moh(channel)
                pressed = await self._offer_callback(call, channel)
                if call.phase is not _Phase.EXPIRED or call.caller_channel is None:
                    return  # they hung up meanwhile (_caller_gone recorded it)
                contact = await self._read_contact(channel) if pressed else None
                if contact is not None and self._readmit(call, expired, contact):
                    await self._confirm_callback(call, channel)
                    return
                if pressed:
                    call.log.warning("cannot call back after max wait; saying goodbye")
                else:
                    call.log.info("no callback wanted after max wait; saying goodbye")
                self._max_wait_timed_out(call, self._clock())
                await self._play_and_wait(
                    channel,
                    ["queue/max_wait_goodbye"],
                    call.language,
                    f"{call.call_id}-bye{next(self._seq)}",
                    _PLAYBACK_WAIT,
                )
                self._teardown(call)
        except AriError as exc:
            call.log.warning("max-wait offer failed: %s", exc)
            if call.phase is _Phase.EXPIRED:
                self._max_wait_timed_out(call, self._clock())
            if call.phase is _Phase.ENDED:
                self._teardown(call)
        finally:
            call.busy = False
            call.answer = None
            self._wake.set()

    async def _offer_callback(self, call: _QCall, channel: str) -> bool:
        """Play the apology and callback offer; True if the caller pressed 1 during it or
        within ``max_wait_offer_timeout`` after it."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        call.answer = answer
        playback = f"{call.call_id}-mw{next(self._seq)}"
        media = [f"{self._prefix}/{call.language}/queue/max_wait_offer"]
        async with self._ari.expect("PlaybackFinished", playback_id=playback) as finished:
            try:
                await self._ari.play(channel, media, playback)
            except AriNotFound:
                return False
            call.playback = playback
            either: set[asyncio.Future[Any]] = {finished, answer}
            await asyncio.wait(either, timeout=_PLAYBACK_WAIT, return_when=asyncio.FIRST_COMPLETED)
            call.playback = None
            if answer.done():
                with contextlib.suppress(AriError):
                    await self._ari.stop_playback(playback)  # pressed during the offer
        if not answer.done():
            await asyncio.wait({answer}, timeout=self.options.max_wait_offer_timeout)
        return answer.done() and answer.result()

    def _readmit(self, call: _QCall, expired: WaitExpired, contact: _Contact) -> bool:
        """The caller took the max-wait offer: back in their old place as a callback."""
        now = self._clock()
        try:
            self.router.readmit_callback(expired, now)
        except RoutingError as exc:
            call.log.warning("could not readmit the call for a callback: %s", exc)
            return False
        call.phase = _Phase.WAITING
        call.callback = True
        call.callback_pending = True
        call.contact = contact
        self._emit(CallbackRequested(call.call_id, call.queue, now, at_max_wait=True))
        call.log.info("callback taken at max wait; the call keeps its place")
        self._after_change()
        return True

    def _max_wait_timed_out(self, call: _QCall, now: float) -> None:
        """Record the outcome of a max-wait offer that ended without a callback."""
        self._emit(CallTimedOut(call.call_id, call.queue, now, "max-wait", callback_offered=True))
        call.phase = _Phase.ENDED

    async def _read_contact(self, channel_id: str) -> _Contact | None:
        try:
            channel = await self._ari.get_channel(channel_id)
            address = await self._ari.get_channel_var(channel_id, "CHANNEL(pjsip,remote_addr)")
        except AriError:
            return None
        if not channel.caller_number or not address:
            return None
        return _Contact(number=channel.caller_number, address=address)

    async def _play_and_wait(
        self, channel_id: str, prompts: Sequence[str], lang: str, playback_id: str, wait: float
    ) -> None:
        """Play prompts on one channel and wait (bounded) until they finish; a failed or
        missing prompt is logged, never fatal."""
        media = [f"{self._prefix}/{lang}/{p}" for p in prompts]
        async with self._ari.expect("PlaybackFinished", playback_id=playback_id) as finished:
            try:
                await self._ari.play(channel_id, media, playback_id)
            except AriNotFound:
                return
            try:
                event = await asyncio.wait_for(finished, wait)
            except TimeoutError:
                logger.warning("playback %s did not finish in %.0f s", playback_id, wait)
                return
        state = (event.get("playback") or {}).get("state")
        if state == "failed":
            logger.warning("playback %s failed (missing prompt among %s?)", playback_id, prompts)

    async def _hide_identity(self, call: _QCall, channel_id: str) -> None:
        """Give the resident's leg a neutral caller id before it is bridged: bridging sends
        each side the other's identity (a connected-line update, P-Asserted-Identity), and a
        resident's number must not reach the CCR's phone."""
        for variable, value in (
            ("CALLERID(name)", f"{self.options.caller_id} {call.language} {call.topic}"),
            ("CALLERID(num)", self.options.caller_id),
        ):
            try:
                await self._ari.set_channel_var(channel_id, variable, value)
            except AriNotFound:
                raise
            except AriError as exc:
                call.log.warning("could not set %s: %s", variable, exc)

    def _whisper_topic(self, call: _QCall) -> str:
        topic = call.topic if call.topic in self.router.queues else call.queue
        return topic if topic in _WHISPER_TOPICS else "general"

    # ------------------------------------------------------------------ helpers
    def _sync_agents(self) -> None:
        for agent_id in self._roster:
            agent = self.router.agent(agent_id)
            if self._agent_states.get(agent_id) is agent.state:
                continue
            self._agent_states[agent_id] = agent.state
            self._emit(
                AgentStateChanged(
                    agent_id,
                    AgentActivity(agent.state.value),
                    agent.state_since,
                    agent.pause_reason or "",
                )
            )

    def _emit(self, event: QueueEvent) -> None:
        call = self._calls.get(getattr(event, "call_id", ""))
        if call is not None and call.leg is not None:
            call.leg.feed(event)
        self.hub.emit(event)

    # ------------------------------------------------------------------ the call record's leg
    def in_queue(self, call_id: str) -> bool:
        """True while ``call_id`` has a queue leg that is not over (waiting, ringing, talking,
        or a callback keeping its place)."""
        return call_id in self._calls

    def open_leg(self, call_id: str) -> QueueLeg | None:
        """The leg so far of a call still in a queue (e.g. at shutdown), or None."""
        call = self._calls.get(call_id)
        if call is None or call.leg is None:
            return None
        return call.leg.build(self._clock())

    def _leg_over(self, call: _QCall) -> None:
        """Hand the call's leg to ``leg_sink``, once."""
        leg, call.leg = call.leg, None
        if leg is None or self.leg_sink is None:
            return
        try:
            self.leg_sink(call.call_id, leg.build())
        except Exception:
            call.log.exception("queue leg sink failed")

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("queue task %s failed", task.get_name(), exc_info=task.exception())

    async def _hangup(self, channel_id: str) -> None:
        try:
            await self._ari.hangup(channel_id, "normal")
        except AriNotFound:
            pass
        except AriError as exc:
            logger.warning("could not hang up %s: %s", channel_id, exc)

    async def _destroy_bridge(self, bridge_id: str | None) -> None:
        if bridge_id is None:
            return
        try:
            await self._ari.destroy_bridge(bridge_id)
        except AriNotFound:
            pass
        except AriError as exc:
            logger.warning("could not destroy bridge %s: %s", bridge_id, exc)


_WHISPER_TOPICS = frozenset(
    {"general", "housing", "sanitation", "noise", "parking", "social_services"}
)
