"""Each live call's session state, in Redis, so another controller process can carry it on.

The call runner (issue 11) saves one JSON entry per call after every step and deletes it when
the call ends; the entry is ``{"kind": ..., "state": session.to_dict(), ...}`` (the runner
may add its own facts). `RedisSessionStore` keeps them in one hash, ``<prefix>sessions``,
field = call id, so a save is one ``HSET`` (atomic, and in the AOF within a second) and a
restarted controller reads every live call with one ``HGETALL``. It has the same methods
as the runner's in-memory store (``save``, ``load``, ``delete``, ``call_ids``) plus `all`.

A state that does not serialise fails at `save`, in the step that produced it, not at a
restart.

About half of a call's steps leave its entry as it was (a playback starting, a timer that
changes nothing): a save whose JSON is the one this store wrote for the call less than
``rewrite_after`` seconds ago (5 s) sends nothing. The bound keeps what Redis holds at most
that old if it lost a write it acknowledged (a crash within AOF's one second); a load or a
delete forgets what was written, so a call resumed here is written again at its next step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis

from line311.live.codec import dump_object, load_object
from line311.live.routing import DEFAULT_PREFIX, mapped_errors

__all__ = ["RedisSessionStore"]


class RedisSessionStore:
    """Live calls' session entries by call id, shared by every controller process."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        rewrite_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        max_remembered: int = 20_000,
    ) -> None:
        self.client: Any = client
        self.key = prefix + "sessions"
        self.rewrite_after = rewrite_after
        self._clock = clock
        self._max_remembered = max_remembered
        self._written: dict[str, tuple[str, float]] = {}  # call id -> (JSON, when)
        self.writes = 0
        self.unchanged = 0

    async def save(self, call_id: str, entry: Mapping[str, Any]) -> None:
        """Replace the entry of ``call_id`` (a JSON object); nothing is sent when it is the
        one written less than ``rewrite_after`` seconds ago."""
        text = dump_object(entry, f"call {call_id}: session state")
        now = self._clock()
        last = self._written.get(call_id)
        if last is not None and last[0] == text and now - last[1] < self.rewrite_after:
            self.unchanged += 1
            return
        self._written.pop(call_id, None)  # a failed write is not remembered
        async with mapped_errors("session save"):
            await self.client.hset(self.key, call_id, text)
        if len(self._written) >= self._max_remembered:
            self._written.clear()  # calls that left without a delete here (handed over)
        self._written[call_id] = (text, now)
        self.writes += 1

    async def save_session(self, call_id: str, kind: str, state: Mapping[str, Any]) -> None:
        """Save the bare ``{kind, state}`` entry of a session."""
        await self.save(call_id, {"kind": kind, "state": dict(state)})

    async def load(self, call_id: str) -> dict[str, Any] | None:
        """The entry of ``call_id``; None when there is none."""
        self._written.pop(call_id, None)
        async with mapped_errors("session load"):
            text = await self.client.hget(self.key, call_id)
        return None if text is None else _decode(call_id, text)

    async def delete(self, call_id: str) -> None:
        """Forget ``call_id`` (no error when it is unknown)."""
        self._written.pop(call_id, None)
        async with mapped_errors("session delete"):
            await self.client.hdel(self.key, call_id)

    async def call_ids(self) -> list[str]:
        """Every call id with an entry."""
        async with mapped_errors("session ids"):
            return list(await self.client.hkeys(self.key))

    async def all(self) -> dict[str, dict[str, Any]]:
        """Every entry by call id (what a restarted controller resumes)."""
        self._written.clear()
        async with mapped_errors("session all"):
            raw = await self.client.hgetall(self.key)
        return {call_id: _decode(call_id, text) for call_id, text in raw.items()}


def _decode(call_id: str, text: str) -> dict[str, Any]:
    return load_object(text, f"call {call_id}: stored session")
