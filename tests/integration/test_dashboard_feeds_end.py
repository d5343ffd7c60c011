"""Open live feeds end when their credentials stop, over a real HTTP server: the wallboard's
/api/live, the CCR messages of /api/alerts/feed and a desk's screen pops. An account
disabled, signed out or with its tokens revoked, a session past its 12 hours, or a role
that no longer allows the feed: each stream ends at its next message once the credentials
are checked again (every ``recheck_seconds`` of the authenticator's clock), and sends
nothing more. Before, a feed opened once went on for as long as the connection held.

A session's idle timeout is not one of those stops: a feed is watching, not use, so a wall
screen's wallboard goes on (and reconnects) while the same idle session may not act."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from line311.dashboard.alerts_api import create_alerts_router
from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator, require_role
from line311.dashboard.live import LiveHub
from line311.dashboard.pops import PopDesk, desk_pops_router
from line311.dashboard.state import LiveState
from line311.db import make_engine, upgrade
from line311.db.accounts_models import AccountRow
from line311.db.engine import make_session_factory
from line311.http_server import make_embedded_server
from line311.messaging.feed import AlertFeed
from line311.queue.events import CallEnqueued
from line311.routing.queues import load_queues
from tests.fixtures.polling import until

pytestmark = pytest.mark.integration

T0 = 1_700_000_000.0
PASSWORD = "a long password"
BEAT = 0.05  # heartbeats wake every stream often, so a check is never far off


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Line:
    base: str
    clock: FakeClock
    store: AccountStore
    auth: Authenticator
    hub: LiveHub
    engine: Engine

    async def session(self, client: httpx.AsyncClient, username: str) -> None:
        signed_in = await client.post("/login", data={"username": username, "password": PASSWORD})
        assert signed_in.status_code == 303

    def set_role(self, username: str, role: str) -> None:
        with make_session_factory(self.engine).begin() as db:
            db.execute(update(AccountRow).where(AccountRow.username == username).values(role=role))


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[Line]:
    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    engine = make_engine(url)
    clock = FakeClock()
    store = AccountStore(engine, clock=clock)
    for name, role in (("olga", "operations"), ("sam", "supervisor")):
        store.create(name, PASSWORD, role)
    auth = Authenticator(store, "feeds-test-secret-0123456789", clock=clock)
    hub = LiveHub(LiveState(), clock=clock, min_interval=0.01, heartbeat_every=BEAT)
    app = create_app(
        lambda: {"ok": True},
        hub=hub,
        auth=auth,
        alerts_router=create_alerts_router(
            require_role("operations"),
            feed_dependency=require_role("operations", watching=True),  # as bootstrap mounts it
            feed=AlertFeed(),
            heartbeat_seconds=BEAT,
        ),
    )
    desk = PopDesk(load_queues({"general": {"requires": "topic:general"}}), heartbeat_every=BEAT)
    app.include_router(desk_pops_router(desk, lambda: {"agent1"}), prefix="/api/desk")
    server = make_embedded_server(app, "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    await server.wait_started()
    yield Line(f"http://127.0.0.1:{server.bound_port}", clock, store, auth, hub, engine)
    server.should_exit = True
    await task
    engine.dispose()


class Feed:
    """The lines of one open stream, read in turns."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200
        self._lines = response.aiter_lines()

    async def data(self) -> dict[str, object]:
        """The next event's JSON."""
        async for text in self._lines:
            if text.startswith("data: "):
                return dict(json.loads(text[len("data: ") :]))
        raise AssertionError("the feed ended")

    async def expect_end(self, seconds: float = 5.0) -> list[str]:
        """The lines the stream still sends; fails when it has not ended within ``seconds``."""
        lines: list[str] = []

        async def read() -> None:
            async for text in self._lines:
                lines.append(text)

        try:
            await asyncio.wait_for(read(), seconds)
        except TimeoutError:
            raise AssertionError(f"the feed still runs: {lines[-3:]}") from None
        return lines


STOPS: dict[str, Callable[[Line], None]] = {
    "account disabled": lambda line: line.store.disable("olga"),
    "signed out elsewhere": lambda line: line.store.end_sessions("olga"),
    "session past its 12 hours": lambda line: setattr(line.clock, "now", T0 + 12 * 3600 + 1),
}


