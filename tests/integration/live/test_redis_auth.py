"""line311's own redis-server with a password: requirepass from the settings, kept out of the
command line and out of other users' reach; the client with the right password works, with
none or a wrong one fails with an error that says "authentication"."""

from __future__ import annotations

import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from line311.config import load_settings
from line311.live.client import connect, live_client
from line311.live.errors import LiveAuthError, RedisStartError
from line311.live.server import RedisServer, ping, probe
from line311.live.sessions import RedisSessionStore
from tests.fixtures.redis_server import running_redis

pytestmark = pytest.mark.integration

PASSWORD = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis-auth"), "auth", password=PASSWORD) as server:
        yield server


def test_given_a_password_then_it_is_in_the_private_config_only(locked: RedisServer) -> None:
    conf = locked.data_dir / "redis.conf"
    assert f'requirepass "{PASSWORD}"' in conf.read_text().splitlines()
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    pid = locked.read_pid()
    assert pid is not None
    assert PASSWORD.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert locked.status().ready


def test_given_a_password_then_ping_must_authenticate(locked: RedisServer) -> None:
    assert ping("127.0.0.1", locked.port, password=PASSWORD)
    assert probe("127.0.0.1", locked.port) == (
        False,
        "authentication failed: NOAUTH Authentication required.",
    )
    ok, why = probe("127.0.0.1", locked.port, password="x" + PASSWORD)
    assert not ok
    assert why.startswith("authentication failed: WRONGPASS")


async def test_given_the_right_password_then_the_store_works(locked: RedisServer) -> None:
    client = connect(locked.url, password=PASSWORD)
    try:
        store = RedisSessionStore(client)
        await store.save_session("ch-1", "ivr", {"node": "menu"})
        assert await store.load("ch-1") == {"kind": "ivr", "state": {"node": "menu"}}
        await store.delete("ch-1")
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "password", ["", "wrong-" + secrets.token_urlsafe(16)], ids=["none", "wrong"]
)
async def test_given_no_or_a_wrong_password_then_an_authentication_error(
    locked: RedisServer, password: str
) -> None:
    client = connect(locked.url, password=password, timeout=1.0)
    try:
        with pytest.raises(LiveAuthError, match="session save: Redis authentication failed"):
            await RedisSessionStore(client).save_session("ch-1", "ivr", {"node": "menu"})
    finally:
        await client.aclose()


async def test_the_controllers_client_sends_the_settings_password(
    tmp_path: Path, locked: RedisServer
) -> None:
    settings = load_settings(
        state_dir=tmp_path, live_state="redis", redis_port=locked.port, redis_password=PASSWORD
    )
    client = live_client(settings)
    try:
        assert await RedisSessionStore(client).call_ids() == []
    finally:
        await client.aclose()
    generated = load_settings(state_dir=tmp_path / "other", redis_port=locked.port)
    assert generated.redis_password.get_secret_value() not in ("", PASSWORD)
    client = live_client(generated)
    try:
        with pytest.raises(LiveAuthError):
            await RedisSessionStore(client).call_ids()
    finally:
        await client.aclose()


def test_given_one_of_ours_up_with_another_password_when_started_then_a_clear_error(
    locked: RedisServer,
) -> None:
    other = RedisServer(
        locked.state_dir, port=locked.port, instance="auth", password="x" + PASSWORD
    )
    other.installation  # noqa: B018 - found before the clock starts
    with pytest.raises(RedisStartError, match=r"authentication failed.*line311 redis down"):
        other.start(wait=0.5)
    assert locked.status().ready  # not stopped by the failed start
