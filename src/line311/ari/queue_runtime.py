"""The queue runtime: callers wait on hold, CCR phones ring, calls are bridged (ARI edge).

Each queued call is a pure `line311.queue.leg.QueuedCall`; this module is the edge around
them. The `Router` (pure, global) decides who takes which call; the runtime tells each leg
its decisions, answers the leg's router commands at once, hands its ARI commands to the
call's `LegWorker` (in order; `line311.ari.queue_handlers` carries each one out) and feeds
back what Asterisk said::

    IVR Enqueue ──▶ enqueue(): router.call_arrived, CallEnqueued, a leg (HoldCaller ...)
    pump: router.tick / decide / leg timers at the next deadline or when woken
        Offer ──▶ AgentOffered ──▶ leg: Originate agent ──▶ StasisStart ──▶ ChannelUp ...
    channel events ──▶ ChannelGone / DtmfReceived ──▶ the leg that owns the channel

After every step the leg's state goes to ``save(call_id, state)`` and, when its leg is
over, ``forget(call_id)``; `resume` rebuilds legs from saved states (a restarted controller).
Times come from the injected `Clock` (wall-clock epoch seconds). Tasks live in one
`asyncio.TaskGroup` (`running`): one worker per call and the playback waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from typing import Any

from line311.ari.port import AriPort
from line311.ari.queue_exec import LegWorker
from line311.ari.queue_handlers import QueueHandlers
from line311.ari.queue_kind import adopt
from line311.ari.queue_router import ROUTER_COMMANDS, RouterDesk
from line311.ari.queueing import LegSink, QueueEventHub, QueueOptions, whisper_topic
from line311.ari.translate import NewCall
from line311.call.commands import Command, Enqueue
from line311.call.events import (
    ChannelGone,
    Event,
    Resumed,
)
from line311.call.ports import Clock, SystemClock
from line311.call.record import QueueLeg
from line311.queue.events import CallEnqueued
from line311.queue.leg import Phase, QueuedCall
from line311.queue.leg_facts import LegBuilder
from line311.queue.pops import AnsweredCall, skills_asked
from line311.routing.router import Router

__all__ = ["QueueRuntime", "SaveState"]

logger = logging.getLogger(__name__)

SaveState = Callable[[str, dict[str, Any]], None]
"""``save(call_id, state)``: the leg's `to_dict` after a step (must not block)."""


