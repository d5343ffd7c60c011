"""The CCR side of the router: the roster, log in/out, pauses, wrap-up, missed offers (pure).

`Router` inherits these operations; they change agents in the router's `RoutingStore` and
hand a call whose offer failed back to the router (`_return_call`).
"""

from __future__ import annotations

import logging
from collections.abc import Container, Mapping
from typing import Any

from line311.routing.agents import (
    Agent,
    AgentEvent,
    AgentFigures,
    AgentProfile,
    AgentState,
    AutoPausePolicy,
)
from line311.routing.errors import AgentStateError, StaleOfferError, UnknownAgentError
from line311.routing.queues import QueueSet
from line311.routing.store import RoutingStore
from line311.routing.waiting import WaitingCall

__all__ = ["UNREACHABLE_TIMER", "WRAPUP_TIMER", "AgentSide"]

logger = logging.getLogger("line311.routing.router")  # the router's log, as before the split

WRAPUP_TIMER = "wrapup"
UNREACHABLE_TIMER = "unreachable"
"""The end of an unreachable CCR's hold (`AgentSide.offer_unreachable`)."""
"""The store's timer kind that ends a CCR's wrap-up."""


class AgentSide:
    """CCR operations of `line311.routing.router.Router` (a mixin: the router provides the
    attributes declared here and `_return_call`)."""

    queues: QueueSet
    store: RoutingStore
    auto_pause: AutoPausePolicy

    def _return_call(self, call_id: str, now: float) -> None:
        raise NotImplementedError

    def register_agent(self, profile: AgentProfile, now: float) -> Agent:
        """Add a CCR to the roster (logged out since ``now``), or update the profile of a
        known one."""
        agent = self.store.agent(profile.agent_id)
        if agent is None:
            agent = Agent(profile, seq=self.store.next_seq(), now=now)
        elif agent.profile == profile:
            return agent
        else:
            agent.profile = profile
        self.store.put_agent(agent)
        return agent

    def agent_login(self, agent: str | AgentProfile, now: float) -> None:
        """Log a CCR in (registering the profile if one is given): they become available."""
        if isinstance(agent, AgentProfile):
            self.register_agent(agent, now)
            agent = agent.agent_id
        record = self._agent(agent)
        self._apply(record, AgentEvent.LOGIN, now)
        self.store.put_agent(record)
        logger.info("agent %s logged in", agent)

    def agent_logout(self, agent_id: str, now: float) -> str | None:
        """Log a CCR out. A call being offered to them goes back to its place; its id is
        returned so the edge can stop ringing. Logging out on a call raises."""
        agent = self._agent(agent_id)
        returned = agent.call_id if agent.state is AgentState.RESERVED else None
        self._apply(agent, AgentEvent.LOGOUT, now)
        self.store.put_agent(agent)
        if returned is not None:
            self._return_call(returned, now)
        logger.info("agent %s logged out", agent_id)
        return returned

    def agent_pause(self, agent_id: str, now: float, reason: str = "break") -> None:
        """Pause a CCR (from available or wrap-up; pausing again changes the reason)."""
        agent = self._agent(agent_id)
        self._apply(agent, AgentEvent.PAUSE, now, reason=reason)
        self.store.put_agent(agent)

    def agent_resume(self, agent_id: str, now: float) -> None:
        """Make a paused CCR (or one in wrap-up, ending it early) available again (paused
        ``offline_reason`` instead while their phone has no registration)."""
        agent = self._agent(agent_id)
        self._apply(agent, AgentEvent.RESUME, now)
        agent.consecutive_misses = 0
        agent.unreachable_streak = 0  # the CCR says they are there
        self.store.put_agent(agent)

    def phone_state(self, agent_id: str, online: bool, now: float) -> bool:
        """The CCR's phone registered (``online``) or lost its registration; True when that
        is news. Offline: an available CCR is paused ``offline_reason`` (see
        `AutoPausePolicy`), and one held ``unreachable`` waits for the phone instead of the
        hold's end; a CCR on a call, ringing or in wrap-up is paused when that ends. Online:
        a CCR paused for either reason is available again at once (the phone can ring now);
        one paused for anything else stays so."""
        agent = self._agent(agent_id)
        if agent.phone_offline == (not online):
            return False
        agent.phone_offline = not online
        policy = self.auto_pause
        held = agent.state is AgentState.PAUSED and agent.pause_reason in (
            policy.offline_reason,
            policy.unreachable_reason,
        )
        if held:
            self.store.cancel(UNREACHABLE_TIMER, agent_id)
            if online:
                agent.unreachable_streak = 0
                self._apply(agent, AgentEvent.RESUME, now)
            else:
                self._apply(agent, AgentEvent.PAUSE, now, reason=policy.offline_reason)
        elif agent.state is AgentState.AVAILABLE:
            self._apply(agent, AgentEvent.PAUSE, now, reason=policy.offline_reason)
        self.store.put_agent(agent)
        logger.info(
            "agent %s: phone %s (%s)",
            agent_id,
            "registered" if online else "not registered",
            agent.state.value,
        )
        return True

    def agent_figures(self, agent_id: str, now: float) -> AgentFigures:
        """Live per-agent figures."""
        return self._agent(agent_id).figures(now)

    def agent(self, agent_id: str) -> Agent:
        """The agent's record (read it; change it only through the router)."""
        return self._agent(agent_id)

    def restore_agent(
        self, saved: Mapping[str, Any], now: float, live_calls: Container[str] = ()
    ) -> Agent | None:
        """Put a CCR back as a previous controller left them (``saved``: `Agent.to_dict`).

        Their state, pause reason, figures and wrap-up end come back (the wrap-up timer is
        re-armed; one already past ends at the next tick); the profile stays the roster's.
        A CCR who was being offered a call is available again (the offer died with that
        controller). A CCR on a call stays on it when the call is in ``live_calls`` (it was
        carried on and will release them); otherwise that call is over and they start its
        wrap-up now. A CCR held ``unreachable`` comes back when the hold would have ended
        (at once if it has). A CCR not in the roster any more is ignored (None).
        """
        current = self.store.agent(str(saved.get("agent_id")))
        if current is None:
            return None
        profile = current.profile
        agent = Agent.from_dict(
            {
                **saved,
                "name": profile.name,
                "endpoint": profile.endpoint,
                "skills": dict(profile.skills),
                "seq": current.seq,
            }
        )
        agent.profile = profile
        if agent.state is AgentState.RESERVED:
            self._apply(agent, AgentEvent.CANCEL, now)
        if agent.state is AgentState.ON_CALL and agent.call_id not in live_calls:
            self.store.put_agent(agent)
            logger.info("agent %s: call %s ended while away", agent.agent_id, agent.call_id)
            self.call_ended(agent.agent_id, now)
            return agent
        if agent.state is AgentState.WRAP_UP:
            until = agent.wrapup_until if agent.wrapup_until is not None else now
            agent.wrapup_until = until
            self.store.schedule(until, WRAPUP_TIMER, agent.agent_id)
        elif self._held_unreachable(agent):
            # the hold's end was the old controller's timer: arm it again (the hold began
            # when the pause did), or nothing would ever resume them
            hold = self.auto_pause.hold_for(agent.unreachable_streak)
            self.store.schedule(agent.state_since + hold, UNREACHABLE_TIMER, agent.agent_id)
        self.store.put_agent(agent)
        logger.info("agent %s restored: %s", agent.agent_id, agent.state.value)
        return agent

    # ------------------------------------------------------------------ the end of a call

    def call_ended(self, agent_id: str, now: float) -> None:
        """Either side hung up a connected call: the CCR starts the queue's wrap-up."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.ON_CALL:
            raise AgentStateError(agent_id, agent.state.value, AgentEvent.HANG_UP.value)
        queue = agent.call_queue
        started = agent.call_started_at if agent.call_started_at is not None else now
        self._apply(agent, AgentEvent.HANG_UP, now)
        agent.calls_handled += 1
        wrapup = (
            self.queues[queue].wrapup_seconds if queue is not None and queue in self.queues else 0.0
        )
        if queue is not None:
            self.store.record_handle_time(queue, max(0.0, now - started) + wrapup)
        if wrapup > 0:
            agent.wrapup_until = now + wrapup
            self.store.schedule(agent.wrapup_until, WRAPUP_TIMER, agent_id)
        else:
            self._apply(agent, AgentEvent.WRAP_UP_DONE, now)
        self.store.put_agent(agent)

    def agent_on_call_again(
        self, agent_id: str, call_id: str, queue: str, answered_at: float, now: float
    ) -> None:
        """A controller that restarted carries on a call this CCR is talking on: the CCR is
        on it again (logged in if this router did not know it), from ``answered_at``.
        Raises `AgentStateError` for a CCR already ringing for another call."""
        agent = self._agent(agent_id)
        if agent.state is AgentState.ON_CALL:
            return
        if agent.state is AgentState.LOGGED_OUT:
            self._apply(agent, AgentEvent.LOGIN, now, settle=False)
        if agent.state in (AgentState.PAUSED, AgentState.WRAP_UP):
            self._apply(agent, AgentEvent.RESUME, now, settle=False)
        self._apply(agent, AgentEvent.RESERVE, now)
        self._apply(agent, AgentEvent.ACCEPT, now)
        agent.call_id, agent.call_queue, agent.call_started_at = call_id, queue, answered_at
        self.store.put_agent(agent)
        logger.info("agent %s is on call %s again", agent_id, call_id)

    # ------------------------------------------------------------------ helpers

    def _agent(self, agent_id: str) -> Agent:
        agent = self.store.agent(agent_id)
        if agent is None:
            raise UnknownAgentError(agent_id)
        return agent

    def _apply(
        self,
        agent: Agent,
        event: AgentEvent,
        now: float,
        *,
        reason: str | None = None,
        settle: bool = True,
    ) -> None:
        """Take ``event``; a CCR whose phone has no registration who would be available is
        paused ``offline_reason`` instead (unless ``settle`` is False: a step of a longer
        change, such as putting a CCR back on a call)."""
        was = agent.state
        agent.apply(event, now, reason=reason)
        if was is AgentState.WRAP_UP and agent.state is not AgentState.WRAP_UP:
            self.store.cancel(WRAPUP_TIMER, agent.agent_id)
        if settle and agent.phone_offline and agent.state is AgentState.AVAILABLE:
            agent.apply(AgentEvent.PAUSE, now, reason=self.auto_pause.offline_reason)

    def _reservation(self, call_id: str, agent_id: str) -> tuple[WaitingCall, Agent]:
        call = self.store.call(call_id)
        if call is None:
            raise StaleOfferError(call_id, agent_id, "the call is no longer waiting")
        if call.offered_to != agent_id:
            raise StaleOfferError(call_id, agent_id, f"the call is offered to {call.offered_to!r}")
        agent = self._agent(agent_id)
        if agent.state is not AgentState.RESERVED or agent.call_id != call_id:
            raise StaleOfferError(call_id, agent_id, f"the agent is {agent.state.value}")
        return call, agent

    def offer_unreachable(self, call_id: str, agent_id: str, now: float) -> float:
        """The CCR's phone could not be rung at all: the call goes back to its place, no miss
        is counted, and the CCR is paused ``unreachable_reason`` until the hold ends (see
        `AutoPausePolicy`; `end_unreachable_hold` resumes them). Returns the hold's seconds
        (longer for each unreachable offer in a row: `AutoPausePolicy.hold_for`)."""
        call, agent = self._reservation(call_id, agent_id)
        policy = self.auto_pause
        self._apply(agent, AgentEvent.CANCEL, now)
        self._apply(agent, AgentEvent.PAUSE, now, reason=policy.unreachable_reason)
        agent.unreachable_streak += 1
        hold = policy.hold_for(agent.unreachable_streak)
        self.store.put_agent(agent)
        self.store.cancel(UNREACHABLE_TIMER, agent_id)
        self.store.schedule(now + hold, UNREACHABLE_TIMER, agent_id)
        self._return_call(call.call_id, now)
        return hold

    def _held_unreachable(self, agent: Agent) -> bool:
        return (
            agent.state is AgentState.PAUSED
            and agent.pause_reason == self.auto_pause.unreachable_reason
        )

    def end_unreachable_hold(self, agent_id: str, now: float) -> bool:
        """The hold is over: a CCR still paused for it is available again (one paused since
        for another reason, or logged out, stays so). True if resumed."""
        agent = self.store.agent(agent_id)
        if agent is None or not self._held_unreachable(agent):
            return False
        self._apply(agent, AgentEvent.RESUME, now)
        self.store.put_agent(agent)
        return not agent.phone_offline  # else `_apply` paused them again: the phone is off

    def _offer_failed(self, call_id: str, agent_id: str, now: float, event: AgentEvent) -> bool:
        call, agent = self._reservation(call_id, agent_id)
        self._apply(agent, event, now)
        agent.unreachable_streak = 0  # the phone rang
        policy = self.auto_pause
        paused = False
        if event is AgentEvent.TIMEOUT or policy.count_rejections:
            agent.consecutive_misses += 1
            agent.missed_offers += 1
            if policy.after_misses and agent.consecutive_misses >= policy.after_misses:
                self._apply(agent, AgentEvent.PAUSE, now, reason=policy.reason)
                paused = True
                logger.info(
                    "agent %s paused (%s) after %s unanswered offers",
                    agent_id,
                    policy.reason,
                    agent.consecutive_misses,
                )
        self.store.put_agent(agent)
        self._return_call(call.call_id, now)
        return paused
