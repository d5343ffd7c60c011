"""Routing decisions over Redis: 1,000 CCRs, 5,000 waiting calls, on a redis-server of its own.

The shared-state counterpart of ``routing_decisions``: every decision is the atomic Lua step
of ``line311.live`` against a real redis-server (started on a free loopback port in a
temporary directory, AOF on with fsync every second, as in production; stopped by PID).
1,000 CCRs (English plus a mix of other languages, one to three topics) serve 30 lanes
(6 topics x 5 languages); 5,000 callers wait, all CCRs are on calls.

* **Sequential** (one controller, the latency a caller's offer waits for): each round one
  CCR hangs up and a new caller arrives (not timed, one round trip), then the CCR's decision
  -- ``reserve_best``: the first call in service order among the heads of the lanes the CCR
  may serve -- is timed, and the offer accepted.
* **Batched** (throughput): 50 CCRs free up at once and their 50 decisions go in one round
  trip (a pipeline of scripts, each atomic); decisions/s counts reservations made.

    python -m bench routing-redis        # also rewrites its section of docs/benchmarks.md
    python -m bench.routing_redis        # print only
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from line311.live import codec
from line311.live.client import connect
from line311.live.routing import LiveRouting, Reserved
from line311.live.server import RedisServer
from line311.routing.agents import AgentEvent
from line311.routing.waiting import WaitingCall

AGENTS = 1_000
WAITING = 5_000
ROUNDS = 20_000
BATCH = 50
BATCH_ROUNDS = 400
SEED = 311
TOPICS = ["general", "housing", "noise", "parking", "sanitation", "social_services"]
LANGS = ["en", "es", "ru", "cmn", "ht"]
LANG_WEIGHTS = [60, 25, 6, 6, 3]


def _lane(topic: str, lang: str) -> str:
    return codec.lane_of_bucket((topic, lang, 0, ()))


class _Day:
    """The callers and CCRs of the bench, with the clock and sequence numbers."""

    def __init__(self, live: LiveRouting, rng: random.Random) -> None:
        self.live = live
        self.rng = rng
        self.lanes: dict[str, list[str]] = {}
        self.now = time.time()
        self.n = 0

    def agent_lanes(self) -> list[str]:
        rng = self.rng
        langs = ["en", *rng.sample(LANGS[1:], rng.choice([0, 0, 1, 1, 2]))]
        topics = {"general", *rng.sample(TOPICS, rng.randint(1, 3))}
        return [_lane(t, lang) for t in sorted(topics) for lang in langs]

    async def callers(self, count: int) -> list[WaitingCall]:
        seqs = await self.live.next_seqs(count)
        out = []
        for seq in seqs:
            self.now += 0.01
            priority = self.rng.choice((0, 0, 0, 0, 1))
            lang = self.rng.choices(LANGS, LANG_WEIGHTS)[0]
            out.append(
                WaitingCall(
                    f"c{seq}",
                    self.rng.choice(TOPICS),
                    self.now,
                    seq,
                    self.now - 60.0 * priority,
                    language=lang,
                    priority=priority,
                )
            )
        return out


async def _setup(day: _Day) -> list[str]:
    live = day.live
    agents = [f"ccr{i:04}" for i in range(AGENTS)]
    batch = live.batch()
    for i, agent in enumerate(agents):
        day.lanes[agent] = day.agent_lanes()
        batch.add(live.ops.register_agent(agent, {"lanes": len(day.lanes[agent])}, i, day.now))
        batch.add(live.ops.agent_event(agent, AgentEvent.LOGIN, day.now))
    await batch.execute()
    await live.add_calls(await day.callers(WAITING + AGENTS), day.now)
    # every CCR takes a call: all busy, WAITING left in the queues
    pending = list(agents)
    while pending:
        got = await live.run_many(
            [live.ops.reserve_best(a, day.lanes[a], day.now) for a in pending]
        )
        taken = [g for g in got if isinstance(g, Reserved)]
        await live.run_many([live.ops.accept(g.call_id, g.agent_id, day.now) for g in taken])
        missing = [a for a, g in zip(pending, got, strict=True) if not isinstance(g, Reserved)]
        if missing:  # no call in its lanes: give it a caller it can take
            extra = await day.callers(len(missing))
            await live.add_calls(extra, day.now)
        pending = missing
    return agents


async def _free(day: _Day, agents: list[str]) -> None:
    """These CCRs hang up and as many new callers arrive (one round trip)."""
    live = day.live
    batch = live.batch()
    for agent in agents:
        batch.add(live.ops.agent_event(agent, AgentEvent.HANG_UP, day.now))
    for call in await day.callers(len(agents)):
        batch.add(live.ops.add_call(call, day.now))
    await batch.execute()


async def _measure(url: str) -> dict[str, Any]:
    client = connect(url, timeout=30.0)
    live = LiveRouting(client, offer_ttl=30.0)
    day = _Day(live, random.Random(SEED))
    try:
        agents = await _setup(day)
        waiting = sum([await live.waiting_count(t) for t in TOPICS])
        busy = list(agents)
        latencies: list[float] = []
        made = 0
        for _ in range(ROUNDS):
            agent = busy.pop(day.rng.randrange(len(busy)))
            await _free(day, [agent])
            t0 = time.perf_counter()
            got = await live.reserve_best(agent, day.lanes[agent], day.now)
            latencies.append(time.perf_counter() - t0)
            if isinstance(got, Reserved):
                made += 1
                await live.accept(got.call_id, agent, day.now)
            busy.append(agent)
        batch_time = 0.0
        batch_made = 0
        for _ in range(BATCH_ROUNDS):
            freed = day.rng.sample(busy, BATCH)
            await _free(day, freed)
            t0 = time.perf_counter()
            got = await live.run_many(
                [live.ops.reserve_best(a, day.lanes[a], day.now) for a in freed]
            )
            batch_time += time.perf_counter() - t0
            taken = [g for g in got if isinstance(g, Reserved)]
            batch_made += len(taken)
            await live.run_many([live.ops.accept(g.call_id, g.agent_id, day.now) for g in taken])
        info = await client.info("server")
    finally:
        await client.aclose()
    latencies.sort()
    return {
        "waiting": waiting,
        "rounds": ROUNDS,
        "made": made,
        "seq_per_s": ROUNDS / sum(latencies),
        "p50_us": statistics.median(latencies) * 1e6,
        "p99_us": latencies[int(0.99 * len(latencies))] * 1e6,
        "max_us": latencies[-1] * 1e6,
        "batch_made": batch_made,
        "batch_per_s": batch_made / batch_time,
        "batch_rt_ms": batch_time / BATCH_ROUNDS * 1e3,
        "redis_version": info.get("redis_version", "?"),
    }


def measure() -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="line311-bench-redis-") as tmp:
        server = RedisServer(Path(tmp), port=port, instance="bench")
        server.start()
        try:
            return asyncio.run(_measure(server.url))
        finally:
            server.stop()


def run() -> str:
    from redis.utils import HIREDIS_AVAILABLE

    load = os.getloadavg()[0]
    r = measure()
    latency = f"{r['p50_us']:.0f} µs / {r['p99_us']:.0f} µs / {r['max_us']:.0f} µs"
    parser = "with hiredis" if HIREDIS_AVAILABLE else "without hiredis"
    return f"""## Routing decisions over Redis (`python -m bench routing-redis`)

