"""The controller's HTTP server with ``reuse_port``: a rolling restart's new controller listens
on the same port while the old one still does, and either answers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from line311.http_server import make_embedded_server
from tests.conftest import free_tcp_port
from tests.fixtures.asgi import named_app

pytestmark = pytest.mark.integration


async def test_given_two_servers_with_reuse_port_then_both_listen_on_one_port_and_the_second_serves_alone_after_the_first_stops():
    port = free_tcp_port()
    old = make_embedded_server(named_app("old"), "127.0.0.1", port, reuse_port=True)
    new = make_embedded_server(named_app("new"), "127.0.0.1", port, reuse_port=True)
    old_task = asyncio.create_task(old.serve())
    await old.wait_started()
    new_task = asyncio.create_task(new.serve())
    await new.wait_started()
    assert old.bound_port == new.bound_port == port
    old.should_exit = True
    await old_task
    async with httpx.AsyncClient(trust_env=False) as client:
        answers = {(await client.get(f"http://127.0.0.1:{port}/")).text for _ in range(5)}
    assert answers == {"new"}
    new.should_exit = True
    await new_task


async def test_given_a_server_without_reuse_port_then_a_second_one_cannot_start_on_its_port():
    port = free_tcp_port()
    first = make_embedded_server(named_app("first"), "127.0.0.1", port)
    task = asyncio.create_task(first.serve())
    await first.wait_started()
    second = make_embedded_server(named_app("second"), "127.0.0.1", port, reuse_port=True)
    with pytest.raises(OSError, match="in use"):
        await second.serve()
    first.should_exit = True
    await task
