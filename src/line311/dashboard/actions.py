"""What a supervisor can do from the dashboard, as a protocol the queue runtime implements.

The HTTP layer (`line311.dashboard.api`) checks the role, calls one of these methods and writes
the audit entry; the runtime does the work and publishes the resulting facts (an
``AgentStateChanged``, a ``QueueGoalChanged``, an ``AlertWithdrawn``) to the live hub, which
is how the wallboard learns that the action took effect. Methods raise
`line311.dashboard.errors.UnknownTargetError` (404) or `ActionRefusedError` (409).

`InMemoryActions` implements it over the hub's own `LiveState`, for tests and the demo.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from line311.dashboard.errors import ActionRefusedError, UnknownTargetError
from line311.dashboard.live import LiveHub
from line311.dashboard.state import AlertWithdrawn, QueueGoalChanged
from line311.queue.events import AgentActivity, AgentStateChanged

__all__ = ["Actions", "InMemoryActions"]


class Actions(Protocol):
    """Supervisor actions. ``by`` is the username of the supervisor acting."""

    async def pause_agent(self, agent_id: str, reason: str, *, by: str) -> None:
        """Pause a logged-in CCR with ``reason`` (a CCR on a call is paused after it)."""

    async def logout_agent(self, agent_id: str, reason: str, *, by: str) -> None:
        """Log a CCR out (refused while on a call)."""

    async def set_queue_goal(self, queue: str, goal: float, *, by: str) -> None:
        """Change a queue's SL goal (a ratio in (0, 1])."""

    async def withdraw_alert(self, alert_id: str, *, by: str) -> None:
        """Withdraw an active pushed alert."""


class InMemoryActions:
    """`Actions` over a `LiveHub`: checks against its state and publishes the outcome."""

    def __init__(self, hub: LiveHub, *, clock: Callable[[], float] = time.time) -> None:
        self.hub = hub
        self._clock = clock

    def _known_agent(self, agent_id: str) -> AgentActivity:
        state = self.hub.state.agent_state(agent_id)
        if state is None:
            raise UnknownTargetError(f"no CCR {agent_id!r}")
        return state

    async def pause_agent(self, agent_id: str, reason: str, *, by: str) -> None:
        state = self._known_agent(agent_id)
        if state is AgentActivity.LOGGED_OUT:
            raise ActionRefusedError(f"CCR {agent_id} is logged out")
        if state is AgentActivity.ON_CALL:
            raise ActionRefusedError(f"CCR {agent_id} is on a call; pause after it")
        self.hub.publish(
            AgentStateChanged(agent_id, AgentActivity.PAUSED, self._clock(), reason=reason)
        )

    async def logout_agent(self, agent_id: str, reason: str, *, by: str) -> None:
        state = self._known_agent(agent_id)
        if state is AgentActivity.ON_CALL:
            raise ActionRefusedError(f"CCR {agent_id} is on a call")
        if state is AgentActivity.LOGGED_OUT:
            raise ActionRefusedError(f"CCR {agent_id} is already logged out")
        self.hub.publish(
            AgentStateChanged(agent_id, AgentActivity.LOGGED_OUT, self._clock(), reason=reason)
        )

    async def set_queue_goal(self, queue: str, goal: float, *, by: str) -> None:
        if queue not in self.hub.state.queue_names():
            raise UnknownTargetError(f"no queue {queue!r}")
        if not 0.0 < goal <= 1.0:
            raise ActionRefusedError(f"goal must be in (0, 1], got {goal}")
        self.hub.publish(QueueGoalChanged(queue, goal, self._clock()))

    async def withdraw_alert(self, alert_id: str, *, by: str) -> None:
        if alert_id not in self.hub.state.alert_ids():
            raise UnknownTargetError(f"no active alert {alert_id!r}")
        self.hub.publish(AlertWithdrawn(alert_id, self._clock()))
