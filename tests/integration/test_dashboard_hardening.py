"""Issue 15 on the controller's HTTP app: bounded bodies and reports, a sign-in throttle that
parallel requests cannot outrun, sessions and tokens that really end, the flows API behind
sign-in, 409 for acting on a logged-out CCR, and /health answering throughout (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, Request
from sqlalchemy.engine import Engine

from line311.dashboard.actions import InMemoryActions
from line311.dashboard.app import create_app
from line311.dashboard.auth import (
    SESSION_COOKIE,
    AccountStore,
    Authenticator,
    require_role_by_method,
)
from line311.dashboard.errors import AccountError
from line311.dashboard.feeds import RuntimeActions
from line311.dashboard.flows_api import flows_router
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState, QueueConfigured
from line311.http_server import make_embedded_server
from line311.queue.events import AgentActivity, AgentStateChanged, CallAnswered, CallEnqueued
from line311.routing.errors import AgentStateError
from line311.text import is_safe_text
from tests.integration.crm.conftest import (  # noqa: F401 - fixtures
    backend,
    engine,
    migrated_engine,
    new_database_url,
    pg_databases,
)
from tests.integration.test_dashboard_api import (  # noqa: F401 - fixtures
    PASSWORD,
    SECRET,
    T0,
    Env,
    FakeClock,
    env,
    sign_in,
)

pytestmark = pytest.mark.integration

MB = 1024 * 1024


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[int]:
    """``app`` on a real uvicorn server on a free loopback port, in this loop."""
    server = make_embedded_server(app, "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    try:
        await server.wait_started()
        yield server.bound_port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def send_chunked(
    port: int, path: str, total: int, chunk: int = MB, method: str = "POST"
) -> tuple[int, int]:
    """Send a chunked body of up to ``total`` bytes; (status, bytes sent before the answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: line311.test\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    sent = 0
    block = f"{chunk:x}\r\n".encode() + b"[" * chunk + b"\r\n"

    async def pump() -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError):
            while sent < total:
                writer.write(block)
                await writer.drain()
                sent += chunk

    pumping = asyncio.create_task(pump())
    try:
        status_line = await asyncio.wait_for(reader.readline(), 60)
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return int(status_line.split()[1]), sent