{AGENTS:,} CCRs (all on calls), {r["waiting"]:,} waiting calls in 30 lanes (6 topics x 5 languages),
a redis-server {r["redis_version"]} of the bench's own on loopback (AOF on,
fsync every second). A decision is one atomic Lua step (`LiveRouting.reserve_best`: a CCR
frees up and takes the first call in service order among the lanes it may serve), client
redis-py asyncio {parser}, one process.

| measure | value |
|---|---|
| sequential: decisions per second of decision time | {r["seq_per_s"]:,.0f} |
| sequential: latency median / p99 / max (one round trip) | {latency} |
| batched ({BATCH} CCRs free at once): decisions per second | {r["batch_per_s"]:,.0f} |
| batched: time per round trip of {BATCH} decisions | {r["batch_rt_ms"]:.2f} ms |

{r["made"]:,} of {r["rounds"]:,} sequential decisions and {r["batch_made"]:,} of
{BATCH * BATCH_ROUNDS:,} batched ones made an offer (the rest: no call in the CCR's lanes).
Measured while the 2-core machine was shared with other work (test suites of parallel
branches; 1-minute load average {load:.1f} at the start), so these are floors, not the
machine's best: the p99 and maximum are mostly waits for a core.
"""


if __name__ == "__main__":
    import sys

    sys.stdout.write(run() + "\n")
