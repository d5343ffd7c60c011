"""A daemon kept up through its manager: a real redis-server, killed, restarted by PID watch."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from line311.live.server import RedisServer, ping
from line311.supervise.policy import Backoff
from line311.supervise.processes import DaemonProcess
from line311.supervise.supervisor import Supervisor
from tests.conftest import free_tcp_port

pytestmark = pytest.mark.integration


async def test_given_a_supervised_redis_when_it_is_killed_then_its_manager_starts_it_again(
    tmp_path: Path,
) -> None:
    password = secrets.token_urlsafe(24)  # as `line311 run` starts it: with requirepass
    server = RedisServer(tmp_path, port=free_tcp_port(), instance="sup", password=password)
    sup = Supervisor(
        [DaemonProcess("redis", server, poll=0.05)],
        tmp_path / "supervisor.json",
        backoff=Backoff(initial=0.1),
    )
    stop = asyncio.Event()

    def redis() -> dict[str, object]:
        return sup.view()[0]

    async def until(predicate: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(sup.run(stop))
            try:
                await until(lambda: redis()["state"] == "running", "redis up")
                old = redis()["pid"]
                assert isinstance(old, int)
                os.kill(old, signal.SIGKILL)
                await until(
                    lambda: redis()["restarts"] == 1 and redis()["state"] == "running",
                    "redis restarted",
                )
                assert redis()["pid"] not in (None, old)
                assert ping("127.0.0.1", server.port, password=password)
            finally:
                stop.set()
        assert redis()["state"] == "stopped"
        assert server.read_pid() is None
        assert not ping("127.0.0.1", server.port, password=password)
    finally:
        server.stop()
