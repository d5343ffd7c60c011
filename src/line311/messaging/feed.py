"""The alert scheduler and the CCR feed (async edge).

Theory of operation
-------------------
`AlertScheduler.run` loops::

    service.tick(now)            activations / expiries due (in the database, audited)
    store.live()                 approved + active alerts  ──▶ `live` (what new calls hear)
    feed.update(live, now)       CCR messages active now vs. before ──▶ SSE events

It sleeps until the next start or end of an alert (`next_change`), at most ``poll_interval``
seconds (so changes made by another process, e.g. ``line311 alerts approve``, are seen), and
wakes at once when this process changes an alert (`wake`, thread-safe: the service calls it
from worker threads). Database work runs in a thread.

The IVR must not wait on the database when a call arrives: `announcements` answers from the
scheduler's in-memory copy, using the pure `active_alerts` with the caller's ``now``, so an
alert stops being heard at the exact second it ends even if the loop is late.

`AlertFeed` keeps the set of CCR messages active now and fans each change out to every
subscriber (``activated`` / ``withdrawn`` / ``expired``; a new subscriber first gets a
``snapshot``). A slow subscriber whose queue is full is dropped rather than slowing others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from line311.ivr.alert_nodes import NodeRefusal
from line311.ivr.alerts import PushedAlert
from line311.messaging.alert_service import AlertChange, AlertService
from line311.messaging.alerts import (
    Alert,
    AlertState,
    active_alerts,
    active_ccr_messages,
    call_alerts,
    next_change,
)

__all__ = ["AlertFeed", "AlertScheduler", "FeedEvent", "alert_json", "sse_lines"]

logger = logging.getLogger(__name__)


def alert_json(alert: Alert, node_problem: NodeRefusal | None = None) -> dict[str, Any]:
    """The public JSON of an alert (API and feed). ``node_problem``: why the IVR flow now
    refuses the alert's node (`AlertService.node_problems`), shown as ``node_problem`` with
    where the alert plays instead (``played_instead``: ``greeting``, or ``language`` for
    one naming languages; None for a draft or a pending one, whose approval is refused)."""
    problem = None
    if node_problem is not None:
        live = alert.state in (AlertState.APPROVED, AlertState.ACTIVE)
        problem = {
            "reason": node_problem.reason,
            "message": node_problem.message,
            "played_instead": (
                ("language" if alert.targeting.languages else "greeting") if live else None
            ),
        }
    return {
        "id": alert.id,
        "title": alert.title,
        "kind": alert.kind.value,
        "state": alert.state.value,
        "priority": alert.priority,
        "languages": sorted(alert.targeting.languages),
        "node": alert.targeting.node,
        "node_problem": problem,
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat(),
        "texts": dict(alert.texts),
        "audio": {
            lang: {"source": ref.source.value, "ref": ref.ref, "duration": ref.duration}
            for lang, ref in sorted(alert.audio.items())
        },
        "ccr_text": alert.ccr_text,
        "author": alert.author,
        "approved_by": alert.approved_by,
        "created_at": alert.created_at.isoformat(),
        "updated_at": (alert.updated_at or alert.created_at).isoformat(),
        "prompt_id": alert.prompt_id,
    }


def _ccr_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "title": alert.title,
        "text": alert.ccr_text,
        "priority": alert.priority,
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One SSE event: ``kind`` is snapshot, activated, withdrawn or expired."""

    seq: int
    kind: str
    data: Any


def sse_lines(event: FeedEvent) -> str:
    """The event in ``text/event-stream`` framing."""
    payload = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.seq}\nevent: {event.kind}\ndata: {payload}\n\n"


