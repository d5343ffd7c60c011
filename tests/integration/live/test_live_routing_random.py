"""Random sequences of every change on a real Redis keep the shared state consistent.

After each step the keys must agree with each other: a waiting call is in its queue and its
lane; a reserved one is in its queue only, its reservation key names its agent, and that agent
is reserved for it; the set of available agents is exactly the agents whose state is
``available``; the lanes index lists exactly the non-empty lanes.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from line311.live import codec
from line311.live.errors import LiveStateError
from line311.live.routing import LiveRouting, Reserved
from line311.routing.agents import AgentEvent
from line311.routing.waiting import WaitingCall

pytestmark = pytest.mark.integration

AGENTS = [f"a{i}" for i in range(6)]
QUEUES = ["general", "noise"]


async def check(client: aioredis.Redis, live: LiveRouting) -> None:
    p = live.prefix
    calls = [k[len(p) + 5 :] async for k in client.scan_iter(match=p + "call:*")]
    lanes_seen: set[str] = set()
    for call_id in calls:
        h = await client.hgetall(p + "call:" + call_id)
        m, lane = h["m"], h["lane"]
        assert await client.zscore(p + "queue:" + h["q"], m) is not None, call_id
        in_lane = await client.zscore(p + "lane:" + lane, m) is not None
        if h["st"] == "w":
            assert in_lane, call_id
            assert "ag" not in h
            lanes_seen.add(lane)
        else:
            assert h["st"] == "r"
            assert not in_lane, call_id
            agent = await client.hgetall(p + "agent:" + h["ag"])
            assert agent["st"] == "reserved", (call_id, agent)
            assert agent["call"] == call_id
    for queue in QUEUES:
        for m in await client.zrange(p + "queue:" + queue, 0, -1):
            assert codec.call_id_of(m) in calls
    assert set(await client.smembers(p + "lanes")) == lanes_seen
    available = set()
    for agent in AGENTS:
        h = await client.hgetall(p + "agent:" + agent)
        if h["st"] == "available":
            available.add(agent)
        if h["st"] == "reserved":
            call = await client.hgetall(p + "call:" + h["call"])
            assert call["st"] == "r"
            assert call["ag"] == agent
    assert set(await client.smembers(p + "available")) == available


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_given_random_changes_then_the_shared_state_stays_consistent(
    redis_client: aioredis.Redis, seed: int
) -> None:
    rng = random.Random(seed)
    live = LiveRouting(redis_client, offer_ttl=5.0)
    now = 1_800_000_000.0
    for i, agent in enumerate(AGENTS):
        await live.register_agent(agent, {}, i, now)
    known: list[str] = []
    seq = 0
    made: list[object] = []
    for _ in range(600):
        now += rng.uniform(0.0, 2.0)
        choice = rng.randrange(12)
        agent = rng.choice(AGENTS)
        call_id = rng.choice(known) if known else "none"
        try:
            if choice == 0:
                seq += 1
                call = WaitingCall(
                    f"c{seq}",
                    rng.choice(QUEUES),
                    now,
                    seq,
                    now - 60 * rng.randint(0, 2),
                    language=rng.choice(["en", "es"]),
                )
                assert await live.add_call(call, now)
                known.append(call.call_id)
            elif choice == 1:
                made.append(await live.reserve(call_id, agent, now, in_order=rng.random() < 0.5))
            elif choice == 2:
                heads = await live.lane_heads()
                if heads:
                    lane = rng.choice(sorted(heads))
                    made.append(await live.reserve_head(lane, rng.sample(AGENTS, 2), now))
            elif choice == 3:
                lanes = sorted((await live.lane_heads()).keys())
                made.append(await live.reserve_best(agent, lanes, now))
            elif choice == 4:
                a = await live.agent(agent)
                if a is not None and a.call_id and a.state.value == "reserved":
                    made.append(await live.accept(a.call_id, agent, now))
            elif choice == 5:
                a = await live.agent(agent)
                if a is not None and a.call_id:
                    reason = "missed" if rng.random() < 0.3 else None
                    await live.release(a.call_id, agent, now, pause_reason=reason)
            elif choice == 6:
                await live.expire_due(now)
            elif choice == 7:
                await live.remove_call(call_id, now)
            elif choice == 8:
                event = rng.choice(
                    [AgentEvent.LOGIN, AgentEvent.LOGOUT, AgentEvent.PAUSE, AgentEvent.RESUME]
                )
                await live.agent_event(agent, event, now, reason="break")
            elif choice == 9:
                wrapup = now + 5 if rng.random() < 0.5 else None
                await live.agent_event(agent, AgentEvent.HANG_UP, now, wrapup_until=wrapup)
            elif choice == 10:
                await live.agent_event(agent, AgentEvent.WRAP_UP_DONE, now)
            else:
                call = await live.call(call_id)
                if call is not None:
                    await live.update_call(replace(call, step=call.step + 1), now)
        except LiveStateError:
            pass  # an agent event its state forbids: refused, nothing changed
        await check(redis_client, live)
    got = [
        await live.reserve_best(a, sorted((await live.lane_heads()).keys()), now) for a in AGENTS
    ]
    assert all(isinstance(g, Reserved) or g.value in ("agent-busy", "empty") for g in got)
