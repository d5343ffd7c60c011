"""What a controller restart pays to get today's figures back: the live journal of a busy day.

A day of NYC 311 at its busiest as the live journal (``line311.live.journal``) keeps it:
70,000 callers leave the IVR, 50,000 of them queue; each queued call is enqueued, answered
(9 in 10) or abandoned, completed, and moves its CCR through on-call and wrap-up -- about
6 facts a queued call. The facts are written through `LiveJournal.flush` to a redis-server
of the bench's own (free loopback port, AOF on with fsync every second, stopped by PID), then a
"new controller" reads them back (`LiveJournal.load`) and replays them into the wallboard's
`LiveState` and the desk's `IntervalAccumulator`, as ``bootstrap._live_journal`` does.

Then the same day again with the wallboard stream on (what a controller writes when the
dashboard is a process of its own, ``dashboard_process``): the write cost with the stream, and
a dashboard process following it (``LiveJournal.follow`` in batches of 1,000, each fact applied
to its `LiveState`, as `line311.dashboard.follow.WallboardFollower` does).

    python -m bench live-journal        # also rewrites its section of docs/benchmarks.md
"""

from __future__ import annotations

import asyncio
import random
import socket
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from line311.dashboard.facts import DAY_FACTS, WALLBOARD_FACTS, CallLeftIvr
from line311.dashboard.state import LiveState
from line311.live.client import connect
from line311.live.journal import LiveJournal
from line311.live.server import RedisServer
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallEnqueued,
)
from line311.queue.intervals import IntervalAccumulator

NY = ZoneInfo("America/New_York")
IVR_CALLS = 70_000
QUEUED = 50_000
AGENTS = 400
QUEUES = ["general", "housing", "noise", "parking", "sanitation", "social_services"]


def _day(start: float, rng: random.Random) -> list[Any]:
    facts: list[Any] = []
    span = 14 * 3600.0
    for n in range(IVR_CALLS):
        at = start + 7 * 3600 + span * n / IVR_CALLS
        call_id = f"c{n}"
        facts.append(CallLeftIvr(call_id, at, n >= QUEUED))
        if n >= QUEUED:
            continue
        queue = QUEUES[n % len(QUEUES)]
        facts.append(CallEnqueued(call_id, queue, at))
        wait = rng.expovariate(1 / 25)
        if rng.random() < 0.1:
            facts.append(CallAbandoned(call_id, queue, at + wait))
            continue
        agent = f"a{n % AGENTS}"
        facts.append(CallAnswered(call_id, queue, at + wait, agent))
        facts.append(AgentStateChanged(agent, AgentActivity.ON_CALL, at + wait))
        end = at + wait + rng.expovariate(1 / 240)
        facts.append(CallCompleted(call_id, queue, end, end - at - wait, 0.0, 30.0))
        facts.append(AgentStateChanged(agent, AgentActivity.WRAP_UP, end))
    facts.sort(key=lambda f: f.at)
    return facts


async def _measure(url: str) -> dict[str, Any]:
    client = connect(url, timeout=10.0)
    try:
        start = LiveJournal(client, DAY_FACTS, tz=NY).day_start(time.time())
        facts = _day(start, random.Random(311))
        journal = LiveJournal(client, DAY_FACTS, tz=NY, max_pending=len(facts) + 1)
        t0 = time.perf_counter()
        for fact in facts:
            journal.on_fact(fact)
        queued = time.perf_counter() - t0
        t0 = time.perf_counter()
        await journal.flush()
        written = time.perf_counter() - t0
        t0 = time.perf_counter()
        restored = await LiveJournal(client, DAY_FACTS, tz=NY).load(start + 22 * 3600)
        loaded = time.perf_counter() - t0
        t0 = time.perf_counter()
        state, acc = LiveState(tz=NY), IntervalAccumulator()
        for fact in restored.facts:
            state.apply(fact)
            if not isinstance(fact, CallLeftIvr):
                acc.feed(fact)
        replayed = time.perf_counter() - t0
        memory = (await client.info("memory"))["used_memory"]
        version = (await client.info("server"))["redis_version"]
    finally:
        await client.aclose()
    assert len(restored.facts) == len(facts)
    streamed = await _measure_stream(url, facts, start)
    return {
        **streamed,
        "facts": len(facts),
        "queue_us": queued / len(facts) * 1e6,
        "write_s": written,
        "load_s": loaded,
        "replay_s": replayed,
        "memory_mb": memory / 1e6,
        "redis_version": version,
    }


