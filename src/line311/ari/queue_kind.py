"""The queued call as a session kind of the runner (edge of `line311.queue.leg`).

::

    IVR Enqueue ──handler──▶ QueueKind.enqueue: router.call_arrived, CallEnqueued, a leg
                └─ HandOver("queue") ──▶ kind.start: LegSession(leg) on the same call
    runner: session.commands() ──▶ router commands answered here at once (`RouterDesk._route`)
                               └──▶ ARI commands: `line311.ari.queue_handlers` (kind.handlers)
    router task (`QueueKind.run`, in the runner's TaskGroup):
        expiries, offers, agent log-outs ──▶ Runner.deliver(call_id, event) ──▶ the leg
    agent / interpreter / resident channels: Runner.attach before they are dialled;
        their events ──adopt──▶ the leg's events (ChannelUp, ChannelGone, PlaybackFinished)

The leg's state (`QueuedCall.to_dict`, plus the IVR half of the call record held until the
leg ends) is what the runner saves after every step. `QueueKind.resume` carries a saved call
on in a new controller: a call still in line takes its place again (its original enqueue
time, priority and escalation clock: the router re-ranks it as of ``entered_at``), a CCR on
the call is on that call again in the router, and the call record is completed at the end
from the stored times (the IVR half and ``answered_at``). A kept callback's contact is saved
with the state sealed (``contact``: `line311.ari.contact_seal`) until the resident is dialled;
one that does not open ends the callback (an abandon). A caller in the max-wait offer gets
their expired entry back (`Router.expired_again`): a callback taken then keeps their place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from line311.ari.contact_seal import ContactSeal, ContactSealError
from line311.ari.kinds import CallFacts, CallStart, Ended, HandOver, SessionKind
from line311.ari.port import AriPort
from line311.ari.queue_handlers import QueueHandlers, stops_batch
from line311.ari.queue_router import ROUTER_COMMANDS, RouterDesk
from line311.ari.queueing import LegSink, QueueEventHub, QueueOptions, whisper_topic
from line311.ari.translate import NewCall
from line311.call.commands import Command, Enqueue
from line311.call.events import (
    CallerHungUp,
    ChannelGone,
    ChannelUp,
    DtmfReceived,
    Event,
    PlaybackFinished,
    Resumed,
)
from line311.call.ports import Clock, SystemClock
from line311.call.record import QueueLeg
from line311.queue.events import CallAnswered, CallbackRequested, CallEnqueued
from line311.queue.leg import Phase, QueuedCall
from line311.queue.leg_facts import LegBuilder
from line311.queue.pops import AnsweredCall, skills_asked
from line311.routing.errors import RoutingError
from line311.routing.router import Router

__all__ = ["QUEUE_KIND", "CallHost", "LegSession", "QueueKind", "adopt"]

logger = logging.getLogger(__name__)

QUEUE_KIND = "queue"

_IN_LINE = (Phase.WAITING, Phase.RINGING)
_TALKING = (Phase.WHISPER, Phase.DIALING, Phase.CONNECTED)
_BEFORE_DIAL = (Phase.WAITING, Phase.RINGING, Phase.WHISPER)
"""A callback's contact is saved with its state in these phases only."""


def adopt(caller_channel: str | None, channel_id: str, event: Event | NewCall) -> Event | None:
    """``event`` of ``channel_id`` as the leg's event (None: the leg does not hear of it).

    - a StasisStart (`NewCall`) of a channel the leg originated: `ChannelUp`;
    - a hang-up: the caller's as is (`CallerHungUp`), another channel's as `ChannelGone`;
    - keys: only the caller's; the end of a playback (the CCR's whisper): any channel's.
    """
    is_caller = channel_id == caller_channel
    if isinstance(event, NewCall):
        return None if is_caller else ChannelUp(channel_id)
    if isinstance(event, CallerHungUp):
        return event if is_caller else ChannelGone(channel_id)
    if isinstance(event, DtmfReceived) and is_caller:
        return event
    if isinstance(event, PlaybackFinished):
        return event
    return None


class CallHost(Protocol):
    """What the queue kind needs of the runner (`line311.ari.runner.Runner`)."""

    async def deliver(self, call_id: str, event: Event) -> bool: ...

    def attach(self, channel_id: str, call_id: str) -> None: ...

    def detach(self, channel_id: str) -> None: ...