class QueueRuntime(RouterDesk):
    """Runs the queues of one controller. See the module docstring.

    ``roster``: agent ids whose state changes are reported (the router knows their profiles).
    Call `run` in a task; hand `enqueue` to the controller as the ``Enqueue`` command handler,
    and `on_outbound` / `on_channel_event` / `owns` as its channel owner.
    """

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
        save: SaveState | None = None,
        forget: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(router, hub if hub is not None else QueueEventHub(), roster)
        self._ari = ari
        self.on_answer = on_answer
        """Called when a CCR answers (the screen pop); synchronous, must not block or raise."""
        self.leg_sink = leg_sink
        self.save: SaveState = save if save is not None else _no_save
        self.forget: Callable[[str], None] = forget if forget is not None else _no_forget
        self.options = options
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._legs: dict[str, QueuedCall] = {}
        self._channels: dict[str, str] = {}
        """channel id -> call id (every live channel of every leg)."""
        self._owned: dict[str, set[str]] = {}
        self._workers: dict[str, LegWorker] = {}
        self._steps = QueueHandlers(
            ari, sounds_prefix=options.sounds_uri_prefix, callback_dial=options.callback_dial
        )
        self._wake = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def _now(self) -> float:
        return self.clock.now()

    # ------------------------------------------------------------------ public: controller
    def owns(self, channel_id: str) -> bool:
        """True for channels this runtime handles (callers on hold, its originated legs)."""
        return channel_id in self._channels

    async def enqueue(self, channel_id: str, command: Enqueue) -> Event | None:
        """The controller's ``Enqueue`` handler: the caller leaves the IVR for a queue."""
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
        self._add(leg, LegBuilder(enqueued, asked))
        self.hub.emit(enqueued)
        self._drain(leg, now)
        worker = self._workers.get(channel_id)
        if worker is not None and self._tg is not None:
            await worker.wait_for(1)  # on hold before the controller lets go of the channel
        return None

    async def on_outbound(self, new: NewCall, received_at: float) -> None:
        """StasisStart of a channel we originated: a CCR, the resident or the interpreter."""
        leg = self._leg_of(new.channel_id)
        if leg is None:
            logger.info("outbound channel %s belongs to no queue call; hanging up", new.channel_id)
            with contextlib.suppress(Exception):
                await self._ari.hangup(new.channel_id, "normal")
            return
        event = adopt(leg.caller_channel, new.channel_id, new)
        if event is not None:
            self._feed(leg, event)

    async def on_channel_event(self, channel_id: str, event: Event, received_at: float) -> None:
        """A translated event for a channel we own (`owns`)."""
        leg = self._leg_of(channel_id)
        if leg is None:
            return
        adopted = adopt(leg.caller_channel, channel_id, event)
        if adopted is not None:
            self._feed(leg, adopted)

    def reconcile(self, listed: set[str]) -> None:
        """After an ARI reconnect: channels of ours that vanished count as hung up."""
        for channel_id in [c for c in self._channels if c not in listed]:
            leg = self._leg_of(channel_id)
            if leg is not None:
                logger.warning(
                    "call %s: channel %s vanished while ARI was away", leg.call_id, channel_id
                )
                self._feed(leg, ChannelGone(channel_id))

    def queue_for(self, topic: str) -> str:
        """The queue that serves an IVR topic."""
        name = self.options.topic_queues.get(topic, topic)
        if name in self.router.queues:
            return name
        return self.options.default_queue

    @property
    def waiting_calls(self) -> int:
        return len(self._legs)

    # ------------------------------------------------------------------ public: restart
    def resume(self, states: Iterable[Mapping[str, Any]]) -> None:
        """Carry on legs saved by another process (their ``save`` states), in arrival order.

        Calls still in line (waiting, ringing, kept as callbacks) take their places again in
        the router; a ringing offer is withdrawn (its CCR leg belonged to the old process).
        """
        now = self._now()
        for state in sorted(states, key=lambda s: float(s["entered_at"])):
            leg = QueuedCall.from_dict(dict(state))
            in_line = leg.phase in (Phase.WAITING, Phase.RINGING)
            requires: tuple[tuple[str, int], ...] = ()
            if in_line:
                requires = self.router.call_arrived(
                    leg.call_id, leg.queue, leg.entered_at, language=leg.language,
                    topic=leg.topic, priority=leg.priority,
                ).requires  # fmt: skip
                if leg.callback:
                    self.router.request_callback(leg.call_id, now)
            enqueued = CallEnqueued(
                leg.call_id, leg.queue, leg.entered_at, leg.language, leg.topic, leg.priority
            )
            asked = skills_asked(self.router.queues.get(leg.queue), leg.language, extra=requires)
            self._add(leg, LegBuilder(enqueued, asked))
            if not in_line:
                logger.warning("call %s resumed in %s", leg.call_id, leg.phase.value)
            self._feed(leg, Resumed(), now)  # the leg re-does what was lost (a ringing offer)
        self._after_change()

    # ------------------------------------------------------------------ tasks and the pump
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[QueueRuntime]:
        """Host the calls' tasks (one `asyncio.TaskGroup`) until the block exits."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            for call_id in list(self._workers):
                self._start_worker(call_id)
            try:
                yield self
            finally:
                self._tg = None
                for worker in self._workers.values():
                    worker.close()
        # the calls still going get fresh (unstarted) workers for the next `running`
        for call_id in list(self._workers):
            self._workers[call_id] = self._worker(call_id)
        self._pending = 0
        self._idle.set()

    async def run(self) -> None:
        """Fire the router's and the legs' timers, make the offers, until cancelled."""
        async with self.running():
            while True:
                try:
                    self.step(self._now())
                except Exception:  # a bug: log it, keep the other calls going
                    logger.exception("queue pump step failed")
                wake_at = self._next_wake()
                self._wake.clear()
                timeout = None if wake_at is None else max(0.0, wake_at - self._now())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def idle(self) -> None:
        """Return once every command handed to Asterisk so far has been carried out."""
        while self._pending:
            await self._idle.wait()

    def step(self, now: float) -> None:
        """One turn of the pump: expiries, offers, agent states, the legs' timers."""
        for decisions in (self.expiries, self.offers):  # expiries first: no offer for those
            for call_id, event in decisions(now):
                if (leg := self._legs.get(call_id)) is not None:
                    self._feed(leg, event, now)
        self._sync_agents()
        for leg in list(self._legs.values()):
            deadline = leg.next_deadline()
            if deadline is not None and deadline <= now:
                leg.handle_timer(now)
                self._drain(leg, now)

    def _next_wake(self) -> float | None:
        times = [t for t in (self.router.next_deadline(),) if t is not None]
        times += [t for leg in self._legs.values() if (t := leg.next_deadline()) is not None]
        return min(times) if times else None

    def _after_change(self) -> None:
        self._sync_agents()
        self._wake.set()

    # ------------------------------------------------------------------ driving the legs
    def _add(self, leg: QueuedCall, record: LegBuilder) -> None:
        self._legs[leg.call_id] = leg
        self._records[leg.call_id] = record
        self._workers[leg.call_id] = self._worker(leg.call_id)
        self._start_worker(leg.call_id)

    def _worker(self, call_id: str) -> LegWorker:
        return LegWorker(
            call_id,
            self._ari,
            sounds_prefix=self.options.sounds_uri_prefix,
            callback_dial=self.options.callback_dial,
            feed=self._feed_id,
            spawn=self._spawn,
            steps=self._steps,
        )

    def _start_worker(self, call_id: str) -> None:
        if self._tg is not None:
            worker = self._workers[call_id]
            self._tg.create_task(worker.run(self._done), name=f"queue-{call_id}")

    def _feed_id(self, call_id: str, event: Event) -> None:
        leg = self._legs.get(call_id)
        if leg is not None:
            self._feed(leg, event)

    def _feed(self, leg: QueuedCall, event: Event, now: float | None = None) -> None:
        at = self._now() if now is None else now
        leg.receive(event, at)
        self._drain(leg, at)

    def _drain(self, leg: QueuedCall, now: float) -> None:
        """Carry out what the leg asked: router commands now, ARI ones by its worker."""
        batch: list[Command] = []
        while commands := leg.commands():
            for command in commands:
                if not isinstance(command, ROUTER_COMMANDS):
                    batch.append(command)
                elif (reply := self._route(leg, command, now)) is not None:
                    leg.receive(reply, now)
        worker = self._workers.get(leg.call_id)
        if batch and worker is not None:
            self._pending += 1
            self._idle.clear()
            worker.submit(batch)
        for channel in self._owned.pop(leg.call_id, ()):
            self._channels.pop(channel, None)
        if leg.finished:
            self._end(leg)
        else:
            owned = self._owned[leg.call_id] = set(leg.channels())
            self._channels.update(dict.fromkeys(owned, leg.call_id))
            self.save(leg.call_id, leg.to_dict())
        self._after_change()  # agent states after the call's own events, as they happened

    def _end(self, leg: QueuedCall) -> None:
        self._legs.pop(leg.call_id, None)
        self._expired.pop(leg.call_id, None)
        worker = self._workers.pop(leg.call_id, None)
        if worker is not None:
            worker.close()
        self._steps.forget(leg.call_id)
        record = self._records.pop(leg.call_id, None)
        self.forget(leg.call_id)
        if record is not None and self.leg_sink is not None:
            try:
                self.leg_sink(leg.call_id, record.build())
            except Exception:
                logger.exception("call %s: queue leg sink failed", leg.call_id)

    def _done(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self._idle.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tg is None:
            coro.close()
            return
        self._pending += 1
        self._idle.clear()

        async def tracked() -> None:
            try:
                await coro
            except Exception:
                logger.exception("queue task failed")
            finally:
                self._done()

        self._tg.create_task(tracked())

    def _leg_of(self, channel_id: str) -> QueuedCall | None:
        call_id = self._channels.get(channel_id)
        return None if call_id is None else self._legs.get(call_id)

    # ------------------------------------------------------------------ the call record's leg
    def in_queue(self, call_id: str) -> bool:
        """True while ``call_id`` has a queue leg that is not over (waiting, ringing, talking,
        or a callback keeping its place)."""
        return call_id in self._legs

    def open_leg(self, call_id: str) -> QueueLeg | None:
        """The leg so far of a call still in a queue (e.g. at shutdown), or None."""
        record = self._records.get(call_id)
        return None if record is None else record.build(self._now())


def _no_save(call_id: str, state: dict[str, Any]) -> None: ...


def _no_forget(call_id: str) -> None: ...