@pytest.mark.parametrize("stop", STOPS)
async def test_given_a_session_on_the_wallboard_when_it_stops_then_the_live_feed_ends(
    line: Line, stop: str
) -> None:
    async with httpx.AsyncClient(base_url=line.base, timeout=10) as client:
        await line.session(client, "olga")
        async with client.stream("GET", "/api/live") as response:
            feed = Feed(response)
            await feed.data()
            # a check that passes keeps the feed going
            line.clock.now += line.auth.recheck_seconds
            line.hub.publish(CallEnqueued("c1", "general", line.clock.now))
            while not (await feed.data())["queues"]:
                pass
            STOPS[stop](line)
            line.clock.now += line.auth.recheck_seconds
            line.hub.publish(CallEnqueued("c2", "general", line.clock.now))
            rest = await feed.expect_end()
        assert not [text for text in rest if '"c2"' in text or "data: " in text]
        assert (await client.get("/api/live")).status_code == 401


async def test_given_a_bearer_token_on_the_live_feed_when_revoked_then_the_feed_ends(
    line: Line,
) -> None:
    token, _ = line.auth.bearer_token("olga")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=line.base, headers=headers, timeout=10) as client,
        client.stream("GET", "/api/live") as response,
    ):
        feed = Feed(response)
        await feed.data()
        line.store.revoke_tokens("olga")
        line.clock.now += line.auth.recheck_seconds
        await feed.expect_end()


async def test_given_the_ccr_message_feed_when_the_account_is_disabled_then_it_ends(
    line: Line,
) -> None:
    async with httpx.AsyncClient(base_url=line.base, timeout=10) as client:
        await line.session(client, "olga")
        async with client.stream("GET", "/api/alerts/feed") as response:
            feed = Feed(response)
            await feed.data()
            line.store.disable("olga")
            line.clock.now += line.auth.recheck_seconds
            await feed.expect_end()


async def test_given_a_supervisor_watching_a_ccrs_pops_when_made_operations_then_it_ends(
    line: Line,
) -> None:
    """A supervisor may watch any CCR's screen pops; an operations account only its own. A
    role taken away applies to the stream already open."""
    async with httpx.AsyncClient(base_url=line.base, timeout=10) as client:
        await line.session(client, "sam")
        async with client.stream("GET", "/api/desk/agents/agent1/pops") as response:
            feed = Feed(response)
            await feed.data()
            line.set_role("sam", "operations")
            line.clock.now += line.auth.recheck_seconds
            await feed.expect_end()
        refused = await client.get("/api/desk/agents/agent1/pop")
        assert refused.status_code == 403


async def test_a_feed_whose_client_leaves_is_forgotten(line: Line) -> None:
    async with httpx.AsyncClient(base_url=line.base, timeout=10) as client:
        await line.session(client, "olga")
        async with client.stream("GET", "/api/live") as response:
            await Feed(response).data()
            assert line.hub.clients == 1
    await until(lambda: not line.hub.clients, 5, "the server to forget the feed")


async def test_given_a_session_watching_the_feeds_when_it_goes_idle_then_they_go_on(
    line: Line,
) -> None:
    """A wall screen keeps its wallboard past the idle timeout, reconnects included, and so
    do the CCR messages and a desk's screen pops; the idle session may no longer act."""
    async with httpx.AsyncClient(base_url=line.base, timeout=10) as client:
        await line.session(client, "sam")
        csrf = (await client.get("/api/me")).json()["csrf"]
        async with client.stream("GET", "/api/live") as response:
            feed = Feed(response)
            await feed.data()
            line.clock.now += line.auth.idle_seconds + line.auth.recheck_seconds
            line.hub.publish(CallEnqueued("c1", "general", line.clock.now))
            while not (await feed.data())["queues"]:
                pass
        for path in ("/api/live", "/api/alerts/feed", "/api/desk/agents/agent1/pops"):
            async with client.stream("GET", path) as response:
                await Feed(response).data()
        revoke = await client.post("/api/token/revoke", headers={"X-CSRF-Token": csrf})
        assert revoke.status_code == 401
