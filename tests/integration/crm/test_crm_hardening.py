"""Issue 15 on the CRM bridge: input that would poison stored data or crash a public query is
refused with a clear 400/422, and what is stored stays intact (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from line311.crm_bridge import schemas
from line311.db.errors import DbUnavailable
from line311.db.service_requests import ServiceRequestStore

from .test_crm_open311 import BASE, file_request, heat_form

pytestmark = pytest.mark.integration

BAD_TEXT = ["bell\x07", "nul\x00", "escape\x1b[31m", "lone \ud800 surrogate", "\ufffe"]


def as_json(body: dict[str, Any]) -> dict[str, Any]:
    """A request whose JSON escapes everything (a lone surrogate travels as \\ud800)."""
    return {"content": json.dumps(body), "headers": {"Content-Type": "application/json"}}


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_given_control_characters_or_a_lone_surrogate_in_a_call_path_then_422_and_listing_still_works(
    api: httpx.AsyncClient, make_record: Callable[..., dict[str, Any]], bad: str
) -> None:
    await api.post("/v1/calls", json=make_record("good.1"))
    response = await api.post(
        "/v1/calls", **as_json(make_record("bad.1", path={"nodes": ["greeting", bad]}))
    )
    assert response.status_code == 422, response.text
    assert "path.nodes[1]" in response.text
    assert bad not in response.text
    listing = await api.get("/v1/calls")
    assert listing.status_code == 200
    assert [c["call_id"] for c in listing.json()["items"]] == ["good.1"]


async def test_given_a_caller_number_nested_in_the_path_then_it_is_refused_and_not_stored(
    api: httpx.AsyncClient, make_record: Callable[..., dict[str, Any]]
) -> None:
    record = make_record("nested.1", path={"handoff": {"caller_number": "2125550123"}})
    response = await api.post("/v1/calls", json=record)
    assert response.status_code == 422
    assert "caller_number" in response.text
    assert "2125550123" not in response.text
    assert (await api.get("/v1/calls/nested.1")).status_code == 404


async def test_given_a_path_nested_too_deep_then_it_is_refused(
    api: httpx.AsyncClient, make_record: Callable[..., dict[str, Any]]
) -> None:
    path: Any = ["leaf"]
    for _ in range(40):
        path = [path]
    response = await api.post("/v1/calls", json=make_record("deep.1", path=path))
    assert response.status_code == 422
    assert "deeper" in response.text


@pytest.mark.parametrize("bad", ["a\x00b", "x\x01", "tab\x0bvertical"])
async def test_given_control_characters_in_an_open311_post_then_400_and_requests_xml_stays_well_formed(
    api: httpx.AsyncClient, bad: str
) -> None:
    filed = await file_request(api)
    response = await api.post(f"{BASE}/requests.json", data=heat_form(description=bad))
    assert response.status_code == 400
    (error,) = response.json()
    assert "description" in error["description"]
    xml = await api.get(f"{BASE}/requests.xml")
    assert xml.status_code == 200
    ids = [r.findtext("service_request_id") for r in ET.fromstring(xml.text)]
    assert ids == [filed["service_request_id"]]


async def test_tab_cr_and_lf_stay_allowed_in_open311_text(api: httpx.AsyncClient) -> None:
    text = "line one\r\n\tline two"
    filed = await file_request(api, description=text)  # asserts 201
    (sr,) = (await api.get(f"{BASE}/requests/{filed['service_request_id']}.json")).json()
    assert sr["description"] == text


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "0001-01-01T00:00:00+14:00"},
        {"end_date": "9999-12-31T23:59:59-14:00"},
        {"start_date": "9999-12-31T00:00:00Z"},
        {"start_date": "1000-01-01T00:00:00Z"},
        {"service_code": "pot\x00hole"},
        {"status": "open\x00"},
        {"service_request_id": "\x00"},
    ],
)
async def test_given_extreme_dates_or_nul_in_an_open311_search_then_400_not_5xx(
    api: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await api.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 400, response.text
    assert (await api.get(f"{BASE}/requests.json")).status_code == 200


async def test_given_nul_in_any_bridge_query_or_path_then_400(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/calls", params={"queue": "a\x00"})).status_code == 400
    assert (await api.get(f"{BASE}/requests/SR%00.json")).status_code == 400
    assert (await api.get(f"{BASE}/tokens/t%00k.json")).status_code == 400


def test_engines_hide_statement_parameters(engine: Engine) -> None:
    assert engine.hide_parameters is True


async def test_a_database_error_is_logged_by_class_without_the_values(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "ada.lovelace@example.org"

    def failing(*_a: Any, **_k: Any) -> Any:
        raise DbUnavailable(f"searching service requests failed: (psycopg) value {secret!r}")

    monkeypatch.setattr(ServiceRequestStore, "search_public", failing)
    with caplog.at_level(logging.ERROR):
        response = await api.get(f"{BASE}/requests.json")
    assert response.status_code == 503
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "DbUnavailable: searching service requests failed" in logged
    assert secret not in logged


# A call record no database stores (PostgreSQL and SQLite alike) is a 422 naming the field,
# never a 503 "try again": the controller keeps retrying a 503, and the bad record blocked the
# good ones behind it.
LEG = {
    "queue": "general",
    "enqueued_at": "2025-01-27T14:00:10+00:00",
    "end": "answered",
    "answered_at": "2025-01-27T14:00:20+00:00",
    "ended_at": "2025-01-27T14:01:30+00:00",
    "agent_id": "ccr-1",
}
POISON: dict[str, tuple[dict[str, Any], str]] = {
    "started in year 1 east of UTC": ({"started_at": "0001-01-01T00:00:00+14:00"}, "started_at"),
    "ended in year 9999 west of UTC": ({"ended_at": "9999-12-31T23:59:59-14:00"}, "ended_at"),
    "leg queue of 200 characters": (
        {"outcome": "handled", "queue_leg": LEG | {"queue": "q" * 200}},
        "queue_leg.queue",
    ),
    "leg agent of 300 characters": (
        {"outcome": "handled", "queue_leg": LEG | {"agent_id": "a" * 300}},
        "queue_leg.agent_id",
    ),
    "leg wait an integer past float's range": (
        {"outcome": "handled", "queue_leg": LEG | {"wait_seconds": 10**400}},
        "queue_leg.wait_seconds",
    ),
    "leg enqueued in year 1 east of UTC": (
        {"outcome": "handled", "queue_leg": LEG | {"enqueued_at": "0001-01-01T00:00:00+14:00"}},
        "queue_leg.enqueued_at",
    ),
}


@pytest.mark.parametrize("case", POISON)
async def test_given_a_call_record_no_database_stores_then_422_naming_the_field_and_nothing_stored(
    api: httpx.AsyncClient, make_record: Callable[..., dict[str, Any]], case: str
) -> None:
    change, field = POISON[case]
    response = await api.post("/v1/calls", **as_json(make_record("poison.1", **change)))
    assert response.status_code == 422, response.text
    assert response.json()["error_id"] == "invalid-request"
    assert field in response.text
    assert (await api.get("/v1/calls/poison.1")).status_code == 404
    good = await api.post("/v1/calls", json=make_record("good.1"))
    assert good.status_code == 201, good.text


@pytest.mark.parametrize("case", POISON)
async def test_given_a_batch_with_one_record_no_database_stores_then_422_naming_it_and_the_rest_store_alone(
    api: httpx.AsyncClient, make_record: Callable[..., dict[str, Any]], case: str
) -> None:
    change, field = POISON[case]
    good = [make_record(f"good.{n}") for n in range(3)]
    bad = make_record("poison.1", **change)
    response = await api.post("/v1/calls/batch", **as_json({"records": [*good, bad]}))
    assert response.status_code == 422, response.text  # the batch's rule: all or nothing
    locations = [".".join(map(str, d["loc"])) for d in response.json()["details"]]
    assert any(loc.startswith("body.records.3") for loc in locations), locations
    assert field in response.text
    assert (await api.get("/v1/calls")).json()["items"] == []
    again = await api.post("/v1/calls/batch", json={"records": good})
    assert again.status_code == 200, again.text
    assert again.json()["created"] == 3


@pytest.fixture
def unchecked_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Record times pass validation unchecked, so a year-1 time reaches the database: what
    any value the schema lets through and the database refuses would do."""
    monkeypatch.setattr(schemas, "check_instant", lambda when, _name: when)


