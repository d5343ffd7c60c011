"""An IVR worker keeps its queued callers: the leg runs here, the router decides elsewhere.

With ``queue_legs = workers`` a worker's caller who asks for a representative is not moved
to the controller. The worker runs the caller's queue leg (`line311.queue.leg.QueuedCall`:
music, position announcements, ringing the CCR, the whisper, the bridge, the callback) and
writes the call's whole record; the controller keeps the one router over every caller and
CCR. They talk over the desk link (`line311.live.desk`, Redis streams)::

    worker                                         controller (`QueueKind.on_desk`)
    IVR Enqueue ─▶ enqueue {topic, language, ...} ─▶ router.call_arrived, CallEnqueued
                  ◀── admitted {queue, requires} ◀── (or {error}: the IVR's apology)
    leg's router command (AcceptOffer, TellPosition, the queue facts, ...) ─▶ cmd
                  ◀── event (OfferAccepted, PositionTold, ...) ◀── the reply, if one is due
                  ◀── event (AgentOffered, MaxWaitReached, OfferWithdrawn) ◀── decisions
    the leg ends ─▶ end {finished}

The IVR half of the call's record (what the screen pop shows the CCR) goes as ``ivr`` just
before the leg's ``AcceptOffer``, in the same stream entry: only a caller a CCR answers
needs it, and a leg rebuilt after either restart still has it.

Replies and decisions reach the leg as events (`Runner.deliver`), never at once: the leg
already treats each as a message that may come late or not at all (``accepting``,
``asking_position``, ``requesting``).

Restarts. The worker tells the controller each leg it rebuilds (``leg``: its saved state)
and, once its re-sync is over, which calls it holds (``hello``); the controller puts each in
line again as of its entry time and forgets the others. A controller that starts says
``hello`` to every worker: each withdraws its ringing offers and stale questions (`Resumed`)
and tells its legs again the same way. If the controller does not answer an ``enqueue``
within ``admit_within`` seconds (it is away), the caller is moved to it the old way
(``fallback``: `line311.ari.workers.IvrHandoff`), which waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from line311.ari.contact_seal import ContactSeal
from line311.ari.kinds import CallFacts, HandOver
from line311.ari.leg_host import IN_LINE, QUEUE_KIND, LegHost, LegSession, saved_requires
from line311.ari.port import AriPort
from line311.ari.queue_router import ROUTER_COMMANDS
from line311.ari.queueing import LegSink, QueueOptions, whisper_topic
from line311.call.commands import (
    AcceptOffer,
    Command,
    Enqueue,
    NoteInterpreterJoined,
)
from line311.call.events import Event, Resumed
from line311.call.ports import Clock
from line311.live.desk import (
    DeskMessage,
    DeskWireError,
    decode_event,
    encode_command,
)
from line311.queue.leg import QueuedCall
from line311.queue.leg_facts import LegBuilder
from line311.queue.pops import skills_asked
from line311.routing.errors import RoutingError
from line311.routing.queues import QueueSet

__all__ = ["NotAdmittedError", "WorkerQueue"]

logger = logging.getLogger(__name__)

ADMIT_WITHIN = 5.0
"""Seconds a caller waits for the controller's ``admitted`` before the move fallback."""

DeskSend = Callable[[str, DeskMessage], None]
Fallback = Callable[[str, Enqueue], Awaitable[HandOver]]


class NotAdmittedError(RoutingError):
    """The controller's router did not take the call (its queue is full, say)."""