class LegSession:
    """A `QueuedCall` as a runner session: its router commands are answered by the kind at
    once, the rest go to the runner. Saved with the IVR half of the call record."""

    __slots__ = ("_kind", "_now", "_resumed", "ivr_record", "leg")

    def __init__(
        self,
        leg: QueuedCall,
        kind: QueueKind,
        *,
        ivr_record: Mapping[str, Any] | None = None,
        resumed: bool = False,
    ) -> None:
        self.leg = leg
        self._resumed = resumed
        """The leg was told `Resumed` when rebuilt: the runner's `Resumed` is not fed again
        (an offer made since must not be withdrawn)."""
        self._kind = kind
        self._now = leg.entered_at
        self.ivr_record = dict(ivr_record) if ivr_record is not None else None

    @property
    def finished(self) -> bool:
        return self.leg.finished

    @property
    def outcome(self) -> str | None:
        return self.leg.outcome

    def receive(self, event: Event, now: float) -> None:
        self._now = max(self._now, now)
        if isinstance(event, Resumed) and self._resumed:
            self._resumed = False
            return
        self.leg.receive(event, now)

    def handle_timer(self, now: float) -> None:
        self._now = max(self._now, now)
        self.leg.handle_timer(now)

    def next_deadline(self) -> float | None:
        return self.leg.next_deadline()

    def commands(self) -> Sequence[object]:
        out: list[Command] = []
        while batch := self.leg.commands():
            for command in batch:
                if not isinstance(command, ROUTER_COMMANDS):
                    out.append(command)
                elif (reply := self._kind._route(self.leg, command, self._now)) is not None:
                    self.leg.receive(reply, self._now)
        self._kind._track_channels(self.leg)
        self._kind._after_change()  # agent states after the call's own events
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"leg": self.leg.to_dict(), "ivr_record": self.ivr_record}
        token = self._kind.handlers.sealed.get(self.leg.call_id)
        if token is not None and self.leg.callback and self.leg.phase in _BEFORE_DIAL:
            data["contact"] = token  # sealed (`line311.ari.contact_seal`); gone once dialled
        return data


