"""What the running controller tells the dashboard, and what the dashboard may ask of it.

`IvrActivity` turns the controller's view of calls into the IVR facts of `LiveState`: a call
enters the IVR when its session starts, and leaves it once -- unresolved when it is queued for
a CCR (the queue's ``CallEnqueued``), else at its end, resolved when the caller got what they
needed there (self-service information, an SR status, a referral).

`RuntimeActions` is the `Actions` the supervisor view calls: it pauses or logs out CCRs in the
real queue runtime, changes a queue's goal on the wallboard and in reports, and withdraws an
alert through the alert service -- each also reflected at once on the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, Protocol

from line311.call.record import IVR_RESOLVED
from line311.dashboard.errors import ActionRefusedError, UnknownTargetError
from line311.dashboard.live import LiveHub
from line311.dashboard.state import (
    AlertRaised,
    AlertWithdrawn,
    CallEnteredIvr,
    CallLeftIvr,
    QueueGoalChanged,
)
from line311.queue.events import CallEnqueued
from line311.queue.intervals import FORGET_EVERY, KEEP_CALLS
from line311.routing.errors import AgentStateError, UnknownAgentError

__all__ = ["RESOLVED_OUTCOMES", "IvrActivity", "RuntimeActions", "relay_alerts"]

RESOLVED_OUTCOMES: frozenset[str] = frozenset(o.value for o in IVR_RESOLVED)
"""Call outcomes that count as resolved in the IVR (no CCR needed)."""


class IvrActivity:
    """Publishes `CallEnteredIvr` / `CallLeftIvr` exactly once per call."""

    def __init__(self, hub: LiveHub, *, clock: Callable[[], float] = time.time) -> None:
        self._hub = hub
        self._clock = clock
        self._in_ivr: dict[str, float] = {}  # call id -> when it entered
        self._forgot_at = self._clock()

    def entered(self, call_id: str) -> None:
        now = self._clock()
        self._in_ivr[call_id] = now
        self._hub.publish(CallEnteredIvr(call_id, now))
        if now - self._forgot_at >= FORGET_EVERY:  # a call whose record never came
            self._forgot_at = now
            for stale in [c for c, at in self._in_ivr.items() if at < now - KEEP_CALLS]:
                del self._in_ivr[stale]

    def on_queue_event(self, event: object) -> None:
        """A queue sink: a call that reaches a queue has left the IVR, unresolved."""
        if isinstance(event, CallEnqueued):
            self._left(event.call_id, resolved=False, at=event.at)

    def on_record(self, record: Mapping[str, Any]) -> None:
        """The finished-call record: the call left the IVR if it had not already."""
        outcome = str(record.get("outcome") or "")
        self._left(str(record.get("call_id")), resolved=outcome in RESOLVED_OUTCOMES)

    def _left(self, call_id: str, *, resolved: bool, at: float | None = None) -> None:
        if self._in_ivr.pop(call_id, None) is not None:
            self._hub.publish(
                CallLeftIvr(call_id, at if at is not None else self._clock(), resolved)
            )


class _AgentControl(Protocol):
    def agent_pause(self, agent_id: str, reason: str = ...) -> None: ...

    def agent_logout(self, agent_id: str) -> None: ...


class _AlertWithdrawal(Protocol):
    def withdraw(self, alert_id: str, *, actor: str, note: str = ...) -> Any: ...


@contextlib.contextmanager
def _refused_by_state(agent_id: str) -> Iterator[None]:
    """The runtime's refusals as the dashboard's: a state that does not allow the action
    (pausing a logged-out CCR) is 409, an agent the router does not know 404."""
    try:
        yield
    except AgentStateError as exc:
        raise ActionRefusedError(f"CCR {agent_id} cannot {exc.event} while {exc.state}") from None
    except UnknownAgentError:
        raise UnknownTargetError(f"no CCR {agent_id!r}") from None


class RuntimeActions:
    """Supervisor actions carried out on the live queue runtime and alert service."""

    def __init__(
        self,
        hub: LiveHub,
        agents: _AgentControl,
        *,
        known_agents: Callable[[], set[str]],
        known_queues: Callable[[], set[str]],
        alerts: _AlertWithdrawal | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        self._agents = agents
        self._known_agents = known_agents
        self._known_queues = known_queues
        self._alerts = alerts
        self._clock = clock

    def _agent(self, agent_id: str) -> None:
        if agent_id not in self._known_agents():
            raise UnknownTargetError(f"no CCR {agent_id!r}")

    async def pause_agent(self, agent_id: str, reason: str, *, by: str) -> None:
        self._agent(agent_id)
        with _refused_by_state(agent_id):
            self._agents.agent_pause(agent_id, f"{reason} (by {by})" if reason else f"by {by}")

    async def logout_agent(self, agent_id: str, reason: str, *, by: str) -> None:
        self._agent(agent_id)
        with _refused_by_state(agent_id):
            self._agents.agent_logout(agent_id)

    async def set_queue_goal(self, queue: str, goal: float, *, by: str) -> None:
        if queue not in self._known_queues():
            raise UnknownTargetError(f"no queue {queue!r}")
        self.hub.publish(QueueGoalChanged(queue, goal, self._clock()))

    async def withdraw_alert(self, alert_id: str, *, by: str) -> None:
        if self._alerts is None:
            raise UnknownTargetError(f"no active alert {alert_id!r}")
        await asyncio.to_thread(self._alerts.withdraw, alert_id, actor=by)
        self.hub.publish(AlertWithdrawn(alert_id, self._clock()))


class _FeedEvent(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def data(self) -> Any: ...


async def relay_alerts(
    events: AsyncIterator[_FeedEvent | None],
    hub: LiveHub,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Mirror the alert feed (CCR messages) on the wallboard until cancelled."""

    def raised(item: Mapping[str, Any]) -> None:
        hub.publish(
            AlertRaised(
                str(item["id"]), clock(), str(item.get("title", "")), str(item.get("text", ""))
            )
        )

    async for event in events:
        if event is None:
            continue
        if event.kind == "snapshot":
            for item in event.data:
                raised(item)
        elif event.kind == "activated":
            raised(event.data)
        elif event.kind in ("withdrawn", "expired"):
            hub.publish(AlertWithdrawn(str(event.data["id"]), clock()))