@dataclass(slots=True)
class AlertFeed:
    """Active CCR messages and their subscribers (see the module docstring)."""

    queue_size: int = 100
    _active: dict[str, Alert] = field(default_factory=dict)
    _subscribers: set[asyncio.Queue[FeedEvent | None]] = field(default_factory=set)
    _seq: int = 0

    @property
    def active(self) -> list[Alert]:
        return sorted(self._active.values(), key=lambda a: (a.priority, a.starts_at, a.id))

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def _next(self, kind: str, data: Any) -> FeedEvent:
        self._seq += 1
        return FeedEvent(self._seq, kind, data)

    def update(
        self, live: Sequence[Alert], now: datetime, ended: Callable[[str], Alert | None]
    ) -> list[FeedEvent]:
        """Compare the CCR messages active at ``now`` with the last update and publish the
        differences. ``ended(id)`` reads an alert that left the set (to tell withdrawn from
        expired)."""
        current = {a.id: a for a in active_ccr_messages(live, now)}
        events = []
        for alert_id in sorted(set(self._active) - set(current)):
            gone = ended(alert_id) or self._active[alert_id]
            kind = "withdrawn" if gone.state is AlertState.WITHDRAWN else "expired"
            events.append(self._next(kind, {"id": alert_id, "title": gone.title}))
        for alert in sorted(current.values(), key=lambda a: (a.priority, a.id)):
            if alert.id not in self._active:
                events.append(self._next("activated", _ccr_json(alert)))
        self._active = current
        for event in events:
            self._publish(event)
        return events

    def _publish(self, event: FeedEvent) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                logger.warning("alert feed subscriber too slow; dropping it")
                self._subscribers.discard(queue)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)  # ends that subscriber's stream

    async def events(
        self, *, heartbeat: float | None = None
    ) -> AsyncGenerator[FeedEvent | None, None]:
        """A snapshot of the active CCR messages, then every change, until cancelled; None
        after ``heartbeat`` seconds without an event (for a keep-alive)."""
        queue: asyncio.Queue[FeedEvent | None] = asyncio.Queue(self.queue_size)
        self._subscribers.add(queue)
        try:
            yield self._next("snapshot", [_ccr_json(a) for a in self.active])
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), heartbeat)
                except TimeoutError:
                    yield None
                    continue
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.discard(queue)


class AlertScheduler:
    """Runs activations and expiries, keeps the live alerts for the IVR, feeds CCRs."""

    def __init__(
        self,
        service: AlertService,
        feed: AlertFeed | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll_interval: float = 2.0,
    ) -> None:
        self.service = service
        self.feed = feed if feed is not None else AlertFeed()
        self._clock = clock
        self.poll_interval = poll_interval
        self.live: list[Alert] = []
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        service.add_listener(self._on_change)

    # ------------------------------------------------------------------ for the IVR
    def announcements(
        self, language: str, node: str | None = None, now: datetime | None = None
    ) -> list[str]:
        """Prompt ids a new call of ``language`` must hear now, most urgent first."""
        when = now or self._clock()
        return [a.prompt_id for a in active_alerts(self.live, when, language, node)]

    def call_alerts(self, now: datetime | None = None) -> list[PushedAlert]:
        """The live caller alerts for a call (targeting included; see `call_alerts`)."""
        return call_alerts(self.live, now or self._clock())

    # ------------------------------------------------------------------ loop
    def _on_change(self, change: AlertChange) -> None:
        self.wake()

    def wake(self) -> None:
        """Run a step soon (callable from any thread)."""
        loop, event = self._loop, self._wake
        if loop is None or event is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(event.set)

    async def step(self) -> list[FeedEvent]:
        """One pass: due transitions, live alerts, feed update."""
        now = self._clock()
        self.live = await asyncio.to_thread(self._due_applied, now)
        ended: dict[str, Alert | None] = {}
        for alert_id in {a.id for a in self.feed.active} - {a.id for a in self.live}:
            ended[alert_id] = await asyncio.to_thread(self.service.store.get, alert_id)
        return self.feed.update(self.live, now, lambda i: ended.get(i))

    def _due_applied(self, now: datetime) -> list[Alert]:
        """The live alerts after applying what is due at ``now``: one read of the store, two
        when something was due (in a worker thread)."""
        live = self.service.store.live()
        if self.service.tick(now, live):
            live = self.service.store.live()
        return live

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Step until ``stop`` is set (or cancelled). A failing step is logged and retried."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        stop = stop or asyncio.Event()
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.step()
            except Exception:
                logger.exception("alert scheduler step failed; retrying")
            now = self._clock()
            upcoming = next_change(self.live, now)
            delay = self.poll_interval
            if upcoming is not None:
                delay = min(delay, max(0.0, (upcoming - now).total_seconds()))
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
