"""/api/desk/agents/{id}/pop and /pops over a real HTTP server: a CCR sees their own screen
pops only, a supervisor any CCR's, the stream carries a pop the moment it is published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.pops import PopDesk, desk_pops_router
from line311.dashboard.state import LiveState
from line311.db import make_engine, upgrade
from line311.http_server import make_embedded_server
from line311.queue.pops import AnsweredCall
from line311.routing.queues import load_queues
from tests.fixtures.polling import until

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
PASSWORD = "a long password"


@dataclass
class Served:
    base: str
    desk: PopDesk
    tokens: dict[str, str]

    def client(self, who: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.AsyncClient(base_url=self.base, headers=headers, timeout=10)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = AccountStore(engine)
    auth = Authenticator(store, "pops-test-secret-0123456789")
    for name, role in (("agent1", "operations"), ("agent2", "operations"), ("sam", "supervisor")):
        store.create(name, PASSWORD, role)
    tokens = {name: auth.bearer_token(name)[0] for name in ("agent1", "agent2", "sam")}
    desk = PopDesk(load_queues({"general": {"requires": "topic:general"}}), max_streams_per_agent=1)
    app = create_app(lambda: {"ok": True}, hub=LiveHub(LiveState()), auth=auth)
    app.include_router(desk_pops_router(desk, lambda: {"agent1", "agent2"}), prefix="/api/desk")
    server = make_embedded_server(app, "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    await server.wait_started()
    yield Served(f"http://127.0.0.1:{server.bound_port}", desk, tokens)
    server.should_exit = True
    await task
    engine.dispose()


def answer(desk: PopDesk, call_id: str, agent_id: str) -> None:
    desk.remember_record(
        {"call_id": call_id, "path": {"nodes": [{"node": "main"}], "queue": {"at": T0}}}
    )
    desk.on_answer(AnsweredCall(call_id, agent_id, "general", "en", "general", T0, T0 + 3))


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    kind = "message"
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            yield kind, json.loads(line[len("data: ") :])


async def test_a_ccr_polls_their_own_last_pop_and_is_refused_anothers(served: Served) -> None:
    async with served.client("agent1") as client:
        empty = await client.get("/api/desk/agents/agent1/pop")
        assert empty.status_code == 200
        assert empty.json() == {"agent_id": "agent1", "pop": None}
        answer(served.desk, "c1", "agent1")
        mine = (await client.get("/api/desk/agents/agent1/pop")).json()["pop"]
        assert (mine["call_id"], mine["ivr"]["nodes"], mine["wait_seconds"]) == ("c1", ["main"], 3)
        theirs = await client.get("/api/desk/agents/agent2/pop")
        assert theirs.status_code == 403
        assert theirs.json()["error_id"] == "forbidden"
        assert (await client.get("/api/desk/agents/agent2/pops")).status_code == 403
    async with served.client("sam") as client:
        assert (await client.get("/api/desk/agents/agent1/pop")).json()["pop"]["call_id"] == "c1"
        missing = await client.get("/api/desk/agents/agent9/pop")
        assert (missing.status_code, missing.json()["error_id"]) == (404, "not-found")
    async with served.client(None) as client:
        assert (await client.get("/api/desk/agents/agent1/pop")).status_code == 401
        assert (await client.get("/api/desk/agents/agent1/pops")).status_code == 401


async def test_a_ccr_stream_carries_their_pop_and_is_forgotten_when_closed(served: Served) -> None:
    async with (
        served.client("agent2") as client,
        client.stream("GET", "/api/desk/agents/agent2/pops") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        assert await anext(stream) == ("current", {"pop": None})
        full = await client.get("/api/desk/agents/agent2/pops")
        assert (full.status_code, full.json()["error_id"]) == (503, "too-many-clients")
        answer(served.desk, "c1", "agent1")  # another CCR's call: not on this stream
        answer(served.desk, "c2", "agent2")
        kind, pop = await asyncio.wait_for(anext(stream), 5)
        assert (kind, pop["call_id"], pop["agent_id"]) == ("pop", "c2", "agent2")
    await until(lambda: not served.desk.streams("agent2"), 5, "the server to notice the disconnect")
    assert served.desk.streams("agent2") == 0
