"""The wallboard in Debian's Chromium: loads cleanly, follows the live feed, turns a queue red
below goal and amber "at risk" when callers wait past T, states the SL formula, lets a
supervisor pause a CCR, and refuses a read-only user (403)."""

from __future__ import annotations

from typing import Any

import pytest

from line311.dashboard.state import AgentNamed, QueueConfigured
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAnswered,
    CallEnqueued,
)
from tests.browser.conftest import PASSWORD, Dashboard, pause_from_page, screenshot_path

pytestmark = pytest.mark.browser
# Each test asks for ``dashboard`` before ``browser``: fixtures are torn down in reverse, so the
# browser (and the page's live stream) closes before the server stops; the other way round the
# server waits out its 5 s graceful shutdown for the open stream after every test.

expect = pytest.importorskip("playwright.async_api").expect


async def open_page(browser: Any, dashboard: Dashboard, user: str) -> tuple[Any, list[str]]:
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(dashboard.url + "/")
    await expect(page).to_have_url(dashboard.url + "/login")
    await page.get_by_label("Username").fill(user)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#conn")).to_have_text("Live")
    return page, errors


def seed(dashboard: Dashboard) -> None:
    now = dashboard.now()
    hub = dashboard.hub
    for queue in ("general", "housing", "noise"):
        hub.publish(QueueConfigured(queue, 0.8))
    for agent_id, name, state in (
        ("a1", "Ana Ruiz", AgentActivity.AVAILABLE),
        ("a2", "Ben Chen", AgentActivity.ON_CALL),
        ("a3", "Dee Park", AgentActivity.WRAP_UP),
    ):
        hub.publish(AgentNamed(agent_id, name))
        hub.publish(AgentStateChanged(agent_id, state, now - 30))


async def test_given_a_supervisor_when_the_page_loads_then_there_are_no_console_errors(
    dashboard: Dashboard, browser: Any
) -> None:
    seed(dashboard)
    page, errors = await open_page(browser, dashboard, "sam")
    await expect(page.locator("#queues .queue")).to_have_count(3)
    await expect(page.locator("#who")).to_have_text("sam (supervisor)")
    await expect(page.get_by_role("button", name="Pause Ana Ruiz")).to_be_visible()
    await page.screenshot(path=screenshot_path("dashboard-supervisor"), full_page=True)
    assert errors == []


async def test_given_an_open_page_when_an_event_is_published_then_it_shows_within_one_second(
    dashboard: Dashboard, browser: Any
) -> None:
    seed(dashboard)
    page, errors = await open_page(browser, dashboard, "olga")
    waiting = page.locator('[data-key="housing"] [data-f="waiting"]')
    await expect(waiting).to_have_text("0")
    dashboard.hub.publish(CallEnqueued("c1", "housing", dashboard.now()))
    await expect(waiting).to_have_text("1", timeout=1000)
    assert errors == []


async def test_given_callers_waiting_past_the_threshold_then_a_perfect_queue_is_at_risk(
    dashboard: Dashboard, browser: Any
) -> None:
    seed(dashboard)
    page, errors = await open_page(browser, dashboard, "olga")
    now = dashboard.now()
    dashboard.hub.publish(CallEnqueued("ok", "noise", now - 10))
    dashboard.hub.publish(CallAnswered("ok", "noise", now - 5, agent_id="a1"))  # within T
    for i in range(3):  # waiting 60 s and more: past the 30 s threshold whenever checked
        dashboard.hub.publish(CallEnqueued(f"w{i}", "noise", now - 60 - i))
    card = page.locator('[data-key="noise"]')
    await expect(card.locator(".badge")).to_have_text("At risk")
    await expect(card).to_have_attribute("data-status", "amber")
    formula = page.locator("#sl-formula")
    await expect(formula).to_contain_text("SL = answered within T")
    await expect(formula).to_contain_text("waiting longer than T counted as a miss")
    assert errors == []


async def test_given_sl_below_goal_then_the_queue_turns_red_with_a_text_label(
    dashboard: Dashboard, browser: Any
) -> None:
    seed(dashboard)
    page, errors = await open_page(browser, dashboard, "olga")
    now = dashboard.now()
    for i in range(4):  # 1 of 4 within 30 s: 25% against a goal of 80%
        dashboard.hub.publish(CallEnqueued(f"c{i}", "general", now - 120))
        answered = now - 100 if i == 0 else now - 5
        dashboard.hub.publish(CallAnswered(f"c{i}", "general", answered, agent_id="a1"))
    card = page.locator('[data-key="general"]')
    await expect(card).to_have_attribute("data-status", "red")
    await expect(card.locator(".badge")).to_have_text("Below goal")
    await expect(card.locator('[data-f="sl-interval"]')).to_have_text("25.0%")
    await page.screenshot(path=screenshot_path("dashboard-red-queue"), full_page=True)
    assert errors == []


async def test_given_a_supervisor_when_pausing_a_ccr_then_the_view_updates(
    dashboard: Dashboard, browser: Any
) -> None:
    seed(dashboard)
    page, errors = await open_page(browser, dashboard, "sam")
    await page.get_by_label("Pause reason for Ana Ruiz").select_option("coaching")
    pause = page.get_by_role("button", name="Pause Ana Ruiz")
    await pause.focus()
    await page.keyboard.press("Enter")  # keyboard-usable
    state = page.locator('[data-key="a1"] .state')
    await expect(state).to_have_text("Paused — coaching")
    await expect(page.locator("#action-status")).to_have_text("Pause Ana Ruiz: done.")
    entries = dashboard.store.audit_entries()
    assert (entries[0]["username"], entries[0]["action"], entries[0]["outcome"]) == (
        "sam",
        "agent.pause",
        "ok",
    )
    assert errors == []


async def test_given_a_read_only_user_then_no_action_is_offered_and_posting_one_is_403(
    dashboard: Dashboard, browser: Any
) -> None:
    seed(dashboard)
    page, errors = await open_page(browser, dashboard, "olga")
    await expect(page.locator('[data-key="a1"] .state')).to_have_text("Available")
    await expect(page.get_by_role("button", name="Pause Ana Ruiz")).to_be_hidden()
    status = await pause_from_page(page, "a1")
    assert status == 403
    await page.screenshot(path=screenshot_path("dashboard-operations"), full_page=True)
    assert dashboard.hub.state.agent_state("a1") is AgentActivity.AVAILABLE
    # the refused request shows as a console error in Chromium; nothing else may
    assert [e for e in errors if "403" not in e] == []
