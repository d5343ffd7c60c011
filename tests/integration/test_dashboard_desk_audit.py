"""The desk API's CCR actions and flow reloads in the audit log (SQLite and PostgreSQL): a
supervisor who logs a CCR in or out, pauses or resumes them through /api/desk, or reloads
the IVR's flow and content, is one `dashboard_audit` row each, with the outcome -- as the
wallboard's own pause and log-out always were. Before, only the wallboard's actions were
written: who logged a CCR out through the desk API, or changed what callers hear, could
not be told.

An operations user's write there is refused (403) and, like the wallboard's own refusals,
written with outcome ``forbidden``: before, the refusal left no trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import Depends
from sqlalchemy.engine import Engine

from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator, require_role_by_method
from line311.dashboard.desk import queue_api_router
from line311.dashboard.flows_api import flows_router
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState
from tests.integration.crm.conftest import (  # noqa: F401 - fixtures
    backend,
    engine,
    migrated_engine,
    new_database_url,
    pg_databases,
)
from tests.unit.ari.queue_harness import Harness
from tests.unit.dashboard.test_desk import desk

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
SECRET = "desk-audit-secret-0123456789"


class Reports:
    """The IVR edge's reloads: the first validates, the second does not."""

    def __init__(self) -> None:
        self.results = [True, False]

    def loaded(self) -> dict[str, Any]:
        return {}

    def reload(self) -> Any:
        ok = self.results.pop(0)
        return SimpleNamespace(ok=ok, as_dict=lambda: {"flow": {"ok": ok}})


@pytest.fixture
async def line(engine: Engine) -> AsyncIterator[tuple[httpx.AsyncClient, AccountStore]]:  # noqa: F811
    store = AccountStore(engine)
    store.create("sam", PASSWORD, "supervisor")
    store.create("olga", PASSWORD, "operations")
    auth = Authenticator(store, SECRET)
    hub = LiveHub(LiveState())
    app = create_app(lambda: {"ok": True}, hub=hub, auth=auth)
    h = Harness()
    roles = [Depends(require_role_by_method(audit=store.audit))]  # as bootstrap mounts them
    router = queue_api_router(desk(h), h.runtime, clock=lambda: h.now, audit=store.audit)
    app.include_router(router, prefix="/api/desk", dependencies=roles)
    app.include_router(flows_router(Reports(), audit=store.audit), dependencies=roles)
    token, _ = auth.bearer_token("sam")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://line311.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client, store
    await hub.stop()


async def test_every_desk_action_and_flow_reload_is_audited_with_its_outcome(
    line: tuple[httpx.AsyncClient, AccountStore],
) -> None:
    client, store = line
    steps = [
        ("/api/desk/agents/agent2/login", {}, 200),
        ("/api/desk/agents/agent2/pause", {"reason": "lunch"}, 200),
        ("/api/desk/agents/agent2/resume", {}, 200),
        ("/api/desk/agents/agent2/logout", {}, 200),
        ("/api/desk/agents/agent2/pause", {"reason": "lunch"}, 409),  # logged out
        ("/api/desk/agents/nobody/login", {}, 404),
        ("/api/desk/agents/agent2/pause", {"reason": "x" * 65}, 400),
        ("/api/flows/reload", {}, 200),
        ("/api/flows/reload", {}, 422),
    ]
    for path, params, status in steps:
        response = await client.post(path, params=params)
        assert response.status_code == status, (path, response.text)
    entries = list(reversed(store.audit_entries()))
    assert [(e["username"], e["action"], e["target"], e["outcome"]) for e in entries] == [
        ("sam", "agent.login", "agent2", "ok"),
        ("sam", "agent.pause", "agent2", "ok"),
        ("sam", "agent.resume", "agent2", "ok"),
        ("sam", "agent.logout", "agent2", "ok"),
        ("sam", "agent.pause", "agent2", "action-refused"),
        ("sam", "agent.login", "nobody", "not-found"),
        ("sam", "agent.pause", "agent2", "bad-request"),
        ("sam", "flows.reload", "flows", "ok"),
        ("sam", "flows.reload", "flows", "refused"),
    ]
    assert entries[1]["details"] == {"api": "desk", "reason": "lunch"}
    assert entries[0]["details"] == {"api": "desk"}
    assert entries[6]["details"] == {"api": "desk"}  # a refused reason is not kept


async def test_reading_the_desk_is_not_audited(
    line: tuple[httpx.AsyncClient, AccountStore],
) -> None:
    client, store = line
    assert (await client.get("/api/desk/agents")).status_code == 200
    assert (await client.get("/api/flows")).status_code == 200
    assert store.audit_entries() == []


async def test_an_operations_users_refused_desk_action_and_reload_are_audited(
    line: tuple[httpx.AsyncClient, AccountStore],
) -> None:
    client, store = line
    token, _ = Authenticator(store, SECRET).bearer_token("olga")
    olga = {"Authorization": f"Bearer {token}"}
    steps = [
        ("/api/desk/agents/agent2/pause", {"reason": "lunch"}),
        ("/api/desk/agents/agent2/logout", {}),
        ("/api/desk/agents/" + "x" * 300 + "/login", {}),
        ("/api/flows/reload", {}),
    ]
    for path, params in steps:
        response = await client.post(path, params=params, headers=olga)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error_id"] == "forbidden"
    assert (await client.get("/api/desk/agents", headers=olga)).status_code == 200
    entries = list(reversed(store.audit_entries()))
    assert [
        (e["username"], e["role"], e["action"], e["target"], e["outcome"]) for e in entries
    ] == [
        ("olga", "operations", "agent.pause", "agent2", "forbidden"),
        ("olga", "operations", "agent.logout", "agent2", "forbidden"),
        ("olga", "operations", "agent.login", entries[2]["target"], "forbidden"),
        ("olga", "operations", "flows.reload", "flows", "forbidden"),
    ]
    assert entries[0]["details"] == {"needs": "supervisor"}
    assert entries[2]["target"].startswith("x" * 100)  # kept within its column
    assert len(entries[2]["target"]) <= 128
