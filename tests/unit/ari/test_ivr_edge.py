"""The IVR edge: reloads of the flow and the content, and the sessions it starts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from line311.ari.ivr_edge import (
    Reloadable,
)
from line311.call.events import Answered
from line311.dashboard.flows_api import flows_router
from line311.ivr.alerts import PushedAlert
from line311.ivr.content import ContentError
from line311.ivr.flow import default_flow
from tests.unit.ari.ivr_fakes import (
    CONTENT,
    make_edge,
)


# ---------------------------------------------------------------------------- reloads
def test_given_a_broken_file_when_reloaded_then_the_old_value_stays_and_the_error_is_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v.txt"
    path.write_text("1")

    def load(p: Path) -> int:
        text = p.read_text()
        if not text.isdigit():
            raise ContentError(f"not a number: {text}")
        return int(text)

    registry = Reloadable("number", path, load)
    path.write_text("oops")
    with pytest.raises(ContentError):
        registry.reload()
    assert registry.current == 1
    assert registry.last_error == "not a number: oops"
    path.write_text("2")
    assert registry.reload() == 2
    assert registry.last_error is None


def test_given_a_call_in_progress_when_the_flow_is_reloaded_then_it_keeps_its_flow_and_new_calls_get_the_new_one(
    tmp_path: Path,
) -> None:
    edge = make_edge(tmp_path)
    before = edge.session_factory("c1", "311", 0.0)
    flow_file = edge.flows.path
    old = before.flow.version
    new = old + 1
    flow_file.write_text(flow_file.read_text().replace(f"version: {old}", f"version: {new}"))

    report = edge.reload()

    assert report.ok
    assert report.flow["version"] == new
    assert before.flow.version == old
    assert edge.session_factory("c2", "311", 0.0).flow.version == new


def test_given_an_invalid_flow_when_reloaded_then_it_is_refused_naming_the_node_and_the_old_flow_stays(
    tmp_path: Path,
) -> None:
    edge = make_edge(tmp_path)
    flow_file = edge.flows.path
    flow_file.write_text(flow_file.read_text().replace("prompts: [closures_menu]", "prompts: [x]"))

    report = edge.reload()

    assert not report.ok
    assert "node 'closures'" in report.flow["error"]
    assert "unknown prompt id 'x'" in report.flow["error"]
    assert report.content["ok"]
    assert edge.flows.current.version == default_flow().version


async def test_given_the_reload_router_when_posted_then_it_answers_200_or_422_with_an_error_id(
    tmp_path: Path,
) -> None:
    edge = make_edge(tmp_path)
    app = FastAPI()
    app.include_router(flows_router(edge))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://line311") as client:
        ok = await client.post("/api/flows/reload")
        edge.content.path.write_text("version: 1\nschools: {weekdays: [funday]}")
        refused = await client.post("/api/flows/reload")
        current = (await client.get("/api/flows")).json()

    assert ok.status_code == 200
    assert ok.json()["flow"]["name"] == "nyc311"
    assert refused.status_code == 422
    assert refused.json()["error_id"] == "flow-reload-refused"
    assert "funday" in refused.json()["details"]["content"]["error"]
    assert current["content"]["version"] == 3
    assert "funday" in current["content"]["last_error"]
    # what an alert may target (docs/alerts.md): not the greeting, not the alerts node
    assert "parking" in current["flow"]["alert_nodes"]
    assert not {"greeting", "alerts"} & set(current["flow"]["alert_nodes"])


async def test_given_the_watcher_when_a_file_changes_then_it_is_reloaded(tmp_path: Path) -> None:
    edge = make_edge(tmp_path)
    watcher = asyncio.create_task(edge.watch(0.01))
    try:
        edge.content.path.write_text(CONTENT.replace("version: 3", "version: 4"))
        os.utime(edge.content.path, (1, 1))
        for _ in range(500):  # bounded poll
            if edge.content.current.version == 4:
                break
            await asyncio.sleep(0.01)
        assert edge.content.current.version == 4
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


# ---------------------------------------------------------------------------- sessions
def test_given_alerts_and_content_when_a_call_starts_then_the_session_gets_them_for_today(
    tmp_path: Path,
) -> None:
    asked: list[float] = []
    edge = make_edge(tmp_path, alerts_provider=lambda t: asked.append(t) or ["greeting"])

    session = edge.session_factory("c1", "311", 100.0)

    assert asked == [dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC).timestamp()]
    assert edge.today() == dt.date(2026, 6, 10)
    assert session.inner._alerts == [PushedAlert(alert_id="greeting", prompt_id="greeting")]
    assert session.inner._info["asp_today"] == ["asp_suspended", "info_unavailable"]
    assert edge.session("c1") is session


def test_given_a_failing_alerts_provider_when_a_call_starts_then_it_goes_on_without_alerts(
    tmp_path: Path,
) -> None:
    def broken(_: float) -> list[str]:
        raise RuntimeError("store down")

    edge = make_edge(tmp_path, alerts_provider=broken)

    assert edge.session_factory("c1", "311", 0.0).inner._alerts == []


def test_given_the_live_alerts_change_during_a_call_then_the_session_hears_of_it_before_the_next_event(
    tmp_path: Path,
) -> None:
    wall = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC).timestamp()
    live = [
        PushedAlert(
            alert_id="schools", prompt_id="alerts/schools", node="closures", until=wall + 60
        )
    ]
    asked: list[float] = []

    def provider(t: float) -> list[PushedAlert]:
        asked.append(t)
        return list(live)

    edge = make_edge(tmp_path, alerts_provider=provider)
    session = edge.session_factory("c1", "311", 100.0)
    assert session.inner._alerts[0].until == 160.0  # moved onto the session's clock

    session.receive(Answered(), 101.0)
    assert len(session.inner._alerts) == 1
    live.clear()  # withdrawn
    session.handle_timer(102.0)

    assert session.inner._alerts == []
    assert len(asked) == 3


def test_given_a_provider_failing_during_a_call_then_the_session_keeps_the_alerts_it_has(
    tmp_path: Path,
) -> None:
    calls: list[float] = []

    def flaky(_: float) -> list[str]:
        calls.append(_)
        if len(calls) > 1:
            raise RuntimeError("store down")
        return ["greeting"]

    edge = make_edge(tmp_path, alerts_provider=flaky)
    session = edge.session_factory("c1", "311", 0.0)
    session.receive(Answered(), 1.0)

    assert session.inner._alerts == [PushedAlert(alert_id="greeting", prompt_id="greeting")]
