"""IVR workers tell the controller's wallboard when calls enter and leave their IVR (edge).

    <prefix>ivr-activity    stream (capped at ~`MAX_LEN` entries): ``kind`` = ``entered`` |
                            ``left``, ``call_id``, ``at`` (epoch seconds), ``resolved`` (0/1)
    consumer group ``controller``: the controller reads with XREADGROUP and acknowledges
    what it has published, so one that restarts picks up what it had not read yet.

A worker publishes both ends of each of its calls (``left`` unresolved when it hands the
caller to the queue), so the wallboard's "in the IVR now" and "resolved in the IVR" count
every call whichever process ran its IVR.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from line311.live.routing import DEFAULT_PREFIX, mapped_errors

__all__ = [
    "GROUP",
    "MAX_LEN",
    "IvrActivityFeed",
    "IvrActivityPublisher",
    "IvrFact",
    "fact_fields",
    "relay",
]

logger = logging.getLogger(__name__)

GROUP = "controller"
MAX_LEN = 100_000


@dataclass(frozen=True, slots=True)
class IvrFact:
    kind: str
    """``entered`` or ``left``."""
    call_id: str
    at: float
    resolved: bool = False


class IvrActivityFeed:
    """See the module docstring."""

    def __init__(self, client: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client: Any = client
        self.key = prefix + "ivr-activity"

    async def publish(self, fact: IvrFact) -> None:
        async with mapped_errors("ivr activity publish"):
            await self.client.xadd(self.key, fact_fields(fact), maxlen=MAX_LEN, approximate=True)

    async def _ensure_group(self) -> None:
        try:
            async with mapped_errors("ivr activity group"):
                await self.client.xgroup_create(self.key, GROUP, id="$", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def follow(self, consumer: str, *, block_ms: int = 1000) -> AsyncIterator[IvrFact]:
        """Every fact not yet acknowledged by the group (the pending ones first), then new
        ones as they come; each is acknowledged once the caller has taken it."""
        await self._ensure_group()
        pending = True
        while True:
            start = "0" if pending else ">"
            async with mapped_errors("ivr activity read"):
                reply = await self.client.xreadgroup(
                    GROUP, consumer, {self.key: start}, count=500, block=block_ms
                )
            entries = reply[0][1] if reply else []
            if pending and not entries:
                pending = False
                continue
            for _entry_id, fields in entries:
                fact = _fact(fields)
                if fact is not None:
                    yield fact
            if entries:  # the whole batch at once, once taken
                async with mapped_errors("ivr activity ack"):
                    await self.client.xack(self.key, GROUP, *(e[0] for e in entries))


def fact_fields(fact: IvrFact) -> dict[str, str]:
    """The stream entry's fields of ``fact``."""
    return {
        "kind": fact.kind,
        "call_id": fact.call_id,
        "at": repr(fact.at),
        "resolved": "1" if fact.resolved else "0",
    }


def _fact(fields: Any) -> IvrFact | None:
    try:
        kind = str(fields["kind"])
        if kind not in ("entered", "left"):
            raise ValueError(kind)
        return IvrFact(kind, str(fields["call_id"]), float(fields["at"]), fields["resolved"] == "1")
    except (KeyError, TypeError, ValueError):
        logger.warning("dropping a malformed IVR activity entry")
        return None


class IvrActivityPublisher:
    """A worker's facts, published in order by one task (`run`); `note` never waits. A fact
    Redis does not take (it is away) is logged and dropped: the wallboard misses it, the
    call does not."""

    def __init__(self, feed: IvrActivityFeed) -> None:
        self._feed = feed
        self._queue: asyncio.Queue[IvrFact] = asyncio.Queue(maxsize=10_000)

    def note(self, fact: IvrFact) -> None:
        try:
            self._queue.put_nowait(fact)
        except asyncio.QueueFull:
            logger.warning("IVR activity backlog full: a wallboard fact is dropped")

    async def run(self) -> None:
        while True:
            fact = await self._queue.get()
            try:
                await self._feed.publish(fact)
            except Exception as exc:
                logger.warning("IVR activity not published (%s)", exc)


async def relay(
    feed: IvrActivityFeed, consumer: str, on_fact: Callable[[IvrFact], None], *, retry: float = 1.0
) -> None:
    """The controller's side: every worker's fact to ``on_fact``, for ever; a Redis outage
    is waited out (the group keeps what was not read)."""
    while True:
        try:
            async for fact in feed.follow(consumer):
                on_fact(fact)
        except Exception as exc:
            logger.warning("IVR activity relay paused (%s); retrying", exc)
            await asyncio.sleep(retry)
