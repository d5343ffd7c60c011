"""The desk API: CCR actions with stable error ids, live agents and queues, SL reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from line311.ari.agents import AgentDesk
from line311.config import REPO_ROOT
from line311.dashboard.desk import queue_api_router
from line311.queue.events import CallAnswered, CallEnqueued
from line311.routing.roster import load_roster_file
from tests.unit.ari.queue_harness import Harness


def desk(h: Harness) -> AgentDesk:
    return AgentDesk(
        h.ari, h.runtime, load_roster_file(REPO_ROOT / "content" / "agents.yaml")[:2],
        sounds_uri_prefix="sound:/s",
    )  # fmt: skip


async def test_login_pause_resume_logout_over_http_and_stable_error_ids() -> None:
    h = Harness()
    app = FastAPI()
    app.include_router(
        queue_api_router(desk(h), h.runtime, clock=lambda: h.now), prefix="/api/desk"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/api/desk/agents/agent2/login")
        assert r.json()["state"] == "available"
        r = await client.post("/api/desk/agents/agent2/pause", params={"reason": "lunch"})
        assert (r.json()["state"], r.json()["pause_reason"]) == ("paused", "lunch")
        assert (await client.post("/api/desk/agents/agent2/resume")).json()["state"] == "available"
        assert (await client.post("/api/desk/agents/agent2/logout")).json()["state"] == "logged_out"
        r = await client.post("/api/desk/agents/nobody/login")
        assert (r.status_code, r.json()["error_id"]) == (404, "unknown-agent")
        r = await client.post("/api/desk/agents/agent2/pause")
        assert (r.status_code, r.json()["error_id"]) == (409, "agent-state")
        agents = (await client.get("/api/desk/agents")).json()["agents"]
        assert {a["agent_id"] for a in agents} == {"agent1", "agent2"}
        queues = (await client.get("/api/desk/queues")).json()
        assert queues["queues"][0]["queue"] == "general"
        assert queues["sl_formula"] == "exclude-short-abandons"
        r = await client.get(
            "/api/desk/reports/sl", params={"from": "2025-01-01", "to": "2025-01-02"}
        )
        assert (r.status_code, r.json()["error_id"]) == (503, "no-storage")


async def test_today_and_report_dates_are_the_centers_day_not_utcs() -> None:
    """New York, 2025-01-27 21:00 (02:00 UTC the next day): "today" holds the five calls
    since local midnight, a date in a report is local midnight, and times carry -05:00."""
    ny = ZoneInfo("America/New_York")

    def at(hhmm: str) -> float:
        return datetime.fromisoformat(f"2025-01-27T{hhmm}").replace(tzinfo=ny).timestamp()

    h = Harness(now=at("21:00"))
    hub = h.runtime.hub
    for n, hhmm in enumerate(["09:00", "12:00", "18:30", "20:00", "20:30"]):
        hub.emit(CallEnqueued(f"c{n}", "general", at(hhmm)))
        hub.emit(CallAnswered(f"c{n}", "general", at(hhmm) + 10, "agent1"))
    hub.emit(CallEnqueued("yesterday", "general", at("00:00") - 60))
    asked: list[tuple[float, float]] = []

    def stored(start: float, end: float) -> Any:
        asked.append((start, end))
        return {}, {}

    app = FastAPI()
    router = queue_api_router(desk(h), h.runtime, stored=stored, clock=lambda: h.now, tz=ny)
    app.include_router(router, prefix="/api/desk")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        queues = (await client.get("/api/desk/queues")).json()["queues"]
        general = next(q for q in queues if q["queue"] == "general")
        assert (general["today"]["offered"], general["today"]["answered"]) == (5, 5)
        params = {"from": "2025-01-27", "to": "2025-01-28T00:00"}
        r = await client.get("/api/desk/reports/sl", params=params)
        assert r.status_code == 200
        assert asked == [(at("00:00"), at("00:00") + 86400)]
        for bad in (600, 7200, 86400):
            r = await client.get("/api/desk/reports/sl", params={**params, "interval": bad})
            assert (r.status_code, r.json()["error_id"]) == (400, "bad-request")


async def test_a_pause_reason_that_is_long_or_not_text_is_400_and_the_ccr_stays_available() -> None:
    """The reason is stored with every queue event of the pause (a NUL is refused by
    PostgreSQL's JSONB, which lost the events), shown on the wallboard and in queue_log: the
    desk API takes what the wallboard's own pause takes, 1-64 characters of safe text."""
    h = Harness()
    app = FastAPI()
    app.include_router(
        queue_api_router(desk(h), h.runtime, clock=lambda: h.now), prefix="/api/desk"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/api/desk/agents/agent2/login")).status_code == 200
        for reason in ("x" * 65, "lunch\x00", "esc\x1b[2J", "bell\x07", ""):
            r = await client.post("/api/desk/agents/agent2/pause", params={"reason": reason})
            assert (r.status_code, r.json()["error_id"]) == (400, "bad-request"), reason
            assert reason[:8] not in r.json()["message"] or not reason
        agents = (await client.get("/api/desk/agents")).json()["agents"]
        assert next(a for a in agents if a["agent_id"] == "agent2")["state"] == "available"
        r = await client.post("/api/desk/agents/agent2/pause", params={"reason": "x" * 64})
        assert r.json()["pause_reason"] == "x" * 64


async def test_a_report_format_other_than_json_or_csv_is_400() -> None:
    h = Harness()
    app = FastAPI()
    router = queue_api_router(desk(h), h.runtime, stored=lambda s, e: ({}, {}), clock=lambda: h.now)
    app.include_router(router, prefix="/api/desk")
    transport = httpx.ASGITransport(app=app)
    params = {"from": "2025-01-01", "to": "2025-01-02"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/api/desk/reports/sl", params={**params, "format": "xml"})
        assert (r.status_code, r.json()["error_id"]) == (400, "bad-request")
        r = await client.get("/api/desk/reports/sl", params={**params, "format": "csv"})
        assert r.headers["content-type"].startswith("text/csv")
