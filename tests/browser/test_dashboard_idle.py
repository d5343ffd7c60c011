"""The idle timeout in Debian's Chromium. The server's clock is moved past the timeout (no
waiting): the wallboard goes on following the live feed, as a wall screen must, and the
first key pressed on the page takes it to the sign-in form; a user who keeps using the page
(a key, then an action) stays signed in across what would otherwise be the timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from line311.dashboard.actions import InMemoryActions
from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.state import AgentNamed, LiveState, QueueConfigured
from line311.db import make_engine, upgrade
from line311.http_server import make_embedded_server
from line311.queue.events import AgentActivity, AgentStateChanged, CallEnqueued
from tests.browser.conftest import PASSWORD, Dashboard, MiddayClock

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.async_api").expect

IDLE = 900.0


class Shifted:
    """The real clock, moved on by ``shift`` seconds when a test says so."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


@pytest.fixture
async def idle_dashboard(tmp_path: Path) -> AsyncIterator[tuple[Dashboard, Shifted]]:
    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = AccountStore(engine)
    store.create("sam", PASSWORD, "supervisor")
    sessions = Shifted()
    clock = MiddayClock()
    hub = LiveHub(LiveState(), clock=clock, min_interval=0.1)
    app = create_app(
        lambda: {"ok": True},
        hub=hub,
        auth=Authenticator(store, "browser-idle-secret-0123456789", clock=sessions),
        actions=InMemoryActions(hub, clock=clock),
    )
    server = make_embedded_server(app, "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    try:
        await server.wait_started()
        yield Dashboard(f"http://127.0.0.1:{server.bound_port}", hub, store, clock), sessions
    finally:
        server.should_exit = True
        await task
        engine.dispose()


async def signed_in(browser: Any, dashboard: Dashboard) -> Any:
    hub = dashboard.hub
    hub.publish(QueueConfigured("general", 0.8))
    hub.publish(AgentNamed("a1", "Ana Ruiz"))
    hub.publish(AgentStateChanged("a1", AgentActivity.AVAILABLE, dashboard.now() - 30))
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    page = await context.new_page()
    await page.goto(dashboard.url + "/login")
    await page.get_by_label("Username").fill("sam")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#conn")).to_have_text("Live")
    return page


async def test_given_an_idle_session_then_the_board_goes_on_and_a_key_goes_to_sign_in(
    idle_dashboard: tuple[Dashboard, Shifted], browser: Any
) -> None:
    dashboard, sessions = idle_dashboard
    page = await signed_in(browser, dashboard)
    sessions.shift = IDLE + 60  # nobody touched the page for 16 minutes
    waiting = page.locator('[data-key="general"] [data-f="waiting"]')
    dashboard.hub.publish(CallEnqueued("c1", "general", dashboard.now()))
    await expect(waiting).to_have_text("1")
    await expect(page.locator("#conn")).to_have_text("Live")
    await expect(page).to_have_url(dashboard.url + "/")
    await page.keyboard.press("Tab")  # someone walks up to it
    await expect(page).to_have_url(dashboard.url + "/login")


async def test_given_a_user_at_the_page_then_their_input_keeps_the_session(
    idle_dashboard: tuple[Dashboard, Shifted], browser: Any
) -> None:
    dashboard, sessions = idle_dashboard
    page = await signed_in(browser, dashboard)
    sessions.shift = IDLE - 120
    async with page.expect_response("**/api/activity") as answer:
        await page.keyboard.press("Tab")
    assert (await answer.value).status == 200
    sessions.shift = 2 * IDLE - 240  # idle that long since sign-in, not since the key
    await page.get_by_role("button", name="Pause Ana Ruiz").click()
    await expect(page.locator("#action-status")).to_have_text("Pause Ana Ruiz: done.")
    await expect(page).to_have_url(dashboard.url + "/")
