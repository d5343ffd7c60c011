"""`EmbeddedServer` does not poll for its exit: it leaves at once when ``should_exit`` is set,
however long its tick, and still sends a ``Date`` header."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from line311 import http_server
from line311.http_server import make_embedded_server
from tests.conftest import free_tcp_port
from tests.fixtures.asgi import named_app

pytestmark = pytest.mark.integration


async def test_given_an_hour_long_tick_when_should_exit_is_set_then_the_server_leaves_without_waiting_for_a_tick(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(http_server, "TICK_SECONDS", 3600.0)
    port = free_tcp_port()
    server = make_embedded_server(named_app("ok"), "127.0.0.1", port)
    ticks: list[int] = []
    on_tick = server.on_tick

    async def counted(counter: int) -> bool:
        ticks.append(counter)
        return await on_tick(counter)

    monkeypatch.setattr(server, "on_tick", counted)
    task = asyncio.create_task(server.serve())
    await server.wait_started()
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.get(f"http://127.0.0.1:{port}/")
    assert answer.text == "ok"
    assert answer.headers["date"].endswith("GMT")
    await asyncio.sleep(0.3)  # uvicorn's own loop would have ticked ~3 times by now
    assert ticks == [0]
    server.should_exit = True
    async with asyncio.timeout(30):  # a deadlock bound, not a measure: one tick is an hour
        await task
    assert ticks == [0, 10]  # the exit woke it: one more tick, which saw it


async def test_given_should_exit_set_before_serving_then_the_server_starts_and_leaves_at_once(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(http_server, "TICK_SECONDS", 3600.0)
    server = make_embedded_server(named_app("ok"), "127.0.0.1", free_tcp_port())
    server.should_exit = True
    async with asyncio.timeout(30):
        await server.serve()
    assert not server.servers or all(not s.is_serving() for s in server.servers)
