"""LiveIntervals on a real Redis: counters per (queue, interval), shared and summed."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from line311.live.figures import LiveIntervals, interval_start
from line311.queue.service_level import IntervalStats

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0  # an interval boundary (a multiple of 900 s)


async def test_given_increments_from_two_writers_then_the_cell_holds_their_sum(
    redis_client: aioredis.Redis,
) -> None:
    a, b = LiveIntervals(redis_client), LiveIntervals(redis_client)
    answered = IntervalStats(
        offered=1, answered=1, answered_within=1, answer_wait_total=12.5, longest_wait=12.5
    )
    abandoned = IntervalStats(offered=1, abandoned=1, abandon_wait_total=40.0, longest_wait=40.0)
    await asyncio.gather(
        *(a.add("general", T0 + 10, answered) for _ in range(50)),
        *(b.add("general", T0 + 899, abandoned) for _ in range(50)),
    )
    cell = await a.read("general", T0)
    assert (cell.offered, cell.answered, cell.abandoned) == (100, 50, 50)
    assert cell.answer_wait_total == pytest.approx(625.0)
    assert cell.longest_wait == 40.0
    assert cell.service_level() == pytest.approx(0.5)


async def test_given_several_intervals_when_read_as_a_range_then_summed_per_queue(
    redis_client: aioredis.Redis,
) -> None:
    live = LiveIntervals(redis_client)
    one = IntervalStats(offered=1, answered=1, answered_within=1)
    await live.add("general", T0 + 5, one)
    await live.add("general", T0 + 905, one)
    await live.add("housing", T0 + 905, one)
    await live.add("general", T0 + 86_400, one)  # tomorrow
    day = await live.read_range("general", T0, T0 + 86_400)
    assert day.offered == 2
    assert (await live.read("nowhere", T0)) == IntervalStats()
    assert interval_start(T0 + 1799.9) == T0 + 900
    assert 0 < await redis_client.ttl(f"line311:iv:general:{T0:.0f}") <= 8 * 86_400
