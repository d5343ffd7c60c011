"""line311's own redis-server with TLS (``redis_tls``): it listens with TLS only, with a
certificate of line311's own CA; the clients (redis-py, the readiness probe) check it; a
plain client or one trusting another CA gets nothing."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from line311.config import load_settings
from line311.live.client import connect, live_client
from line311.live.errors import LiveUnavailableError
from line311.live.routing import mapped_errors
from line311.live.server import RedisServer, probe
from line311.live.sessions import RedisSessionStore
from line311.live.tls import OWN_TLS_DIR, RedisTls, ensure_own_certs
from tests.fixtures.redis_server import running_redis

pytestmark = pytest.mark.integration

PASSWORD = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    state = tmp_path_factory.mktemp("redis-tls")
    with running_redis(
        state, "tls", password=PASSWORD, tls_dir=state / OWN_TLS_DIR
    ) as server:  # fmt: skip
        yield server


def _ca(server: RedisServer) -> Path:
    assert server.tls_dir is not None
    return server.tls_dir / "ca.crt"


def test_given_tls_then_the_config_listens_with_tls_only_and_the_key_is_private(
    tls_redis: RedisServer,
) -> None:
    conf = (tls_redis.data_dir / "redis.conf").read_text().splitlines()
    assert "port 0" in conf
    assert f"tls-port {tls_redis.port}" in conf
    assert (tls_redis.data_dir / "server.key").stat().st_mode & 0o077 == 0
    assert tls_redis.url.startswith("rediss://")
    assert tls_redis.status().ready


async def test_given_the_own_ca_when_a_client_connects_over_tls_then_it_works(
    tls_redis: RedisServer,
) -> None:
    client = connect(
        f"redis://127.0.0.1:{tls_redis.port}/0", password=PASSWORD, tls=RedisTls(_ca(tls_redis))
    )
    try:
        assert await client.ping()
        await client.set("line311:tls-probe", "1")
        assert await client.get("line311:tls-probe") == "1"
    finally:
        await client.aclose()


async def test_given_a_plain_client_then_it_gets_no_answer(tls_redis: RedisServer) -> None:
    client = connect(f"redis://127.0.0.1:{tls_redis.port}/0", password=PASSWORD, timeout=1.0)
    try:
        with pytest.raises(LiveUnavailableError):
            async with mapped_errors("plain"):
                await client.ping()
    finally:
        await client.aclose()


async def test_given_another_ca_when_a_client_connects_then_the_certificate_is_refused(
    tls_redis: RedisServer, tmp_path: Path
) -> None:
    other = ensure_own_certs(tmp_path / "other")
    client = connect(
        f"redis://127.0.0.1:{tls_redis.port}/0",
        password=PASSWORD,
        tls=RedisTls(other.ca_file),
        timeout=1.0,
    )
    try:
        with pytest.raises(LiveUnavailableError):
            async with mapped_errors("other CA"):
                await client.ping()
    finally:
        await client.aclose()


def test_given_tls_then_the_readiness_probe_checks_the_certificate(
    tls_redis: RedisServer, tmp_path: Path
) -> None:
    good = ssl.create_default_context(cafile=str(_ca(tls_redis)))
    assert probe("127.0.0.1", tls_redis.port, password=PASSWORD, tls=good) == (True, "")
    other = ensure_own_certs(tmp_path / "other")
    bad = ssl.create_default_context(cafile=str(other.ca_file))
    ok, why = probe("127.0.0.1", tls_redis.port, password=PASSWORD, tls=bad)
    assert not ok
    assert "certificate" in why.lower()


async def test_given_redis_tls_settings_when_the_controller_connects_then_it_uses_the_own_ca(
    tls_redis: RedisServer,
) -> None:
    assert tls_redis.tls_dir is not None
    settings = load_settings(
        state_dir=tls_redis.tls_dir.parent,
        redis_port=tls_redis.port,
        redis_password=PASSWORD,
        redis_tls=True,
    )
    client = live_client(settings)
    try:
        store = RedisSessionStore(client)
        await store.save("ch-tls", {"kind": "ivr", "state": {}})
        assert await store.load("ch-tls") == {"kind": "ivr", "state": {}}
        await store.delete("ch-tls")
    finally:
        await client.aclose()
