"""What the wallboard model takes in besides queue events, and what it gives out.

Facts (`CallEnteredIvr`, `AlertRaised`, `QueueConfigured`, ...) go into
`line311.dashboard.state.LiveState.apply`; measurements (`WaitMeasured`, `HandleMeasured`)
come out of it for the Prometheus histograms. Frozen dataclasses, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from line311.queue.events import QueueEvent
from line311.queue.service_level import DEFAULT_POLICY

__all__ = [
    "DAY_FACTS",
    "QUEUE_EVENTS",
    "WALLBOARD_FACTS",
    "AgentNamed",
    "AlertRaised",
    "AlertWithdrawn",
    "CallEnteredIvr",
    "CallLeftIvr",
    "Fact",
    "HandleMeasured",
    "Measurement",
    "QueueConfigured",
    "QueueGoalChanged",
    "WaitMeasured",
]


# ---------------------------------------------------------------------- facts beyond queue events
@dataclass(frozen=True, slots=True)
class CallEnteredIvr:
    """A call reached the IVR (after the greeting started)."""

    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class CallLeftIvr:
    """A call left the IVR: ``resolved`` when the caller got what they needed there (no CCR)."""

    call_id: str
    at: float
    resolved: bool


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """A pushed alert became active (or was updated)."""

    alert_id: str
    at: float
    title: str
    message: str = ""
    severity: str = "info"


@dataclass(frozen=True, slots=True)
class AlertWithdrawn:
    """A pushed alert is no longer active."""

    alert_id: str
    at: float


@dataclass(frozen=True, slots=True)
class QueueConfigured:
    """A queue exists (shown even before its first call) with ``goal`` as SL goal."""

    queue: str
    goal: float = DEFAULT_POLICY.goal


@dataclass(frozen=True, slots=True)
class QueueGoalChanged:
    """A supervisor changed a queue's SL goal (threshold and formula stay the center's)."""

    queue: str
    goal: float
    at: float


@dataclass(frozen=True, slots=True)
class AgentNamed:
    """The display name of a CCR."""

    agent_id: str
    name: str


Fact = (
    QueueEvent
    | CallEnteredIvr
    | CallLeftIvr
    | AlertRaised
    | AlertWithdrawn
    | QueueConfigured
    | QueueGoalChanged
    | AgentNamed
)


QUEUE_EVENTS: tuple[type[Any], ...] = get_args(QueueEvent)
"""The queue events' classes (``isinstance(fact, QUEUE_EVENTS)``)."""

DAY_FACTS: tuple[type[Any], ...] = (*QUEUE_EVENTS, CallLeftIvr, QueueGoalChanged)
"""The facts the day's figures are folded from (queue events, IVR exits, and the goals the
supervisors set): what the live journal keeps so that a restarted controller, or dashboard,
shows the same day."""


WALLBOARD_FACTS: tuple[type[Any], ...] = (*DAY_FACTS, CallEnteredIvr, AlertRaised, AlertWithdrawn)
"""Every fact the controller publishes while it runs (the configuration's `QueueConfigured`
and `AgentNamed` aside): what it streams to a dashboard process."""


# ---------------------------------------------------------------------- measurements out
@dataclass(frozen=True, slots=True)
class WaitMeasured:
    """A wait ended: ``outcome`` is ``answered``, ``abandoned``, ``timed_out`` or
    ``media_server_lost`` (the caller's Asterisk died: counted as an abandon in the queue's
    figures, told apart here so it can be alerted on)."""

    queue: str
    seconds: float
    outcome: str


@dataclass(frozen=True, slots=True)
class HandleMeasured:
    """An answered call's handle time (talk + hold + wrap-up) is known."""

    queue: str
    seconds: float


Measurement = WaitMeasured | HandleMeasured
