"""The Redis client the live store needs (the one place its options are chosen)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["connect"]


def connect(url: str, *, timeout: float = 2.0, max_connections: int = 32) -> aioredis.Redis:
    """A client for ``url``: replies decoded to str, no automatic retry (a script whose reply
    was lost may have run: the caller re-reads instead, see ``live/routing.py``), bounded
    waits (for a free connection too), so a dead Redis shows as `LiveUnavailableError`
    within ``timeout`` seconds."""
    # a burst of callers waits for a free connection (up to ``timeout``) instead of failing
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)
