"""Issue 12's test: several processes deciding on one Redis at once.

Four OS processes (`tests.fixtures.live_worker`) make 100,000 reservations in total over one
shared set of agents and queues, settling each (accepted and hung up, or rejected back to its
place) and adding new callers as they go. Redis journals every change in the order it ran
them; replaying that journal checks, independently of the Lua scripts, that no call was ever
offered to two agents, no agent ever held two calls, and every reservation took the call
first in its queue by priority then entry time (the lowest waiting (score, seq) at that
moment).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import subprocess
import sys
import time

import pytest
import redis

from line311.config import REPO_ROOT
from line311.live.server import RedisServer
from line311.routing.agents import AgentEvent
from line311.routing.waiting import WaitingCall
from tests.fixtures.live_worker import PRIORITY_WEIGHT

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PROCESSES = 4
DECISIONS = 100_000
AGENTS = 200
QUEUES = ["general", "housing", "noise", "parking"]
WAITING = 1_000
PREFIX = "line311:mp:"


async def _prepare(url: str) -> None:
    import redis.asyncio as aioredis

    from line311.live.routing import LiveRouting

    client = aioredis.Redis.from_url(url, decode_responses=True)
    live = LiveRouting(client, prefix=PREFIX, journal=10_000_000)
    now = time.time()
    for i in range(AGENTS):
        await live.register_agent(f"a{i}", {"skills": "topic:general=3"}, i, now)
        await live.agent_event(f"a{i}", AgentEvent.LOGIN, now)
    seqs = await live.next_seqs(WAITING)
    calls = [
        WaitingCall(
            f"init-{s}", QUEUES[s % 4], now, s, now - PRIORITY_WEIGHT * (s % 3), priority=s % 3
        )
        for s in seqs
    ]
    assert all(await live.add_calls(calls, now))
    await client.aclose()


def _journal(client: redis.Redis) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = []
    start = "-"
    while True:
        batch = client.xrange(PREFIX + "journal", min=start, count=50_000)
        if start != "-":
            batch = batch[1:]
        if not batch:
            return entries
        entries.extend(fields for _, fields in batch)
        start = batch[-1][0]


def _replay(entries: list[dict[str, str]]) -> int:
    """Check the journal; return the number of reservations in it."""
    lanes: dict[str, list[tuple[float, str]]] = {}  # queue -> heap of (score, member)
    free_calls: set[str] = set()  # members free to offer
    call_agent: dict[str, str] = {}  # call -> agent it is reserved for
    agent_call: dict[str, str] = {}  # agent -> call it holds (reserved or on call)
    reserves = 0
    for e in entries:
        op = e["op"]
        if op == "add":
            heapq.heappush(lanes.setdefault(e["q"], []), (float(e["score"]), e["m"]))
            free_calls.add(e["m"])
        elif op == "reserve":
            reserves += 1
            heap = lanes[e["q"]]
            while heap and heap[0][1] not in free_calls:
                heapq.heappop(heap)
            assert heap, f"reserved {e['call']} from an empty queue"
            assert heap[0][1] == e["m"], f"{e['call']} taken before {heap[0][1]} in {e['q']}"
            assert e["call"] not in call_agent, f"call {e['call']} offered twice"
            assert e["agent"] not in agent_call, f"agent {e['agent']} given two calls"
            free_calls.discard(e["m"])
            call_agent[e["call"]] = e["agent"]
            agent_call[e["agent"]] = e["call"]
        elif op == "accept":
            assert call_agent.pop(e["call"]) == e["agent"]
            assert agent_call[e["agent"]] == e["call"]
        elif op in ("reject", "expire", "cancel"):
            assert call_agent.pop(e["call"]) == e["agent"]
            assert agent_call.pop(e["agent"]) == e["call"]
            heapq.heappush(lanes[e["q"]], (float(e["score"]), e["m"]))
            free_calls.add(e["m"])
        elif op == "agent" and e["from"] == "on_call":
            del agent_call[e["agent"]]
    return reserves


def test_given_four_processes_when_deciding_100k_times_then_no_double_assignment_and_order_kept(
    redis_server: RedisServer,
) -> None:
    import asyncio

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    for key in client.scan_iter(PREFIX + "*", count=10_000):
        client.delete(key)
    asyncio.run(_prepare(redis_server.url))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fixtures.live_worker",
                f"--url={redis_server.url}",
                f"--prefix={PREFIX}",
                f"--index={i}",
                f"--decisions={DECISIONS // PROCESSES}",
                f"--queues={','.join(QUEUES)}",
                f"--mode={'head' if i % 2 == 0 else 'pair'}",
                "--journal=10000000",
                f"--seed={i}",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    elapsed = time.monotonic() - started
    won = [tuple(pair) for r in results for pair in r["won"]]
    assert len(won) == DECISIONS
    assert len({r["pid"] for r in results}) == PROCESSES

    entries = _journal(client)
    reserves = _replay(entries)
    journal_pairs = sorted((e["call"], e["agent"]) for e in entries if e["op"] == "reserve")
    assert reserves == DECISIONS
    assert journal_pairs == sorted(won)  # the journal is complete: every win is in it
    refused = sum(r["refused"] for r in results)
    logger.info(
        "%d decisions by %d processes in %.1f s; %d refused", DECISIONS, PROCESSES, elapsed, refused
    )
    # every agent is free again and every call still waiting is in its queue exactly once
    assert client.scard(PREFIX + "available") == AGENTS
    assert sum(client.zcard(f"{PREFIX}queue:{q}") for q in QUEUES) == WAITING
    client.close()
