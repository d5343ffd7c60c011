"""The dashboard process's wallboard on a real Redis: the controller's journal streams every
wallboard fact, the dashboard reads the day back at a consistent cut and follows the stream
from there, seeing each fact once (issue 12 point 3: the dashboard as a process of its own)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from line311.dashboard.facts import (
    DAY_FACTS,
    WALLBOARD_FACTS,
    AlertRaised,
    CallEnteredIvr,
    CallLeftIvr,
    QueueConfigured,
    QueueGoalChanged,
)
from line311.dashboard.follow import WallboardFollower
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState
from line311.live.journal import LiveJournal
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnqueued,
)

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
NOON = datetime(2026, 12, 4, 12, 0, tzinfo=NY).timestamp()


def _controller(client: aioredis.Redis) -> LiveJournal:
    return LiveJournal(client, DAY_FACTS, tz=NY, stream_types=WALLBOARD_FACTS)


def _fresh() -> LiveState:
    state = LiveState(tz=NY)
    state.apply(QueueConfigured("general", 0.8))
    return state


def _figures(state: LiveState, now: float) -> dict[str, object]:
    snap = state.snapshot(now)
    return {k: snap[k] for k in ("queues", "agents", "agent_counts", "ivr", "alerts")}


async def test_given_streamed_facts_when_read_back_then_the_cut_and_the_stream_hold_each_once(
    redis_client: aioredis.Redis,
) -> None:
    journal = _controller(redis_client)
    first = [
        AgentStateChanged("1001", AgentActivity.AVAILABLE, NOON),
        CallEnteredIvr("c1", NOON + 1),  # streamed only: not a figure of the day
        CallLeftIvr("c1", NOON + 20, False),
        CallEnqueued("c1", "general", NOON + 20),
    ]
    for fact in first:
        journal.on_fact(fact)
    await journal.flush()

    restored = await journal.load(NOON + 30)
    assert restored.facts == [f for f in first if not isinstance(f, CallEnteredIvr)]
    assert restored.position != "0-0"
    assert await journal.follow(restored.position, block_ms=10) == (restored.position, [])

    later = [
        CallAnswered("c1", "general", NOON + 31, "1001"),
        QueueGoalChanged("general", 0.9, NOON + 32),
        AlertRaised("a1", NOON + 33, "Water main break", "Avoid Main St"),
    ]
    for fact in later:
        journal.on_fact(fact)
    await journal.flush()
    position, facts = await journal.follow(restored.position, block_ms=10)
    assert facts == later  # in the order published, streamed-only facts too
    assert await journal.follow(position, block_ms=10) == (position, [])
    # from the start of the stream: every fact published, once each
    assert (await journal.follow("0-0", block_ms=10))[1] == [*first, *later]


async def test_given_a_controller_publishing_when_a_dashboard_follows_then_the_same_wallboard(
    redis_client: aioredis.Redis,
) -> None:
    controller = _fresh()
    journal = _controller(redis_client)

    def publish(fact: object) -> None:
        controller.apply(fact)  # type: ignore[arg-type]
        journal.on_fact(fact)

    publish(AgentStateChanged("1001", AgentActivity.AVAILABLE, NOON))
    publish(CallEnqueued("c1", "general", NOON + 1))
    await journal.flush()

    hub = LiveHub(_fresh(), clock=lambda: NOON + 100)
    follower = WallboardFollower(_controller(redis_client), hub, _fresh, clock=lambda: NOON + 100)
    await follower.step()  # reads the day back, then follows (nothing new yet)
    assert follower.loads == 1
    assert _figures(hub.state, NOON + 100) == _figures(controller, NOON + 100)

    publish(CallAnswered("c1", "general", NOON + 12, "1001"))
    publish(AgentStateChanged("1001", AgentActivity.ON_CALL, NOON + 12))
    publish(CallEnteredIvr("c2", NOON + 20))
    publish(CallEnqueued("c3", "general", NOON + 21))
    publish(CallAbandoned("c3", "general", NOON + 50))
    publish(QueueGoalChanged("general", 0.7, NOON + 60))
    await journal.flush()
    await follower.step()
    assert follower.facts == 6
    assert _figures(hub.state, NOON + 100) == _figures(controller, NOON + 100)
    assert hub.state.goal("general") == 0.7

    # a dashboard started now reads the same day back at once, the supervisor's goal too
    other = LiveHub(_fresh(), clock=lambda: NOON + 100)
    await WallboardFollower(
        _controller(redis_client), other, _fresh, clock=lambda: NOON + 100
    ).step()
    figures, expected = _figures(other.state, NOON + 100), _figures(controller, NOON + 100)
    assert figures["queues"] == expected["queues"]
    assert figures["agents"] == expected["agents"]
    assert other.state.goal("general") == 0.7


async def test_given_the_follower_waiting_when_the_controller_writes_then_it_wakes_at_once(
    redis_client: aioredis.Redis,
) -> None:
    journal = _controller(redis_client)
    hub = LiveHub(_fresh(), clock=lambda: NOON + 100)
    follower = WallboardFollower(_controller(redis_client), hub, _fresh, clock=lambda: NOON)
    await follower.step()
    waiting = asyncio.create_task(follower.step())  # blocks on XREAD (up to 1 s)
    await asyncio.sleep(0.05)
    journal.on_fact(CallEnqueued("c9", "general", NOON + 5))
    await journal.flush()
    await asyncio.wait_for(waiting, 0.9)
    assert follower.facts == 1
    assert hub.state.snapshot(NOON + 6)["queues"][0]["waiting"] == 1
