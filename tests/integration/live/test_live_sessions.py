"""RedisSessionStore on a real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from line311.live.errors import LiveStateError
from line311.live.sessions import RedisSessionStore

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
