"""Queue settings and where queue events go (the queue edge's shared parts).

`QueueOptions` are the edge settings of `line311.ari.queue_kind.QueueKind`; every queue
fact it emits is handed to `QueueEventHub.emit`: the live `IntervalAccumulator`, the
Asterisk-format ``queue_log`` file and any number of sinks (the database writer, a dashboard).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from line311.call.record import QueueLeg
from line311.queue.events import CallEnqueued, QueueEvent, RingFact
from line311.queue.intervals import KEEP_CALLS, IntervalAccumulator
from line311.queue.leg import LegOptions

__all__ = [
    "EventSink",
    "LegSink",
    "QueueEventHub",
    "QueueOptions",
    "whisper_topic",
]

logger = logging.getLogger(__name__)

EventSink = Callable[[object], None]
"""Called with every queue event (`line311.queue.events`); must not block."""
LegSink = Callable[[str, QueueLeg], None]
"""``sink(call_id, leg)``: a call's queue leg is over (once per call); must not block."""


# ---------------------------------------------------------------------- events out
class QueueEventHub:
    """Fans every queue event out to the live accumulator and the sinks (in that order).

    A failing sink is logged and skipped: it never stops a call. The accumulator lives as long
    as the controller: by default it forgets each call two days after it entered
    (`line311.queue.intervals.KEEP_CALLS`), driven by the events' own time.
    """

    def __init__(
        self, accumulator: IntervalAccumulator | None = None, sinks: Sequence[EventSink] = ()
    ) -> None:
        if accumulator is None:
            accumulator = IntervalAccumulator(keep=KEEP_CALLS)
        self.accumulator = accumulator
        self.sinks: list[EventSink] = list(sinks)
        self.on_resumed: list[Callable[[CallEnqueued, float | None, str | None], None]] = []
        """Told of every call resumed from another controller's state (its enqueue, and
        when and which CCR answered it): a stateful sink (the queue_log) knows it again."""
        self.on_ring: list[Callable[[RingFact], None]] = []
        """Told what became of every offer's ringing (answered, rung out, could not ring,
        the caller hung up): not queue events, the figures do not count them; the queue_log
        writes them."""
        self.emitted = 0

    def subscribe(self, sink: EventSink) -> None:
        """Add a sink (e.g. the dashboard's live hub)."""
        self.sinks.append(sink)

    def resumed(
        self, event: CallEnqueued, answered_at: float | None, agent_id: str | None = None
    ) -> None:
        _each(self.on_resumed, "queue resume hook", event, answered_at, agent_id)

    def ring(self, fact: RingFact) -> None:
        _each(self.on_ring, "ring hook", fact)

    def emit(self, event: QueueEvent) -> None:
        self.emitted += 1
        try:
            self.accumulator.feed(event)
        except Exception:
            logger.exception("SL accumulator refused %s", type(event).__name__)
        _each(self.sinks, "queue event sink", event)


def _each(hooks: Sequence[Callable[..., None]], what: str, *args: object) -> None:
    """Call every hook with ``args``; one that fails is logged (as ``what``) and skipped."""
    for hook in list(hooks):
        try:
            hook(*args)
        except Exception:
            logger.exception("%s %r failed", what, hook)


# ---------------------------------------------------------------------- options
@dataclass(frozen=True, slots=True)
class QueueOptions:
    """Edge settings of the queue runtime (see `line311.config.Settings` ``queue_*``)."""

    sounds_uri_prefix: str
    ring_timeout: int = 15
    announce_first: float = 2.0
    announce_interval: float = 45.0
    periodic_interval: float = 60.0
    whisper_language: str = "en"
    max_wait_offer_timeout: float = 8.0
    """Seconds a caller whose maximum wait ran out has, after the offer, to press 1."""
    interpreter_endpoint: str = "PJSIP/interpreter"
    callback_dial: str = "PJSIP/carrier/sip:{number}@{address}"
    callback_dial_timeout: int = 30
    caller_id: str = "311"
    topic_queues: Mapping[str, str] = field(default_factory=dict)
    """Enqueue topic -> queue name; unknown topics go to ``default_queue``."""
    default_queue: str = "general"

    def leg_options(self, wrapup_seconds: float) -> LegOptions:
        """What each queued call (`line311.queue.leg`) needs of these settings."""
        return LegOptions(
            ring_timeout=self.ring_timeout,
            announce_first=self.announce_first,
            announce_interval=self.announce_interval,
            periodic_interval=self.periodic_interval,
            whisper_language=self.whisper_language,
            max_wait_offer_timeout=self.max_wait_offer_timeout,
            interpreter_endpoint=self.interpreter_endpoint,
            callback_dial_timeout=self.callback_dial_timeout,
            caller_id=self.caller_id,
            wrapup_seconds=wrapup_seconds,
        )


_WHISPER_TOPICS = frozenset(
    {"general", "housing", "sanitation", "noise", "parking", "social_services"}
)


def whisper_topic(topic: str, queue: str, queues: Mapping[str, Any]) -> str:
    """The topic the CCR hears in the whisper (one with a recorded prompt)."""
    name = topic if topic in queues else queue
    return name if name in _WHISPER_TOPICS else "general"
