"""The IVR's SR lookup, SR filing by a CCR, and screen pops (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from line311.call.srnumber import format_sr_number, make_sr_number, validate_sr_number

pytestmark = pytest.mark.integration

HASH = "0123456789abcdef0123456789abcdef"


async def file_sr(api: httpx.AsyncClient, **changes: Any) -> str:
    body: dict[str, Any] = {
        "service_code": "noise-residential",
        "call_id": "1737986400.1",
        "caller_hash": HASH,
        "description": "Party upstairs every night; neighbour Bob Smith, bob@example.org",
        "address": "12 Main St, Apt 3",
        "attributes": {"descriptor": "loud_music_party", "location_type": "residential_building"},
    }
    body.update(changes)
    response = await api.post("/v1/sr", json=body)
    assert response.status_code == 201, response.text
    sr_number = response.json()["sr_number"]
    assert validate_sr_number(sr_number)
    return str(sr_number)


async def test_given_an_sr_when_the_ivr_looks_it_up_then_status_without_personal_data(
    api: httpx.AsyncClient,
) -> None:
    sr_number = await file_sr(api)
    await api.post(
        f"/v1/sr/{sr_number}/status",
        json={
            "status": "closed",
            "status_notes": "Officers responded; call 212-555-0199 or mail ops@nypd.example.",
        },
    )

    response = await api.get(f"/v1/sr/{format_sr_number(sr_number)}")  # dashes are fine

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "closed"
    assert body["service_name"] == "Noise - Residential"
    assert body["agency"] == "NYPD"
    assert body["sr_number_spoken"].startswith("3 1 1, ")
    assert body["status_notes"].startswith("Officers responded")
    for private in ("Bob", "bob@example.org", "Main St", HASH, "1737986400", "555", "ops@"):
        assert private not in response.text


async def test_given_a_wrong_check_digit_then_422_and_unknown_number_404(
    api: httpx.AsyncClient,
) -> None:
    good = make_sr_number(999_999)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)

    assert (await api.get(f"/v1/sr/{bad}")).json()["error_id"] == "invalid-sr-number"
    assert (await api.get(f"/v1/sr/{good}")).status_code == 404


async def test_the_lookup_needs_the_api_key(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/v1/sr/{make_sr_number(1)}", headers={"Authorization": ""})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"service_code": "teleportation"}, 404),
        ({"attributes": {"descriptor": "whistling"}}, 422),
        ({"caller_number": "2125550123"}, 422),
        ({"unexpected": 1}, 422),
    ],
)
async def test_filing_an_sr_validates_service_and_attributes(
    api: httpx.AsyncClient, changes: dict[str, Any], status: int
) -> None:
    body = {
        "service_code": "noise-residential",
        "attributes": {"descriptor": "loud_music_party", "location_type": "park"},
    }
    body.update(changes)
    response = await api.post("/v1/sr", json=body)
    assert response.status_code == status
    assert "2125550123" not in response.text


def screen_pop(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_id": "1737990000.7",
        "agent_id": "agent2",
        "queue": "housing",
        "language": "es",
        "caller_hash": HASH,
        "path": ["greeting", "lang:es", "menu:housing"],
        "alerts": ["winter-storm"],
        "wait_seconds": 42.5,
        "connected_at": datetime(2025, 1, 27, 15, 0, tzinfo=UTC).isoformat(),
    }
    body.update(changes)
    return body


async def test_a_screen_pop_shows_the_callers_earlier_srs_and_is_idempotent(
    api: httpx.AsyncClient,
) -> None:
    first = await file_sr(api)
    second = await file_sr(api)
    await file_sr(api, caller_hash="f" * 32)  # somebody else's

    created = await api.post("/v1/screen-pops", json=screen_pop())
    assert created.status_code == 201
    body = created.json()
    assert [r["sr_number"] for r in body["earlier_requests"]] == [second, first]
    assert body["language"] == "es"
    assert body["alerts"] == ["winter-storm"]
    assert HASH not in created.text

    assert (await api.post("/v1/screen-pops", json=screen_pop())).status_code == 200
    conflict = await api.post("/v1/screen-pops", json=screen_pop(wait_seconds=3))
    assert conflict.status_code == 409
    got = await api.get("/v1/screen-pops/1737990000.7/agent2")
    assert got.status_code == 200
    assert got.json()["wait_seconds"] == 42.5
    assert (await api.get("/v1/screen-pops/1737990000.7/agent9")).status_code == 404


async def test_a_screen_pop_with_a_caller_number_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/screen-pops", json=screen_pop(caller_id="2125550123"))
    assert response.status_code == 422
    assert "2125550123" not in response.text
