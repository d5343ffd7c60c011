"""The live hub: facts in from the runtime, coalesced snapshots out to every open dashboard.

Theory of operation
-------------------
::

    runtime ──publish(fact)──► LiveState.apply ──► dirty ──(≤ 1 flush per min_interval)──┐
                                     │                                                   ▼
                                     └─► listeners (metrics)           snapshot(now) → JSON once
                                                                                           │
                           subscriber 1 ◄── latest-only slot ◄──────────────────────────────┤
                           subscriber N ◄── latest-only slot ◄──────────────────────────────┘

A fact is applied at once (cheap). The snapshot is recomputed at most once per
``min_interval`` (200 ms), and a change is always flushed within that delay, so a dashboard
sees it well within one second. Times on the board (longest wait, time in state) move with the
clock, so the hub also refreshes every ``refresh_every`` seconds without any change, while a
client streams (with none, nothing wakes it).

Each subscriber owns a one-slot mailbox that keeps only the *latest* encoded snapshot: a
snapshot is the whole state, so an older one that a slow client has not taken yet can be
dropped. Publishing therefore never waits for a client, a slow or stuck client only delays
itself, and a disconnected one is removed when its stream is cancelled. The JSON is encoded
once per flush, whatever the number of clients, and not at all while no client streams (a
controller whose dashboard is a process of its own): `snapshot` then computes on demand.

Everything runs in the event loop's thread; use `LiveHub.publish_threadsafe` from others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from line311.dashboard.state import Fact, LiveState, Measurement

__all__ = ["Listener", "LiveHub", "encode_sse"]

logger = logging.getLogger(__name__)

Listener = Callable[[Fact, list[Measurement]], None]
"""``listener(fact, measurements)``: called for every published fact (e.g. metrics)."""


def encode_sse(data: str, *, event: str | None = None, event_id: str | None = None) -> bytes:
    """One Server-Sent Events message (``data`` split on newlines as the format requires)."""
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class _Subscriber:
    __slots__ = ("data", "dropped", "ready")

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.dropped = 0
        self.ready = asyncio.Event()

    def offer(self, data: bytes) -> None:
        if self.data is not None:
            self.dropped += 1
        self.data = data
        self.ready.set()

    def take(self) -> bytes | None:
        data, self.data = self.data, None
        self.ready.clear()
        return data


class LiveHub:
    """Owns a `LiveState`, applies published facts and streams snapshots. Use as
    ``async with hub:`` (or `start` / `stop`) so the periodic refresh runs."""

    def __init__(
        self,
        state: LiveState,
        *,
        clock: Callable[[], float] = time.time,
        min_interval: float = 0.2,
        refresh_every: float = 1.0,
        heartbeat_every: float = 15.0,
        max_clients: int = 1000,
    ) -> None:
        self.state = state
        self._clock = clock
        self.min_interval = min_interval
        self.refresh_every = refresh_every
        self.heartbeat_every = heartbeat_every
        self.max_clients = max_clients
        self._listeners: list[Listener] = []
        self._subscribers: set[_Subscriber] = set()
        self._watched = asyncio.Event()
        """Set when a client starts streaming: the refresh loop runs only while one does."""
        self._snapshot: dict[str, Any] | None = None
        self._computed_at = float("-inf")
        self._last_flush = float("-inf")
        self._flush_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.flushes = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the periodic refresh (idempotent)."""
        self._loop = asyncio.get_running_loop()
        if self._refresher is None:
            self._refresher = asyncio.create_task(self._refresh_loop(), name="dashboard-refresh")

    async def stop(self) -> None:
        """Stop refreshing; open streams end at their next wake-up."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

    async def __aenter__(self) -> LiveHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _refresh_loop(self) -> None:
        while True:
            if not self._subscribers:  # nobody to refresh for: no wake-up until one streams
                self._watched.clear()
                await self._watched.wait()
            await asyncio.sleep(self.refresh_every)
            if time.monotonic() - self._last_flush >= self.refresh_every * 0.9:
                self._flush()

    # ------------------------------------------------------------------ publishing
    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(fact, measurements)`` for every fact published from now on."""
        self._listeners.append(listener)

    def publish(self, fact: Fact) -> None:
        """Apply ``fact`` and schedule a flush (from the event loop's thread)."""
        measurements = self.state.apply(fact)
        for listener in self._listeners:
            try:
                listener(fact, measurements)
            except Exception:
                logger.exception("dashboard listener failed on %s", type(fact).__name__)
        self._schedule_flush()

    def replace_state(self, state: LiveState) -> None:
        """Show ``state`` from now on (a dashboard process that read the day back again);
        the open streams get its snapshot within ``min_interval``."""
        self.state = state
        self._schedule_flush()

    def publish_threadsafe(self, fact: Fact) -> None:
        """`publish` from another thread (needs `start` to have run)."""
        if self._loop is None:
            raise RuntimeError("the hub is not started")
        self._loop.call_soon_threadsafe(self.publish, fact)

    def _schedule_flush(self) -> None:
        self._snapshot = None
        if self._flush_handle is not None:
            return  # a flush is already due: this change rides along
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (synchronous use): the next snapshot() recomputes
        delay = max(0.0, self._last_flush + self.min_interval - time.monotonic())
        self._flush_handle = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self._last_flush = time.monotonic()
        if not self._subscribers:
            return  # nobody streams (a controller whose dashboard is its own process)
        self.flushes += 1
        try:
            snapshot = self._compute()
        except Exception:
            logger.exception("dashboard snapshot failed")
            return
        data = encode_sse(
            json.dumps(snapshot, separators=(",", ":")),
            event="snapshot",
            event_id=str(snapshot["version"]),
        )
        for subscriber in self._subscribers:
            subscriber.offer(data)

    def _compute(self) -> dict[str, Any]:
        snapshot = self.state.snapshot(self._clock())
        snapshot["clients"] = len(self._subscribers)
        self._snapshot = snapshot
        self._computed_at = time.monotonic()
        return snapshot

    # ------------------------------------------------------------------ reading
    def snapshot(self) -> dict[str, Any]:
        """The current snapshot (recomputed after a change, or when older than
        ``min_interval``)."""
        fresh = time.monotonic() - self._computed_at < self.min_interval
        return self._snapshot if self._snapshot is not None and fresh else self._compute()

    @property
    def clients(self) -> int:
        """Open live streams."""
        return len(self._subscribers)

    def full(self) -> bool:
        """Whether another live stream would exceed ``max_clients``."""
        return len(self._subscribers) >= self.max_clients

    async def stream(self) -> AsyncIterator[bytes]:
        """SSE bytes for one client: the current snapshot, then every flush (latest only),
        and a comment line as heartbeat when nothing was sent for ``heartbeat_every``."""
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        self._watched.set()
        logger.debug("dashboard client connected (%s open)", len(self._subscribers))
        try:
            snapshot = self.snapshot()
            yield b"retry: 2000\n\n" + encode_sse(
                json.dumps(snapshot, separators=(",", ":")),
                event="snapshot",
                event_id=str(snapshot["version"]),
            )
            while True:
                try:
                    async with asyncio.timeout(self.heartbeat_every):
                        await subscriber.ready.wait()
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                data = subscriber.take()
                if data is not None:
                    yield data
        finally:
            self._subscribers.discard(subscriber)
            logger.debug("dashboard client gone (%s open)", len(self._subscribers))
