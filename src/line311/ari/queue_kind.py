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

Legs in the IVR workers (``queue_legs = workers``): a worker keeps its caller and runs the
leg (`line311.ari.queue_worker.WorkerQueue`); this kind keeps only the router side of it, a
shadow `QueuedCall` that is never run (its facts: queue, language, topic, callback). The
worker's messages come over the desk link (`line311.live.desk`) to `on_desk`::

    enqueue  router.call_arrived as of the worker's entry time, CallEnqueued ──▶ admitted
    cmd      the leg's router command, as `_route` does for a local leg ──▶ event (the reply)
    ivr      the IVR half of the record (the screen pop needs it)
    end      the leg is over (one not finished leaves the line)
    leg      a leg rebuilt by a restarted worker, or told again after this controller
             started: its place again, as `_resume` does (a stale offer is dropped)
    hello    the worker's queued calls after either restart: the others are gone

and the router's decisions for a worker's call go back to it as ``event`` messages. This
controller says ``hello`` to every worker when it starts, and each tells its legs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from line311.ari.contact_seal import ContactSeal
from line311.ari.kinds import HandOver
from line311.ari.leg_host import (
    BEFORE_DIAL,
    IN_LINE,
    QUEUE_KIND,
    TALKING,
    CallHost,
    LegHost,
    LegSession,
    adopt,
    saved_requires,
)
from line311.ari.port import AriPort
from line311.ari.queue_router import ROUTER_COMMANDS, RouterDesk
from line311.ari.queueing import LegSink, QueueEventHub, QueueOptions, whisper_topic
from line311.call.commands import (
    AcceptOffer,
    Command,
    EmitQueueEvent,
    Enqueue,
    RequestCallback,
    TellPosition,
)
from line311.call.events import (
    CallbackGranted,
    Event,
    OfferRefused,
    PositionTold,
)
from line311.call.ports import Clock
from line311.live.desk import (
    DeskMessage,
    DeskWireError,
    decode_command,
    encode_event,
)
from line311.queue.leg import Phase, QueuedCall
from line311.queue.leg_facts import LegBuilder
from line311.queue.pops import AnsweredCall, skills_asked
from line311.routing.errors import RoutingError
from line311.routing.router import Router

__all__ = ["BEFORE_DIAL", "QUEUE_KIND", "CallHost", "LegSession", "QueueKind", "adopt"]

logger = logging.getLogger(__name__)

DeskSend = Callable[[str, DeskMessage], None]


