"""The IVR edge: reloads of the flow and the content, and the sessions it starts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from line311.ari.ivr_edge import (
    Reloadable,
)
from line311.ari.ivr_kind import EdgeSession
from line311.call.commands import Play
from line311.call.events import Answered, PlaybackFinished
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


# ---------------------------------------------------------------------------- orphaned alerts
def _without_closures(text: str) -> str:
    """The shipped flow with its ``closures`` menu renamed (as a city's edit might)."""
    renamed = text.replace('"3": closures\n', '"3": city_closures\n')
    renamed = renamed.replace("\n  closures:\n", "\n  city_closures:\n")
    assert renamed.count("city_closures") == 2
    return renamed


def _heard_until_the_language_menu(session: EdgeSession) -> list[str]:
    """The prompts a new call plays from its answer to the language menu."""
    heard: list[str] = []
    now = 1.0
    session.receive(Answered(), now)
    for _ in range(20):  # bounded: greeting, alerts, language menu
        plays = [c for c in session.commands() if isinstance(c, Play)]
        for play in plays:
            heard += [play.prompt_id, *(p for p, _lang in play.then)]
        if "language_option" in heard or not plays:
            break
        now += 1.0
        session.receive(PlaybackFinished(plays[-1].playback_id), now)
    return heard


def test_given_an_active_node_alert_when_a_reload_drops_its_node_then_it_is_flagged_once_and_new_calls_hear_it_after_the_greeting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    schools = PushedAlert("a1", prompt_id="alerts/a1", node="closures")
    edge = make_edge(tmp_path, alerts_provider=lambda t: [schools])
    assert edge.orphaned_alerts() == []
    in_progress = edge.session_factory("c1", "311", 0.0)
    edge.flows.path.write_text(_without_closures(edge.flows.path.read_text()))

    with caplog.at_level(logging.WARNING, logger="line311.ari.ivr_edge"):
        report = edge.reload()
        flagged = edge.loaded()["flow"]["orphaned_alerts"]
        later_call = edge.session_factory("c2", "311", 0.0)

    assert report.ok  # the reload is not blocked
    assert (
        report.flow["orphaned_alerts"]
        == flagged
        == [
            {
                "alert_id": "a1",
                "node": "closures",
                "reason": "unknown",
                "message": "the IVR flow 'nyc311' has no node 'closures': no caller would hear it",
                "played_instead": "greeting",
            }
        ]
    )
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]  # once per flow
    assert "alert a1 targets node 'closures'" in warning.getMessage()
    assert "after the greeting" in warning.getMessage()
    # a new call plays it where an alert without a node plays; the call that began on the
    # old flow, where the node still is, keeps it for the node
    assert "alerts/a1" in _heard_until_the_language_menu(later_call)
    assert "alerts/a1" not in _heard_until_the_language_menu(in_progress)


def test_given_an_alert_activated_after_a_reload_dropped_its_node_then_the_next_call_flags_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    live: list[PushedAlert] = []
    edge = make_edge(tmp_path, alerts_provider=lambda t: list(live))
    edge.flows.path.write_text(_without_closures(edge.flows.path.read_text()))
    assert edge.reload().flow["orphaned_alerts"] == []

    live.append(PushedAlert("a2", prompt_id="alerts/a2", node="closures",
                            languages=frozenset({"es"})))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="line311.ari.ivr_edge"):
        edge.session_factory("c1", "311", 0.0)
        edge.session_factory("c2", "311", 0.0)

    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "alert a2 targets node 'closures'" in warning.getMessage()
    assert "after the language choice" in warning.getMessage()
    assert edge.orphaned_alerts()[0]["played_instead"] == "language"


async def test_given_the_watcher_when_it_reloads_a_flow_without_an_alerts_node_then_it_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    schools = PushedAlert("a3", prompt_id="alerts/a3", node="closures")
    edge = make_edge(tmp_path, alerts_provider=lambda t: [schools])
    watcher = asyncio.create_task(edge.watch(0.01))
    try:
        with caplog.at_level(logging.WARNING, logger="line311.ari.ivr_edge"):
            edge.flows.path.write_text(_without_closures(edge.flows.path.read_text()))
            os.utime(edge.flows.path, (1, 1))
            for _ in range(500):  # bounded poll
                if any("alert a3" in r.getMessage() for r in caplog.records):
                    break
                await asyncio.sleep(0.01)
        assert any("alert a3 targets node 'closures'" in r.getMessage() for r in caplog.records)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
