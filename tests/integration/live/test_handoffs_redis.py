"""RedisHandoffs on a real Redis: hand-offs, the taken tombstone, the per-app claims and the
workers' shared loads; a worker's `Claimer` over a stalled Redis."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from line311.ari.port import AriPort
from line311.ari.workers import Claimer
from line311.live.client import connect
from line311.live.errors import LiveStateError
from line311.live.handoffs import LOAD_FRESH, TAKEN_TTL, RedisHandoffs
from tests.fixtures.redis_server import running_redis

pytestmark = pytest.mark.integration

PAYLOAD = {
    "enqueue": {"language": "es", "topic": "noise", "priority": 2},
    "record": {"call_id": "c1", "dialed_number": "311", "outcome": "queued"},
    "at": 1_700_000_000.25,
}
BROADCAST = {"type": "CallBroadcast", "channel": {"id": "c1", "name": "PJSIP/x-c1"}}


async def test_given_hand_offs_put_when_read_back_then_the_same_payloads_until_dropped(
    redis_client: aioredis.Redis,
) -> None:
    handoffs = RedisHandoffs(redis_client)
    assert await handoffs.get("c1") is None
    assert await handoffs.all() == {}
    await handoffs.put("c1", PAYLOAD)
    await handoffs.put("c2", {**PAYLOAD, "record": None})
    assert await handoffs.get("c1") == PAYLOAD
    assert await handoffs.all() == {"c1": PAYLOAD, "c2": {**PAYLOAD, "record": None}}
    await handoffs.put("c1", {**PAYLOAD, "at": 5.0})  # the worker writes it again at a retry
    assert (await handoffs.get("c1") or {})["at"] == 5.0
    await handoffs.drop("c1")
    await handoffs.drop("c1")  # twice: no error
    assert await handoffs.get("c1") is None
    assert list(await handoffs.all()) == ["c2"]
    assert not await handoffs.taken("c2")


async def test_given_a_hand_off_when_marked_taken_then_a_tombstone_with_a_ttl_replaces_it(
    redis_client: aioredis.Redis,
) -> None:
    handoffs = RedisHandoffs(redis_client, prefix="t:")
    await handoffs.put("c1", PAYLOAD)
    await handoffs.mark_taken("c1")
    assert await handoffs.taken("c1")
    assert await handoffs.get("c1") is None
    assert await handoffs.all() == {}
    ttl = await redis_client.ttl("t:handoff-taken:c1")
    assert 0 < ttl <= TAKEN_TTL <= 600
    assert not await handoffs.taken("c2")
    assert sorted(await redis_client.keys("*")) == ["t:handoff-taken:c1"]  # all under the prefix


async def test_given_claims_of_two_apps_then_each_app_sees_only_its_own(
    redis_client: aioredis.Redis,
) -> None:
    handoffs = RedisHandoffs(redis_client)
    assert await handoffs.claimed("line311-w1") == set()
    await handoffs.claim("line311-w1", "c1", 1_700_000_000.5)
    await handoffs.claim("line311-w1", "c2", 1_700_000_001.0)
    await handoffs.claim("line311-w2", "c3", 1_700_000_002.0)
    assert await handoffs.claimed("line311-w1") == {"c1", "c2"}
    assert await handoffs.claimed("line311-w2") == {"c3"}
    stored = await redis_client.hget(f"{handoffs.prefix}claims:line311-w1", "c1")
    assert float(stored) == 1_700_000_000.5
    await handoffs.unclaim("line311-w1", "c1")
    await handoffs.unclaim("line311-w1", "c1")
    await handoffs.unclaim("line311-w2", "c2")  # another app's call: nothing changes
    assert await handoffs.claimed("line311-w1") == {"c2"}
    assert await handoffs.claimed("line311-w2") == {"c3"}


@pytest.mark.parametrize("stored", ["not json", "[1, 2]", '"text"'])
async def test_given_a_stored_value_that_is_not_a_json_object_then_live_state_error(
    redis_client: aioredis.Redis, stored: str
) -> None:
    handoffs = RedisHandoffs(redis_client)
    await redis_client.hset(handoffs.key, "c9", stored)
    with pytest.raises(LiveStateError, match="c9"):
        await handoffs.get("c9")
    with pytest.raises(LiveStateError, match="c9"):
        await handoffs.all()


async def test_given_a_payload_that_is_not_json_when_put_then_it_fails_and_nothing_is_stored(
    redis_client: aioredis.Redis,
) -> None:
    handoffs = RedisHandoffs(redis_client)
    with pytest.raises(LiveStateError):
        await handoffs.put("c1", {"at": float("nan")})
    with pytest.raises(LiveStateError):
        await handoffs.put("c1", {"when": object()})
    assert await handoffs.get("c1") is None


async def test_given_workers_sharing_their_loads_then_each_learns_the_least_fresh_one(
    redis_client: aioredis.Redis,
) -> None:
    handoffs = RedisHandoffs(redis_client)
    t = 1_700_000_000.0
    assert await handoffs.share_load("line311-w1", 5, t) == 5  # alone
    assert await handoffs.share_load("line311-w2", 2, t + 0.1) == 2
    assert await handoffs.share_load("line311-w1", 4, t + 0.2) == 2
    # w2 stops sharing (restarting): its load goes stale, w1 no longer waits for it
    assert await handoffs.share_load("line311-w1", 4, t + 0.2 + LOAD_FRESH + 1) == 4
    assert await redis_client.hget(f"{handoffs.prefix}worker-loads", "line311-w1") == (
        f"4:{t + 0.2 + LOAD_FRESH + 1!r}"
    )


class _WinningAri:
    """The one ARI call a `Claimer` makes: Asterisk grants every claim."""

    app = "line311-w1"

    async def claim(self, channel_id: str) -> bool:
        return True


class _Clock:
    def now(self) -> float:
        return 1_700_000_000.0


async def test_given_a_stalled_redis_when_a_worker_wins_a_claim_then_the_call_goes_on_and_the_claim_is_written_once_it_answers(
    tmp_path: Path,
) -> None:
    with running_redis(tmp_path, f"claim{os.getpid()}") as server:
        client = connect(server.url, timeout=10.0)  # longer than the call is allowed to wait
        handoffs = RedisHandoffs(client)
        claimer = Claimer(
            cast(AriPort, _WinningAri()), handoffs, load=lambda: 0, accepting=lambda: True,
            max_calls=10, clock=_Clock(),
        )  # fmt: skip
        assert await handoffs.claimed("line311-w1") == set()  # connected before the stall
        pid = server.read_pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # stalled, not dead: the claim's HSET hangs
        try:
            # the broadcast handler returns (the call's StasisStart is next in its lane)
            # while the write waits for Redis: well within the client's 10-s timeout
            await asyncio.wait_for(claimer.on_broadcast(BROADCAST), 5.0)
            assert claimer.claimed == 1
        finally:
            os.kill(pid, signal.SIGCONT)
        await claimer.settle(within=10.0)
        claimed = await handoffs.claimed("line311-w1")
        await claimer.forget("c1")
        after = await handoffs.claimed("line311-w1")
        await client.aclose()
    assert claimed == {"c1"}
    assert after == set()
