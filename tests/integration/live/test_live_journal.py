"""LiveJournal on a real Redis: today's figures and the CCRs' states are written, read back
by the next controller, and kept through a Redis outage (issue 12 points 1, 6, 7)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from line311.dashboard.facts import DAY_FACTS, CallLeftIvr
from line311.dashboard.state import LiveState
from line311.live.client import connect
from line311.live.errors import LiveUnavailableError
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
from line311.routing.store import InMemoryRoutingStore
from tests.conftest import free_tcp_port
from tests.unit.routing.helpers import ccr, router

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
NOON = datetime(2026, 12, 4, 12, 0, tzinfo=NY).timestamp()


def _day(at: float, day: str) -> list[object]:
    """A small day: one answered call, one abandoned, one still waiting, a paused CCR."""
    return [
        AgentStateChanged("1001", AgentActivity.AVAILABLE, at),
        CallEnqueued(f"{day}-c1", "general", at + 1),
        CallAnswered(f"{day}-c1", "general", at + 11, "1001"),
        AgentStateChanged("1001", AgentActivity.ON_CALL, at + 11),
        CallEnqueued(f"{day}-c2", "general", at + 12),
        CallAbandoned(f"{day}-c2", "general", at + 50),
        CallCompleted(f"{day}-c1", "general", at + 71, 60.0, 0.0, 5.0),
        AgentStateChanged("1001", AgentActivity.PAUSED, at + 76, "lunch"),
        CallLeftIvr(f"{day}-c3", at + 80, True),
        CallEnqueued(f"{day}-c4", "general", at + 90),
    ]


def _figures(state: LiveState, now: float) -> dict:
    snap = state.snapshot(now)
    return {k: snap[k] for k in ("queues", "agents", "agent_counts", "ivr", "chart")}


async def test_given_a_day_of_facts_when_a_new_controller_reads_them_back_then_the_same_wallboard(
    redis_client: aioredis.Redis,
) -> None:
    journal = LiveJournal(redis_client, DAY_FACTS, tz=NY)
    before = LiveState(tz=NY)
    midnight = journal.day_start(NOON)
    yesterday = _day(NOON - 86_400, "y")  # not read back: before yesterday's last 2 hours
    late = _day(midnight - 60, "late")  # read back: calls across midnight
    today = _day(NOON, "t")
    for fact in [*yesterday, *late, *today]:
        journal.on_fact(fact, [])
    before.apply_all([*late, *today])  # a controller started yesterday evening
    journal.on_fact(object(), [])  # not a kept fact: ignored
    assert await journal.flush() == len(yesterday) + len(late) + len(today)
    assert journal.pending == 0

    restored = await LiveJournal(redis_client, DAY_FACTS, tz=NY).load(NOON + 100)
    assert restored.facts == [*late, *today]  # in time order, across midnight
    after = LiveState(tz=NY)
    after.apply_all(restored.facts)
    assert _figures(after, NOON + 100) == _figures(before, NOON + 100)
    today_fig = _figures(after, NOON + 100)["queues"][0]["today"]
    assert (today_fig["offered"], today_fig["abandoned"]) == (4, 1)
    assert await redis_client.ttl(f"line311:facts:{journal.day_start(NOON):.0f}") > 86_400


async def test_given_a_write_retried_after_a_lost_reply_when_read_back_then_counted_once(
    redis_client: aioredis.Redis,
) -> None:
    journal = LiveJournal(redis_client, DAY_FACTS, tz=UTC)
    journal.on_fact(CallAbandoned("c2", "general", NOON), [])
    sent = list(journal._facts)
    await journal.flush()
    journal._facts.extend(sent)  # as if the reply had been lost and the write made again
    await journal.flush()
    assert (await journal.load(NOON)).facts == [CallAbandoned("c2", "general", NOON)]


async def test_given_ccr_changes_when_flushed_then_their_latest_records_read_back(
    redis_client: aioredis.Redis,
) -> None:
    journal = LiveJournal(redis_client, DAY_FACTS, tz=UTC)
    store = InMemoryRoutingStore()
    store.watch_agents(journal.on_agent)
    old = router(store=store)
    old.register_agent(ccr("1001", "lang:en=5, topic:general=3"), now=NOON)
    old.register_agent(ccr("1002", "lang:en=5, topic:general=3"), now=NOON)
    old.agent_login("1001", now=NOON)
    old.agent_pause("1001", now=NOON + 5, reason="training")
    old.agent_login("1002", now=NOON)
    assert journal.pending == 2  # coalesced: one record per CCR
    await journal.flush()
    agents = (await journal.load(NOON)).agents
    assert (agents["1001"]["state"], agents["1001"]["pause_reason"]) == ("paused", "training")
    new = router()
    new.register_agent(ccr("1001", "lang:en=5, topic:general=3"), now=NOON)
    new.restore_agent(agents["1001"], NOON + 60)
    assert new.agent("1001").pause_reason == "training"


async def test_given_a_running_journal_then_a_ccr_change_waits_for_the_next_flush(
    redis_client: aioredis.Redis,
) -> None:
    """A CCR's ringing, answering and wrap-up ride one flush (not a round trip each). No timed
    flush can come (60 s interval): the one that writes the CCR is the one a fact starts."""
    journal = LiveJournal(redis_client, DAY_FACTS, tz=UTC, interval=60.0, probe_every=60.0, batch=1)
    store = InMemoryRoutingStore()
    store.watch_agents(journal.on_agent)
    one = router(store=store)
    one.register_agent(ccr("1001", "lang:en=5, topic:general=3"), now=NOON)
    writer = asyncio.create_task(journal.run())
    try:
        await asyncio.sleep(0.05)  # the writer's first check has looked (nothing pending)
        one.agent_login("1001", now=NOON)
        one.agent_pause("1001", now=NOON + 1, reason="break")
        await asyncio.sleep(0.1)
        assert journal.pending == 1  # not written at once: no round trip of its own
        journal.on_fact(CallEnqueued("c1", "general", NOON + 2), [])  # a batch: a flush
        for _ in range(100):
            if journal.pending == 0:
                break
            await asyncio.sleep(0.05)
        assert journal.pending == 0  # the CCR written with that flush
        restored = await journal.load(NOON)
        assert restored.agents["1001"]["state"] == "paused"
        assert restored.facts == [CallEnqueued("c1", "general", NOON + 2)]
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


async def test_given_nothing_to_write_then_the_journal_sleeps_until_a_fact_comes_and_writes_it_within_its_interval(
    redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle controller's journal does not wake every ``interval`` (0.01 s here): with the
    PING a minute away, its loop checks once, then only when a fact is queued."""
    journal = LiveJournal(redis_client, DAY_FACTS, tz=UTC, interval=0.01, probe_every=60.0)
    checks: list[int] = []
    check = journal.check

    async def counted() -> None:
        checks.append(journal.pending)
        await check()

    monkeypatch.setattr(journal, "check", counted)
    writer = asyncio.create_task(journal.run())
    try:
        await asyncio.sleep(0.3)  # thirty intervals: the old loop checked thirty times
        assert checks == [0]
        journal.on_fact(CallEnqueued("c1", "general", NOON), [])
        for _ in range(100):
            if journal.pending == 0:
                break
            await asyncio.sleep(0.05)
        assert journal.pending == 0
        assert checks == [0, 1]  # one more check: the one that wrote the fact
        assert (await journal.load(NOON)).facts == [CallEnqueued("c1", "general", NOON)]
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer


