"""RedisSessionStore on a real Redis."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from line311.live.client import connect
from line311.live.errors import LiveStateError
from line311.live.sessions import RedisSessionStore
from tests.fixtures.redis_server import running_redis

pytestmark = pytest.mark.integration


async def test_given_saved_sessions_when_read_back_then_the_same_entries(
    redis_client: aioredis.Redis,
) -> None:
    store = RedisSessionStore(redis_client)
    await store.save_session("ch-1", "ivr", {"node": "menu", "digits": "1", "deadline": 12.5})
    await store.save("ch-2", {"kind": "queued", "state": {"queue": "general"}, "call": {"n": 1}})
    assert await store.load("ch-1") == {
        "kind": "ivr",
        "state": {"node": "menu", "digits": "1", "deadline": 12.5},
    }
    assert sorted(await store.call_ids()) == ["ch-1", "ch-2"]
    assert (await store.all())["ch-2"]["call"] == {"n": 1}
    await store.save_session("ch-1", "ivr", {"node": "goodbye"})
    assert (await store.load("ch-1")) == {"kind": "ivr", "state": {"node": "goodbye"}}
    await store.delete("ch-1")
    await store.delete("ch-1")
    assert await store.load("ch-1") is None
    assert list(await store.all()) == ["ch-2"]


async def test_given_a_state_that_is_not_json_when_saved_then_it_fails_at_once(
    redis_client: aioredis.Redis,
) -> None:
    store = RedisSessionStore(redis_client)
    with pytest.raises(LiveStateError):
        await store.save_session("ch-1", "ivr", {"when": object()})
    with pytest.raises(LiveStateError):
        await store.save_session("ch-1", "ivr", {"x": float("nan")})
    assert await store.load("ch-1") is None


async def test_given_a_foreign_value_when_loaded_then_live_state_error(
    redis_client: aioredis.Redis,
) -> None:
    store = RedisSessionStore(redis_client)
    await redis_client.hset(store.key, "ch-9", "[1, 2]")
    with pytest.raises(LiveStateError):
        await store.load("ch-9")


async def test_given_an_unchanged_entry_when_saved_again_then_nothing_is_sent_within_the_bound(
    redis_client: aioredis.Redis,
) -> None:
    now = [100.0]
    store = RedisSessionStore(redis_client, rewrite_after=5.0, clock=lambda: now[0])
    entry = {"kind": "ivr", "state": {"node": "menu"}}
    await store.save("ch-1", entry)
    await redis_client.hset(store.key, "ch-1", '{"kind":"ivr","state":{"node":"OTHER"}}')
    await store.save("ch-1", dict(entry))  # the same JSON, 0 s later: not sent
    assert (store.writes, store.unchanged) == (1, 1)
    assert (await store.load("ch-1"))["state"] == {"node": "OTHER"}  # (what Redis holds)
    await store.save("ch-1", entry)  # a load forgets what was written: sent again
    assert (await store.load("ch-1"))["state"] == {"node": "menu"}
    await store.save("ch-1", entry)
    now[0] += 5.0  # the bound: an unchanged entry is written again after 5 s
    await redis_client.hset(store.key, "ch-1", "{}")
    await store.save("ch-1", entry)
    assert await redis_client.hget(store.key, "ch-1") == '{"kind":"ivr","state":{"node":"menu"}}'
    await store.save("ch-1", {"kind": "ivr", "state": {"node": "goodbye"}})  # changed: sent
    assert store.writes == 5  # (the second load made the next save a write too)
    await store.delete("ch-1")
    await store.save("ch-1", {"kind": "ivr", "state": {"node": "goodbye"}})  # after a delete
    assert await store.call_ids() == ["ch-1"]


async def test_given_write_behind_when_calls_step_then_saves_return_at_once_and_go_in_one_round_trip(
    redis_client: aioredis.Redis,
) -> None:
    store = RedisSessionStore(redis_client, write_behind=True)
    for n in range(5):
        await store.save(f"ch-{n}", {"kind": "ivr", "state": {"node": "greeting"}})
    await store.save("ch-0", {"kind": "ivr", "state": {"node": "menu"}})  # its latest wins
    await store.delete("ch-4")  # ended before anything was sent
    # nothing sent yet (no step waited for Redis): what is queued is what a load reads
    assert (store.queued, store.round_trips) == (5, 0)
    assert (await store.load("ch-0")) == {"kind": "ivr", "state": {"node": "menu"}}
    assert await store.load("ch-4") is None

    assert await store.flush()

    assert store.round_trips == 1
    stored = await redis_client.hgetall(store.key)
    assert sorted(stored) == ["ch-0", "ch-1", "ch-2", "ch-3"]
    assert stored["ch-0"] == '{"kind":"ivr","state":{"node":"menu"}}'
    await store.delete("ch-0")
    assert sorted(await store.call_ids()) == ["ch-1", "ch-2", "ch-3"]  # what is queued counts
    with pytest.raises(LiveStateError, match="call ch-9: session state is not JSON"):
        await store.save("ch-9", {"kind": "ivr", "state": {"x": float("nan")}})  # still at once
    await store.close()
    assert sorted(await redis_client.hkeys(store.key)) == ["ch-1", "ch-2", "ch-3"]


async def test_given_a_stalled_redis_when_calls_step_then_no_step_waits_and_the_latest_states_are_saved_once_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="line311.live.sessions")
    with running_redis(tmp_path, f"stall{os.getpid()}") as server:
        client = connect(server.url, timeout=0.3)
        store = RedisSessionStore(client, write_behind=True, retry=0.05, retry_max=0.2)
        await store.save("ch-1", {"kind": "ivr", "state": {"node": "greeting"}})
        assert await store.flush()
        pid = server.read_pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # stalled, not dead: connections hang, nothing refuses
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for node in ("menu", "sr_status", "goodbye"):
                await store.save("ch-1", {"kind": "ivr", "state": {"node": node}})
            await store.save("ch-2", {"kind": "ivr", "state": {"node": "greeting"}})
            await store.delete("ch-2")
            await store.save("ch-3", {"kind": "ivr", "state": {"node": "menu"}})
            assert loop.time() - started < 0.1  # (each would have waited its 0.3-s timeout)
            assert not await store.flush(1.0)  # tried, timed out, tried again: still queued
            assert store.queued == 3
        finally:
            os.kill(pid, signal.SIGCONT)
        assert await store.flush(10.0)
        stored = await client.hgetall(store.key)
        await store.close()
        await client.aclose()

    assert stored == {
        "ch-1": '{"kind":"ivr","state":{"node":"goodbye"}}',
        "ch-3": '{"kind":"ivr","state":{"node":"menu"}}',
    }
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "not saved" in m]) == 1  # one WARNING per outage
    assert "live state: call states are saved again" in messages
