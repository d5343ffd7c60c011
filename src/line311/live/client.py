"""The Redis client the live store needs (the one place its options are chosen).

`live_client` gives the controller's client for its settings: line311's own redis-server on
loopback, or, with ``redis_sentinels`` set, the primary the Sentinels name (followed across a
failover: a connection opened after the switch asks them again), authenticated with
``redis_password`` (as ``redis_username`` when set; the Sentinels with
``redis_sentinel_password`` when set), over TLS with ``redis_tls``. A refused password fails
each command with `line311.live.errors.LiveAuthError` (mapped in
`line311.live.routing.mapped_errors`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

from line311.live.tls import RedisTls, tls_for

if TYPE_CHECKING:
    from line311.config import Settings

__all__ = ["connect", "connect_sentinel", "live_client"]


def _options(timeout: float, username: str, password: str) -> dict[str, Any]:
    return {
        # redis-py sends AUTH on each new connection when a password is given (none: no AUTH)
        "username": username or None,
        "password": password or None,
        "decode_responses": True,
        "retry": Retry(NoBackoff(), 0),
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
    }


def connect(
    url: str,
    *,
    timeout: float = 2.0,
    max_connections: int = 32,
    username: str = "",
    password: str = "",
    tls: RedisTls | None = None,
) -> aioredis.Redis:
    """A client for ``url`` (no credentials in it: ``password``, ``username`` when set):
    replies decoded to str, no automatic retry (a script whose reply was lost may have run:
    the caller re-reads instead, see ``live/routing.py``), bounded waits (for a free
    connection too), so a dead Redis shows as `LiveUnavailableError` within ``timeout``
    seconds. ``tls``: ``rediss://``, the server's certificate checked (`line311.live.tls`)."""
    options = _options(timeout, username, password)
    if tls is not None:
        url = "rediss://" + url.split("://", 1)[-1]
        options |= tls.redis_options()
    # a burst of callers waits for a free connection (up to ``timeout``) instead of failing
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout, **options
    )
    return aioredis.Redis.from_pool(pool)


class _BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Sentinel's pool (asks the Sentinels for the primary's address before each new
    connection) that waits, up to its ``timeout``, for a free connection like `connect`'s."""

    sentinel_manager: Sentinel

    async def aclose(self) -> None:
        """Close the pool and the connections to the Sentinels (the client owns both)."""
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def connect_sentinel(
    sentinels: list[tuple[str, int]],
    master: str,
    *,
    timeout: float = 2.0,
    max_connections: int = 32,
    username: str = "",
    password: str = "",
    sentinel_password: str = "",
    tls: RedisTls | None = None,
) -> aioredis.Redis:
    """A client on the primary that ``sentinels`` monitor as ``master``, with `connect`'s
    properties (decoded replies, no retry, bounded waits); ``username`` / ``password`` are
    the primary's, ``sentinel_password`` the Sentinels' own (their requirepass; empty: they
    are asked without AUTH). No Sentinel answers, or none knows a primary: the command fails
    with a ConnectionError (`LiveUnavailableError` upstream). ``tls``: the primary and the
    Sentinels are spoken to over TLS."""
    options = _options(timeout, username, password)
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
    }
    if tls is not None:
        options |= {"ssl": True, **tls.redis_options()}
        sentinel_kwargs |= {"ssl": True, **tls.redis_options()}
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
    client: aioredis.Redis = manager.master_for(
        master,
        connection_pool_class=_BlockingSentinelPool,
        max_connections=max_connections,
        timeout=timeout,
        **options,
    )
    return client


def live_client(settings: Settings, *, timeout: float = 2.0) -> aioredis.Redis:
    """The controller's live-state client: through ``redis_sentinels`` when set, else
    line311's own redis-server at ``redis://127.0.0.1:<redis_port>/0``; authenticated with
    ``redis_password`` (and ``redis_username``, ``redis_sentinel_password`` when set)."""
    username = settings.redis_username
    password = settings.redis_password.get_secret_value()
    tls = tls_for(settings)
    if settings.redis_sentinels:
        return connect_sentinel(
            settings.sentinel_addresses,
            settings.redis_sentinel_master,
            timeout=timeout,
            username=username,
            password=password,
            sentinel_password=settings.redis_sentinel_password.get_secret_value(),
            tls=tls,
        )
    url = f"redis://127.0.0.1:{settings.redis_port}/0"
    return connect(url, timeout=timeout, username=username, password=password, tls=tls)
