"""The dashboard API in process (httpx ASGI transport) on SQLite and PostgreSQL: sign-in,
cookies, CSRF, bearer tokens, roles (403 for read-only users), audit entries, reports and
/metrics parsed with prometheus_client's parser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from line311.dashboard.actions import InMemoryActions
from line311.dashboard.app import create_app
from line311.dashboard.auth import SESSION_COOKIE, AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.metrics import DashboardMetrics
from line311.dashboard.state import (
    AlertRaised,
    CallEnteredIvr,
    LiveState,
    QueueConfigured,
)
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallEnqueued,
)
from tests.fixtures.prom import parse
from tests.integration.crm.conftest import (  # noqa: F401 - fixtures
    backend,
    engine,
    migrated_engine,
    new_database_url,
    pg_databases,
)
from tests.integration.dashboard_env import PASSWORD, T0, FakeClock

pytestmark = pytest.mark.integration

SECRET = "test-secret-0123456789abcdef"


@dataclass
class Env:
    app: object
    hub: LiveHub
    store: AccountStore
    auth: Authenticator
    registry: CollectorRegistry
    clock: FakeClock

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://line311.test")


@pytest.fixture
async def env(engine: Engine) -> AsyncIterator[Env]:  # noqa: F811
    clock = FakeClock()
    store = AccountStore(engine, clock=clock)
    store.create("sam", PASSWORD, "supervisor")
    store.create("olga", PASSWORD, "operations")
    auth = Authenticator(store, SECRET, clock=clock)
    hub = LiveHub(LiveState(), clock=clock)
    registry = CollectorRegistry()
    metrics = DashboardMetrics(registry, hub, outbox_backlog=lambda: 7)
    await metrics.read_backlog()
    hub.publish(QueueConfigured("general", 0.8))
    hub.publish(AgentStateChanged("a1", AgentActivity.AVAILABLE, T0))
    hub.publish(AlertRaised("snow", T0, "Schools closed"))
    app = create_app(
        lambda: {"ok": True},
        hub=hub,
        auth=auth,
        actions=InMemoryActions(hub, clock=clock),
        registry=registry,
    )
    metrics.observe_ari_reaction("play", 0.004)
    yield Env(app, hub, store, auth, registry, clock)
    await hub.stop()


async def sign_in(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303
    me = await client.get("/api/me")
    assert me.status_code == 200
    return me.json()["csrf"]


async def test_given_no_credentials_then_reads_are_401_and_the_page_redirects_to_sign_in(
    env: Env,
) -> None:
    async with env.client() as client:
        response = await client.get("/api/snapshot")
        assert response.status_code == 401
        assert response.json()["error_id"] == "unauthenticated"
        assert set(response.json()) == {"error_id", "message", "details"}
        page = await client.get("/")
        assert page.status_code == 303
        assert page.headers["location"] == "/login"
        assert (await client.get("/login")).status_code == 200
        assert (await client.get("/health")).json()["ok"] is True


async def test_given_good_credentials_then_the_session_cookie_is_httponly_and_samesite_strict(
    env: Env,
) -> None:
    async with env.client() as client:
        response = await client.post("/login", data={"username": "Sam", "password": PASSWORD})
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        me = (await client.get("/api/me")).json()
        assert me["username"] == "sam"
        assert me["role"] == "supervisor"
        assert me["can_act"] is True
        page = await client.get("/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        snapshot = (await client.get("/api/snapshot")).json()
        assert snapshot["queues"][0]["name"] == "general"


async def test_given_a_wrong_password_then_sign_in_fails_and_repeated_failures_lock_out(
    env: Env,
) -> None:
    async with env.client() as client:
        for _ in range(5):
            response = await client.post("/login", data={"username": "sam", "password": "nope"})
            assert response.status_code == 401
            assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
        response = await client.post("/login", data={"username": "sam", "password": PASSWORD})
        assert response.status_code == 429
        env.clock.now += 120
        response = await client.post("/login", data={"username": "sam", "password": PASSWORD})
        assert response.status_code == 303


async def test_given_a_supervisor_when_pausing_a_ccr_then_the_view_updates_and_it_is_audited(
    env: Env,
) -> None:
    async with env.client() as client:
        csrf = await sign_in(client, "sam")
        response = await client.post(
            "/api/agents/a1/pause", json={"reason": "coaching"}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 200, response.text
        agent = (await client.get("/api/snapshot")).json()["agents"][0]
        assert (agent["state"], agent["reason"]) == ("paused", "coaching")
        audit = (await client.get("/api/audit")).json()["entries"]
        assert audit[0]["username"] == "sam"
        assert audit[0]["action"] == "agent.pause"
        assert audit[0]["target"] == "a1"
        assert audit[0]["outcome"] == "ok"
        assert audit[0]["details"] == {"reason": "coaching"}


async def test_given_a_cookie_session_without_the_csrf_token_then_actions_are_refused(
    env: Env,
) -> None:
    async with env.client() as client:
        await sign_in(client, "sam")
        response = await client.post("/api/agents/a1/pause", json={"reason": "x"})
        assert response.status_code == 403
        response = await client.post(
            "/api/agents/a1/pause", json={"reason": "x"}, headers={"X-CSRF-Token": "forged"}
        )
        assert response.status_code == 403
    assert env.hub.state.agent_state("a1") is AgentActivity.AVAILABLE


async def test_given_a_read_only_user_then_every_action_is_403_and_audited(env: Env) -> None:
    async with env.client() as client:
        csrf = await sign_in(client, "olga")
        headers = {"X-CSRF-Token": csrf}
        calls = [
            ("/api/agents/a1/pause", {"reason": "x"}),
            ("/api/agents/a1/logout", {"reason": "x"}),
            ("/api/queues/general/goal", {"goal": 0.5}),
            ("/api/alerts/snow/withdraw", None),
        ]
        for url, body in calls:
            response = await client.post(url, json=body, headers=headers)
            assert response.status_code == 403, url
            assert response.json()["error_id"] == "forbidden"
        assert (await client.get("/api/audit")).status_code == 403
    entries = env.store.audit_entries()
    assert [(e["username"], e["outcome"]) for e in entries] == [("olga", "forbidden")] * 4
    assert env.hub.state.agent_state("a1") is AgentActivity.AVAILABLE
    assert env.hub.state.alert_ids() == ["snow"]


async def test_given_a_bearer_token_then_the_api_works_without_cookies_or_csrf(
    env: Env,
) -> None:
    async with env.client() as client:
        response = await client.post("/api/token", json={"username": "sam", "password": PASSWORD})
        token = response.json()["token"]
    async with env.client() as client:
        headers = {"Authorization": f"Bearer {token}"}
        response = await client.post(
            "/api/queues/general/goal", json={"goal": 0.9}, headers=headers
        )
        assert response.status_code == 200, response.text
        response = await client.post("/api/alerts/snow/withdraw", headers=headers)
        assert response.status_code == 200
        snapshot = (await client.get("/api/snapshot", headers=headers)).json()
        assert snapshot["queues"][0]["goal"] == 0.9
        assert snapshot["alerts"] == []
        bad = await client.get("/api/snapshot", headers={"Authorization": "Bearer x.y"})
        assert bad.status_code == 401


async def test_given_a_disabled_account_then_its_session_stops_working(env: Env) -> None:
    async with env.client() as client:
        await sign_in(client, "sam")
        env.store.disable("sam")
        assert (await client.get("/api/snapshot")).status_code == 401


async def test_given_an_unknown_target_or_bad_body_then_404_and_422_in_the_error_shape(
    env: Env,
) -> None:
    async with env.client() as client:
        csrf = await sign_in(client, "sam")
        headers = {"X-CSRF-Token": csrf}
        response = await client.post("/api/agents/nobody/pause", json={}, headers=headers)
        assert response.status_code == 404
        assert response.json()["error_id"] == "not-found"
        response = await client.post("/api/queues/general/goal", json={"goal": 80}, headers=headers)
        assert response.status_code == 422
        assert response.json()["error_id"] == "invalid-request"
    assert env.store.audit_entries()[0]["outcome"] == "not-found"


async def test_reports_give_sl_and_abandoned_calls_as_json_and_csv(env: Env) -> None:
    for fact in (
        CallEnqueued("c1", "general", T0 + 1),
        CallAnswered("c1", "general", T0 + 11, agent_id="a1"),
        CallEnqueued("c2", "general", T0 + 2),
        CallAbandoned("c2", "general", T0 + 50),
    ):
        env.hub.publish(fact)
    env.clock.now = T0 + 60
    async with env.client() as client:
        await sign_in(client, "olga")
        rows = (await client.get("/api/reports/sl", params={"from": T0, "to": T0 + 1800})).json()[
            "rows"
        ]
        total = next(r for r in rows if r["scope"] == "total")
        assert (total["offered"], total["answered"], total["abandoned"]) == (2, 1, 1)
        csv_text = (
            await client.get(
                "/api/reports/sl", params={"from": T0, "to": T0 + 1800, "format": "csv"}
            )
        ).text
        assert csv_text.splitlines()[0].startswith("scope,queue,interval_start")
        bad = await client.get("/api/reports/sl", params={"from": T0 + 1, "to": T0 + 1800})
        assert bad.status_code == 400
        for interval in (600, 7200, 86400):  # rows that would not line up with local hours
            bad = await client.get(
                "/api/reports/sl", params={"from": T0, "to": T0 + 1800, "interval": interval}
            )
            assert bad.status_code == 400
            assert "900, 1800 or 3600" in bad.text
        abandoned = await client.get("/api/reports/abandoned", params={"format": "csv"})
        lines = abandoned.text.splitlines()
        # the first five columns as before; outcome, callback and agent now follow (issue 16)
        assert lines[0] == (
            "call_id,queue,enqueued_at,abandoned_at,wait_seconds,"
            "outcome,callback_requested_at,agent_id"
        )
        assert lines[1].startswith("c2,general,")


async def test_metrics_are_exposed_and_parse_with_prometheus_client(env: Env) -> None:
    for fact in (
        CallEnteredIvr("i1", T0),
        CallEnqueued("c1", "general", T0 + 1),
        CallAnswered("c1", "general", T0 + 11, agent_id="a1"),
        CallCompleted("c1", "general", T0 + 200, talk_seconds=150, wrapup_seconds=30),
        CallEnqueued("c2", "general", T0 + 2),
    ):
        env.hub.publish(fact)
    env.clock.now = T0 + 300
    async with env.client() as client:
        text = (await client.get("/metrics")).text
    samples = parse(text)
    assert samples[("line311_ivr_calls", ())] == 1
    assert samples[("line311_queue_calls_waiting", (("queue", "general"),))] == 1
    assert (
        samples[
            ("line311_queue_service_level_ratio", (("queue", "general"), ("window", "interval")))
        ]
        == 1.0
    )
    assert samples[("line311_queue_asa_seconds", (("queue", "general"), ("window", "today")))] == 10
    assert samples[("line311_ccr_agents", (("state", "available"),))] == 1
    assert samples[("line311_crm_outbox_backlog", ())] == 7
    assert samples[("line311_queue_calls_offered_total", (("queue", "general"),))] == 2
    wait_count = (
        "line311_queue_wait_seconds_count",
        (("outcome", "answered"), ("queue", "general")),
    )
    assert samples[wait_count] == 1
    assert samples[("line311_queue_handle_seconds_sum", (("queue", "general"),))] == 180
    assert samples[("line311_ari_reaction_seconds_count", (("operation", "play"),))] == 1
