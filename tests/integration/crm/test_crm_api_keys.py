"""Scoped, hashed API keys and per-key rate limits, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from line311.cli import app as cli_app
from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.db.api_keys import ApiKeyStore, InvalidApiKey, Scope, hash_token
from line311.db.engine import make_session_factory
from line311.db.models import ApiKeyRow

from .conftest import API_KEY
from .test_crm_open311 import BASE, heat_form

pytestmark = pytest.mark.integration


def _client(app: Any, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers
    )


def test_given_a_new_key_then_only_its_hash_is_stored_and_it_is_found_until_revoked(
    engine: Engine,
) -> None:
    store = ApiKeyStore(make_session_factory(engine))
    key, token = store.create("desk 12", Scope.AGENT_DESKTOP, agent_id="ccr-12")
    assert token.startswith("l311_")
    assert len(token) > 40
    with make_session_factory(engine)() as session:
        row = session.scalars(select(ApiKeyRow)).one()
        assert row.token_hash == hash_token(token)
        assert token not in {str(v) for v in vars(row).values()}
    assert store.find(token) == key
    assert store.find(token + "x") is None
    assert store.revoke(key.id)
    assert not store.revoke(key.id)
    assert store.find(token) is None
    assert [k.id for k in store.list(include_revoked=True)] == [key.id]
    assert store.list() == []


@pytest.mark.parametrize(
    ("scope", "method", "path", "allowed"),
    [
        (Scope.CONTROLLER, "POST", "/v1/calls", True),
        (Scope.AGENT_DESKTOP, "POST", "/v1/calls", False),
        (Scope.OPEN311_CLIENT, "POST", "/v1/calls", False),
        (Scope.ADMIN, "POST", "/v1/calls", True),
        (Scope.AGENT_DESKTOP, "GET", "/v1/calls", True),
        (Scope.OPEN311_CLIENT, "GET", "/v1/calls", False),
        (Scope.AGENT_DESKTOP, "POST", "/v1/screen-pops", False),
        (Scope.AGENT_DESKTOP, "GET", "/v1/sr/311000000017", True),
    ],
)
async def test_given_a_key_of_a_scope_when_calling_a_route_then_allowed_or_403(
    engine: Engine,
    settings: Settings,
    make_record: Callable[..., dict[str, Any]],
    scope: Scope,
    method: str,
    path: str,
    allowed: bool,
) -> None:
    app = create_app(settings, engine=engine)
    agent = "ccr-1" if scope is Scope.AGENT_DESKTOP else None
    _, token = ApiKeyStore(make_session_factory(engine)).create("k", scope, agent_id=agent)
    body = make_record() if path == "/v1/calls" else {"call_id": "x"}
    async with _client(app, token) as client:
        response = await client.request(method, path, json=body if method == "POST" else None)
    if allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403
        assert response.json()["error_id"] == "forbidden"


async def test_given_the_bootstrap_key_then_it_is_a_controller_key(
    engine: Engine, settings: Settings, make_record: Callable[..., dict[str, Any]]
) -> None:
    app = create_app(settings, engine=engine)
    async with _client(app, API_KEY) as client:
        assert (await client.post("/v1/calls", json=make_record())).status_code == 201
        form = await client.post(f"{BASE}/requests.json", data=heat_form(api_key=API_KEY))
        assert form.status_code == 403


async def test_given_a_revoked_or_unknown_key_then_401(engine: Engine, settings: Settings) -> None:
    app = create_app(settings, engine=engine)
    store = ApiKeyStore(make_session_factory(engine))
    key, token = store.create("k", Scope.ADMIN)
    store.revoke(key.id)
    for bad in (token, "l311_nope", "x" * 500):
        async with _client(app, bad) as client:
            response = await client.get("/v1/calls")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


async def test_given_a_key_over_its_rate_when_calling_then_429_with_retry_after(
    engine: Engine, settings: Settings
) -> None:
    app = create_app(settings, engine=engine)
    store = ApiKeyStore(make_session_factory(engine))
    _, slow = store.create(
        "slow desk", Scope.AGENT_DESKTOP, rate_per_second=0.01, burst=2, agent_id="ccr-1"
    )
    _, other = store.create("other desk", Scope.AGENT_DESKTOP, agent_id="ccr-2")
    async with _client(app, slow) as client:
        codes = [(await client.get("/v1/calls")).status_code for _ in range(3)]
        limited = await client.get("/v1/calls")
    assert codes == [200, 200, 429]
    assert limited.json()["error_id"] == "rate-limited"
    assert int(limited.headers["retry-after"]) >= 1
    async with _client(app, other) as client:
        assert (await client.get("/v1/calls")).status_code == 200


async def test_given_an_open311_client_key_over_its_rate_then_open311_429(
    engine: Engine, settings: Settings
) -> None:
    app = create_app(settings, engine=engine)
    _, token = ApiKeyStore(make_session_factory(engine)).create(
        "app", Scope.OPEN311_CLIENT, rate_per_second=0.01, burst=1
    )
    async with _client(app, None) as client:
        first = await client.post(f"{BASE}/requests.json", data=heat_form(api_key=token))
        second = await client.post(f"{BASE}/requests.json", data=heat_form(api_key=token))
    assert first.status_code == 201, first.text
    assert second.status_code == 429
    assert second.json()[0]["code"] == 429
    assert "retry-after" in second.headers


def test_given_the_apikeys_cli_then_create_prints_the_token_once_list_and_revoke_work(
    engine: Engine, tmp_path: Path
) -> None:
    env = {
        "LINE311_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "LINE311_STATE_DIR": str(tmp_path),
    }
    runner = CliRunner()
    created = runner.invoke(
        cli_app, ["apikeys", "create", "--scope", "open311_client", "--name", "311 app"], env=env
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert ApiKeyStore(make_session_factory(engine)).find(token) is not None

    listed = runner.invoke(cli_app, ["apikeys", "list", "--json"], env=env)
    keys = json.loads(listed.stdout)
    assert [(k["name"], k["scope"]) for k in keys] == [("311 app", "open311_client")]
    assert token not in listed.stdout

    bad = runner.invoke(cli_app, ["apikeys", "create", "--scope", "root", "--name", "x"], env=env)
    assert bad.exit_code != 0
    assert runner.invoke(cli_app, ["apikeys", "revoke", str(keys[0]["id"])], env=env).exit_code == 0
    assert runner.invoke(cli_app, ["apikeys", "revoke", str(keys[0]["id"])], env=env).exit_code == 1


def _cli_env(engine: Engine, tmp_path: Path) -> dict[str, str]:
    roster = tmp_path / "agents.yaml"
    roster.write_text("agents:\n  ana: {name: Ana}\n  ben: {name: Ben}\n", encoding="utf-8")
    return {
        "LINE311_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "LINE311_STATE_DIR": str(tmp_path),
        "LINE311_AGENTS_FILE": str(roster),
    }


def test_given_the_cli_when_a_desk_key_is_made_for_a_ccr_then_it_is_stored_bound(
    engine: Engine, tmp_path: Path
) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli_app,
        ["apikeys", "create", "--scope", "agent_desktop", "--agent", "ana", "--name", "desk ana"],
        env=_cli_env(engine, tmp_path),
    )
    assert created.exit_code == 0, created.output
    assert "CCR ana" in created.stderr
    assert "not in the roster" not in created.stderr
    key = ApiKeyStore(make_session_factory(engine)).find(created.stdout.strip())
    assert key is not None
    assert (key.scope, key.agent_id, key.unbound) == (Scope.AGENT_DESKTOP, "ana", False)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--scope", "agent_desktop"], "belongs to one CCR"),
        (["--scope", "agent_desktop", "--agent", "ana smith"], "1-64 letters, digits"),
        (["--scope", "agent_desktop", "--agent", "-ana"], "starting with a letter or digit"),
        (["--scope", "controller", "--agent", "ana"], "controller keys take no agent"),
        (["--scope", "admin", "--agent", "ana"], "admin keys take no agent"),
    ],
)
def test_given_the_cli_when_a_ccr_does_not_fit_the_scope_then_refused_and_nothing_stored(
    engine: Engine, tmp_path: Path, args: list[str], said: str
) -> None:
    result = CliRunner().invoke(
        cli_app, ["apikeys", "create", *args, "--name", "k"], env=_cli_env(engine, tmp_path)
    )
    assert result.exit_code == 2
    assert said in result.stderr
    assert result.stdout == ""
    assert ApiKeyStore(make_session_factory(engine)).list() == []


def test_given_the_cli_when_the_ccr_is_not_in_the_roster_then_the_key_is_made_with_a_warning(
    engine: Engine, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["apikeys", "create", "--scope", "agent_desktop", "--agent", "anna", "--name", "typo"],
        env=_cli_env(engine, tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "'anna' is not in the roster" in result.stderr
    assert [k.agent_id for k in ApiKeyStore(make_session_factory(engine)).list()] == ["anna"]


def test_given_a_desk_key_from_before_binding_then_the_cli_lists_it_as_unbound(
    engine: Engine, tmp_path: Path
) -> None:
    store = ApiKeyStore(make_session_factory(engine))
    store.create("desk ana", Scope.AGENT_DESKTOP, agent_id="ana")
    store.create("ops", Scope.ADMIN)
    with make_session_factory(engine).begin() as session:  # as an older line311 stored it
        session.add(
            ApiKeyRow(
                name="old desk",
                scope="agent_desktop",
                token_hash=hash_token("l311_old-desk"),
                prefix="l311_old-de",
                rate_per_second=None,
                burst=None,
                created_at=datetime(2025, 1, 1, tzinfo=UTC),
                revoked_at=None,
            )
        )
    env = _cli_env(engine, tmp_path)
    runner = CliRunner()

    listed = runner.invoke(cli_app, ["apikeys", "list", "--json"], env=env)
    by_name = {k["name"]: (k["agent_id"], k["unbound"]) for k in json.loads(listed.stdout)}
    assert by_name == {
        "desk ana": ("ana", False),
        "ops": (None, False),
        "old desk": (None, True),
    }

    table = runner.invoke(cli_app, ["apikeys", "list"], env={**env, "COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    rows = {line.split("│")[2].strip(): line for line in table.stdout.splitlines() if "│" in line}
    assert "unbound" in rows["old desk"]
    assert "unbound" not in rows["desk ana"]
    assert " ana " in rows["desk ana"]
    assert "1 agent_desktop key(s) are unbound" in table.stderr


def test_given_the_store_when_a_desk_key_has_no_ccr_then_refused_and_nothing_stored(
    engine: Engine,
) -> None:
    store = ApiKeyStore(make_session_factory(engine))
    with pytest.raises(InvalidApiKey, match="--agent"):
        store.create("desk", Scope.AGENT_DESKTOP)
    with pytest.raises(InvalidApiKey, match="take no agent"):
        store.create("ctl", Scope.CONTROLLER, agent_id="ana")
    assert store.list(include_revoked=True) == []
