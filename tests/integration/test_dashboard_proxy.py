"""The dashboard process forwarding to the controller, over real HTTP servers (issue 12 point
3): actions are the controller's (its auth, its audit), streams stay streams, a controller
away is a 503 while the board goes on, /health and /metrics are the line's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CollectorRegistry, Gauge

from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.proxy import ControllerProxy
from line311.dashboard.state import LiveState, QueueConfigured
from line311.db import make_engine, upgrade
from line311.http_server import EmbeddedServer, make_embedded_server
from tests.conftest import free_tcp_port

pytestmark = pytest.mark.integration

SECRET = "proxy-test-secret-0123456789"


@dataclass
class Line:
    dashboard: str
    controller_hub: LiveHub
    dashboard_hub: LiveHub
    supervisor: dict[str, str]
    operations: dict[str, str]
    store: AccountStore
    stream_sent: list[int]
    stop_controller: Any
    dashboard_health: dict[str, Any]
    controller_health: dict[str, Any]


def _echo_router(sent: list[int]) -> APIRouter:
    router = APIRouter()

    @router.api_route("/api/desk/echo", methods=["GET", "POST", "PUT"])
    async def echo(request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "query": str(request.query_params),
            "body": (await request.body()).decode(),
            "csrf": request.headers.get("x-csrf-token"),
            "cookie": request.headers.get("cookie"),
            "forwarded_for": request.headers.get("x-forwarded-for"),
        }

    @router.get("/api/desk/cookies")
    async def cookies() -> JSONResponse:
        response = JSONResponse({"ok": True}, status_code=201)
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    @router.get("/api/desk/agents/{agent_id}/pops")
    async def pops(agent_id: str) -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            for n in range(3):
                sent.append(n)
                yield f"data: {agent_id}-{n}\n\n".encode()
                await asyncio.sleep(0.2)

        return StreamingResponse(events(), media_type="text/event-stream")

    return router


async def _serve(app: Any, port: int) -> tuple[EmbeddedServer, asyncio.Task[None]]:
    server = make_embedded_server(app, "127.0.0.1", port, reuse_port=True)
    task = asyncio.create_task(server.serve())
    await server.wait_started()
    return server, task


@pytest.fixture
async def line(tmp_path: Path) -> AsyncIterator[Line]:
    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = AccountStore(engine)
    store.create("sam", "a long password", "supervisor")
    store.create("olga", "a long password", "operations")
    auth = Authenticator(store, SECRET)

    controller_hub = LiveHub(LiveState())
    controller_hub.publish(QueueConfigured("general", 0.8))
    registry = CollectorRegistry()
    Gauge("line311_live_state_up", "up", registry=registry).set(1)
    sent: list[int] = []
    controller_health: dict[str, Any] = {"ok": True, "ari_connected": True, "status": "ok"}
    controller_app = create_app(
        lambda: controller_health,
        hub=controller_hub,
        auth=auth,
        registry=registry,
    )
    controller_app.include_router(_echo_router(sent))
    port = free_tcp_port()
    controller, controller_task = await _serve(controller_app, port)

    dashboard_hub = LiveHub(LiveState())
    dashboard_hub.publish(QueueConfigured("general", 0.8))
    own = CollectorRegistry()
    Gauge("line311_wallboard_live_state_up", "up", registry=own).set(1)
    proxy = ControllerProxy(f"http://127.0.0.1:{port}")
    dashboard_health: dict[str, Any] = {"ok": True, "status": "ok"}
    dashboard_app = create_app(
        lambda: dashboard_health, hub=dashboard_hub, auth=auth, registry=own, proxy=proxy
    )
    dashboard, dashboard_task = await _serve(dashboard_app, 0)

    async def stop_controller() -> None:
        controller.should_exit = True
        await controller_task

    yield Line(
        f"http://127.0.0.1:{dashboard.bound_port}",
        controller_hub,
        dashboard_hub,
        {"Authorization": f"Bearer {auth.bearer_token('sam')[0]}"},
        {"Authorization": f"Bearer {auth.bearer_token('olga')[0]}"},
        store,
        sent,
        stop_controller,
        dashboard_health,
        controller_health,
    )
    dashboard.should_exit = True
    await dashboard_task
    if not controller_task.done():
        await stop_controller()
    await proxy.aclose()
    engine.dispose()


async def test_given_a_supervisor_action_then_the_controller_does_it_and_audits_it(
    line: Line,
) -> None:
    async with httpx.AsyncClient(base_url=line.dashboard, timeout=5) as http:
        reply = await http.post(
            "/api/queues/general/goal", json={"goal": 0.9}, headers=line.supervisor
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"ok": True, "action": "queue.goal", "target": "general"}
        assert line.controller_hub.state.goal("general") == 0.9  # done in the controller
        assert line.dashboard_hub.state.goal("general") == 0.8  # (it learns it from Redis)
        # the controller's auth: a read-only role is refused there, and audited
        refused = await http.post(
            "/api/queues/general/goal", json={"goal": 0.5}, headers=line.operations
        )
        assert refused.status_code == 403
        assert refused.json()["error_id"] == "forbidden"
        outcomes = [(e["action"], e["outcome"]) for e in line.store.audit_entries(10)]
        assert ("queue.goal", "ok") in outcomes
        assert ("queue.goal", "forbidden") in outcomes
        # a bad body is the controller's 422, as before
        bad = await http.post(
            "/api/queues/general/goal", json={"goal": "x"}, headers=line.supervisor
        )
        assert bad.status_code == 422


async def test_given_a_session_then_a_forwarded_action_needs_its_csrf_token_at_the_controller(
    line: Line,
) -> None:
    """The dashboard process adds no trust: the controller checks the session's CSRF token
    on what it is forwarded, as when reached directly."""
    async with httpx.AsyncClient(base_url=line.dashboard, timeout=5) as http:
        signed_in = await http.post(
            "/login", data={"username": "sam", "password": "a long password"}
        )
        assert signed_in.status_code == 303
        csrf = (await http.get("/api/me")).json()["csrf"]
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            refused = await http.post(
                "/api/queues/general/goal", json={"goal": 0.5}, headers=headers
            )
            assert refused.status_code == 403, refused.text
            assert "CSRF" in refused.json()["message"]
        assert line.controller_hub.state.goal("general") == 0.8
        done = await http.post(
            "/api/queues/general/goal", json={"goal": 0.5}, headers={"X-CSRF-Token": csrf}
        )
        assert done.status_code == 200, done.text
        assert line.controller_hub.state.goal("general") == 0.5
        # one copy of each security header, the controller's, on a forwarded answer
        assert done.headers.get_list("x-content-type-options") == ["nosniff"]
        assert done.headers.get_list("cache-control") == ["no-store"]


async def test_given_a_request_then_method_query_body_and_credentials_arrive_as_sent(
    line: Line,
) -> None:
    async with httpx.AsyncClient(base_url=line.dashboard, timeout=5) as http:
        reply = await http.put(
            "/api/desk/echo?reason=lunch%20break&x=1&x=2",
            content=b'{"a": 1}',
            headers={"X-CSRF-Token": "tok", "Cookie": "line311_session=abc"},
        )
        assert reply.status_code == 200
        assert reply.json() == {
            "method": "PUT",
            "query": "reason=lunch+break&x=1&x=2",
            "body": '{"a": 1}',
            "csrf": "tok",
            "cookie": "line311_session=abc",
            "forwarded_for": "127.0.0.1",
        }
        cookies = await http.get("/api/desk/cookies")
        assert cookies.status_code == 201
        assert cookies.headers.get_list("set-cookie") == [
            "a=1; Path=/; SameSite=lax",
            "b=2; Path=/; SameSite=lax",
        ]
        assert cookies.json() == {"ok": True}


async def test_given_a_stream_then_each_event_arrives_as_the_controller_sends_it(
    line: Line,
) -> None:
    async with (
        httpx.AsyncClient(base_url=line.dashboard, timeout=5) as http,
        http.stream("GET", "/api/desk/agents/1001/pops") as reply,
    ):
        assert reply.headers["content-type"].startswith("text/event-stream")
        lines = reply.aiter_lines()
        first = await anext(lines)
        assert first == "data: 1001-0"
        assert line.stream_sent == [0]  # not buffered until the end
        rest = [text async for text in lines if text]
    assert rest == ["data: 1001-1", "data: 1001-2"]


async def test_health_and_metrics_are_the_lines(line: Line) -> None:
    async with httpx.AsyncClient(base_url=line.dashboard, timeout=5) as http:
        health = await http.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert body["ari_connected"] is True
        assert body["ok"] is True
        assert body["dashboard"]["ok"] is True
        metrics = (await http.get("/metrics")).text
        assert "line311_live_state_up 1.0" in metrics  # the controller's
        assert "line311_wallboard_live_state_up 1.0" in metrics  # the dashboard's own


async def test_given_the_controller_away_then_actions_are_503_and_the_board_goes_on(
    line: Line,
) -> None:
    await line.stop_controller()
    async with httpx.AsyncClient(base_url=line.dashboard, timeout=5) as http:
        reply = await http.post(
            "/api/queues/general/goal", json={"goal": 0.9}, headers=line.supervisor
        )
        assert reply.status_code == 503
        assert reply.headers["retry-after"] == "1"
        assert reply.json()["error_id"] == "controller-unavailable"
        board = await http.get("/api/snapshot", headers=line.operations)
        assert board.status_code == 200
        assert [q["name"] for q in board.json()["queues"]] == ["general"]
        health = await http.get("/health")
        assert health.status_code == 503
        body = health.json()
        assert body["ari_connected"] is False
        assert "controller" in body["degraded"]
        assert body["dashboard"]["ok"] is True
        metrics = await http.get("/metrics")
        assert metrics.status_code == 200
        assert "line311_wallboard_live_state_up 1.0" in metrics.text
        assert "line311_live_state_up" not in metrics.text.replace("wallboard_live", "")
        page = await http.get("/login")
        assert page.status_code == 200  # sign-in is the dashboard's own
        assert json.loads((await http.get("/api/me", headers=line.operations)).text)["username"]


async def test_given_redis_away_then_the_line_is_degraded_not_down_with_each_reason(
    line: Line,
) -> None:
    line.controller_health.update(
        status="degraded", live_state="down", degraded={"live_state": "unreachable: refused"}
    )
    line.dashboard_health.update(
        status="degraded", live_state="down", degraded={"live_state": "unreachable: reset"}
    )
    async with httpx.AsyncClient(base_url=line.dashboard, timeout=5) as http:
        health = await http.get("/health")
    assert health.status_code == 200  # calls go on: degraded is not down
    body = health.json()
    assert body["status"] == "degraded"
    assert body["live_state"] == "down"
    assert body["degraded"]["live_state"] == "unreachable: refused"  # the controller's
    assert body["degraded"]["dashboard"] == {"live_state": "unreachable: reset"}