class QueueKind(RouterDesk):
    """The queues of one controller: the ``queue`` session kind, the router's task and the
    desk (agents, figures). ``bind`` the runner before it runs; see the module docstring."""

    def __init__(
        self,
        ari: AriPort,
        router: Router,
        options: QueueOptions,
        *,
        hub: QueueEventHub | None = None,
        roster: Iterable[str] = (),
        clock: Clock | None = None,
        on_answer: Callable[[AnsweredCall], None] | None = None,
        leg_sink: LegSink | None = None,
        contact_seal: ContactSeal | None = None,
    ) -> None:
        super().__init__(router, hub if hub is not None else QueueEventHub(), roster)
        self.options = options
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.on_answer = on_answer
        """Called when a CCR answers (the screen pop); synchronous, must not block or raise."""
        self.leg_sink = leg_sink
        self.on_restored_record: Callable[[Mapping[str, Any]], None] | None = None
        """Called with the IVR half of a resumed call's record (the recorder holds it again)."""
        self.handlers = QueueHandlers(
            ari,
            sounds_prefix=options.sounds_uri_prefix,
            callback_dial=options.callback_dial,
            seal=contact_seal,
        )
        """Without ``contact_seal`` a callback's contact is not saved: a callback kept across
        a restart then ends as an abandon."""
        self._legs: dict[str, QueuedCall] = {}
        self._ivr_records: dict[str, dict[str, Any]] = {}
        self._attached: dict[str, set[str]] = {}
        self._outbox: list[tuple[str, Event]] = []
        self._host: CallHost | None = None
        self._wake = asyncio.Event()
        self._seen_changes = -1
        """The router store's change counter at the last `_after_change` that acted."""

    def _now(self) -> float:
        return self.clock.now()

    # ------------------------------------------------------------------ wiring
    def bind(self, host: CallHost) -> None:
        """The runner the queued calls run in (decisions are delivered to it)."""
        self._host = host

    def session_kind(self) -> SessionKind:
        return SessionKind(
            name=QUEUE_KIND,
            start=self._start,
            resume=self._resume,
            handlers=self.handlers.handlers(),
            ended=self._ended,
            adopt=lambda channel_id, event: adopt(None, channel_id, event),
            stops_batch=stops_batch,
        )

    async def enqueue(self, channel_id: str, command: Enqueue) -> HandOver:
        """The IVR's ``Enqueue`` handler: the caller joins a queue; the call goes on as a
        ``queue`` session."""
        now = self._now()
        queue = self.queue_for(command.topic)
        entry = self.router.call_arrived(
            channel_id, queue, now, language=command.language, topic=command.topic,
            priority=command.priority,
        )  # fmt: skip
        leg = QueuedCall(
            channel_id,
            entry.queue,
            language=command.language,
            topic=command.topic,
            whisper_topic=whisper_topic(command.topic, entry.queue, self.router.queues),
            entered_at=now,
            options=self.options.leg_options(self.router.queues[entry.queue].wrapup_seconds),
            priority=command.priority,
        )
        enqueued = CallEnqueued(
            channel_id, entry.queue, now, command.language, command.topic, command.priority
        )
        asked = skills_asked(
            self.router.queues.get(entry.queue), command.language, extra=entry.requires
        )
        self._legs[channel_id] = leg
        self._records[channel_id] = LegBuilder(enqueued, asked)
        self.hub.emit(enqueued)
        self._after_change()
        return HandOver(QUEUE_KIND)

    def remember_ivr(self, record: Mapping[str, Any]) -> None:
        """The IVR half of a call's record (the IVR's record sink): a call entering a queue
        keeps it in its saved state until the leg ends."""
        call_id = str(record.get("call_id"))
        if call_id in self._legs:
            self._ivr_records[call_id] = dict(record)

    # ------------------------------------------------------------------ the kind
    def _start(self, start: CallStart) -> LegSession:
        leg = self._legs.get(start.call_id)
        if leg is None:
            raise RuntimeError(f"call {start.call_id} was not enqueued")
        return LegSession(leg, self, ivr_record=self._ivr_records.pop(start.call_id, None))

    def _resume(self, state: Mapping[str, Any], facts: CallFacts) -> LegSession:
        leg = QueuedCall.from_dict(dict(state["leg"]))
        ivr_record = state.get("ivr_record")
        now = self._now()
        self._restore_contact(leg, state.get("contact"))
        requires: tuple[tuple[str, int], ...] = ()
        lost = leg.callback and not leg.has_contact  # the leg ends it (`Resumed`)
        if leg.phase in _IN_LINE and not lost:  # its place: ranked as of its enqueue time
            requires = self.router.call_arrived(
                leg.call_id, leg.queue, leg.entered_at, language=leg.language,
                topic=leg.topic, priority=leg.priority,
            ).requires  # fmt: skip
            if leg.callback:
                self.router.request_callback(leg.call_id, now)
        elif leg.phase is Phase.EXPIRED and leg.outcome is None:  # in the max-wait offer
            try:  # a callback taken now gets the call's old place back
                self._expired[leg.call_id] = self.router.expired_again(
                    leg.call_id, leg.queue, leg.entered_at, now, language=leg.language,
                    topic=leg.topic, priority=leg.priority,
                )  # fmt: skip
            except RoutingError as exc:
                logger.warning("call %s: its place cannot be kept: %s", leg.call_id, exc)
        elif leg.phase in _TALKING and leg.agent_id is not None:
            try:
                self.router.agent_on_call_again(
                    leg.agent_id, leg.call_id, leg.queue, leg.answered_at or now, now
                )
            except RoutingError as exc:
                logger.warning("call %s: %s is not on it again: %s", leg.call_id, leg.agent_id, exc)
        enqueued = CallEnqueued(
            leg.call_id, leg.queue, leg.entered_at, leg.language, leg.topic, leg.priority
        )
        record = LegBuilder(
            enqueued, skills_asked(self.router.queues.get(leg.queue), leg.language, extra=requires)
        )
        if leg.callback_at is not None:  # the record still says a callback was requested
            record.feed(CallbackRequested(leg.call_id, leg.queue, leg.callback_at))
        if leg.answered_at is not None and leg.agent_id is not None:
            record.feed(CallAnswered(leg.call_id, leg.queue, leg.answered_at, leg.agent_id))
        self.hub.resumed(enqueued, leg.answered_at)
        self._legs[leg.call_id] = leg
        self._records[leg.call_id] = record
        if ivr_record is not None and self.on_restored_record is not None:
            try:
                self.on_restored_record(ivr_record)
            except Exception:
                logger.exception("call %s: could not hold its IVR record again", leg.call_id)
        logger.info("call %s resumed in the queue (%s)", leg.call_id, leg.phase.value)
        leg.receive(Resumed(), now)  # before the router can offer it again
        self._after_change()
        return LegSession(leg, self, ivr_record=ivr_record, resumed=True)

    def _restore_contact(self, leg: QueuedCall, token: object) -> None:
        """A resumed callback's contact from its saved (sealed) token. One that cannot be
        read (another key, altered state, none saved) clears ``has_contact``: the leg then
        ends the callback as an abandon. The contact itself is never logged."""
        if not leg.callback or not leg.has_contact or leg.phase not in _BEFORE_DIAL:
            return
        if not isinstance(token, str):
            logger.warning("call %s: no saved contact to call back", leg.call_id)
            leg.has_contact = False
            return
        try:
            self.handlers.restore(leg.call_id, token)
        except ContactSealError as exc:
            logger.error(
                "call %s: the callback's saved contact cannot be read (%s): %s",
                leg.call_id, exc.error_id, exc,
            )  # fmt: skip
            leg.has_contact = False

    async def _ended(self, done: Ended) -> None:
        call_id = done.facts.call_id
        leg = self._legs.pop(call_id, None)
        self._expired.pop(call_id, None)
        self._ivr_records.pop(call_id, None)
        self._attached.pop(call_id, None)
        self.handlers.forget(call_id)
        if leg is not None and not leg.finished:  # the runner gave up on it
            with contextlib.suppress(RoutingError):
                self.router.call_left(call_id, self._now())
        record = self._records.pop(call_id, None)
        self._after_change()
        if record is not None and self.leg_sink is not None:
            try:
                self.leg_sink(call_id, record.build(done.ended_at))
            except Exception:
                logger.exception("call %s: queue leg sink failed", call_id)

    def _track_channels(self, leg: QueuedCall) -> None:
        """Tie the leg's other channels to its call (before they are dialled), untie the
        ones it let go of."""
        if self._host is None:
            return
        now = {c for c in leg.channels() if c != leg.call_id} if not leg.finished else set()
        before = self._attached.get(leg.call_id, set())
        for channel in now - before:
            self._host.attach(channel, leg.call_id)
        for channel in before - now:
            self._host.detach(channel)
        self._attached[leg.call_id] = now

    # ------------------------------------------------------------------ the router's task
    def _feed(self, leg: QueuedCall, event: Event, now: float | None = None) -> None:
        """A decision taken outside the router's task (an agent logged out): delivered by it."""
        self._outbox.append((leg.call_id, event))
        self._wake.set()

    def _after_change(self) -> None:
        """After a call's step or a desk action: report the CCRs whose state moved and wake
        the router's task -- only when the router's store changed (most of a queued call's
        steps -- a prompt starting, music stopped -- leave it as it was: no roster scan, no
        wake-up for them)."""
        changes = self.router.store.changes()
        if changes == self._seen_changes:
            return
        self._seen_changes = changes
        self._sync_agents()
        self._wake.set()

    async def run(self) -> None:
        """Deliver the router's decisions (expiries, offers, withdrawn offers) to the calls,
        at the router's next deadline or when woken, until cancelled."""
        while True:
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # a bug: log it, keep the other calls going
                logger.exception("queue router step failed")
            wake_at = self.router.next_deadline()
            timeout = None if wake_at is None else max(0.0, wake_at - self._now())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # no task per turn, as wait_for makes
                    await self._wake.wait()

    async def step(self) -> None:
        """One turn: withdrawn offers, expiries, then offers (none for the expired)."""
        outbox, self._outbox = self._outbox, []
        await self._deliver_all(outbox)
        await self._deliver_all(self.expiries(self._now()))
        await self._deliver_all(self.offers(self._now()))
        self._sync_agents()

    async def _deliver_all(self, decisions: list[tuple[str, Event]]) -> None:
        for call_id, event in decisions:
            if self._host is None or not await self._host.deliver(call_id, event):
                logger.warning("call %s: %s for a call not held here", call_id, event)

    # ------------------------------------------------------------------ the desk
    def queue_for(self, topic: str) -> str:
        """The queue that serves an IVR topic."""
        name = self.options.topic_queues.get(topic, topic)
        if name in self.router.queues:
            return name
        return self.options.default_queue

    @property
    def waiting_calls(self) -> int:
        return len(self._legs)

    def in_queue(self, call_id: str) -> bool:
        """True while ``call_id`` has a queue leg that is not over (waiting, ringing, talking,
        or a callback keeping its place)."""
        return call_id in self._legs

    def open_leg(self, call_id: str) -> QueueLeg | None:
        """The leg so far of a call still in a queue (e.g. at shutdown), or None."""
        record = self._records.get(call_id)
        return None if record is None else record.build(self._now())
