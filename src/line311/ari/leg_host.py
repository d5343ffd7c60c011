"""The queued calls' legs as runner sessions, wherever the router is (edge glue).

A queued call's leg (`line311.queue.leg.QueuedCall`) runs in the process that holds the
caller's channel: the controller, or -- with ``queue_legs = workers`` -- the IVR worker that
ran the call's IVR. `LegHost` is what both have in common: the ``queue`` session kind, the
legs' ARI handlers (`QueueHandlers`), their channels tied to the call, the record of each leg
(`LegBuilder`) and what a restart rebuilds. What differs is where a leg's router commands go
and where its decisions come from, the hooks a subclass fills in::

    QueueKind   (controller)  _route: the local `Router`, at once (`RouterDesk`)
    WorkerQueue (IVR worker)  _route: sent to the controller over the desk link; the reply,
                              like every decision, comes back as an event (`Runner.deliver`)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from line311.ari.contact_seal import ContactSeal, ContactSealError
from line311.ari.kinds import CallFacts, CallStart, Ended, SessionKind
from line311.ari.port import AriPort
from line311.ari.queue_handlers import QueueHandlers, stops_batch
from line311.ari.queueing import LegSink, QueueOptions
from line311.ari.translate import NewCall
from line311.call.commands import Command
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

__all__ = [
    "BEFORE_DIAL",
    "IN_LINE",
    "QUEUE_KIND",
    "TALKING",
    "CallHost",
    "LegHost",
    "LegSession",
    "adopt",
]

logger = logging.getLogger(__name__)

QUEUE_KIND = "queue"

IN_LINE = (Phase.WAITING, Phase.RINGING)
TALKING = (Phase.WHISPER, Phase.DIALING, Phase.CONNECTED)
BEFORE_DIAL = (Phase.WAITING, Phase.RINGING, Phase.WHISPER)
"""A callback's contact is saved with its state in these phases only."""


def adopt(caller_channel: str | None, channel_id: str, event: Event | NewCall) -> Event | None:
    """``event`` of ``channel_id`` as the leg's event (None: the leg does not hear of it).

    - a StasisStart (`NewCall`) of a channel the leg originated: `ChannelUp`;
    - a hang-up: the caller's as is (`CallerHungUp`), another channel's as `ChannelGone`
      (``unreachable`` when Asterisk could not reach its far end);
    - keys: only the caller's; the end of a playback (the CCR's whisper): any channel's.
    """
    is_caller = channel_id == caller_channel
    if isinstance(event, NewCall):
        return None if is_caller else ChannelUp(channel_id)
    if isinstance(event, CallerHungUp):
        return event if is_caller else ChannelGone(channel_id, event.unreachable)
    if isinstance(event, DtmfReceived) and is_caller:
        return event
    if isinstance(event, PlaybackFinished):
        return event
    return None


class CallHost(Protocol):
    """What the legs need of the runner (`line311.ari.runner.Runner`)."""

    accepting: bool

    async def deliver(self, call_id: str, event: Event) -> bool: ...

    def attach(self, channel_id: str, call_id: str) -> None: ...

    def detach(self, channel_id: str) -> None: ...


class LegSession:
    """A `QueuedCall` as a runner session: its router commands go to the host's `_route`
    (a reply due at once is fed back), the rest go to the runner. Saved with the IVR half of
    the call record."""

    __slots__ = ("_host", "_now", "_resumed", "ivr_record", "leg")

    def __init__(
        self,
        leg: QueuedCall,
        host: LegHost,
        *,
        ivr_record: Mapping[str, Any] | None = None,
        resumed: bool = False,
    ) -> None:
        self.leg = leg
        self._resumed = resumed
        """The leg was told `Resumed` when rebuilt: the runner's `Resumed` is not fed again
        (an offer made since must not be withdrawn)."""
        self._host = host
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
        host = self._host
        while batch := self.leg.commands():
            for command in batch:
                if not isinstance(command, host.router_commands):
                    out.append(command)
                elif (reply := host._route(self.leg, command, self._now)) is not None:
                    self.leg.receive(reply, self._now)
        host._track_channels(self.leg)
        host._after_change()  # agent states after the call's own events
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"leg": self.leg.to_dict(), "ivr_record": self.ivr_record}
        token = self._host.handlers.sealed.get(self.leg.call_id)
        if token is not None and self.leg.callback and self.leg.phase in BEFORE_DIAL:
            data["contact"] = token  # sealed (`line311.ari.contact_seal`); gone once dialled
        requires = self._host.requires.get(self.leg.call_id)
        if requires:
            data["requires"] = [list(r) for r in requires]
        return data


