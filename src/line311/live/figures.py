"""Live service-level counters per (queue, 15-minute interval), in Redis, so today's figures
survive any restart and every controller process adds to the same ones.

One hash per cell, ``<prefix>iv:<queue>:<interval start>``, whose fields are the counters of
`line311.queue.service_level.IntervalStats`; a change is an `IntervalStats` of *increments*
(``longest_wait``: a candidate maximum), added by one script (HINCRBY / HINCRBYFLOAT, and a
compare for the maximum), so concurrent writers never lose an update. Cells expire after
``keep`` seconds (the database keeps the history; these are the live figures). The set of
cells is indexed in ``<prefix>ivs`` (score = interval start) for range reads.

Increments are not idempotent: the edge adds each fact once (the queue leg's own events,
which the runner settles exactly once per call).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import redis.asyncio as aioredis

from line311.live.routing import DEFAULT_PREFIX, mapped_errors
from line311.queue.service_level import BASE_INTERVAL, DEFAULT_POLICY, IntervalStats, SlPolicy

__all__ = ["LiveIntervals", "interval_start"]

_COUNTERS = tuple(
    f.name
    for f in fields(IntervalStats)
    if f.name not in ("threshold", "short_abandon_threshold", "longest_wait")
)
_INTS = frozenset(f.name for f in fields(IntervalStats) if f.type == "int")

_ADD = """
-- KEYS: 1 cell, 2 index.  ARGV: 1 keep seconds, 2 index member, 3 start, 4 longest wait,
-- then (field, kind i|f, increment) triples.
for i = 5, #ARGV, 3 do
  if ARGV[i + 1] == 'i' then redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 2])
  else redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 2]) end
end
local longest = tonumber(redis.call('HGET', KEYS[1], 'longest_wait') or '0')
if tonumber(ARGV[4]) > longest then redis.call('HSET', KEYS[1], 'longest_wait', ARGV[4]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""


def interval_start(at: float, length: float = BASE_INTERVAL) -> float:
    """Start of the interval holding ``at`` (aligned to the epoch, like the reports)."""
    return at - at % length


class LiveIntervals:
    """Service-level counters shared by every controller. See the module docstring."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        keep: float = 8 * 86_400.0,
    ) -> None:
        self.client: Any = client
        self.prefix = prefix
        self.keep = int(keep)
        self._add = client.register_script(_ADD)

    def _cell(self, queue: str, start: float) -> str:
        return f"{self.prefix}iv:{queue}:{start:.0f}"

    async def add(self, queue: str, at: float, change: IntervalStats) -> None:
        """Add ``change`` (increments) to the cell of ``queue`` holding time ``at``."""
        start = interval_start(at)
        args: list[Any] = [self.keep, f"{queue}|{start:.0f}", start, repr(change.longest_wait)]
        for name in _COUNTERS:
            value = getattr(change, name)
            if value:
                args += [name, "i" if name in _INTS else "f", repr(value)]
        async with mapped_errors("interval add"):
            await self._add(keys=[self._cell(queue, start), self.prefix + "ivs"], args=args)

    async def read(
        self, queue: str, start: float, policy: SlPolicy = DEFAULT_POLICY
    ) -> IntervalStats:
        """The counters of one cell (zero when nothing happened in it)."""
        async with mapped_errors("interval read"):
            raw = await self.client.hgetall(self._cell(queue, interval_start(start)))
        values: dict[str, Any] = {}
        for name, text in raw.items():
            if name in _INTS:
                values[name] = int(text)
            elif name in _COUNTERS or name == "longest_wait":
                values[name] = float(text)
        return IntervalStats(
            threshold=policy.threshold,
            short_abandon_threshold=policy.short_abandon_threshold,
            **values,
        )

    async def read_range(
        self, queue: str, start: float, end: float, policy: SlPolicy = DEFAULT_POLICY
    ) -> IntervalStats:
        """The sum of the cells of ``queue`` starting in [start, end) (e.g. today)."""
        async with mapped_errors("interval range"):
            members = await self.client.zrangebyscore(self.prefix + "ivs", start, f"({end}")
        total = IntervalStats.empty(policy)
        for member in members:
            name, _, cell_start = member.rpartition("|")
            if name == queue:
                total = total + await self.read(queue, float(cell_start), policy)
        return total
