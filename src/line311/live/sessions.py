"""Each live call's session state, in Redis, so another controller process can carry it on.

The call runner (issue 11) saves one JSON entry per call after every step and deletes it when
the call ends; the entry is ``{"kind": ..., "state": session.to_dict(), ...}`` (the runner
may add its own facts). `RedisSessionStore` keeps them in one hash, ``<prefix>sessions``,
field = call id, so a save is one ``HSET`` (atomic, and in the AOF within a second) and a
restarted controller reads every live call with one ``HGETALL``. It has the same methods
as the runner's in-memory store (``save``, ``load``, ``delete``, ``call_ids``) plus `all`.

A state that does not serialise fails at `save`, in the step that produced it, not at a
restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis

from line311.live.codec import dump_object, load_object
from line311.live.routing import DEFAULT_PREFIX, mapped_errors

__all__ = ["RedisSessionStore"]


class RedisSessionStore:
    """Live calls' session entries by call id, shared by every controller process."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client: Any = client
        self.key = prefix + "sessions"

    async def save(self, call_id: str, entry: Mapping[str, Any]) -> None:
        """Replace the entry of ``call_id`` (a JSON object)."""
        text = dump_object(entry, f"call {call_id}: session state")
        async with mapped_errors("session save"):
            await self.client.hset(self.key, call_id, text)

    async def save_session(self, call_id: str, kind: str, state: Mapping[str, Any]) -> None:
        """Save the bare ``{kind, state}`` entry of a session."""
        await self.save(call_id, {"kind": kind, "state": dict(state)})

    async def load(self, call_id: str) -> dict[str, Any] | None:
        """The entry of ``call_id``; None when there is none."""
        async with mapped_errors("session load"):
            text = await self.client.hget(self.key, call_id)
        return None if text is None else _decode(call_id, text)

    async def delete(self, call_id: str) -> None:
        """Forget ``call_id`` (no error when it is unknown)."""
        async with mapped_errors("session delete"):
            await self.client.hdel(self.key, call_id)

    async def call_ids(self) -> list[str]:
        """Every call id with an entry."""
        async with mapped_errors("session ids"):
            return list(await self.client.hkeys(self.key))

    async def all(self) -> dict[str, dict[str, Any]]:
        """Every entry by call id (what a restarted controller resumes)."""
        async with mapped_errors("session all"):
            raw = await self.client.hgetall(self.key)
        return {call_id: _decode(call_id, text) for call_id, text in raw.items()}


def _decode(call_id: str, text: str) -> dict[str, Any]:
    return load_object(text, f"call {call_id}: stored session")