class QueueKind(RouterDesk, LegHost):
    """The queues of one controller: the ``queue`` session kind, the router's task and the
    desk (agents, figures). ``bind`` the runner before it runs; see the module docstring."""

    router_commands = ROUTER_COMMANDS

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
        RouterDesk.__init__(self, router, hub if hub is not None else QueueEventHub(), roster)
        LegHost.__init__(
            self, ari, options, clock=clock, leg_sink=leg_sink, contact_seal=contact_seal
        )
        self.on_answer = on_answer
        """Called when a CCR answers (the screen pop); synchronous, must not block or raise."""
        self._outbox: list[tuple[str, Event]] = []
        self._wake = asyncio.Event()
        self._seen_changes = -1
        """The router store's change counter at the last `_after_change` that acted."""
        self._remote: dict[str, tuple[str, QueuedCall]] = {}
        """Calls whose leg an IVR worker runs: call id -> (the worker's app, a shadow leg)."""
        self._desk_send: DeskSend | None = None
        self._me = ""
        self._epoch = ""
        """This controller's epoch on the desk link (`line311.live.desk.new_epoch`)."""
        self._superseded_by: str | None = None
        """The first newer controller's epoch a worker's message named (this one stands down)."""
        self.on_remote_ivr_record: Callable[[Mapping[str, Any]], None] | None = None
        """Called with the IVR half of a worker's queued call (the screen pop's path)."""

    def _now(self) -> float:
        return self.clock.now()

    # ------------------------------------------------------------------ the kind
    async def enqueue(self, channel_id: str, command: Enqueue) -> HandOver:
        """The IVR's ``Enqueue`` handler: the caller joins a queue; the call goes on as a
        ``queue`` session."""
        self._drop_remote(channel_id)  # a worker's call moved here after all (its fallback)
        now = self._now()
        leg, enqueued, requires = self._admit(
            channel_id, command.topic, command.language, command.priority, now
        )
        self._add_leg(leg, LegBuilder(enqueued, self._skills(leg, requires)))
        if requires:
            self.requires[channel_id] = requires
        self._after_change()
        return HandOver(QUEUE_KIND)

    def _admit(
        self, call_id: str, topic: str, language: str, priority: int, now: float
    ) -> tuple[QueuedCall, Any, tuple[tuple[str, int], ...]]:
        """The router's entry for a new call (raises what `Router.call_arrived` raises), its
        leg and its `CallEnqueued` (emitted)."""
        entry = self.router.call_arrived(
            call_id, self.queue_for(topic), now, language=language, topic=topic,
            priority=priority,
        )  # fmt: skip
        leg = QueuedCall(
            call_id,
            entry.queue,
            language=language,
            topic=topic,
            whisper_topic=whisper_topic(topic, entry.queue, self.router.queues),
            entered_at=now,
            options=self.options.leg_options(self.router.queues[entry.queue].wrapup_seconds),
            priority=priority,
        )
        enqueued = self._enqueued(leg)
        self.hub.emit(enqueued)
        return leg, enqueued, entry.requires

    def _skills(self, leg: QueuedCall, requires: tuple[tuple[str, int], ...]) -> list[str]:
        return sorted(skills_asked(self.router.queues.get(leg.queue), leg.language, extra=requires))

    def _readmit(
        self, leg: QueuedCall, requires: tuple[tuple[str, int], ...], now: float
    ) -> tuple[tuple[str, int], ...]:
        requires = self._place(leg, requires, now)
        self.hub.resumed(self._enqueued(leg), leg.answered_at, leg.agent_id)
        return requires

    def _place(
        self, leg: QueuedCall, requires: tuple[tuple[str, int], ...], now: float
    ) -> tuple[tuple[str, int], ...]:
        """A rebuilt leg's place with the router: in line as of its entry time, in the
        max-wait offer (its entry kept for a callback), or its CCR on it again."""
        lost = leg.callback and not leg.has_contact  # the leg ends it (`Resumed`)
        if leg.phase in IN_LINE and not lost:  # its place: ranked as of its enqueue time
            requires = self.router.call_arrived(
                leg.call_id, leg.queue, leg.entered_at, language=leg.language,
                topic=leg.topic, priority=leg.priority, resumed=True,
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
        elif leg.phase in TALKING and leg.agent_id is not None:
            try:
                self.router.agent_on_call_again(
                    leg.agent_id, leg.call_id, leg.queue, leg.answered_at or now, now
                )
            except RoutingError as exc:
                logger.warning("call %s: %s is not on it again: %s", leg.call_id, leg.agent_id, exc)
        return requires

    def _leg_gone(self, call_id: str, leg: QueuedCall | None, now: float) -> None:
        self._expired.pop(call_id, None)
        if leg is not None and not leg.finished:  # the runner gave up on it
            with contextlib.suppress(RoutingError):
                self.router.call_left(call_id, now)

    # ------------------------------------------------------------------ the router's task
    def _holds(self, call_id: str) -> bool:
        return call_id in self._legs or call_id in self._remote

    def _leg_of(self, call_id: str) -> QueuedCall | None:
        leg = self._legs.get(call_id)
        if leg is None and call_id in self._remote:
            leg = self._remote[call_id][1]
        return leg

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
            remote = self._remote.get(call_id)
            if remote is not None:
                if not self._standing_down:
                    self._send(remote[0], "event", call_id, {"event": encode_event(event)})
                continue
            if self._host is None or not await self._host.deliver(call_id, event):
                logger.warning("call %s: %s for a call not held here", call_id, event)

    # ------------------------------------------------------------------ legs in IVR workers
    @property
    def _standing_down(self) -> bool:
        """Handing over (a rolling restart, a stop), or a newer controller has said hello to
        the workers: that one decides for their calls; this one neither takes their messages
        nor sends them decisions."""
        if self._superseded_by is not None:
            return True
        return self._host is not None and not self._host.accepting

    def use_desk(self, me: str, send: DeskSend, *, epoch: str = "") -> None:
        """Take the IVR workers' legs: messages to them go through ``send`` (the desk link's),
        marked with this controller's ``epoch`` (`line311.live.desk.DeskLink.take_epoch`;
        `use_epoch` sets it later)."""
        self._me = me
        self._desk_send = send
        self._epoch = epoch

    def use_epoch(self, epoch: str) -> None:
        """This controller's epoch on the desk link, taken once its inbox is open."""
        self._epoch = epoch

    def hello(self, workers: Iterable[str]) -> None:
        """This controller (re)started: every worker tells its legs again."""
        for worker in workers:
            self._send(worker, "hello", "", {})

    def _send(self, to: str, kind: str, call_id: str, body: Mapping[str, Any]) -> None:
        if self._desk_send is None:
            logger.error("call %s: no desk link to reach %s", call_id, to)
            return
        self._desk_send(to, DeskMessage(kind, call_id, self._me, {**body, "by": self._epoch}))

    def on_desk(self, message: DeskMessage) -> None:
        """One message of an IVR worker (see the module docstring). Bad input is logged and
        dropped; what the worker waits for gets an answer whenever one can be given."""
        meant_for = message.body.get("to")
        if isinstance(meant_for, str) and self._epoch and meant_for > self._epoch:
            self._superseded(meant_for, message.sender)
        if self._standing_down:  # a newer controller decides now (it said hello to them)
            logger.debug(
                "desk message %s of call %s left to the next controller",
                message.kind,
                message.call_id,
            )
            return
        handler = self._DESK.get(message.kind)
        if handler is None:
            logger.warning("desk message %r from %s ignored", message.kind, message.sender)
            return
        try:
            handler(self, message)
        except (DeskWireError, KeyError, TypeError, ValueError) as exc:
            logger.error(
                "call %s: unreadable %s message from %s (%s)",
                message.call_id, message.kind, message.sender, exc,
            )  # fmt: skip
        self._after_change()

    def _superseded(self, epoch: str, worker: str) -> None:
        if self._superseded_by is not None:
            return  # standing down already (said once)
        logger.warning(
            "%s follows a newer controller (epoch %s; this one's is %s): its calls' "
            "decisions are that one's now",
            worker, epoch, self._epoch,
        )  # fmt: skip
        self._superseded_by = epoch

    def _on_enqueue(self, message: DeskMessage) -> None:
        call_id, body = message.call_id, message.body
        known = self._remote.get(call_id)
        if known is not None:  # asked again (the first answer was late): the same answer
            self._admitted(message.sender, known[1])
            return
        if call_id in self._legs:
            self._send(message.sender, "admitted", call_id, {"error": "held by the controller"})
            return
        try:
            leg, _, requires = self._admit(
                call_id, str(body["topic"]), str(body["language"]), int(body["priority"]),
                float(body["entered_at"]),
            )  # fmt: skip
        except RoutingError as exc:
            logger.warning("call %s: not admitted to a queue: %s", call_id, exc)
            self._send(message.sender, "admitted", call_id, {"error": str(exc)})
            return
        self._remote[call_id] = (message.sender, leg)
        if requires:
            self.requires[call_id] = requires
        self._admitted(message.sender, leg)

    def _admitted(self, worker: str, leg: QueuedCall) -> None:
        requires = [list(r) for r in self.requires.get(leg.call_id, ())]
        self._send(worker, "admitted", leg.call_id, {"queue": leg.queue, "requires": requires})

    def _on_cmd(self, message: DeskMessage) -> None:
        call_id = message.call_id
        command = decode_command(message.body["command"])
        now = self._now()
        remote = self._remote.get(call_id)
        if remote is None:
            reply = self._orphan_command(call_id, command, message.sender)
        else:
            shadow = remote[1]
            reply = self._route(shadow, command, now)
            if isinstance(reply, CallbackGranted) and reply.ok:
                shadow.callback = True
        if reply is not None:
            self._send(message.sender, "event", call_id, {"event": encode_event(reply)})

    def _orphan_command(self, call_id: str, command: Command, worker: str) -> Event | None:
        """A command of a call the router does not hold for a worker (this controller started
        after the worker's last word of it): its facts still count; a question gets the
        answer that keeps the caller safe."""
        if isinstance(command, EmitQueueEvent):
            self.hub.emit(command.event)
            return None
        logger.info("call %s: %s from %s for a call not in line here", call_id, command, worker)
        if isinstance(command, AcceptOffer):
            return OfferRefused()
        if isinstance(command, TellPosition):
            return PositionTold(None)
        if isinstance(command, RequestCallback):
            return CallbackGranted(False)
        return None

    def _on_ivr(self, message: DeskMessage) -> None:
        record = message.body["record"]
        if not isinstance(record, Mapping):
            raise TypeError("record is not an object")
        if self.on_remote_ivr_record is not None:
            self.on_remote_ivr_record(record)

    def _on_end(self, message: DeskMessage) -> None:
        call_id = message.call_id
        remote = self._remote.pop(call_id, None)
        self.requires.pop(call_id, None)
        self._expired.pop(call_id, None)
        if remote is not None and not bool(message.body.get("finished", True)):
            with contextlib.suppress(RoutingError):
                self.router.call_left(call_id, self._now())

    def _on_leg(self, message: DeskMessage) -> None:
        """A leg told again: its place with the router as `_resume` gives it; a call this
        controller holds already for the worker is first taken out (its stale offer with it),
        unless it is on a CCR already (the router has that right)."""
        call_id = message.call_id
        leg = QueuedCall.from_dict(dict(message.body["leg"]))
        if leg.call_id != call_id:
            raise ValueError(f"leg of {leg.call_id!r} sent as {call_id!r}")
        if leg.finished:
            return
        now = self._now()
        known = self._remote.get(call_id)
        if known is not None and leg.phase in TALKING:
            self._remote[call_id] = (message.sender, leg)
            return
        if known is not None:
            with contextlib.suppress(RoutingError):
                self.router.call_left(call_id, now)
            self._expired.pop(call_id, None)
        try:
            if known is None:  # this controller started since: the figures hear of it too
                requires = self._readmit(leg, saved_requires(message.body), now)
            else:
                requires = self._place(leg, saved_requires(message.body), now)
        except RoutingError as exc:
            logger.warning("call %s: the worker's leg has no place here: %s", call_id, exc)
            return
        if requires:
            self.requires[call_id] = requires
        self._remote[call_id] = (message.sender, leg)
        logger.info("call %s: in line again for %s (%s)", call_id, message.sender, leg.phase.value)

    def _on_hello(self, message: DeskMessage) -> None:
        """The worker's queued calls now: the others it had are gone (ended while no one
        listened)."""
        listed = {str(c) for c in message.body["calls"]}
        now = self._now()
        for call_id, (worker, _) in list(self._remote.items()):
            if worker == message.sender and call_id not in listed:
                logger.warning("call %s: %s no longer holds it; out of line", call_id, worker)
                del self._remote[call_id]
                self.requires.pop(call_id, None)
                self._expired.pop(call_id, None)
                with contextlib.suppress(RoutingError):
                    self.router.call_left(call_id, now)

    _DESK: ClassVar[dict[str, Callable[[QueueKind, DeskMessage], None]]] = {
        "enqueue": _on_enqueue,
        "cmd": _on_cmd,
        "ivr": _on_ivr,
        "end": _on_end,
        "leg": _on_leg,
        "hello": _on_hello,
    }

    def _drop_remote(self, call_id: str) -> None:
        if self._remote.pop(call_id, None) is not None:
            self.requires.pop(call_id, None)
            with contextlib.suppress(RoutingError):
                self.router.call_left(call_id, self._now())

    # ------------------------------------------------------------------ the desk
    def queue_for(self, topic: str) -> str:
        """The queue that serves an IVR topic."""
        name = self.options.topic_queues.get(topic, topic)
        if name in self.router.queues:
            return name
        return self.options.default_queue

    @property
    def remote_calls(self) -> int:
        """Queued calls whose leg an IVR worker runs."""
        return len(self._remote)
