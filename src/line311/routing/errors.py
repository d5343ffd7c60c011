"""Exceptions of the pure skill-based routing core.

    Line311Error
    └── RoutingError                 anything the routing package raises on purpose
        ├── RoutingConfigError       a queue, skill or strategy definition is invalid (local)
        │   ├── SkillExpressionError a requirement expression does not parse
        │   └── UnknownStrategyError a queue names a strategy nobody registered
        ├── UnknownAgentError        no CCR with that id is known to the router
        ├── UnknownCallError         no waiting call with that id
        ├── UnknownQueueError        no queue with that name
        ├── DuplicateCallError       a call id is already waiting
        ├── InvalidCallError         a call's attributes are malformed (language, priority)
        ├── QueueFullError           the queue (and its overflow chain) is at its maximum length
        ├── AgentStateError          the agent cannot take that event in its current state
        └── StaleOfferError          an offer answer that no longer matches the reservation

Routing talks to nothing remote, so every error here is *local*: bad configuration, or an
event the edge fed in a state that cannot take it. `StaleOfferError` is the one the edge
should expect in normal operation (a caller hung up while the CCR's phone was ringing, or
another controller already settled the reservation) and may log at INFO and ignore.
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = [
    "AgentStateError",
    "DuplicateCallError",
    "InvalidCallError",
    "QueueFullError",
    "RoutingConfigError",
    "RoutingError",
    "SkillExpressionError",
    "StaleOfferError",
    "UnknownAgentError",
    "UnknownCallError",
    "UnknownQueueError",
    "UnknownStrategyError",
]


class RoutingError(Line311Error):
    """Base of the routing package's exceptions."""


class RoutingConfigError(RoutingError):
    """A routing definition (queue, skill, escalation step, strategy) is invalid.

    ``where`` names the offending item (``"queue 'housing': escalation[1]"``) when known.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class SkillExpressionError(RoutingConfigError):
    """A requirement expression such as ``lang:ru>=3 AND topic:housing`` does not parse."""


class UnknownStrategyError(RoutingConfigError):
    """A queue names a routing strategy that is not in the registry."""


class UnknownAgentError(RoutingError):
    """The router knows no agent (CCR) with this id."""

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        super().__init__(f"unknown agent {agent_id!r}")


class UnknownCallError(RoutingError):
    """No call with this id is waiting (it was answered, abandoned or never arrived)."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        super().__init__(f"no waiting call {call_id!r}")


class UnknownQueueError(RoutingError):
    """No queue with this name is configured."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"unknown queue {queue!r}")


class DuplicateCallError(RoutingError):
    """A call with this id is already waiting."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        super().__init__(f"call {call_id!r} is already waiting")


class InvalidCallError(RoutingError):
    """A call arrived with malformed attributes (a language code that is not a skill name,
    a non-integer priority)."""


class QueueFullError(RoutingError):
    """The queue and every queue of its overflow chain hold their maximum number of calls."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"queue {queue!r} is full (and so is its overflow chain)")


class AgentStateError(RoutingError):
    """An agent was asked to take an event its state machine does not allow."""

    def __init__(self, agent_id: str, state: str, event: str) -> None:
        self.agent_id = agent_id
        self.state = state
        self.event = event
        super().__init__(f"agent {agent_id!r} cannot {event} while {state}")


class StaleOfferError(RoutingError):
    """An accept/reject/timeout names a reservation that no longer exists."""

    def __init__(self, call_id: str, agent_id: str, why: str) -> None:
        self.call_id = call_id
        self.agent_id = agent_id
        super().__init__(f"offer of call {call_id!r} to agent {agent_id!r} is stale: {why}")