# ---------------------------------------------------------------------- 1. body limits
async def test_given_a_200_mb_chunked_body_then_413_early_without_memory_growth_and_health_answers(
    env: Env,  # noqa: F811
) -> None:
    async with (
        served(env.app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client,
    ):
        assert (await client.get("/health")).status_code == 200
        before = rss_bytes()
        abuse = asyncio.create_task(send_chunked(port, "/api/token", 200 * MB))
        answered = 0
        while not abuse.done() and answered < 50:  # /health answers while it runs
            assert (await client.get("/health")).status_code == 200
            answered += 1
        status, sent = await abuse
        grown = rss_bytes() - before
        assert status == 413
        assert sent < 100 * MB  # refused long before the end of the body
        assert grown < 64 * MB, f"RSS grew by {grown / MB:.0f} MB"
        assert (await client.get("/health")).status_code == 200


async def test_given_a_declared_oversize_body_then_413_in_the_error_shape_before_reading(
    env: Env,  # noqa: F811
) -> None:
    async with env.client() as client:
        response = await client.post(
            "/api/token",
            content=b"{}",
            headers={"Content-Length": str(10 * MB), "Content-Type": "application/json"},
        )
        # httpx sends the 2 bytes it has; the declared length alone is refused
        assert response.status_code == 413
        assert response.json()["error_id"] == "body-too-large"


async def test_given_a_json_body_over_the_limit_without_a_length_then_413(
    env: Env,  # noqa: F811
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"username": "sam", "password": "'
        for _ in range(200):
            yield b"x" * 1024
        yield b'"}'

    async with env.client() as client:
        response = await client.post(
            "/api/token", content=body(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["error_id"] == "body-too-large"
        ok = await client.post("/api/token", json={"username": "sam", "password": PASSWORD})
        assert ok.status_code == 200


# ---------------------------------------------------------------------- 2. reports
@pytest.mark.parametrize(
    "params",
    [
        {"from": "inf", "to": str(T0 + 1800)},
        {"from": str(T0), "to": "nan"},
        {"from": "-inf", "to": "inf"},
        {"from": "900", "to": "1e15"},
        {"from": str(T0 + 1800), "to": str(T0)},
    ],
)
async def test_given_a_non_finite_reversed_or_huge_report_range_then_400(
    env: Env,  # noqa: F811
    params: dict[str, str],
) -> None:
    async with env.client() as client:
        await sign_in(client, "olga")
        response = await client.get("/api/reports/sl", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["error_id"] == "bad-request"
        abandoned = await client.get("/api/reports/abandoned", params=params)
        if params["from"] not in ("900",):  # a long abandoned range is fine: it is in memory
            assert abandoned.status_code == 400
        assert (await client.get("/health")).status_code == 200


async def test_the_longest_allowed_report_is_built_and_health_answers_meanwhile(
    env: Env,  # noqa: F811
) -> None:
    start = (T0 // 900 + 1) * 900
    env.hub.publish(CallEnqueued("c1", "general", start + 10))
    env.hub.publish(CallAnswered("c1", "general", start + 20, agent_id="a1"))
    env.clock.now = T0 + 400 * 86400
    async with env.client() as client:
        await sign_in(client, "olga")
        report = asyncio.create_task(
            client.get(
                "/api/reports/sl",
                params={"from": start, "to": start + 400 * 86400, "interval": 900},
            )
        )
        health = await client.get("/health")
        assert health.status_code == 200
        response = await asyncio.wait_for(report, 120)
        assert response.status_code == 200
        assert len(response.json()["rows"]) >= 400 * 96


# ---------------------------------------------------------------------- 3. throttle
async def test_given_60_parallel_wrong_passwords_then_at_most_5_are_checked_and_the_rest_are_429(
    env: Env,  # noqa: F811
) -> None:
    async with env.client() as client:
        responses = await asyncio.gather(
            *(
                client.post("/api/token", json={"username": "sam", "password": f"wrong-{i}"})
                for i in range(60)
            )
        )
    codes = [r.status_code for r in responses]
    assert codes.count(401) <= 5
    assert codes.count(429) >= 55
    assert set(codes) <= {401, 429}


async def test_given_many_names_tried_from_one_client_then_that_client_is_throttled(
    env: Env,  # noqa: F811
) -> None:
    async with env.client() as client:
        codes = [
            (
                await client.post(
                    "/api/token", json={"username": f"user{i}", "password": "wrong password"}
                )
            ).status_code
            for i in range(25)
        ]
        assert codes[:20] == [401] * 20
        assert codes[20:] == [429] * 5
        # the lock is per client and ends with the window
        assert (
            await client.post("/api/token", json={"username": "sam", "password": PASSWORD})
        ).status_code == 429
        env.clock.now += 61
        assert (
            await client.post("/api/token", json={"username": "sam", "password": PASSWORD})
        ).status_code == 200


# ---------------------------------------------------------------------- 4. sessions, tokens
async def test_given_sign_out_then_the_old_session_cookie_no_longer_works(
    env: Env,  # noqa: F811
) -> None:
    async with env.client() as client:
        csrf = await sign_in(client, "sam")
        old_cookie = client.cookies[SESSION_COOKIE]
        response = await client.post("/logout", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 200
    async with env.client() as replay:
        replay.cookies.set(SESSION_COOKIE, old_cookie)
        response = await replay.get("/api/me")
        assert response.status_code == 401
        assert "signed out" in response.json()["message"]
    async with env.client() as client:
        await sign_in(client, "sam")  # signing in again works


async def test_given_revoked_tokens_then_old_bearer_tokens_fail_and_new_ones_work(
    env: Env,  # noqa: F811
) -> None:
    async with env.client() as client:
        old = (
            await client.post("/api/token", json={"username": "sam", "password": PASSWORD})
        ).json()["token"]
        headers = {"Authorization": f"Bearer {old}"}
        assert (await client.get("/api/me", headers=headers)).status_code == 200
        assert (await client.post("/api/token/revoke", headers=headers)).status_code == 200
        refused = await client.get("/api/me", headers=headers)
        assert refused.status_code == 401
        assert "revoked" in refused.json()["message"]
        new = (
            await client.post("/api/token", json={"username": "sam", "password": PASSWORD})
        ).json()["token"]
        assert (
            await client.get("/api/me", headers={"Authorization": f"Bearer {new}"})
        ).status_code == 200
    # a session of the same account is not affected by revoking tokens
    async with env.client() as client:
        await sign_in(client, "sam")


# ---------------------------------------------------------------------- 5. flows API
async def test_the_flows_api_needs_sign_in_a_supervisor_and_the_csrf_token(
    env: Env,  # noqa: F811
) -> None:
    reloads: list[bool] = []

    def reload() -> Any:
        reloads.append(True)
        return SimpleNamespace(ok=True, as_dict=lambda: {"flow": {"ok": True}})

    edge = SimpleNamespace(reload=reload)
    env.app.include_router(  # type: ignore[attr-defined]
        flows_router(edge),  # type: ignore[arg-type]
        dependencies=[Depends(require_role_by_method())],
    )
    async with env.client() as client:
        assert (await client.get("/api/flows")).status_code == 401
        assert (await client.post("/api/flows/reload")).status_code == 401
        csrf = await sign_in(client, "olga")
        assert (
            await client.post("/api/flows/reload", headers={"X-CSRF-Token": csrf})
        ).status_code == 403
    async with env.client() as client:
        csrf = await sign_in(client, "sam")
        assert (await client.post("/api/flows/reload")).status_code == 403  # no CSRF token
        ok = await client.post("/api/flows/reload", headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200
    assert reloads == [True]


# ---------------------------------------------------------------------- 8. text in bodies
@pytest.mark.parametrize("reason", ["nul\x00", "esc\x1b[2J", "lone \ud800"])
async def test_given_control_characters_in_an_action_reason_then_422_and_nothing_changes(
    env: Env,  # noqa: F811
    reason: str,
) -> None:
    async with env.client() as client:
        csrf = await sign_in(client, "sam")
        response = await client.post(
            "/api/agents/a1/pause",
            content=json.dumps({"reason": reason}),
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        )
        assert response.status_code == 422
    assert env.hub.state.agent_state("a1") is AgentActivity.AVAILABLE
    assert env.store.audit_entries() == []


# ---------------------------------------------------------------------- 9. logged-out CCR
class RefusingAgents:
    """The queue runtime's answer for a CCR who is logged out."""

    def agent_pause(self, agent_id: str, reason: str = "") -> None:
        raise AgentStateError(agent_id, "logged_out", "pause")

    def agent_logout(self, agent_id: str) -> None:
        raise AgentStateError(agent_id, "logged_out", "logout")


async def test_given_a_logged_out_ccr_then_pause_and_logout_are_409_and_audited(
    engine: Engine,  # noqa: F811
) -> None:
    clock = FakeClock()
    store = AccountStore(engine, clock=clock)
    store.create("sam", PASSWORD, "supervisor")
    hub = LiveHub(LiveState(), clock=clock)
    hub.publish(QueueConfigured("general", 0.8))
    hub.publish(AgentStateChanged("a1", AgentActivity.LOGGED_OUT, T0))
    actions = RuntimeActions(
        hub, RefusingAgents(), known_agents=lambda: {"a1"}, known_queues=lambda: {"general"}
    )
    app = create_app(lambda: {"ok": True}, hub=hub, auth=Authenticator(store, SECRET, clock=clock),
                     actions=actions)  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            csrf = await sign_in(client, "sam")
            for action in ("pause", "logout"):
                response = await client.post(
                    f"/api/agents/a1/{action}", json={"reason": "x"}, headers={"X-CSRF-Token": csrf}
                )
                assert response.status_code == 409, response.text
                assert response.json()["error_id"] == "action-refused"
            assert (await client.get("/health")).status_code == 200
    finally:
        await hub.stop()
    assert [e["outcome"] for e in store.audit_entries()] == ["action-refused"] * 2


# ---------------------------------------------------------------------- 10, 15
async def test_the_session_cookie_is_secure_when_asked(engine: Engine) -> None:  # noqa: F811
    clock = FakeClock()
    store = AccountStore(engine, clock=clock)
    store.create("sam", PASSWORD, "supervisor")
    hub = LiveHub(LiveState(), clock=clock)
    auth = Authenticator(store, SECRET, clock=clock, secure_cookie=True)
    app = create_app(lambda: {"ok": True}, hub=hub, auth=auth, actions=InMemoryActions(hub))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://t"
        ) as client:
            response = await client.post("/login", data={"username": "sam", "password": PASSWORD})
            assert "secure" in response.headers["set-cookie"].lower()
    finally:
        await hub.stop()


async def test_given_a_sign_in_over_https_then_the_cookie_is_secure_even_on_loopback(
    env: Env,  # noqa: F811
) -> None:
    """The usual set-up: line311 on 127.0.0.1 (the setting's default keeps Secure off there)
    behind a TLS proxy on the same host, whose X-Forwarded-Proto uvicorn trusts. A cookie
    signed in over HTTPS must never travel over plain HTTP afterwards."""
    assert env.auth.secure_cookie is False
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=env.app),  # type: ignore[arg-type]
        base_url="https://line311.test",
    ) as client:
        response = await client.post("/login", data={"username": "sam", "password": PASSWORD})
        assert response.status_code == 303
        assert "secure" in response.headers["set-cookie"].lower()
        csrf = (await client.get("/api/me")).json()["csrf"]
        out = await client.post("/logout", headers={"X-CSRF-Token": csrf})
        assert "secure" in out.headers["set-cookie"].lower()
    async with env.client() as plain:  # plain HTTP on loopback: as configured
        response = await plain.post("/login", data={"username": "sam", "password": PASSWORD})
        assert "secure" not in response.headers["set-cookie"].lower()
    # through a real server: the proxy on loopback says the browser came over HTTPS
    async with (
        served(env.app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as proxied,
    ):
        response = await proxied.post(
            "/login",
            data={"username": "sam", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"},
        )
        assert response.status_code == 303
        assert "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    "password", ["password123", "1234567890", "aaaaaaaaaaaa", "abababababab", "9876543210"]
)
def test_common_or_trivial_passwords_are_refused(
    engine: Engine,  # noqa: F811
    password: str,
) -> None:
    store = AccountStore(engine)
    with pytest.raises(AccountError, match="common or too simple"):
        store.create("newbie", password, "operations")
    assert store.accounts() == []


async def test_an_upload_route_takes_its_larger_limit_and_refuses_a_chunked_body_past_it(
    env: Env,  # noqa: F811
) -> None:
    uploads = APIRouter()
    seen: list[int] = []

    @uploads.put("/{alert_id}/audio/{language}")
    async def upload(request: Request) -> dict[str, int]:
        seen.append(len(await request.body()))
        return {"bytes": seen[-1]}

    hub = LiveHub(LiveState(), clock=env.clock)
    app = create_app(
        lambda: {"ok": True},
        hub=hub,
        auth=env.auth,
        alerts_router=uploads,
        max_upload_bytes=2 * MB,
    )
    try:
        async with served(app) as port:
            status, sent = await send_chunked(
                port, "/api/alerts/a1/audio/en", 300 * MB, method="PUT"
            )
            assert status == 413
            assert sent < 100 * MB
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                ok = await client.put("/api/alerts/a1/audio/en", content=b"\0" * MB)
                assert ok.status_code == 200
                too_big_for_json = await client.post("/api/token", content=b"\0" * MB)
                assert too_big_for_json.status_code == 413
    finally:
        await hub.stop()
    assert seen == [MB]


def test_the_accounts_command_revokes_tokens_and_signs_out(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from line311.cli import app as cli_app
    from line311.db.engine import make_engine
    from line311.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    cli_env = {"LINE311_STATE_DIR": str(tmp_path), "LINE311_DATABASE_URL": url}
    runner = CliRunner()
    created = runner.invoke(
        cli_app,
        ["accounts", "create", "sam", "--role", "supervisor", "--password-stdin"],
        input=f"{PASSWORD}\n",
        env=cli_env,
    )
    assert created.exit_code == 0, created.output
    for command in (["accounts", "revoke-tokens", "sam"], ["accounts", "sign-out", "sam"]):
        result = runner.invoke(cli_app, command, env=cli_env)
        assert result.exit_code == 0, result.output
    assert runner.invoke(cli_app, ["accounts", "sign-out", "nobody"], env=cli_env).exit_code != 0
    db = make_engine(url)
    try:
        found = AccountStore(db).generations("sam")
    finally:
        db.dispose()
    assert found is not None
    assert found[1:] == (1, 1)


# ---------------------------------------------------------------------- ids in action paths
# An id the audit log cannot keep (its target column holds 128 characters; PostgreSQL refuses
# a NUL) made the audit write fail in the action's `finally`: a bare 500 on PostgreSQL.
BAD_TARGETS = {
    "agent id of 300 characters": ("/api/agents/" + "a" * 300 + "/pause", {"reason": "x"}),
    "agent id with a NUL": ("/api/agents/a%00/pause", {"reason": "x"}),
    "agent id with a control character": ("/api/agents/a1%1b/logout", {"reason": "x"}),
    "queue of 300 characters": ("/api/queues/" + "q" * 300 + "/goal", {"goal": 0.5}),
    "queue with a NUL": ("/api/queues/q%00/goal", {"goal": 0.5}),
    "alert id of 300 characters": ("/api/alerts/" + "x" * 300 + "/withdraw", {}),
}


@pytest.mark.parametrize("case", BAD_TARGETS)
async def test_given_an_over_long_or_unsafe_id_in_an_action_path_then_400_nothing_done_and_audited(
    env: Env,  # noqa: F811
    case: str,
) -> None:
    path, body = BAD_TARGETS[case]
    async with env.client() as client:
        csrf = await sign_in(client, "sam")
        response = await client.post(path, json=body, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 400, response.text
        assert response.json()["error_id"] == "invalid-target"
        assert "a" * 300 not in response.text
    assert env.hub.state.agent_state("a1") is AgentActivity.AVAILABLE
    assert env.hub.state.goal("general") == 0.8
    [entry] = env.store.audit_entries()
    assert entry["outcome"] == "invalid-target"
    assert len(entry["target"]) <= 128
    assert is_safe_text(entry["target"])


async def test_an_id_of_128_characters_is_still_looked_up(env: Env) -> None:  # noqa: F811
    async with env.client() as client:
        csrf = await sign_in(client, "sam")
        response = await client.post(
            "/api/agents/" + "a" * 128 + "/pause",
            json={"reason": "x"},
            headers={"X-CSRF-Token": csrf},
        )
        assert response.status_code == 404, response.text
    assert [(e["target"], e["outcome"]) for e in env.store.audit_entries()] == [
        ("a" * 128, "not-found")
    ]


@pytest.mark.parametrize("target", ["a" * 300, "a\x00b", "lone \ud800"])
def test_the_audit_log_keeps_an_entry_whatever_the_targets_text(
    engine: Engine,  # noqa: F811
    target: str,
) -> None:
    store = AccountStore(engine, clock=FakeClock())
    store.create("sam", PASSWORD, "supervisor")
    principal = store.authenticate("sam", PASSWORD)
    store.audit(principal, "agent.pause", target, "not-found", {"reason": "x"})
    [entry] = store.audit_entries()
    assert len(entry["target"]) <= 128
    assert is_safe_text(entry["target"])
    assert entry["target"][0] == target[0]


# ---------------------------------------------------------------------- odd query values
# Every query parameter of the dashboard's own routes, over-long or odd: a clear 4xx in the
# error shape, never a 500 (December 9999 has no next month: the monthly report crashed).
ODD_QUERIES = {
    "month after the last": ("/api/reports/monthly", {"month": "9999-12"}),
    "month zero": ("/api/reports/monthly", {"month": "2026-00"}),
    "month of year zero": ("/api/reports/monthly", {"month": "0000-01"}),
    "month too long": ("/api/reports/monthly", {"month": "2026-11" * 1000}),
    "from over-long": ("/api/reports/sl", {"from": "x" * 5000}),
    "from with a NUL": ("/api/reports/abandoned", {"from": "2026-11-01\x00"}),
    "to with an offset past 24 h": ("/api/reports/abandoned", {"to": "2026-11-01T00:00+99:00"}),
    "interval of 40 digits": ("/api/reports/sl", {"interval": "9" * 40}),
    "interval not a number": ("/api/reports/sl", {"interval": "half"}),
    "format unknown": ("/api/reports/sl", {"format": "xml"}),
    "audit limit of 40 digits": ("/api/audit", {"limit": "9" * 40}),
    "audit limit negative": ("/api/audit", {"limit": "-1"}),
}


@pytest.mark.parametrize("case", ODD_QUERIES)
async def test_given_an_odd_query_value_then_a_clear_4xx_never_a_500(
    env: Env,  # noqa: F811
    case: str,
) -> None:
    path, params = ODD_QUERIES[case]
    async with env.client() as client:
        await sign_in(client, "sam")
        response = await client.get(path, params=params)
    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"error_id", "message", "details"}


# ---------------------------------------------------------------------- sign-in form
@pytest.mark.parametrize(
    "form",
    [
        {"username": "a" * 65, "password": PASSWORD},
        {"username": "sam", "password": "p" * 1025},
    ],
)
async def test_given_an_over_long_name_or_password_in_the_form_then_the_form_says_so(
    env: Env,  # noqa: F811
    form: dict[str, str],
) -> None:
    """A person at the sign-in page gets the page back with a sentence, not a JSON error."""
    async with env.client() as client:
        response = await client.post("/login", data=form)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text
    assert "at most 64 characters" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


# ---------------------------------------------------------------------- log lines
FORGED = "\nINFO line311.dashboard.api dashboard sign-in: sam"  # fits a 64-character name


async def test_given_a_line_break_in_a_name_or_an_id_then_the_log_gets_no_forged_line(
    env: Env,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anyone can type a name into the sign-in form, and any signed-in user can put a
    line break into an action's path: what reaches the log stays on its own line."""
    with caplog.at_level(logging.INFO, logger="line311.dashboard"):
        async with env.client() as client:
            response = await client.post(
                "/login", data={"username": "ana" + FORGED, "password": "x"}
            )
            assert response.status_code == 401
            csrf = await sign_in(client, "olga")
            response = await client.post(
                "/api/agents/a1" + FORGED.replace("\n", "%0A") + "/pause",
                json={"reason": "x"},
                headers={"X-CSRF-Token": csrf},
            )
            assert response.status_code == 403
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("line311.dashboard")]
    assert any("sign-in refused" in m for m in messages)
    assert any("agent.pause" in m for m in messages)
    assert not [m for m in messages if "\n" in m or "\r" in m]


# ---------------------------------------------------------------------- response headers
SIGNED_IN_ANSWERS = [
    "/api/me",  # carries the session's CSRF token
    "/api/snapshot",
    "/api/audit",
    "/api/reports/sl",
    "/api/reports/abandoned?format=csv",  # an export, saved by the browser
    "/api/reports/monthly",  # 503 no-storage here: an error answer too
    "/api/nothing-here",
    "/health",
]


@pytest.mark.parametrize("path", SIGNED_IN_ANSWERS)
async def test_every_answer_is_uncached_unsniffed_unframed_and_sends_no_referrer(
    env: Env,  # noqa: F811
    path: str,
) -> None:
    """What a signed-in user reads (call ids, CCR names, the CSRF token) must not be kept by
    the browser or a shared proxy, read as another type, or framed by another site."""
    async with env.client() as client:
        await sign_in(client, "sam")
        response = await client.get(path)
    headers = response.headers
    assert "no-store" in headers.get("cache-control", ""), path
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("referrer-policy") == "no-referrer"
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", "")
    assert len(headers.get_list("cache-control")) == 1


async def test_refusals_and_the_pages_keep_their_headers(env: Env) -> None:  # noqa: F811
    async with env.client() as client:
        refused = await client.get("/api/snapshot")
        assert refused.status_code == 401
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert refused.headers["cache-control"] == "no-store"
        await sign_in(client, "sam")
        page = await client.get("/")
        static = await client.get("/static/app.js")
    # the page keeps its own policy (scripts and styles from itself), set once
    assert page.headers.get_list("content-security-policy") == [
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ]
    # the page's own files are not sniffed either, and may be cached (they hold no data)
    assert static.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in static.headers.get("cache-control", "")
