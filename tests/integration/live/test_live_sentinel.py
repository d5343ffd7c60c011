"""The controller's live-state client through Redis Sentinel: real redis-servers and a real
Sentinel process, the client built from the settings (`live_client`). As in production, the
primary (and the replica) require a password, which the Sentinel knows (``auth-pass``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from line311.config import Settings, load_settings
from line311.live.client import live_client
from line311.live.errors import LiveAuthError, LiveUnavailableError
from line311.live.server import RedisServer
from line311.live.sessions import RedisSessionStore
from tests.conftest import free_tcp_port
from tests.fixtures.polling import wait_until
from tests.fixtures.redis_sentinel import SentinelProcess
from tests.fixtures.redis_server import running_redis

pytestmark = pytest.mark.integration

PASSWORD = secrets.token_urlsafe(24)
"""The primary's (and the replica's) requirepass."""


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path, "primary", password=PASSWORD) as server:
        yield server


@contextmanager
def running_sentinel(
    primary: RedisServer, workdir: Path, requirepass: str = ""
) -> Iterator[SentinelProcess]:
    """A Sentinel on a free port monitoring ``primary`` (with its password), stopped after."""
    process = SentinelProcess(
        primary.installation,
        workdir,
        port=free_tcp_port(),
        primary_port=primary.port,
        auth_pass=PASSWORD,
        requirepass=requirepass,
    )
    try:
        process.start()
        yield process
    finally:
        process.stop()


@pytest.fixture
def sentinel(tmp_path: Path, primary: RedisServer) -> Iterator[SentinelProcess]:
    with running_sentinel(primary, tmp_path) as process:
        yield process


def _failover(control: redis.Redis) -> bool:
    """Ask for a failover; False while the Sentinel has no replica it deems fit yet
    (NOGOODSLAVE: it has not read the new replica's INFO)."""
    try:
        return bool(control.execute_command("SENTINEL", "FAILOVER", "line311"))
    except redis.ResponseError as exc:
        if "NOGOODSLAVE" in str(exc):
            return False
        raise


def _direct(port: int) -> redis.Redis:
    return redis.Redis(port=port, password=PASSWORD, decode_responses=True, socket_timeout=2)


def _role(port: int) -> str:
    with _direct(port) as client:
        return str(client.info("replication")["role"])


def _settings(tmp_path: Path, sentinel_port: int, **overrides: object) -> Settings:
    values: dict[str, object] = {"redis_password": PASSWORD}
    values.update(overrides)
    return load_settings(
        state_dir=tmp_path,
        live_state="redis",
        redis_sentinels=[f"127.0.0.1:{sentinel_port}"],
        **values,
    )


async def test_given_a_sentinel_when_a_session_is_saved_then_it_is_on_the_primary_it_names(
    tmp_path: Path, primary: RedisServer, sentinel: SentinelProcess
) -> None:
    client = live_client(_settings(tmp_path, sentinel.port), timeout=2.0)
    try:
        store = RedisSessionStore(client)
        await store.save_session("ch-1", "ivr", {"node": "menu", "digits": "1"})
        assert await store.load("ch-1") == {
            "kind": "ivr",
            "state": {"node": "menu", "digits": "1"},
        }
        with _direct(primary.port) as direct:
            assert direct.hkeys(store.key) == ["ch-1"]
    finally:
        await client.aclose()


async def test_given_a_wrong_primary_password_then_an_authentication_error(
    tmp_path: Path, primary: RedisServer, sentinel: SentinelProcess
) -> None:
    wrong = secrets.token_urlsafe(24)
    client = live_client(_settings(tmp_path, sentinel.port, redis_password=wrong), timeout=2.0)
    try:
        with pytest.raises(LiveAuthError, match=r"authentication failed.*redis_password"):
            await RedisSessionStore(client).save_session("ch-1", "ivr", {"node": "menu"})
    finally:
        await client.aclose()


async def test_given_sentinels_that_require_a_password_then_redis_sentinel_password_is_sent(
    tmp_path: Path, primary: RedisServer
) -> None:
    sentinel_password = secrets.token_urlsafe(24)
    with running_sentinel(primary, tmp_path, requirepass=sentinel_password) as process:
        settings = _settings(tmp_path, process.port, redis_sentinel_password=sentinel_password)
        client = live_client(settings, timeout=2.0)
        try:
            await RedisSessionStore(client).save_session("ch-1", "ivr", {"node": "menu"})
        finally:
            await client.aclose()
        client = live_client(_settings(tmp_path, process.port), timeout=2.0)  # none sent
        try:
            with pytest.raises(LiveAuthError, match="authentication failed"):
                await RedisSessionStore(client).save_session("ch-2", "ivr", {"node": "menu"})
        finally:
            await client.aclose()


async def test_given_no_sentinel_answers_then_live_unavailable(tmp_path: Path) -> None:
    client = live_client(_settings(tmp_path, free_tcp_port()), timeout=0.5)
    try:
        with pytest.raises(LiveUnavailableError):
            await RedisSessionStore(client).save_session("ch-1", "ivr", {"node": "menu"})
    finally:
        await client.aclose()


async def test_given_a_failover_then_the_client_writes_to_the_new_primary(
    tmp_path: Path, primary: RedisServer, sentinel: SentinelProcess
) -> None:
    replica = RedisServer(tmp_path, port=free_tcp_port(), instance="replica", password=PASSWORD)
    replica.start(wait=15)
    try:
        # each AUTHs to whichever is its primary (the old primary too, once demoted)
        for port in (primary.port, replica.port):
            with _direct(port) as direct:
                direct.config_set("masterauth", PASSWORD)
        with _direct(replica.port) as direct:
            direct.execute_command("REPLICAOF", "127.0.0.1", str(primary.port))
        with _direct(replica.port) as direct:
            wait_until(
                lambda: direct.info("replication").get("master_link_status") == "up",
                15,
                "the replica to sync",
            )
        with sentinel.client() as control:
            # the Sentinel learns of the replica from the primary's INFO (every 10 s at most)
            wait_until(
                lambda: control.execute_command("SENTINEL", "REPLICAS", "line311"),
                30,
                "the Sentinel to see the replica",
            )
        client = live_client(_settings(tmp_path, sentinel.port), timeout=2.0)
        try:
            store = RedisSessionStore(client)
            await store.save_session("ch-1", "ivr", {"node": "menu"})
            with sentinel.client() as control:
                wait_until(lambda: _failover(control), 30, "the Sentinel to start a failover")
            wait_until(
                lambda: sentinel.primary() == ("127.0.0.1", replica.port),
                30,
                "the Sentinel to name the replica primary",
            )
            wait_until(lambda: _role(replica.port) == "master", 15, "the replica to be primary")
            # until the Sentinel demotes it, the old primary still takes writes on a connection
            # opened before the switch (Sentinel's nature, not the client's)
            wait_until(lambda: _role(primary.port) == "slave", 30, "the old primary demoted")
            # a connection still open to the demoted primary may fail once (no retry, by
            # design: the caller decides); the next one asks the Sentinel again
            for attempt in range(2):
                try:
                    await store.save_session("ch-2", "ivr", {"node": "goodbye"})
                    break
                except LiveUnavailableError:
                    if attempt == 1:
                        raise
            with _direct(replica.port) as direct:
                assert sorted(direct.hkeys(store.key)) == ["ch-1", "ch-2"]
            assert await store.load("ch-2") == {"kind": "ivr", "state": {"node": "goodbye"}}
        finally:
            await client.aclose()
    finally:
        replica.stop()
