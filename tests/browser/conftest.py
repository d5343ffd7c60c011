"""A real line311 HTTP server (uvicorn on an ephemeral loopback port) with the dashboard, a
SQLite database with two accounts, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from line311.config import REPO_ROOT
from line311.dashboard.actions import InMemoryActions
from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState
from line311.db import make_engine, upgrade
from line311.http_server import make_embedded_server

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "browser test password"
ARTIFACTS = REPO_ROOT / "test-artifacts"


class MiddayClock:
    """Today's 12:07:30 UTC when made, then moving with real time: the middle of a 15-minute
    interval, hours from midnight. Tests that place calls "120 s ago" or "in 50 s" see the
    same interval and the same day whenever they run (a wall clock put them across an
    interval boundary a few minutes past every quarter hour)."""

    def __init__(self) -> None:
        real = time.time()
        self._offset = (real // 86_400) * 86_400 + 12 * 3600 + 450 - real

    def __call__(self) -> float:
        return time.time() + self._offset


@dataclass
class Dashboard:
    url: str
    hub: LiveHub
    store: AccountStore
    now: MiddayClock


@pytest.fixture
async def dashboard(tmp_path: Path) -> AsyncIterator[Dashboard]:
    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = AccountStore(engine)
    store.create("sam", PASSWORD, "supervisor")
    store.create("olga", PASSWORD, "operations")
    clock = MiddayClock()
    hub = LiveHub(LiveState(), clock=clock, min_interval=0.1)
    app = create_app(
        lambda: {"ok": True},
        hub=hub,
        auth=Authenticator(store, "browser-test-secret-0123456789"),
        actions=InMemoryActions(hub, clock=clock),
    )
    server = make_embedded_server(app, "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    try:
        await server.wait_started()
        yield Dashboard(f"http://127.0.0.1:{server.bound_port}", hub, store, clock)
    finally:
        server.should_exit = True
        await task
        engine.dispose()


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - once per test, before any I/O
        pytest.skip("Debian chromium is not installed")
    async with playwright_api.async_playwright() as p:
        instance = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


PAUSE_FROM_PAGE = """async (agentId) => {
    const me = await (await fetch('/api/me')).json();
    const r = await fetch(`/api/agents/${agentId}/pause`, {
        method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf},
        body: JSON.stringify({reason: 'break'}),
    });
    return r.status;
}"""
"""Page script: pause agent ``agentId`` through the dashboard API with the page's CSRF token;
returns the HTTP status."""


async def pause_from_page(page: Any, agent_id: str) -> int:
    """The HTTP status of a pause of ``agent_id`` posted by the signed-in page itself."""
    return int(await page.evaluate(PAUSE_FROM_PAGE, agent_id))


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"
