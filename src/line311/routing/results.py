"""What the router hands back to the edge: offers to make, calls that gave up, live figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from line311.routing.waiting import WaitingCall

__all__ = ["Offer", "QueueStats", "WaitExpired"]


@dataclass(frozen=True, slots=True)
class Offer:
    """A reservation the router has made: ring ``endpoint`` for ``agent_id`` with ``call_id``.

    ``interpreter``: bridge an interpreter into the call (the CCR does not speak the
    caller's language). ``callback``: the caller is not on the line; call them back once
    the CCR accepts. ``language`` and ``topic`` are what the whisper tells the CCR.
    The edge answers with `Router.offer_accepted`, `offer_rejected` or `offer_timeout`.
    """

    call_id: str
    agent_id: str
    interpreter: bool = False
    callback: bool = False
    queue: str = ""
    endpoint: str = ""
    language: str | None = None
    topic: str | None = None
    waited: float = 0.0
    step: int = 0
    """Escalation steps that applied when the offer was made (0: the queue's own rules)."""


@dataclass(frozen=True, slots=True)
class WaitExpired:
    """A live caller waited the queue's ``max_wait`` and was taken out of the queue.

    The edge decides what happens next (offer a callback, voicemail, an apology).
    ``entry`` is the call's record as it left the line: hand it to
    `Router.readmit_callback` if the caller then asks to be called back, and the call
    takes its old place again.
    """

    call_id: str
    queue: str
    waited: float
    entry: WaitingCall | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Real-time figures for one queue (TaskRouter's real-time statistics).

    ``eligible_agents``: logged-in CCRs holding the queue's skills (any language);
    ``available_agents``: those of them free right now; ``working_agents``: those not
    paused. ``handle_time``: the recent average handle time the estimates use.
    """

    queue: str
    waiting: int
    callbacks_waiting: int
    longest_wait: float
    eligible_agents: int
    available_agents: int
    working_agents: int
    on_call_agents: int
    paused_agents: int
    handle_time: float
