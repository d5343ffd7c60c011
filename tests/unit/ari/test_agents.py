"""CCRs at the edge: the roster, feature codes from CCR phones, and the HTTP API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from line311.ari.agents import AgentDesk, load_roster, load_roster_file, queue_api_router
from line311.ari.translate import NewCall
from line311.config import REPO_ROOT
from line311.routing.errors import RoutingConfigError
from tests.unit.ari.test_queue_runtime import Harness


def desk(h: Harness) -> AgentDesk:
    return AgentDesk(
        h.ari, h.runtime, load_roster_file(REPO_ROOT / "content/agents.yaml")[:2],
        sounds_uri_prefix="sound:/s",
    )  # fmt: skip


def test_the_shipped_roster_has_varied_language_and_topic_skills() -> None:
    roster = load_roster_file(REPO_ROOT / "content" / "agents.yaml")
    assert [p.agent_id for p in roster][:2] == ["agent1", "agent2"]
    languages = {s for p in roster for s in p.skills if s.startswith("lang:")}
    assert languages == {f"lang:{c}" for c in ("en", "es", "cmn", "yue", "ru", "ko", "ht")}
    assert roster[1].skills["lang:es"] == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"agents": {"a": {"skills": "lang:xx-1=9"}}}, "agent 'a'"),
        ({"agents": {"a": {"nmae": "x"}}}, "unknown keys"),
        ({"agents": {"a": {"endpoint": "PJSIP/x"}, "b": {"endpoint": "PJSIP/x"}}}, "twice"),
        ([], "roster"),
    ],
)
def test_a_bad_roster_is_refused_naming_the_agent(data: object, message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        load_roster(data)


@pytest.mark.parametrize(
    ("code", "state", "prompt"),
    [
        ("*71", "available", "agent/logged_in"),
        ("*73", "logged_out", "agent/refused"),  # pausing while logged out
        ("*99", "logged_out", "agent/refused"),
    ],
)
async def test_a_feature_code_from_a_ccr_phone_changes_their_state_and_is_confirmed(
    code: str, state: str, prompt: str
) -> None:
    h = Harness()
    d = desk(h)
    new = NewCall("f1", "agent-feature", code, channel_name="PJSIP/agent1-0000002a")
    await d.on_feature(new, h.now)
    assert h.router.agent("agent1").state.value == state
    (play,) = h.ari.did("play")
    assert play[2] == [f"sound:/s/en/{prompt}"]
    assert h.ari.calls[-1] == ("hangup", "f1")


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


def test_an_endpoint_that_is_no_ccr_is_not_anyone(tmp_path: Path) -> None:
    h = Harness()
    assert desk(h).agent_for("PJSIP/carrier-00000001") is None
    assert desk(h).agent_for("PJSIP/agent2-00000001") == "agent2"
