"""`live_client` picks the live-state client from the settings (no connection is opened)."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio.sentinel import SentinelConnectionPool

from line311.config import load_settings
from line311.live.client import live_client


async def test_without_sentinels_the_client_is_the_loopback_redis_on_redis_port(
    tmp_path: Path,
) -> None:
    client = live_client(load_settings(state_dir=tmp_path, redis_port=6390), timeout=0.5)
    pool = client.connection_pool
    assert isinstance(pool, aioredis.BlockingConnectionPool)
    assert not isinstance(pool, SentinelConnectionPool)
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6390, 0)
    assert kwargs["decode_responses"] is True
    assert kwargs["socket_timeout"] == 0.5
    assert kwargs["retry"].get_retries() == 0
    assert pool.timeout == 0.5
    await client.aclose()


async def test_with_sentinels_the_client_follows_the_primary_they_name(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path, redis_sentinels=["s1:26379", "s2:26380"], redis_sentinel_master="live"
    )
    client = live_client(settings, timeout=0.5)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert isinstance(pool, aioredis.BlockingConnectionPool)  # waits for a free connection
    assert pool.service_name == "live"
    assert pool.is_master
    assert pool.timeout == 0.5
    kwargs = pool.connection_kwargs
    assert kwargs["decode_responses"] is True
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 0.5)
    assert kwargs["retry"].get_retries() == 0
    sentinels = pool.sentinel_manager.sentinels
    addresses = [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in sentinels
    ]
    assert addresses == [("s1", 26379), ("s2", 26380)]
    for sentinel in sentinels:
        assert sentinel.connection_pool.connection_kwargs["socket_timeout"] == 0.5
        assert sentinel.connection_pool.connection_kwargs["retry"].get_retries() == 0
    await client.aclose()