async def test_given_concurrent_records_and_one_the_database_refuses_then_that_one_422_and_the_others_stored(
    api: httpx.AsyncClient, make_record: Callable[..., dict[str, Any]], unchecked_times: None
) -> None:
    bad = make_record("refused.1", started_at="0001-01-01T00:00:00+14:00")
    good = [make_record(f"good.{n}") for n in range(3)]
    responses = await asyncio.gather(*(api.post("/v1/calls", json=r) for r in [*good, bad]))
    assert [r.status_code for r in responses] == [201, 201, 201, 422], responses[-1].text
    assert responses[-1].json()["error_id"] == "record-refused"
    assert (await api.get("/v1/calls/refused.1")).status_code == 404
    batch = await api.post("/v1/calls/batch", json={"records": [make_record("good.9"), bad]})
    assert batch.status_code == 422, batch.text  # all or nothing, as for an invalid record
    assert batch.json()["error_id"] == "record-refused"
    assert (await api.get("/v1/calls/good.9")).status_code == 404


# Posting the same record again is idempotent on both back-ends, also when PostgreSQL's JSONB
# hands its numbers back in another form (1e23 as the integer 10**23).
REPEATS: dict[str, dict[str, Any]] = {
    "leg wait of 1e23 seconds": {"outcome": "handled", "queue_leg": LEG | {"wait_seconds": 1e23}},
    "path value 1e300": {"path": [{"x": 1e300}]},
    "path value 1e23": {"path": {"x": 1e23, "y": [0.1, 123456789.123456789, 2**64]}},
}


@pytest.mark.parametrize("case", REPEATS)
async def test_given_a_record_posted_twice_then_201_then_200_whatever_the_back_end_makes_of_its_numbers(
    api: httpx.AsyncClient, make_record: Callable[..., dict[str, Any]], case: str
) -> None:
    record = make_record("repeat.1", **REPEATS[case])
    first = await api.post("/v1/calls", json=record)
    assert first.status_code == 201, first.text
    again = await api.post("/v1/calls", json=record)
    assert again.status_code == 200, again.text
    batch = await api.post("/v1/calls/batch", json={"records": [record, record]})
    assert batch.status_code == 200, batch.text
    assert [r["status"] for r in batch.json()["results"]] == [200, 200]
