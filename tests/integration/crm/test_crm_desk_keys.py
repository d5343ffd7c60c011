"""A desk key bound to a CCR reads only what that CCR needs (SQLite and PostgreSQL).

The calls: ``c-ana`` (Ana took it), ``c-ben`` (Ben's), ``c-xfer`` (Ben's record, but a
screen pop went to Ana: a transfer), ``c-live`` (a screen pop to Ana, no record yet: the
call is still going).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.db.api_keys import ApiKeyStore, Scope, hash_token
from line311.db.engine import make_session_factory
from line311.db.models import ApiKeyRow

from .conftest import API_KEY, T0, record_dict

pytestmark = pytest.mark.integration

HASH = "0123456789abcdef0123456789abcdef"
LEGACY_DESK = "l311_legacy-desk-token-0123456789"


def pop_body(call_id: str, agent_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_id": call_id,
        "agent_id": agent_id,
        "queue": "housing",
        "language": "en",
        "caller_hash": HASH,
        "path": ["greeting", "menu:housing"],
        "alerts": [],
        "wait_seconds": 12.0,
        "connected_at": T0.isoformat(),
    }
    body.update(changes)
    return body


def sr_body(call_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_code": "noise-residential",
        "attributes": {"descriptor": "loud_music_party", "location_type": "residential_building"},
    }
    if call_id is not None:
        body["call_id"] = call_id
    return body


def add_legacy_desk_key(engine: Engine, name: str, token: str, *, revoked: bool = False) -> None:
    """A desk key as line311 stored it before keys were bound to a CCR."""
    with make_session_factory(engine).begin() as session:
        session.add(
            ApiKeyRow(
                name=name,
                scope="agent_desktop",
                token_hash=hash_token(token),
                prefix=token[:11],
                rate_per_second=1000.0,
                burst=1000,
                created_at=T0,
                revoked_at=T0 if revoked else None,
            )
        )


@dataclass
class Bridge:
    app: Any
    tokens: dict[str, str]

    def client(self, who: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://bridge.test",
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
        )


@pytest.fixture
async def bridge(engine: Engine, settings: Settings) -> Bridge:
    keys = ApiKeyStore(make_session_factory(engine))
    fast = {"rate_per_second": 1000.0, "burst": 1000}
    tokens = {"controller": API_KEY, "legacy": LEGACY_DESK}
    tokens["ana"] = keys.create("desk ana", Scope.AGENT_DESKTOP, agent_id="ana", **fast)[1]
    tokens["ben"] = keys.create("desk ben", Scope.AGENT_DESKTOP, agent_id="ben", **fast)[1]
    tokens["admin"] = keys.create("ops", Scope.ADMIN, **fast)[1]
    add_legacy_desk_key(engine, "old shared desk", LEGACY_DESK)
    found = Bridge(create_app(settings, engine=engine), tokens)
    async with found.client("controller") as controller:
        for minutes, (call_id, agent) in enumerate(
            [("c-ana", "ana"), ("c-ben", "ben"), ("c-xfer", "ben")]
        ):
            record = record_dict(
                call_id,
                started_at=(T0 - timedelta(minutes=minutes)).isoformat(),
                outcome="handled",
                queue="housing",
                agent_id=agent,
            )
            posted = await controller.post("/v1/calls", json=record)
            assert posted.status_code == 201, posted.text
        for call_id, agent in [
            ("c-ana", "ana"),
            ("c-ben", "ben"),
            ("c-xfer", "ben"),
            ("c-xfer", "ana"),
            ("c-live", "ana"),
        ]:
            created = await controller.post("/v1/screen-pops", json=pop_body(call_id, agent))
            assert created.status_code == 201, created.text
    return found


async def listed(client: httpx.AsyncClient, **params: Any) -> set[str]:
    response = await client.get("/v1/calls", params=params)
    assert response.status_code == 200, response.text
    return {c["call_id"] for c in response.json()["items"]}


# ------------------------------------------------------------------ calls


async def test_given_a_bound_desk_key_when_listing_calls_then_only_the_calls_its_ccr_handled(
    bridge: Bridge,
) -> None:
    async with bridge.client("ana") as ana, bridge.client("ben") as ben:
        assert await listed(ana) == {"c-ana", "c-xfer"}  # c-live has no record yet
        assert await listed(ben) == {"c-ben", "c-xfer"}
        assert await listed(ana, queue="housing", outcome="handled") == {"c-ana", "c-xfer"}
        assert await listed(ana, agent="ana") == {"c-ana"}  # the record's agent_id, as ever


async def test_given_a_bound_desk_key_when_paging_its_calls_then_the_cursor_stays_within_them(
    bridge: Bridge,
) -> None:
    seen: list[str] = []
    cursor = None
    async with bridge.client("ana") as ana:
        for _ in range(3):
            params = {"limit": 1} if cursor is None else {"limit": 1, "cursor": cursor}
            page = (await ana.get("/v1/calls", params=params)).json()
            seen += [c["call_id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert sorted(seen) == ["c-ana", "c-xfer"]


async def test_given_a_bound_desk_key_when_it_asks_for_another_ccrs_calls_then_403(
    bridge: Bridge,
) -> None:
    async with bridge.client("ana") as ana:
        response = await ana.get("/v1/calls", params={"agent": "ben"})
        nobody = await ana.get("/v1/calls", params={"agent": "no-such-ccr"})
    assert response.status_code == 403
    assert response.json()["error_id"] == "forbidden"
    assert "'ana'" in response.json()["message"]
    assert nobody.json() == response.json()  # the same whether that CCR exists or not


async def test_given_a_bound_desk_key_when_reading_a_call_then_its_own_and_transfers_only(
    bridge: Bridge,
) -> None:
    async with bridge.client("ana") as ana:
        assert (await ana.get("/v1/calls/c-ana")).json()["agent_id"] == "ana"
        assert (await ana.get("/v1/calls/c-xfer")).json()["agent_id"] == "ben"
        other = await ana.get("/v1/calls/c-ben")
        missing = await ana.get("/v1/calls/c-nope")
    assert (other.status_code, missing.status_code) == (404, 404)
    # another CCR's call is answered exactly as a call that does not exist
    assert other.json() == {
        "error_id": "call-not-found",
        "message": "no call 'c-ben'",
        "details": {"call_id": "c-ben"},
    }
    assert missing.json() == {
        "error_id": "call-not-found",
        "message": "no call 'c-nope'",
        "details": {"call_id": "c-nope"},
    }
    assert other.headers.keys() == missing.headers.keys()


# ------------------------------------------------------------------ screen pops


async def test_given_a_bound_desk_key_when_reading_screen_pops_then_only_its_own_ccrs(
    bridge: Bridge,
) -> None:
    async with bridge.client("ana") as ana:
        own = await ana.get("/v1/screen-pops/c-xfer/ana")
        live = await ana.get("/v1/screen-pops/c-live/ana")
        not_there = await ana.get("/v1/screen-pops/c-ben/ana")
        others = await ana.get("/v1/screen-pops/c-ben/ben")
        others_missing = await ana.get("/v1/screen-pops/c-nope/ben")
    assert (own.status_code, live.status_code) == (200, 200)
    assert own.json()["agent_id"] == "ana"
    assert not_there.status_code == 404
    assert not_there.json()["error_id"] == "screen-pop-not-found"
    assert others.status_code == 403
    assert others.json()["error_id"] == "forbidden"
    assert others_missing.json() == others.json()  # refused before anything is read


# ------------------------------------------------------------------ service requests


async def test_given_a_bound_desk_key_when_filing_an_sr_then_only_for_a_call_its_ccr_handled(
    bridge: Bridge,
) -> None:
    async with bridge.client("ana") as ana:
        for call_id in ("c-ana", "c-xfer", "c-live"):  # c-live: the pop alone, mid-call
            filed = await ana.post("/v1/sr", json=sr_body(call_id))
            assert filed.status_code == 201, (call_id, filed.text)
        other = await ana.post("/v1/sr", json=sr_body("c-ben"))
        missing = await ana.post("/v1/sr", json=sr_body("c-nope"))
        no_call = await ana.post("/v1/sr", json=sr_body(None))
    assert other.status_code == 404
    assert other.json() == {
        "error_id": "call-not-found",
        "message": "no call 'c-ben'",
        "details": {"call_id": "c-ben"},
    }
    assert missing.status_code == 404
    assert missing.json()["error_id"] == "call-not-found"
    assert no_call.status_code == 403
    assert no_call.json()["error_id"] == "forbidden"
    assert "call_id" in no_call.json()["message"]


async def test_given_a_bound_desk_key_then_it_reads_and_sets_the_status_of_any_sr(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    async with bridge.client("controller") as controller:
        filed = await controller.post("/v1/sr", json=sr_body("c-ben"))
    sr_number = filed.json()["sr_number"]
    async with bridge.client("ana") as ana:
        read = await ana.get(f"/v1/sr/{sr_number}")
        with caplog.at_level(logging.INFO, logger="line311.crm_bridge.routes_sr"):
            closed = await ana.post(
                f"/v1/sr/{sr_number}/status", json={"status": "closed", "status_notes": "done"}
            )
    assert read.status_code == 200
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    logged = [r.getMessage() for r in caplog.records if sr_number in r.getMessage()]
    assert len(logged) == 1
    assert "agent_desktop, CCR ana" in logged[0]


# ------------------------------------------------------------------ who is not confined


@pytest.mark.parametrize("who", ["controller", "admin", "legacy"])
async def test_given_a_controller_admin_or_unbound_desk_key_then_every_call_and_pop(
    bridge: Bridge, who: str
) -> None:
    async with bridge.client(who) as client:
        assert await listed(client) == {"c-ana", "c-ben", "c-xfer"}
        assert await listed(client, agent="ben") == {"c-ben", "c-xfer"}
        assert (await client.get("/v1/calls/c-ben")).status_code == 200
        assert (await client.get("/v1/screen-pops/c-ben/ben")).status_code == 200
        assert (await client.post("/v1/sr", json=sr_body(None))).status_code == 201
        assert (await client.post("/v1/sr", json=sr_body("c-ben"))).status_code == 201


async def test_given_a_bound_desk_key_then_it_still_may_not_write_calls_or_pops(
    bridge: Bridge, make_record: Callable[..., dict[str, Any]]
) -> None:
    async with bridge.client("ana") as ana:
        call = await ana.post("/v1/calls", json=make_record("c-new", agent_id="ana"))
        pop = await ana.post("/v1/screen-pops", json=pop_body("c-new", "ana"))
    assert (call.status_code, pop.status_code) == (403, 403)


async def test_the_principal_is_no_parameter_in_the_openapi_document(bridge: Bridge) -> None:
    async with bridge.client("controller") as client:
        spec = (await client.get("/openapi.json")).json()
    for path, method in [
        ("/v1/calls", "get"),
        ("/v1/calls/{call_id}", "get"),
        ("/v1/sr", "post"),
        ("/v1/sr/{sr_number}/status", "post"),
        ("/v1/screen-pops/{call_id}/{agent_id}", "get"),
    ]:
        names = {p["name"] for p in spec["paths"][path][method].get("parameters", [])}
        assert "who" not in names, path


# ------------------------------------------------------------------ start-up warning


def test_given_unbound_desk_keys_when_the_bridge_starts_then_one_warning_says_how_many_and_how_to_fix(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    keys = ApiKeyStore(make_session_factory(engine))
    keys.create("desk ana", Scope.AGENT_DESKTOP, agent_id="ana")
    add_legacy_desk_key(engine, "old 1", "l311_old-1-token")
    add_legacy_desk_key(engine, "old 2", "l311_old-2-token")
    add_legacy_desk_key(engine, "old revoked", "l311_old-3-token", revoked=True)
    with caplog.at_level(logging.WARNING, logger="line311.crm_bridge.app"):
        create_app(settings, engine=engine)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith("2 agent_desktop API key(s) belong to no CCR")
    assert "--agent" in message
    assert "apikeys revoke" in message


def test_given_only_bound_desk_keys_when_the_bridge_starts_then_no_warning(
    engine: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    ApiKeyStore(make_session_factory(engine)).create("desk", Scope.AGENT_DESKTOP, agent_id="ana")
    with caplog.at_level(logging.WARNING, logger="line311.crm_bridge.app"):
        create_app(settings, engine=engine)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