class WorkerQueue(LegHost):
    """The queued calls of one IVR worker. See the module docstring."""

    router_commands = ROUTER_COMMANDS

    def __init__(
        self,
        ari: AriPort,
        options: QueueOptions,
        queues: QueueSet,
        *,
        me: str,
        controller: str,
        send: DeskSend,
        clock: Clock | None = None,
        leg_sink: LegSink | None = None,
        contact_seal: ContactSeal | None = None,
        fallback: Fallback | None = None,
        admit_within: float = ADMIT_WITHIN,
    ) -> None:
        super().__init__(ari, options, clock=clock, leg_sink=leg_sink, contact_seal=contact_seal)
        self.queues = queues
        self.me = me
        self.controller = controller
        self._send_fn = send
        self._fallback = fallback
        self._admit_within = admit_within
        self._asked: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._epoch: str | None = None
        """The newest controller's epoch heard of (its messages' ``by``)."""
        self._pops: dict[str, dict[str, Any]] = {}
        """The IVR half of each queued call's record, for the controller's screen pop."""
        self.fallbacks = 0
        """Callers moved to the controller because it did not answer in time."""

    # ------------------------------------------------------------------ the IVR's Enqueue
    async def enqueue(self, channel_id: str, command: Enqueue) -> HandOver:
        """The IVR's ``Enqueue`` handler: asks the controller's router for a place, then the
        call goes on here as a ``queue`` session."""
        now = self._now()
        answer: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._asked[channel_id] = answer
        body = {
            "topic": command.topic,
            "language": command.language,
            "priority": command.priority,
            "entered_at": now,
        }
        self._send("enqueue", channel_id, body)
        try:
            async with asyncio.timeout(self._admit_within):
                reply = await answer
        except TimeoutError:
            return await self._move_instead(channel_id, command)
        finally:
            self._asked.pop(channel_id, None)
        if "error" in reply:
            raise NotAdmittedError(f"call {channel_id}: {reply['error']}")
        queue = str(reply["queue"])
        requires = saved_requires(reply)
        config = self.queues[queue]
        leg = QueuedCall(
            channel_id,
            queue,
            language=command.language,
            topic=command.topic,
            whisper_topic=whisper_topic(command.topic, queue, self.queues),
            entered_at=now,
            options=self.options.leg_options(config.wrapup_seconds),
            priority=command.priority,
        )
        self._add_leg(leg, LegBuilder(self._enqueued(leg), self._skills(leg, requires)))
        if requires:
            self.requires[channel_id] = requires
        return HandOver(QUEUE_KIND)

    async def _move_instead(self, channel_id: str, command: Enqueue) -> HandOver:
        logger.warning(
            "call %s: the controller did not answer within %.1f s; moving the caller to it",
            channel_id, self._admit_within, extra={"call_id": channel_id},
        )  # fmt: skip
        self._send("end", channel_id, {"finished": False})  # in case it answers late
        if self._fallback is None:
            raise NotAdmittedError(f"call {channel_id}: the controller did not answer")
        self.fallbacks += 1
        return await self._fallback(channel_id, command)

    # ------------------------------------------------------------------ LegHost hooks
    def _route(self, leg: QueuedCall, command: Command, now: float) -> Event | None:
        record = self._records.get(leg.call_id)
        if record is not None:
            record.note(command, now)
        if isinstance(command, NoteInterpreterJoined):
            logger.info("call %s: interpreter joined", leg.call_id)
        pop = self._pops.get(leg.call_id) if isinstance(command, AcceptOffer) else None
        if pop is not None:  # the screen pop's, in the same entry, read first
            self._send("ivr", leg.call_id, {"record": pop})
        try:
            self._send("cmd", leg.call_id, {"command": encode_command(command)})
        except DeskWireError:
            logger.exception("call %s: %s cannot be sent", leg.call_id, command)
        return None  # a reply comes as an event

    def _readmit(
        self, leg: QueuedCall, requires: tuple[tuple[str, int], ...], now: float
    ) -> tuple[tuple[str, int], ...]:
        self._tell(leg, requires)
        return requires

    def _leg_gone(self, call_id: str, leg: QueuedCall | None, now: float) -> None:
        self._pops.pop(call_id, None)
        self._send("end", call_id, {"finished": leg is None or leg.finished})

    def _skills(self, leg: QueuedCall, requires: tuple[tuple[str, int], ...]) -> list[str]:
        return sorted(skills_asked(self.queues.get(leg.queue), leg.language, extra=requires))

    def _tell(self, leg: QueuedCall, requires: tuple[tuple[str, int], ...]) -> None:
        body = {"leg": leg.to_dict(), "requires": [list(r) for r in requires]}
        self._send("leg", leg.call_id, body)

    def _send(self, kind: str, call_id: str, body: Mapping[str, Any]) -> None:
        if self._epoch is not None:  # the controller that decides (an older one stands down)
            body = {**body, "to": self._epoch}
        self._send_fn(self.controller, DeskMessage(kind, call_id, self.me, body))

    # ------------------------------------------------------------------ the controller's word
    def remember_ivr(self, record: Mapping[str, Any]) -> None:
        """The IVR half of a queued call's record: saved with the leg, and kept for the
        controller's screen pop (sent with the leg's ``AcceptOffer``)."""
        super().remember_ivr(record)
        call_id = str(record.get("call_id"))
        if call_id in self._legs:
            self._pops[call_id] = dict(record)

    def _resume(self, state: Mapping[str, Any], facts: CallFacts) -> LegSession:
        session = super()._resume(state, facts)
        if session.ivr_record is not None:
            self._pops[session.leg.call_id] = session.ivr_record
        return session

    async def after_resync(self, listed: set[str] | None = None) -> None:
        """After the runner's re-sync: the calls this worker holds in a queue now (and those
        whose ``enqueue`` is on its way: the controller has them, or will)."""
        self._send("hello", "", {"calls": sorted({*self._legs, *self._asked})})

    async def on_desk(self, message: DeskMessage) -> None:
        """One message from the controller (bad input is logged and dropped). A message of a
        controller older than the newest heard of (a rolling restart's overlap) is dropped."""
        if not self._heeds(message):
            return
        try:
            if message.kind == "admitted":
                answer = self._asked.get(message.call_id)
                if answer is not None and not answer.done():
                    answer.set_result(dict(message.body))
            elif message.kind == "event":
                await self._decision(message.call_id, decode_event(message.body["event"]))
            elif message.kind == "hello":
                await self._controller_started()
            else:
                logger.warning("desk message %r from %s ignored", message.kind, message.sender)
        except (DeskWireError, KeyError, TypeError, ValueError) as exc:
            logger.error(
                "call %s: unreadable %s message from %s (%s)",
                message.call_id, message.kind, message.sender, exc,
            )  # fmt: skip

    def _heeds(self, message: DeskMessage) -> bool:
        by = message.body.get("by")
        if not isinstance(by, str) or not by:
            return True
        if self._epoch is not None and by < self._epoch:
            logger.info(
                "call %s: %s of a replaced controller dropped", message.call_id, message.kind
            )
            return False
        if by != self._epoch:
            if self._epoch is not None:
                logger.info("a newer controller decides (epoch %s)", by)
            self._epoch = by
        return True

    async def _decision(self, call_id: str, event: Event) -> None:
        record = self._records.get(call_id)
        if record is not None:
            record.heard(event, self._now())
        if self._host is None or not await self._host.deliver(call_id, event):
            logger.info("call %s: %s for a call no longer held here", call_id, event)

    async def _controller_started(self) -> None:
        """The controller (re)started and knows nothing of this worker's calls: a ringing
        offer and a question still unanswered are stale (`Resumed`), then every leg is told
        again, then the list."""
        logger.info("the controller started: telling it of %d queued calls", len(self._legs))
        for call_id, leg in list(self._legs.items()):
            if leg.phase in IN_LINE and self._host is not None:
                await self._host.deliver(call_id, Resumed())
        for leg in list(self._legs.values()):
            if not leg.finished:
                self._tell(leg, self.requires.get(leg.call_id, ()))
        await self.after_resync()
