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

With ``write_behind`` (the runner's stores: the controller's, each IVR worker's) `save` and
`delete` return once the entry is checked and queued; a writer task sends what is queued, the
latest per call, in one round trip (one ``HSET`` of every saved call, one ``HDEL`` of every
ended one), and sends again what a failure left (Redis away or stalled: one WARNING, then
tries every ``retry`` seconds, doubling to ``retry_max``; INFO when it works again). So a call's
next step never waits on Redis, a stalled Redis costs a call nothing, and the latest state of
every call is written once Redis answers again, not lost. Reads see what is queued (`load`
looks there first; `call_ids` and `all` send it first, or merge it in while Redis is away).
`close` sends what is left (at most ``close_within`` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis

from line311.live.codec import dump_object, load_object
from line311.live.routing import DEFAULT_PREFIX, mapped_errors

__all__ = ["RedisSessionStore"]

logger = logging.getLogger(__name__)

WRITE_BATCH = 1000
"""Calls' saves and deletes sent in one round trip at most (after an outage, in turns)."""


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
        write_behind: bool = False,
        retry: float = 0.5,
        retry_max: float = 5.0,
    ) -> None:
        self.client: Any = client
        self.key = prefix + "sessions"
        self.rewrite_after = rewrite_after
        self._clock = clock
        self._max_remembered = max_remembered
        self._written: dict[str, tuple[str, float]] = {}  # call id -> (JSON, when)
        self.writes = 0
        self.unchanged = 0
        self.write_behind = write_behind
        self._retry = retry
        self._retry_max = retry_max
        # call id -> (seq, JSON to save or None to delete), until sent
        self._queued: dict[str, tuple[int, str | None]] = {}
        self._seq = 0
        self._writer: asyncio.Task[None] | None = None
        self._failing = False
        self.round_trips = 0  # sent by the writer task (each: up to WRITE_BATCH calls)

    @property
    def queued(self) -> int:
        """Saves and deletes not sent yet (write-behind)."""
        return len(self._queued)

    async def save(self, call_id: str, entry: Mapping[str, Any]) -> None:
        """Replace the entry of ``call_id`` (a JSON object); nothing is sent when it is the
        one written less than ``rewrite_after`` seconds ago. A value that is not JSON raises
        `LiveStateError` here, write-behind or not."""
        text = dump_object(entry, f"call {call_id}: session state")
        now = self._clock()
        last = self._written.get(call_id)
        if last is not None and last[0] == text and now - last[1] < self.rewrite_after:
            self.unchanged += 1
            return
        self._written.pop(call_id, None)  # a failed write is not remembered
        if self.write_behind:
            self._queue(call_id, text)
            return
        async with mapped_errors("session save"):
            await self.client.hset(self.key, call_id, text)
        self._remember(call_id, text, now)
        self.writes += 1

    def _remember(self, call_id: str, text: str, now: float) -> None:
        if len(self._written) >= self._max_remembered:
            self._written.clear()  # calls that left without a delete here (handed over)
        self._written[call_id] = (text, now)

    # ------------------------------------------------------------------ write-behind
    def _queue(self, call_id: str, text: str | None) -> None:
        self._seq += 1
        self._queued[call_id] = (self._seq, text)
        self._start_writer()

    def _start_writer(self) -> None:
        """One writer task at a time; it sends what is queued while it runs, too."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write_queued(), name="session-writer"
            )

    async def _write_queued(self) -> None:
        """Send what is queued until nothing is; an entry leaves the queue only once sent,
        and only if no newer one for its call came meanwhile."""
        delay = self._retry
        while self._queued:
            batch = dict(itertools.islice(self._queued.items(), WRITE_BATCH))
            saves = {c: t for c, (_, t) in batch.items() if t is not None}
            deletes = [c for c, (_, t) in batch.items() if t is None]
            try:
                async with mapped_errors("session save"):
                    pipe = self.client.pipeline(transaction=False)
                    if saves:
                        pipe.hset(self.key, mapping=saves)
                    if deletes:
                        pipe.hdel(self.key, *deletes)
                    await pipe.execute()
            except Exception as exc:
                if not self._failing:
                    logger.warning(
                        "live state: %d call state(s) not saved (%s); kept, tried again",
                        len(self._queued),
                        exc,
                    )
                self._failing = True
                await asyncio.sleep(delay)
                delay = min(self._retry_max, delay * 2)
                continue
            self.round_trips += 1
            self.writes += len(saves)
            now = self._clock()
            for call_id, (seq, text) in batch.items():
                if self._queued.get(call_id, (None, None))[0] == seq:
                    del self._queued[call_id]
                    if text is not None:
                        self._remember(call_id, text, now)
            if self._failing:
                logger.info("live state: call states are saved again")
                self._failing = False
                delay = self._retry

    async def flush(self, within: float | None = None) -> bool:
        """Send what is queued; True once nothing is (False: still failing after
        ``within`` seconds, or at once if ``within`` is 0)."""
        if self._queued:
            self._start_writer()
        writer = self._writer
        if writer is not None and not writer.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await asyncio.shield(writer)
        return not self._queued

    async def close(self, close_within: float = 2.0) -> None:
        """Send what is queued (at most ``close_within`` seconds), then stop the writer;
        what is still queued is lost, with a WARNING."""
        sent = await self.flush(close_within)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if not sent and self._queued:
            logger.warning("live state: %d call state(s) not saved at stop", len(self._queued))

    def _merged(self, stored: dict[str, Any]) -> None:
        """``stored`` with what is queued laid over it (Redis away: reads still see it)."""
        for call_id, (_, text) in self._queued.items():
            if text is None:
                stored.pop(call_id, None)
            else:
                stored[call_id] = text

    async def save_session(self, call_id: str, kind: str, state: Mapping[str, Any]) -> None:
        """Save the bare ``{kind, state}`` entry of a session."""
        await self.save(call_id, {"kind": kind, "state": dict(state)})

    async def load(self, call_id: str) -> dict[str, Any] | None:
        """The entry of ``call_id``; None when there is none."""
        self._written.pop(call_id, None)
        if call_id in self._queued:
            queued = self._queued[call_id][1]
            return None if queued is None else _decode(call_id, queued)
        async with mapped_errors("session load"):
            text = await self.client.hget(self.key, call_id)
        return None if text is None else _decode(call_id, text)

    async def delete(self, call_id: str) -> None:
        """Forget ``call_id`` (no error when it is unknown)."""
        self._written.pop(call_id, None)
        if self.write_behind:
            self._queue(call_id, None)
            return
        async with mapped_errors("session delete"):
            await self.client.hdel(self.key, call_id)

    async def call_ids(self) -> list[str]:
        """Every call id with an entry."""
        if self._queued:
            await self.flush(0.5)
        async with mapped_errors("session ids"):
            stored = dict.fromkeys(await self.client.hkeys(self.key), "")
        self._merged(stored)
        return list(stored)

    async def all(self) -> dict[str, dict[str, Any]]:
        """Every entry by call id (what a restarted controller resumes)."""
        self._written.clear()
        if self._queued:
            await self.flush(0.5)
        async with mapped_errors("session all"):
            raw = dict(await self.client.hgetall(self.key))
        self._merged(raw)
        return {call_id: _decode(call_id, text) for call_id, text in raw.items()}


def _decode(call_id: str, text: str) -> dict[str, Any]:
    return load_object(text, f"call {call_id}: stored session")
