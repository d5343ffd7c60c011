"""/api/live over a real HTTP server: text/event-stream, a first snapshot, changes, a full
feed answers 503, and a client that goes away is forgotten."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState
from line311.db import make_engine, upgrade
from line311.http_server import make_embedded_server
from line311.queue.events import CallEnqueued
from tests.fixtures.polling import until

pytestmark = pytest.mark.integration


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, LiveHub, str]]:
    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = AccountStore(engine)
    store.create("olga", "a long password", "operations")
    auth = Authenticator(store, "live-test-secret-0123456789")
    token, _ = auth.bearer_token("olga")
    hub = LiveHub(LiveState(), min_interval=0.05, max_clients=1)
    server = make_embedded_server(
        create_app(lambda: {"ok": True}, hub=hub, auth=auth), "127.0.0.1", 0
    )
    task = asyncio.create_task(server.serve())
    await server.wait_started()
    yield f"http://127.0.0.1:{server.bound_port}", hub, token
    server.should_exit = True
    await task
    engine.dispose()


async def snapshots(response: httpx.Response) -> AsyncIterator[dict]:
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            yield json.loads(line[len("data: ") :])


async def test_given_a_live_client_when_a_call_arrives_then_the_stream_carries_it(
    served: tuple[str, LiveHub, str],
) -> None:
    base, hub, token = served
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client,
        client.stream("GET", "/api/live") as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = snapshots(response)
        first = await anext(stream)
        assert first["queues"] == []
        assert hub.clients == 1
        full = await client.get("/api/live")
        assert full.status_code == 503
        assert full.json()["error_id"] == "too-many-clients"
        hub.publish(CallEnqueued("c1", "general", first["now"]))
        async for snap in stream:
            if snap["queues"]:
                assert snap["queues"][0]["waiting"] == 1
                break
    await until(lambda: not hub.clients, 5, "the server to notice the disconnect")
    assert hub.clients == 0


async def test_without_credentials_the_live_feed_is_401(
    served: tuple[str, LiveHub, str],
) -> None:
    base, _, _ = served
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/api/live")).status_code == 401
