"""RedisServer: our own redis-server, config, PID handling, AOF persistence across a kill."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import redis

from line311.live.errors import RedisStartError
from line311.live.server import RedisServer, ping
from tests.conftest import free_tcp_port

pytestmark = pytest.mark.integration


def test_given_a_state_dir_when_started_then_pong_our_config_and_stop_by_pid(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path, port=free_tcp_port(), instance="t1")
    pid = server.start()
    try:
        assert server.start() == pid  # idempotent
        st = server.status()
        assert st.running
        assert st.ready
        assert st.pid == pid
        assert server.data_dir == tmp_path.resolve() / "redis-t1"
        client = redis.Redis.from_url(server.url, decode_responses=True)
        conf = client.config_get("appendonly") | client.config_get("appendfsync")
        assert conf == {"appendonly": "yes", "appendfsync": "everysec"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        client.close()
    finally:
        assert server.stop()
    assert not server.stop()
    assert not ping("127.0.0.1", server.port)
    assert not server.pid_file.exists()


def test_given_writes_when_killed_and_restarted_then_the_aof_brings_them_back(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path, port=free_tcp_port(), instance="t2")
    server.start()
    try:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        client.hset("line311:sessions", "ch-1", '{"kind":"ivr"}')
        time.sleep(1.5)  # appendfsync everysec: at most the last second may be lost
        client.close()
        server.kill()
        server.start()
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.hget("line311:sessions", "ch-1") == '{"kind":"ivr"}'
        client.close()
    finally:
        server.stop()


def test_given_a_stale_pid_file_when_read_then_it_is_ignored(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, port=free_tcp_port(), instance="t3")
    tmp_path.mkdir(exist_ok=True)
    server.pid_file.write_text(f"{os.getpid()}\n")  # this test process: not a redis-server
    assert server.read_pid() is None
    assert not server.pid_file.exists()


def test_given_a_bad_instance_name_then_refused(tmp_path: Path) -> None:
    with pytest.raises(RedisStartError):
        RedisServer(tmp_path, instance="../x")
