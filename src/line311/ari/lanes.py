"""How ARI events reach their handlers: lane keys, waiters, per-channel lanes, backoff.

Events of one channel are handled strictly in order while different channels progress
concurrently (see `line311.ari.client`); `dispatch_key` names the lane of an event and
`backoff_delay` spaces reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from line311.ari.errors import AriProtocolError
from line311.ari.models import target_of
from line311.ari.port import EventHandler
from line311.ari.rest import map_exceptions

__all__ = ["backoff_delay", "dispatch_key"]

logger = logging.getLogger(__name__)

_GLOBAL_LANE = ""


# ---------------------------------------------------------------------- pure helpers
def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): exponential, capped, with
    "equal jitter" (between half and all of the exponential value) so that many controllers
    do not hammer a restarting Asterisk in lockstep."""
    base = min(cap, initial * (2.0 ** min(attempt, 32)))
    return base / 2.0 + rng.uniform(0.0, base / 2.0)


def dispatch_key(event: Mapping[str, Any]) -> str:
    """The lane an event belongs to: its channel id, ``bridge:<id>``, or the shared lane."""
    kind = event.get("type")
    if isinstance(kind, str):
        for prefix, field in (("Playback", "playback"), ("Recording", "recording")):
            if kind.startswith(prefix):
                resource = event.get(field)
                uri = resource.get("target_uri") if isinstance(resource, Mapping) else None
                target = target_of(uri) if isinstance(uri, str) else None
                if target is None:
                    return _GLOBAL_LANE
                return target[1] if target[0] == "channel" else f"{target[0]}:{target[1]}"
    channel = event.get("channel")
    if isinstance(channel, Mapping) and isinstance(channel.get("id"), str):
        return str(channel["id"])
    bridge = event.get("bridge")
    if isinstance(bridge, Mapping) and isinstance(bridge.get("id"), str):
        return f"bridge:{bridge['id']}"
    return _GLOBAL_LANE


# ---------------------------------------------------------------------- waiters
@dataclass(slots=True)
class _Waiter:
    types: frozenset[str]
    match: tuple[tuple[str, str, str], ...]
    predicate: Callable[[dict[str, Any]], bool] | None
    future: asyncio.Future[dict[str, Any]]

    def matches(self, event: dict[str, Any]) -> bool:
        if event.get("type") not in self.types:
            return False
        for obj, key, wanted in self.match:
            resource = event.get(obj)
            if not isinstance(resource, Mapping) or resource.get(key) != wanted:
                return False
        return self.predicate is None or bool(self.predicate(event))


# ---------------------------------------------------------------------- lanes
class _Lanes:
    """Per-key FIFOs, each drained by a task that exists only while the FIFO has work."""

    def __init__(self, handler: EventHandler) -> None:
        self._handler = handler
        self._queues: dict[str, deque[tuple[dict[str, Any], float]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, key: str, event: dict[str, Any], received_at: float) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            queue.append((event, received_at))
            return
        self._queues[key] = deque([(event, received_at)])
        task = asyncio.create_task(self._drain(key), name=f"ari-lane-{key or 'global'}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: str) -> None:
        queue = self._queues[key]
        while queue:
            event, received_at = queue.popleft()
            try:
                await self._handler(event, received_at)
            except Exception:
                logger.exception(
                    "ARI event handler failed for %s on channel %s",
                    event.get("type"),
                    key or "-",
                    extra={"channel_id": key or None},
                )
        del self._queues[key]

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._queues.clear()


def _decode_event(message: str | bytes) -> dict[str, Any] | None:
    """Decode one websocket message; malformed ones are logged and dropped (None)."""
    try:
        with map_exceptions("ARI event"):
            event = orjson.loads(message)
    except AriProtocolError as exc:
        logger.warning("dropping a malformed ARI event: %s", exc)
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        logger.warning("dropping an ARI event without a type (%s)", type(event).__name__)
        return None
    return event