async def test_given_redis_killed_when_facts_come_then_kept_in_memory_and_written_once_it_is_back(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path, port=free_tcp_port(), instance="journal")
    server.start(wait=15)
    client = connect(server.url, timeout=0.5)
    try:
        journal = LiveJournal(client, DAY_FACTS, tz=UTC, probe_every=0.0)
        journal.on_fact(CallEnqueued("c1", "general", NOON), [])
        await journal.check()
        assert journal.up
        assert journal.pending == 0

        server.kill()  # SIGKILL: only the AOF keeps what was written
        with pytest.raises(LiveUnavailableError):
            await journal.check()  # nothing pending: the PING notices
        assert not journal.up
        assert "unreachable" in (journal.reason or "")
        journal.on_fact(CallAnswered("c1", "general", NOON + 10, "1001"), [])
        with pytest.raises(LiveUnavailableError):
            await journal.check()
        assert journal.pending == 1  # kept for later

        server.start(wait=15)
        await journal.check()
        assert journal.up
        assert journal.reason is None
        assert journal.pending == 0
        assert (await journal.load(NOON)).facts == [
            CallEnqueued("c1", "general", NOON),
            CallAnswered("c1", "general", NOON + 10, "1001"),
        ]
    finally:
        await client.aclose()
        server.stop()
