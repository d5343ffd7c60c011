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
    # the generated password (secrets.toml), the default user
    assert kwargs["password"] == load_settings(state_dir=tmp_path).redis_password.get_secret_value()
    assert kwargs["username"] is None
    await client.aclose()


async def test_the_client_authenticates_as_the_settings_say(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path, redis_password="Tr0ub4dor&3-horse", redis_username="line311"
    )
    client = live_client(settings)
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("line311", "Tr0ub4dor&3-horse")
    assert "Tr0ub4dor" not in repr(client)
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
        assert sentinel.connection_pool.connection_kwargs["password"] is None  # none set
    assert kwargs["password"] == settings.redis_password.get_secret_value()  # the primary's
    await client.aclose()


async def test_with_sentinels_that_require_auth_their_password_is_sent_to_them(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        state_dir=tmp_path,
        redis_sentinels=["s1:26379"],
        redis_password="primary-Tr0ub4dor&3",
        redis_sentinel_password="sentinel-Tr0ub4dor&3",
    )
    client = live_client(settings)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.connection_kwargs["password"] == "primary-Tr0ub4dor&3"
    (sentinel,) = pool.sentinel_manager.sentinels
    assert sentinel.connection_pool.connection_kwargs["password"] == "sentinel-Tr0ub4dor&3"
    await client.aclose()
