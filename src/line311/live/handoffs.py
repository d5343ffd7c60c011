"""What IVR workers and the queue controller share about calls on the move (edge; Redis).

    <prefix>handoffs             hash: call id -> the hand-off (JSON: the IVR's ``Enqueue``
                                 and the IVR half of the call record), written by the worker
                                 before it moves the channel, deleted by the controller once
                                 the queued call is saved
    <prefix>handoff-taken:<id>   string, 10 minutes: the controller took that call (a worker
                                 that restarts mid-move must not move it a second time)
    <prefix>claims:<app>         hash: channel id -> when app claimed it from a broadcast
                                 (written once the claim is won, deleted when the call ends):
                                 the broadcast channels a restarted worker takes for its own
    <prefix>worker-loads         hash: app -> "calls:when": each worker's load, shared every
                                 `LOAD_EVERY` s, so the least loaded one claims first

`InMemoryHandoffs` is the same for one process (tests, the simulator).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import redis.asyncio as aioredis

from line311.live.codec import dump_object, load_object
from line311.live.routing import DEFAULT_PREFIX, mapped_errors

__all__ = ["LOAD_EVERY", "LOAD_FRESH", "TAKEN_TTL", "Handoffs", "InMemoryHandoffs", "RedisHandoffs"]

TAKEN_TTL = 600
LOAD_EVERY = 0.1
LOAD_FRESH = 2.0
"""A worker's load older than this (seconds) is ignored: that worker is away."""


class Handoffs(Protocol):
    async def put(self, call_id: str, payload: Mapping[str, Any]) -> None: ...

    async def get(self, call_id: str) -> dict[str, Any] | None: ...

    async def taken(self, call_id: str) -> bool: ...

    async def mark_taken(self, call_id: str) -> None: ...

    async def all(self) -> dict[str, dict[str, Any]]: ...

    async def drop(self, call_id: str) -> None: ...

    async def claim(self, app: str, channel_id: str, at: float) -> None: ...

    async def unclaim(self, app: str, channel_id: str) -> None: ...

    async def claimed(self, app: str) -> set[str]: ...

    async def share_load(self, app: str, calls: int, now: float) -> int:
        """Publish ``app``'s load; return the least load of the workers seen lately."""
        ...


def least_load(raw: Mapping[str, str], now: float, own: int) -> int:
    """The smallest fresh load in ``raw`` (app -> "calls:when"), ``own`` included."""
    loads = [own]
    for value in raw.values():
        calls, _, when = str(value).partition(":")
        try:
            if now - float(when) <= LOAD_FRESH:
                loads.append(int(calls))
        except ValueError:
            continue
    return min(loads)


def _encode(call_id: str, payload: Mapping[str, Any]) -> str:
    return dump_object(payload, f"call {call_id}: hand-off")


def _decode(call_id: str, text: str) -> dict[str, Any]:
    return load_object(text, f"call {call_id}: stored hand-off")


class RedisHandoffs:
    """See the module docstring."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client: Any = client
        self.prefix = prefix
        self.key = prefix + "handoffs"

    async def put(self, call_id: str, payload: Mapping[str, Any]) -> None:
        text = _encode(call_id, payload)
        async with mapped_errors("hand-off put"):
            await self.client.hset(self.key, call_id, text)

    async def get(self, call_id: str) -> dict[str, Any] | None:
        async with mapped_errors("hand-off get"):
            text = await self.client.hget(self.key, call_id)
        return None if text is None else _decode(call_id, text)

    async def taken(self, call_id: str) -> bool:
        async with mapped_errors("hand-off taken"):
            return bool(await self.client.exists(f"{self.prefix}handoff-taken:{call_id}"))

    async def mark_taken(self, call_id: str) -> None:
        """The call is the controller's now: the tombstone first, then the hand-off goes."""
        async with (
            mapped_errors("hand-off taken"),
            self.client.pipeline(transaction=True) as pipe,
        ):
            pipe.set(f"{self.prefix}handoff-taken:{call_id}", "1", ex=TAKEN_TTL)
            pipe.hdel(self.key, call_id)
            await pipe.execute()

    async def all(self) -> dict[str, dict[str, Any]]:
        async with mapped_errors("hand-off all"):
            raw = await self.client.hgetall(self.key)
        return {call_id: _decode(call_id, text) for call_id, text in raw.items()}

    async def drop(self, call_id: str) -> None:
        async with mapped_errors("hand-off drop"):
            await self.client.hdel(self.key, call_id)

    async def claim(self, app: str, channel_id: str, at: float) -> None:
        async with mapped_errors("claim"):
            await self.client.hset(f"{self.prefix}claims:{app}", channel_id, repr(at))

    async def unclaim(self, app: str, channel_id: str) -> None:
        async with mapped_errors("unclaim"):
            await self.client.hdel(f"{self.prefix}claims:{app}", channel_id)

    async def claimed(self, app: str) -> set[str]:
        async with mapped_errors("claimed"):
            return set(await self.client.hkeys(f"{self.prefix}claims:{app}"))

    async def share_load(self, app: str, calls: int, now: float) -> int:
        key = f"{self.prefix}worker-loads"
        async with mapped_errors("worker load"), self.client.pipeline(transaction=False) as pipe:
            pipe.hset(key, app, f"{calls}:{now!r}")
            pipe.hgetall(key)
            _, raw = await pipe.execute()
        return least_load(raw, now, calls)


class InMemoryHandoffs:
    """`RedisHandoffs` in one process's memory (tests, the simulator)."""

    def __init__(self) -> None:
        self.payloads: dict[str, str] = {}
        self.taken_ids: set[str] = set()
        self.claims: dict[str, dict[str, float]] = {}
        self.loads: dict[str, str] = {}

    async def put(self, call_id: str, payload: Mapping[str, Any]) -> None:
        self.payloads[call_id] = _encode(call_id, payload)

    async def get(self, call_id: str) -> dict[str, Any] | None:
        text = self.payloads.get(call_id)
        return None if text is None else _decode(call_id, text)

    async def taken(self, call_id: str) -> bool:
        return call_id in self.taken_ids

    async def mark_taken(self, call_id: str) -> None:
        self.taken_ids.add(call_id)
        self.payloads.pop(call_id, None)

    async def all(self) -> dict[str, dict[str, Any]]:
        return {call_id: _decode(call_id, text) for call_id, text in self.payloads.items()}

    async def drop(self, call_id: str) -> None:
        self.payloads.pop(call_id, None)

    async def claim(self, app: str, channel_id: str, at: float) -> None:
        self.claims.setdefault(app, {})[channel_id] = at

    async def unclaim(self, app: str, channel_id: str) -> None:
        self.claims.get(app, {}).pop(channel_id, None)

    async def claimed(self, app: str) -> set[str]:
        return set(self.claims.get(app, {}))

    async def share_load(self, app: str, calls: int, now: float) -> int:
        self.loads[app] = f"{calls}:{now!r}"
        return least_load(self.loads, now, calls)
