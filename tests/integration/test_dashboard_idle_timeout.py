"""A dashboard session's idle timeout (SQLite and PostgreSQL, in process over the ASGI
transport, a fake clock). Before, a session lived until its absolute expiry (12 hours)
however long nobody used it. Now a session unused for ``idle_seconds`` is refused (401) for
everything but *watching* the wallboard (the page, /api/me, the snapshot, the live feed,
signing out), which neither needs nor counts as use; every other request is use and renews
the cookie. (The feeds over a real server: test_dashboard_feeds_end.py.)"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from line311.dashboard.auth import SESSION_COOKIE
from tests.integration.crm.conftest import (  # noqa: F401 - fixtures
    backend,
    engine,
    migrated_engine,
    new_database_url,
    pg_databases,
)
from tests.integration.dashboard_env import Env, build_env, sign_in

pytestmark = pytest.mark.integration

SECRET = "idle-test-secret-0123456789abcdef"
IDLE = 900.0


@pytest.fixture
async def env(engine: Engine) -> AsyncIterator[Env]:  # noqa: F811
    found = build_env(engine, SECRET, idle_seconds=IDLE)
    yield found
    await found.stop()


async def pause(client: httpx.AsyncClient, csrf: str) -> httpx.Response:
    return await client.post(
        "/api/agents/a1/pause", json={"reason": "break"}, headers={"X-CSRF-Token": csrf}
    )


def cookie_payload(client: httpx.AsyncClient) -> dict[str, object]:
    body = client.cookies[SESSION_COOKIE].split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


# ---------------------------------------------------------------------- idle timeout
async def test_given_a_session_unused_for_the_idle_timeout_then_acting_and_reading_are_401(
    env: Env,
) -> None:
    async with env.client() as client:
        csrf = await sign_in(client)
        env.clock.now += IDLE
        response = await pause(client, csrf)
        assert response.status_code == 401
        assert response.json()["error_id"] == "unauthenticated"
        assert "without activity" in response.json()["message"]
        for path in ("/api/audit", "/api/reports/abandoned?from=0&to=60"):
            assert (await client.get(path)).status_code == 401, path
        assert (await client.post("/api/activity", headers={"X-CSRF-Token": csrf})).status_code == (
            401
        )
        assert [e for e in env.store.audit_entries() if e["action"] == "agent.pause"] == []


async def test_given_a_used_session_then_each_use_restarts_the_idle_clock(env: Env) -> None:
    async with env.client() as client:
        csrf = await sign_in(client)
        expires = cookie_payload(client)["e"]
        for _ in range(4):  # an hour of use, never idle for the timeout
            env.clock.now += IDLE - 60
            response = await client.post("/api/activity", headers={"X-CSRF-Token": csrf})
            assert response.status_code == 200
            assert SESSION_COOKIE in response.headers["set-cookie"]
            assert "httponly" in response.headers["set-cookie"].lower()
        renewed = cookie_payload(client)
        assert renewed["a"] == int(env.clock.now)
        assert renewed["e"] == expires  # the absolute expiry stays
        assert renewed["c"] == csrf  # and the page's CSRF token still works
        assert (await pause(client, csrf)).status_code == 200


async def test_given_an_idle_session_then_it_may_still_watch_the_wallboard_and_sign_out(
    env: Env,
) -> None:
    """A wall screen shows the board all day: the page, /api/me, the snapshot and the live
    feed need no activity, and do not count as activity (no renewed cookie)."""
    async with env.client() as client:
        csrf = await sign_in(client)
        env.clock.now += IDLE + 3600
        for path in ("/", "/api/me", "/api/snapshot"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert "set-cookie" not in response.headers, path
        assert (await client.get("/api/me")).json()["idle_timeout"] == IDLE
        assert (await pause(client, csrf)).status_code == 401  # watching was not use
        signed_out = await client.post("/logout", headers={"X-CSRF-Token": csrf})
        assert signed_out.status_code == 200
        assert (await client.get("/api/me")).status_code == 401


async def test_given_watching_only_then_the_session_still_goes_idle_for_acting(env: Env) -> None:
    async with env.client() as client:
        csrf = await sign_in(client)
        for _ in range(3):
            env.clock.now += IDLE / 2
            assert (await client.get("/api/snapshot")).status_code == 200
        assert (await pause(client, csrf)).status_code == 401


async def test_given_a_bearer_token_then_there_is_no_idle_timeout(env: Env) -> None:
    token, _ = env.auth.bearer_token("sam")
    async with env.client() as client:
        headers = {"Authorization": f"Bearer {token}"}
        env.clock.now += 10 * IDLE
        response = await client.post("/api/agents/a1/pause", json={}, headers=headers)
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        assert (await client.get("/api/me", headers=headers)).json()["idle_timeout"] == 0


async def test_given_a_cookie_from_before_idle_timeouts_then_its_idle_clock_is_its_sign_in(
    env: Env,
) -> None:
    async with env.client() as client:
        csrf = await sign_in(client)
        _, generation, _ = env.store.generations("sam") or (None, 0, 0)
        old = env.auth.signer.issue(
            "sam",
            "session",
            expires=env.clock.now + env.auth.session_seconds,
            csrf=csrf,
            generation=generation,
        )  # no "a"
        client.cookies.set(SESSION_COOKIE, old, domain="line311.test")
        env.clock.now += IDLE - 1
        assert (await pause(client, csrf)).status_code == 200  # renewed: now it has one
        assert cookie_payload(client)["a"] == int(env.clock.now)
        client.cookies.set(SESSION_COOKIE, old, domain="line311.test")
        env.clock.now += 1
        assert (await pause(client, csrf)).status_code == 401


async def test_given_idle_timeout_zero_then_sessions_never_go_idle(engine: Engine) -> None:  # noqa: F811
    found = build_env(engine, SECRET, idle_seconds=0)
    try:
        async with found.client() as client:
            csrf = await sign_in(client)
            found.clock.now += 11 * 3600
            response = await pause(client, csrf)
            assert response.status_code == 200
            assert "set-cookie" not in response.headers
    finally:
        await found.stop()
