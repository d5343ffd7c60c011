"""The bridge's ``/v1`` API through httpx.ASGITransport, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from line311.call.record import LegEnd, QueueLeg
from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.db import SchemaNotCurrent, make_engine

from .conftest import T0, record_dict

pytestmark = pytest.mark.integration

MakeRecord = Callable[..., dict[str, Any]]


async def test_given_a_new_call_when_posted_then_201_and_readable(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    response = await api.post("/v1/calls", json=make_record())

    assert response.status_code == 201
    assert response.headers["location"] == "/v1/calls/1737986400.1"
    body = response.json()
    assert body["call_id"] == "1737986400.1"
    assert body["received_at"]
    got = await api.get("/v1/calls/1737986400.1")
    assert got.status_code == 200
    assert got.json()["dialed_number"] == "311"
    assert got.json()["path"] == ["greeting", "menu:main", "dtmf:1"]


async def test_given_a_stored_call_when_posted_again_identically_then_200(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    assert (await api.post("/v1/calls", json=make_record())).status_code == 201
    assert (await api.post("/v1/calls", json=make_record())).status_code == 200


async def test_given_a_stored_call_when_a_conflicting_one_is_posted_then_409(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    await api.post("/v1/calls", json=make_record())
    response = await api.post("/v1/calls", json=make_record(outcome="handled"))

    assert response.status_code == 409
    body = response.json()
    assert body["error_id"] == "call-conflict"
    assert body["details"] == {"call_id": "1737986400.1"}
    assert (await api.get("/v1/calls/1737986400.1")).json()["outcome"] == "self_served"


async def test_given_a_call_lost_with_its_asterisk_when_posted_then_stored_and_listed_as_such(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    leg = QueueLeg(
        queue="general",
        enqueued_at=T0 + timedelta(seconds=20),
        end=LegEnd.MEDIA_SERVER_LOST,
        ended_at=T0 + timedelta(seconds=95),
        wait_seconds=75.0,
    )
    lost = make_record(outcome="media_server_lost", queue="general", queue_leg=leg.to_dict())
    assert (await api.post("/v1/calls", json=lost)).status_code == 201
    await api.post("/v1/calls", json=make_record("other", outcome="abandoned_in_queue"))
    got = (await api.get("/v1/calls/1737986400.1")).json()
    assert (got["outcome"], got["queue_leg"]["end"]) == ("media_server_lost", "media_server_lost")
    assert got["abandoned_at"] is None  # not counted as a caller who gave up
    assert got["wait_seconds"] == 75.0
    listed = (await api.get("/v1/calls", params={"outcome": "media_server_lost"})).json()
    assert [c["call_id"] for c in listed["items"]] == ["1737986400.1"]


@pytest.mark.parametrize("field", ["caller_number", "caller_id", "from", "ani", "phone"])
async def test_given_a_raw_caller_number_field_when_posted_then_422_without_echoing_it(
    api: httpx.AsyncClient, make_record: MakeRecord, field: str
) -> None:
    response = await api.post("/v1/calls", json=make_record(**{field: "2125550123"}))

    assert response.status_code == 422
    assert response.json()["error_id"] == "invalid-request"
    assert "caller number" in response.text
    assert "2125550123" not in response.text
    assert (await api.get("/v1/calls/1737986400.1")).status_code == 404


async def test_given_a_phone_number_in_caller_hash_when_posted_then_422_without_echoing_it(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    response = await api.post("/v1/calls", json=make_record(caller_hash="2125550123"))

    assert response.status_code == 422
    assert "2125550123" not in response.text


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"surprise": 1}, "surprise"),
        ({"started_at": "2025-01-27T14:00:00"}, "started_at"),
        ({"call_id": 12345}, "call_id"),
        ({"ended_at": (T0 - timedelta(seconds=1)).isoformat()}, ""),
    ],
)
async def test_given_an_invalid_record_when_posted_then_422_naming_the_problem(
    api: httpx.AsyncClient, make_record: MakeRecord, change: dict[str, Any], where: str
) -> None:
    response = await api.post("/v1/calls", json=make_record(**change))

    assert response.status_code == 422
    body = response.json()
    assert body["error_id"] == "invalid-request"
    assert any(where in ".".join(d["loc"]) for d in body["details"])
    assert all(set(d) == {"loc", "msg", "type"} for d in body["details"])


async def test_given_no_or_a_wrong_key_then_401(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    no_key = await api.post("/v1/calls", json=make_record(), headers={"Authorization": ""})
    wrong = await api.get("/v1/calls", headers={"Authorization": "Bearer wrong-key"})
    basic = await api.get("/v1/calls", headers={"Authorization": "Basic Zm9vOmJhcg=="})

    for response in (no_key, wrong, basic):
        assert response.status_code == 401
        assert response.json()["error_id"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_health_is_open_and_reports_the_database(api: httpx.AsyncClient) -> None:
    response = await api.get("/health", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_given_calls_when_listed_over_http_then_filters_and_cursor_work(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    for i in range(7):
        start = T0 + timedelta(minutes=i)
        record = make_record(
            f"c{i}",
            started_at=start.isoformat(),
            answered_at=None,
            ended_at=(start + timedelta(seconds=30)).isoformat(),
            outcome="handled" if i % 2 else "self_served",
            queue="housing" if i % 2 else None,
        )
        assert (await api.post("/v1/calls", json=record)).status_code == 201

    first = (await api.get("/v1/calls", params={"limit": 2, "outcome": "handled"})).json()
    assert [c["call_id"] for c in first["items"]] == ["c5", "c3"]
    second = (
        await api.get(
            "/v1/calls", params={"limit": 2, "outcome": "handled", "cursor": first["next_cursor"]}
        )
    ).json()
    assert [c["call_id"] for c in second["items"]] == ["c1"]
    assert second["next_cursor"] is None

    window = await api.get(
        "/v1/calls",
        params={
            "start": (T0 + timedelta(minutes=2)).isoformat(),
            "end": (T0 + timedelta(minutes=4)).isoformat(),
        },
    )
    assert [c["call_id"] for c in window.json()["items"]] == ["c3", "c2"]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 5000}, {"start": "yesterday"}, {"start": "2025-01-01T00:00:00"}],
)
async def test_given_bad_list_parameters_then_422(
    api: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await api.get("/v1/calls", params=params)
    assert response.status_code == 422
    assert response.json()["error_id"] == "invalid-request"


async def test_given_a_forged_cursor_then_400(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/calls", params={"cursor": "Zm9yZ2Vk"})
    assert response.status_code == 400
    assert response.json()["error_id"] == "invalid-cursor"


async def test_given_an_unknown_call_then_404_in_the_error_shape(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/calls/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error_id": "call-not-found",
        "message": "no call 'nope'",
        "details": {"call_id": "nope"},
    }


async def test_given_an_unknown_route_then_404_in_the_error_shape(api: httpx.AsyncClient) -> None:
    response = await api.get("/v2/nothing")
    assert response.status_code == 404
    assert response.json()["error_id"] == "not-found"


async def test_given_an_oversized_body_then_413(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    response = await api.post("/v1/calls", json=make_record(path=["x" * 100] * 1000))
    assert response.status_code == 413
    assert response.json()["error_id"] == "body-too-large"


async def test_given_a_streamed_oversized_body_without_length_then_413(
    api: httpx.AsyncClient,
) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 1024

    response = await api.post(
        "/v1/calls", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_given_a_database_without_schema_when_the_app_is_created_then_it_refuses(
    new_database_url: Callable[[], str], settings: Settings
) -> None:
    engine = make_engine(new_database_url())
    try:
        with pytest.raises(SchemaNotCurrent, match="run: line311 db upgrade"):
            create_app(settings, engine=engine)
    finally:
        engine.dispose()


def test_given_settings_only_when_the_app_is_created_then_it_uses_the_settings_database(
    settings: Settings, engine: Engine
) -> None:
    # state_dir is a fresh tmp dir: the default SQLite file there has no schema yet
    with pytest.raises(SchemaNotCurrent):
        create_app(settings)


async def test_given_concurrent_posts_when_batched_together_then_each_gets_its_own_answer(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    assert (await api.post("/v1/calls", json=make_record("stored"))).status_code == 201
    bodies = [make_record(f"n{i}") for i in range(20)]
    bodies += [make_record("stored"), make_record("stored", outcome="abandoned")]
    bodies += [make_record("twice"), make_record("twice")]

    responses = await asyncio.gather(*(api.post("/v1/calls", json=b) for b in bodies))

    codes = [r.status_code for r in responses]
    assert codes[:20] == [201] * 20
    assert codes[20:22] == [200, 409]
    assert sorted(codes[22:]) == [200, 201]
    assert [r.json()["call_id"] for r in responses[:20]] == [f"n{i}" for i in range(20)]
    listed = await api.get("/v1/calls", params={"limit": 100})
    assert len(listed.json()["items"]) == 22


async def test_given_a_batch_when_posted_then_one_result_per_record_in_order(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    await api.post("/v1/calls", json=make_record("old"))
    records = [
        make_record("a"),
        make_record("old"),
        make_record("old", outcome="abandoned"),
        make_record("a"),
    ]

    response = await api.post("/v1/calls/batch", json={"records": records})

    assert response.status_code == 200
    body = response.json()
    assert [(r["call_id"], r["status"], r["outcome"]) for r in body["results"]] == [
        ("a", 201, "created"),
        ("old", 200, "duplicate"),
        ("old", 409, "conflict"),
        ("a", 200, "duplicate"),
    ]
    assert (body["created"], body["duplicates"], body["conflicts"]) == (1, 2, 1)
    assert (await api.get("/v1/calls/a")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"records": []},
        {"records": [record_dict("ok"), record_dict("bad", caller_number="2125550123")]},
        {"records": [record_dict("ok")], "extra": 1},
        [record_dict("ok")],
    ],
)
async def test_given_an_invalid_batch_when_posted_then_422_and_nothing_stored(
    api: httpx.AsyncClient, body: Any
) -> None:
    response = await api.post("/v1/calls/batch", json=body)

    assert response.status_code == 422
    assert response.json()["error_id"] == "invalid-request"
    assert "2125550123" not in response.text
    assert (await api.get("/v1/calls/ok")).status_code == 404


async def test_given_a_batch_over_the_single_record_limit_then_it_is_accepted(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    records = [make_record(f"big{i}", path=["x" * 100] * 30) for i in range(40)]

    response = await api.post("/v1/calls/batch", json={"records": records})

    assert response.status_code == 200
    assert response.json()["created"] == 40


async def test_given_a_batch_over_its_limit_then_413(
    api: httpx.AsyncClient, make_record: MakeRecord
) -> None:
    records = [make_record(f"big{i}", path=["x" * 100] * 100) for i in range(120)]

    response = await api.post("/v1/calls/batch", json={"records": records})

    assert response.status_code == 413
    assert response.json()["error_id"] == "body-too-large"
