"""Queue facts: things that *happened* to calls in queues and to agents (past tense).

These are the inputs of the service-level accumulator (`line311.queue.service_level`), the
queue_log writer (`line311.queue.queue_log`) and the reports. The routing core and the ARI
edge emit them; storage keeps them; nothing here carries a caller's phone number.

Times (``at``) are POSIX seconds as floats, in UTC. Durations are seconds.

Life of a call in a queue::

    CallEnqueued ──► CallAnswered ──► CallCompleted         (handled)
         │  │
         │  ├──► CallAbandoned                               (caller hung up while waiting)
         │  ├──► CallTimedOut                                (the queue gave up: max wait, empty;
         │  │                                                 at max wait a callback is offered)
         │  └──► CallbackRequested ──► CallAnswered ──► ...  (callback keeps the caller's place:
         │                          └─► CallAbandoned        the wait runs on until the resident
         │                                                   is reached, or the callback fails)
         └── a call's wait is always measured from its CallEnqueued ``at``

A call that moves to another queue (overflow) keeps its place and its ``call_id``; it is
reported in the queue it entered. ``call_id`` is unique per queue visit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "AgentActivity",
    "AgentStateChanged",
    "CallAbandoned",
    "CallAnswered",
    "CallCompleted",
    "CallEnqueued",
    "CallEvent",
    "CallTimedOut",
    "CallbackRequested",
    "OfferAnswered",
    "OfferMissed",
    "QueueEvent",
    "RingFact",
]


@dataclass(frozen=True, slots=True)
class CallEnqueued:
    """A call entered ``queue``; its wait starts now."""

    call_id: str
    queue: str
    at: float
    language: str = "en"
    topic: str = ""
    priority: int = 0


@dataclass(frozen=True, slots=True)
class CallAnswered:
    """An agent was connected to the caller; the wait is ``at`` minus the enqueue time."""

    call_id: str
    queue: str
    at: float
    agent_id: str


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    """The caller hung up while waiting (or a callback could not reach the resident).

    ``media_server_lost``: the caller did not hang up; their Asterisk died under the call.
    The queue's figures count it as an abandon (the caller was not served), the call's
    record names the loss (``media_server_lost``)."""

    call_id: str
    queue: str
    at: float
    media_server_lost: bool = False


@dataclass(frozen=True, slots=True)
class CallTimedOut:
    """The queue removed the caller without an agent (maximum wait reached, queue empty...).

    ``reason`` is free text for logs, e.g. ``"max-wait"`` or ``"empty"``.
    ``callback_offered``: the caller was offered a callback first and did not take it.
    """

    call_id: str
    queue: str
    at: float
    reason: str = "max-wait"
    callback_offered: bool = False


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    """The caller asked to be called back; their place (and their wait) is kept.

    ``at_max_wait``: they took the callback offered when the queue's maximum wait ran out.
    """

    call_id: str
    queue: str
    at: float
    at_max_wait: bool = False


@dataclass(frozen=True, slots=True)
class CallCompleted:
    """An answered call ended (either side hung up) and its wrap-up is known.

    ``at`` is when the conversation ended; handle time is talk + hold + wrap-up.
    ``ended_by`` is ``"caller"`` or ``"agent"`` (who hung up; queue_log's COMPLETECALLER /
    COMPLETEAGENT), or ``"media_server_lost"`` (the caller's Asterisk died under the
    conversation; queue_log writes COMPLETECALLER: the caller's side went).
    """

    call_id: str
    queue: str
    at: float
    talk_seconds: float
    hold_seconds: float = 0.0
    wrapup_seconds: float = 0.0
    ended_by: str = "caller"


class AgentActivity(enum.StrEnum):
    """What an agent (CCR) is doing, as far as occupancy is concerned."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # a call is being offered (ringing)
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """An agent entered ``state`` at ``at``; ``reason`` says why (pause reason, no-answer...)."""

    agent_id: str
    state: AgentActivity
    at: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OfferMissed:
    """A CCR's phone rang for a waiting call ``ring_seconds`` and nobody answered, or it could
    not be rung at all (``unreachable``): the call kept its place. Or the caller hung up while
    it rang (``canceled``).

    Not a `QueueEvent`: the queue's figures do not count it (the router counts the CCR's
    misses; a caller's hang-up is the call's abandon). The queue_log writes it as app_queue
    does: ``RINGNOANSWER`` for a ring-out and for a busy or unavailable member alike,
    ``RINGCANCELED`` for the caller's hang-up."""

    call_id: str
    queue: str
    at: float
    agent_id: str
    ring_seconds: float
    unreachable: bool = False
    canceled: bool = False


@dataclass(frozen=True, slots=True)
class OfferAnswered:
    """The CCR answered the offer after it rang ``ring_seconds`` (the queue_log's CONNECT
    carries it as its ring time). Not a `QueueEvent`, like `OfferMissed`."""

    call_id: str
    queue: str
    at: float
    agent_id: str
    ring_seconds: float


RingFact = OfferMissed | OfferAnswered
"""What became of one offer's ringing (the queue_log's RING lines and CONNECT's ring time)."""

CallEvent = (
    CallEnqueued | CallAnswered | CallAbandoned | CallTimedOut | CallbackRequested | CallCompleted
)
QueueEvent = CallEvent | AgentStateChanged