async def _measure_stream(url: str, facts: list[Any], start: float) -> dict[str, Any]:
    """The day written again with the wallboard stream (a fresh prefix), then followed."""
    client = connect(url, timeout=10.0)
    prefix = "line311-streamed:"
    try:
        journal = LiveJournal(
            client, DAY_FACTS, tz=NY, prefix=prefix, max_pending=len(facts) + 1,
            stream_types=WALLBOARD_FACTS, stream_max=1_000_000,
        )  # fmt: skip
        before = (await client.info("memory"))["used_memory"]
        for fact in facts:
            journal.on_fact(fact)
        t0 = time.perf_counter()
        await journal.flush()
        written = time.perf_counter() - t0
        memory = (await client.info("memory"))["used_memory"] - before
        reader = LiveJournal(client, DAY_FACTS, tz=NY, prefix=prefix, stream_types=WALLBOARD_FACTS)
        t0 = time.perf_counter()
        restored = await reader.load(start + 22 * 3600)
        state = LiveState(tz=NY)
        for fact in restored.facts:
            state.apply(fact)
        read_back = time.perf_counter() - t0
        t0 = time.perf_counter()
        position, followed, state = "0-0", 0, LiveState(tz=NY)
        while followed < len(facts):
            position, batch = await reader.follow(position, block_ms=100)
            for fact in batch:
                state.apply(fact)
            followed += len(batch)
        follow = time.perf_counter() - t0
    finally:
        await client.aclose()
    return {
        "stream_write_s": written,
        "stream_memory_mb": memory / 1e6,
        "dashboard_load_s": read_back,
        "follow_per_s": followed / follow,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="line311-bench-") as tmp:
        server = RedisServer(Path(tmp), port=_free_port(), instance="bench")
        server.start()
        try:
            r = asyncio.run(_measure(server.url))
        finally:
            server.stop()
    return f"""## Live figures across a restart (`python -m bench live-journal`)

A busy day as the live journal keeps it: {IVR_CALLS:,} IVR exits, {QUEUED:,} queued calls
(9 in 10 answered), {AGENTS} CCRs: {r["facts"]:,} facts, on a redis-server {r["redis_version"]}
of the bench's own (AOF on, fsync every second).

| measure | value |
|---|---|
| `on_fact` (in memory, on the event loop) per fact | {r["queue_us"]:.1f} µs |
| writing the whole day (`flush`, batches of 2,000) | {r["write_s"]:.2f} s |
| a starting controller reads the day back (`load`) | {r["load_s"]:.2f} s |
| replaying it into the wallboard and the desk figures | {r["replay_s"]:.2f} s |
| Redis memory for the day | {r["memory_mb"]:.0f} MB |

Reading back plus replaying is what a controller restart adds before it serves again (late in
such a day); in normal running the journal writes every 0.2 s in the background.

With the wallboard stream (the dashboard as its own process: each flush's facts also go to the
stream as one entry, in the same MULTI as their ZADD):

| measure | value |
|---|---|
| writing the whole day with the stream | {r["stream_write_s"]:.2f} s |
| Redis memory for the day: sorted sets + the day's stream | {r["stream_memory_mb"]:.0f} MB |
| a starting dashboard reads the day back and applies it | {r["dashboard_load_s"]:.2f} s |
| a dashboard following the stream (read + apply) | {r["follow_per_s"]:,.0f} facts/s |

(Without the stream the day is written in {r["write_s"]:.2f} s, above; the shipped stream is
trimmed to about 10,000 entries, one per flush; the bench keeps the whole day.) The record
day's busiest hour is about 30,000 calls, some 50 facts a second at most: a following
dashboard has orders of magnitude of room.
"""


if __name__ == "__main__":
    import sys

    sys.stdout.write(run() + "\n")
