"""The queue kind's router side: agent sign-ins, figures, and the legs' router commands.

`RouterDesk` is the part of `line311.ari.queue_kind.QueueKind` that talks to the pure
`Router` (global: every waiting call and every CCR). A leg asks for router changes with
commands (`ROUTER_COMMANDS`); `_route` carries each out at once and returns the reply event
the leg is waiting for, if any. Agent state changes are reported as `AgentStateChanged`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from line311.ari.queueing import QueueEventHub
from line311.call.commands import (
    ROUTER_COMMANDS,
    AcceptOffer,
    Command,
    EmitQueueEvent,
    LeaveQueue,
    NoteInterpreterJoined,
    ReleaseAgent,
    RequestCallback,
    RingOut,
    TellPosition,
)
from line311.call.events import (
    AgentOffered,
    CallbackGranted,
    Event,
    MaxWaitReached,
    OfferAccepted,
    OfferRefused,
    OfferWithdrawn,
    PositionTold,
)
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallTimedOut,
    OfferAnswered,
    OfferMissed,
    QueueEvent,
)
from line311.queue.leg import QueuedCall
from line311.queue.leg_facts import LegBuilder
from line311.queue.pops import AnsweredCall
from line311.routing.agents import Agent, AgentFigures, AgentState
from line311.routing.errors import RoutingError, StaleOfferError
from line311.routing.results import QueueStats, WaitExpired
from line311.routing.router import Router

__all__ = ["ROUTER_COMMANDS", "RouterDesk"]

logger = logging.getLogger(__name__)


class RouterDesk:
    """See the module docstring. The runtime supplies the legs and the clock."""

    on_answer: Callable[[AnsweredCall], None] | None
    _legs: dict[str, QueuedCall]

    def __init__(self, router: Router, hub: QueueEventHub, roster: Iterable[str]) -> None:
        self.router = router
        self.hub = hub
        self._roster = list(roster)
        self._agent_states: dict[str, tuple[AgentState, str | None]] = {
            agent_id: _shown(router.agent(agent_id)) for agent_id in self._roster
        }
        self._rank = {agent_id: n for n, agent_id in enumerate(self._roster)}
        self._touched: set[str] | None = None
        """CCRs whose record the store wrote since the last sync (None: the store cannot say,
        every sync reads the whole roster)."""
        watch = getattr(router.store, "watch_agents", None)
        if callable(watch):
            self._touched = set()
            watch(self._on_agent_written)
        self._expired: dict[str, WaitExpired] = {}
        self._records: dict[str, LegBuilder] = {}

    def _now(self) -> float:
        raise NotImplementedError

    def _after_change(self) -> None:
        raise NotImplementedError

    def _feed(self, leg: QueuedCall, event: Event, now: float | None = None) -> None:
        raise NotImplementedError

    def _holds(self, call_id: str) -> bool:
        """True when a leg of ``call_id`` is known here (run here, or by an IVR worker)."""
        return call_id in self._legs

    def _leg_of(self, call_id: str) -> QueuedCall | None:
        return self._legs.get(call_id)

    # ------------------------------------------------------------------ agents, API
    def agent_login(self, agent_id: str) -> None:
        self.router.agent_login(agent_id, self._now())
        self._after_change()

    def agent_logout(self, agent_id: str) -> None:
        cancelled = self.router.agent_logout(agent_id, self._now())
        leg = None if cancelled is None else self._leg_of(cancelled)
        if leg is not None:
            self._feed(leg, OfferWithdrawn())  # stop ringing; the call keeps its place
        self._after_change()

    def agent_pause(self, agent_id: str, reason: str = "break") -> None:
        self.router.agent_pause(agent_id, self._now(), reason)
        self._after_change()

    def agent_resume(self, agent_id: str) -> None:
        self.router.agent_resume(agent_id, self._now())
        self._after_change()

    def phone_state(self, agent_id: str, online: bool) -> None:
        """A CCR's phone registered or lost its registration (`line311.ari.phones`)."""
        if self.router.phone_state(agent_id, online, self._now()):
            self._after_change()

    def agents(self) -> list[AgentFigures]:
        now = self._now()
        return [self.router.agent_figures(a, now) for a in self._roster]

    def queues(self) -> list[QueueStats]:
        now = self._now()
        return [self.router.queue_stats(q, now) for q in self.router.queues]

    def _on_agent_written(self, agent: Agent) -> None:
        if self._touched is not None and agent.agent_id in self._rank:
            self._touched.add(agent.agent_id)

    def _sync_agents(self) -> None:
        """Report each CCR whose state (or pause reason) moved since the last sync, in
        roster order: the ones the store wrote since (a 400-CCR roster is not read whole for
        each change)."""
        if self._touched is None:
            ids: Iterable[str] = self._roster
        else:
            ids = sorted(self._touched, key=self._rank.__getitem__)
            self._touched.clear()
        for agent_id in ids:
            agent = self.router.agent(agent_id)
            shown = _shown(agent)
            if self._agent_states.get(agent_id) == shown:
                continue
            self._agent_states[agent_id] = shown
            self.hub.emit(
                AgentStateChanged(
                    agent_id,
                    AgentActivity(agent.state.value),
                    agent.state_since,
                    agent.pause_reason or "",
                )
            )

    # ------------------------------------------------------------------ the router's decisions
    def expiries(self, now: float) -> list[tuple[str, Event]]:
        """Calls whose max wait passed at ``now``, as ``(call id, MaxWaitReached)`` for their
        legs (a call with no leg here is timed out at once). Hand these to the legs before
        asking for `offers`, so an expired call is not offered."""
        out: list[tuple[str, Event]] = []
        for expired in self.router.tick(now):
            if not self._holds(expired.call_id):
                self.hub.emit(CallTimedOut(expired.call_id, expired.queue, now, "max-wait"))
                continue
            self._expired[expired.call_id] = expired
            out.append((expired.call_id, MaxWaitReached(expired.waited)))
        return out

    def offers(self, now: float) -> list[tuple[str, Event]]:
        """The router's offers at ``now``, as ``(call id, AgentOffered)`` for their legs (an
        offer for a call with no leg here gives the call back)."""
        out: list[tuple[str, Event]] = []
        for offer in self.router.decide(now):
            leg = self._leg_of(offer.call_id)
            if leg is None:
                logger.error("offer for unknown call %s; releasing it", offer.call_id)
                self.router.call_left(offer.call_id, now)
                continue
            if offer.call_id not in self._legs:  # a worker's leg: its shadow here says so
                leg.interpreter = offer.interpreter
            event = AgentOffered(offer.agent_id, offer.endpoint, offer.step, offer.interpreter)
            record = self._records.get(offer.call_id)
            if record is not None:
                record.heard(event, now)
            out.append((offer.call_id, event))
        return out

    # ------------------------------------------------------------------ the legs' commands
    def _route(self, leg: QueuedCall, command: Command, now: float) -> Event | None:
        """Carry out one router command of ``leg``; the reply event, if one is due."""
        call_id = leg.call_id
        record = self._records.get(call_id)
        if record is not None:
            record.note(command, now)
        if isinstance(command, EmitQueueEvent):
            event: QueueEvent = command.event
            self.hub.emit(event)
            return None
        if isinstance(command, NoteInterpreterJoined):
            logger.info("call %s: interpreter joined", call_id)
            return None
        if isinstance(command, TellPosition):
            try:
                told = PositionTold(
                    self.router.position(call_id), self.router.estimated_wait(call_id, now)
                )
            except RoutingError:
                return PositionTold(None)
            if record is not None:
                record.heard(told, now)
            return told
        reply: Event | None = None
        if isinstance(command, LeaveQueue):
            rang = self._rang(call_id, now)
            try:
                ringing = self.router.call_left(call_id, now)
            except RoutingError as exc:
                logger.warning("call %s: already out of line: %s", call_id, exc)
            else:
                if ringing is not None:  # the caller hung up while a CCR's phone rang
                    self.hub.ring(
                        OfferMissed(call_id, leg.queue, now, ringing, rang, canceled=True)
                    )
        elif isinstance(command, AcceptOffer):
            reply = self._accept(leg, command, now)
        elif isinstance(command, RingOut):
            self._ring_out(leg, command, now)
        elif isinstance(command, RequestCallback):
            reply = CallbackGranted(self._callback(call_id, command.at_max_wait, now))
        elif isinstance(command, ReleaseAgent):
            try:
                if self.router.agent(command.agent_id).state is AgentState.ON_CALL:
                    self.router.call_ended(command.agent_id, now)
            except RoutingError as exc:
                logger.warning(
                    "call %s: could not end %s's call: %s", call_id, command.agent_id, exc
                )
        return reply  # agent states are reported once the leg's step is over

    def _ring_out(self, leg: QueuedCall, command: RingOut, now: float) -> None:
        """The offer to ``command.agent_id`` rang out, or the phone could not be rung
        (``unreachable``): the router takes the CCR's miss or hold; the queue_log its line."""
        call_id, agent_id = leg.call_id, command.agent_id
        rang = self._rang(call_id, now, agent_id)
        paused, hold = False, 0.0
        try:
            if command.unreachable:
                hold = self.router.offer_unreachable(call_id, agent_id, now)
            else:
                paused = self.router.offer_timeout(call_id, agent_id, now)
        except StaleOfferError as exc:
            logger.info("call %s: ring ended for a settled offer: %s", call_id, exc)
            return
        self.hub.ring(
            OfferMissed(call_id, leg.queue, now, agent_id, rang, unreachable=command.unreachable)
        )
        if command.unreachable:
            logger.warning(
                "call %s: %s's phone could not be rung; the CCR is held out of offers "
                "for %g s and the call keeps its place",
                call_id, agent_id, hold,
            )  # fmt: skip
        else:
            logger.info(
                "call %s: %s did not answer%s; the call keeps its place",
                call_id, agent_id, " and is paused" if paused else "",
            )  # fmt: skip

    def _rang(self, call_id: str, now: float, agent_id: str | None = None) -> float:
        """Seconds the offer of ``call_id`` (to ``agent_id``, or to whoever it is offered)
        has rung at ``now``; 0 when no CCR is reserved for it (or either is unknown: the
        router's own answer to the command says so)."""
        try:
            if agent_id is None:
                agent_id = self.router.waiting_call(call_id).offered_to
                if agent_id is None:
                    return 0.0
            agent = self.router.agent(agent_id)
        except RoutingError:
            return 0.0
        if agent.state is not AgentState.RESERVED or agent.call_id != call_id:
            return 0.0
        return max(0.0, now - agent.state_since)

    def _accept(self, leg: QueuedCall, command: AcceptOffer, now: float) -> Event:
        agent_id = command.agent_id
        rang = self._rang(leg.call_id, now, agent_id)
        try:
            waiting = self.router.offer_accepted(leg.call_id, agent_id, now)
        except StaleOfferError as exc:
            logger.info("call %s: answer for a stale offer (%s)", leg.call_id, exc)
            return OfferRefused()
        self.hub.ring(OfferAnswered(leg.call_id, leg.queue, now, agent_id, rang))
        # the leg's word: a worker's caller put through from the callback confirmation is no
        # callback, though the router (and the shadow leg here) still keep its place as one
        callback = leg.callback if command.callback is None else command.callback
        if self.on_answer is not None:  # the desk's screen pop, before whisper and bridge
            self.on_answer(
                AnsweredCall(
                    leg.call_id, agent_id, leg.queue, leg.language, leg.topic, leg.entered_at,
                    now, callback, leg.interpreter, waiting.requires,
                )
            )  # fmt: skip
        return OfferAccepted()

    def _callback(self, call_id: str, at_max_wait: bool, now: float) -> bool:
        try:
            if at_max_wait:
                expired = self._expired.pop(call_id, None)
                if expired is None:
                    return False
                self.router.readmit_callback(expired, now)
            else:
                self.router.request_callback(call_id, now)
        except RoutingError as exc:
            logger.warning("call %s: could not keep the place for a callback: %s", call_id, exc)
            return False
        return True


def _shown(agent: Agent) -> tuple[AgentState, str | None]:
    """What the figures show of a CCR: their state and, paused, why (held `unreachable`,
    then the phone's registration lost: the board says `phone-offline`)."""
    return agent.state, agent.pause_reason