def saved_requires(state: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """The extra skills a saved leg's call asked for (``requires``), () when none or unreadable."""
    raw = state.get("requires")
    if not isinstance(raw, list):
        return ()
    out: list[tuple[str, int]] = []
    for item in raw:
        if isinstance(item, list | tuple) and len(item) == 2:
            skill, level = item
            if isinstance(skill, str) and isinstance(level, int) and not isinstance(level, bool):
                out.append((skill, level))
    return tuple(out)


class LegHost:
    """The legs of one process. See the module docstring; subclasses fill in `_route`,
    `_after_change`, `_now`, `_readmit` (a rebuilt leg's place with the router) and
    `_leg_gone` (a leg over, or given up by the runner)."""

    router_commands: tuple[type, ...] = ()
    """The commands a leg sends to the router (`_route`), not to Asterisk."""

    def __init__(
        self,
        ari: AriPort,
        options: QueueOptions,
        *,
        clock: Clock | None = None,
        leg_sink: LegSink | None = None,
        contact_seal: ContactSeal | None = None,
    ) -> None:
        self.options = options
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.leg_sink = leg_sink
        """Called with each finished leg's record (`QueueLeg`)."""
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
        self._records: dict[str, LegBuilder] = {}
        self._ivr_records: dict[str, dict[str, Any]] = {}
        self._attached: dict[str, set[str]] = {}
        self.requires: dict[str, tuple[tuple[str, int], ...]] = {}
        """call id -> the extra skills its queue entry asked for (kept with the saved state)."""
        self._host: CallHost | None = None

    # ------------------------------------------------------------------ hooks
    def _now(self) -> float:
        return self.clock.now()

    def _route(self, leg: QueuedCall, command: Command, now: float) -> Event | None:
        raise NotImplementedError

    def _after_change(self) -> None:
        """After a call's step (the controller reports CCR states and wakes its router)."""

    def _readmit(
        self, leg: QueuedCall, requires: tuple[tuple[str, int], ...], now: float
    ) -> tuple[tuple[str, int], ...]:
        """A rebuilt leg takes its place with the router again; returns its extra skills."""
        raise NotImplementedError

    def _leg_gone(self, call_id: str, leg: QueuedCall | None, now: float) -> None:
        """The leg is over (``leg`` unfinished: the runner gave up on it)."""
        raise NotImplementedError

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

    def remember_ivr(self, record: Mapping[str, Any]) -> None:
        """The IVR half of a call's record (the IVR's record sink): a call entering a queue
        keeps it in its saved state until the leg ends."""
        call_id = str(record.get("call_id"))
        if call_id in self._legs:
            self._ivr_records[call_id] = dict(record)

    def _add_leg(self, leg: QueuedCall, record: LegBuilder) -> None:
        self._legs[leg.call_id] = leg
        self._records[leg.call_id] = record

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
        requires = self._readmit(leg, saved_requires(state), now)
        if requires:
            self.requires[leg.call_id] = requires
        record = LegBuilder(self._enqueued(leg), self._skills(leg, requires))
        if leg.callback_at is not None:  # the record still says a callback was requested
            record.feed(CallbackRequested(leg.call_id, leg.queue, leg.callback_at))
        if leg.answered_at is not None and leg.agent_id is not None:
            record.feed(CallAnswered(leg.call_id, leg.queue, leg.answered_at, leg.agent_id))
        self._add_leg(leg, record)
        if ivr_record is not None and self.on_restored_record is not None:
            try:
                self.on_restored_record(ivr_record)
            except Exception:
                logger.exception("call %s: could not hold its IVR record again", leg.call_id)
        logger.info("call %s resumed in the queue (%s)", leg.call_id, leg.phase.value)
        leg.receive(Resumed(), now)  # before the router can offer it again
        self._after_change()
        return LegSession(leg, self, ivr_record=ivr_record, resumed=True)

    @staticmethod
    def _enqueued(leg: QueuedCall) -> CallEnqueued:
        return CallEnqueued(
            leg.call_id, leg.queue, leg.entered_at, leg.language, leg.topic, leg.priority
        )

    def _skills(self, leg: QueuedCall, requires: tuple[tuple[str, int], ...]) -> list[str]:
        """The skills the leg's record says the call asked for."""
        raise NotImplementedError

    def _restore_contact(self, leg: QueuedCall, token: object) -> None:
        """A resumed callback's contact from its saved (sealed) token. One that cannot be
        read (another key, altered state, none saved) clears ``has_contact``: the leg then
        ends the callback as an abandon. The contact itself is never logged."""
        if not leg.callback or not leg.has_contact or leg.phase not in BEFORE_DIAL:
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
        self._ivr_records.pop(call_id, None)
        self._attached.pop(call_id, None)
        self.requires.pop(call_id, None)
        self.handlers.forget(call_id)
        self._leg_gone(call_id, leg, self._now())
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

    # ------------------------------------------------------------------ figures
    @property
    def waiting_calls(self) -> int:
        return len(self._legs)

    def in_queue(self, call_id: str) -> bool:
        """True while ``call_id`` has a queue leg here that is not over (waiting, ringing,
        talking, or a callback keeping its place)."""
        return call_id in self._legs

    def open_leg(self, call_id: str) -> QueueLeg | None:
        """The leg so far of a call still in a queue (e.g. at shutdown), or None."""
        record = self._records.get(call_id)
        return None if record is None else record.build(self._now())
