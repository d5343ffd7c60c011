"""The CRM bridge's ``/metrics`` through httpx.ASGITransport, and the outbox figures it reads,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.engine import Engine

from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.db.calls import Call, CallRepository
from line311.db.engine import make_session_factory
from line311.db.models import OutboxRow
from line311.db.outbox import OutboxStore
from tests.fixtures.prom import named, parse

from .conftest import API_KEY, OPEN311_KEY, T0

pytestmark = pytest.mark.integration


def _call(i: int) -> Call:
    return Call(
        call_id=f"metrics.{i}",
        dialed_number="311",
        caller_hash=None,
        started_at=T0 + timedelta(seconds=i),
        answered_at=None,
        ended_at=T0 + timedelta(seconds=i + 60),
        outcome="self_served",
        language="en",
        queue=None,
        agent_id=None,
        path=["greeting"],
    )


@pytest.fixture
def forwarding(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path,
        crm_api_key=SecretStr(API_KEY),
        crm_webhook_url="http://127.0.0.1:9/hook",
        crm_webhook_secret=SecretStr("whsec-" + "0123456789abcdef"),
    )


@pytest.fixture
async def bridge(engine: Engine, forwarding: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(forwarding, engine=engine, deliver_outbox=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://bridge.test",
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


def _app(client: httpx.AsyncClient) -> FastAPI:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    return app


async def test_given_traffic_then_metrics_count_it_by_route_template_with_no_ids_or_keys(
    bridge: httpx.AsyncClient, make_record: Callable[..., dict[str, Any]]
) -> None:
    assert (await bridge.post("/v1/calls", json=make_record())).status_code == 201
    assert (await bridge.post("/v1/calls", json=make_record())).status_code == 200
    conflict = await bridge.post("/v1/calls", json=make_record(outcome="abandoned"))
    assert conflict.status_code == 409
    batch = {"records": [make_record(call_id="1737986400.2"), make_record(call_id="1737986400.3")]}
    assert (await bridge.post("/v1/calls/batch", json=batch)).status_code == 200
    assert (await bridge.get("/v1/calls/1737986400.1")).status_code == 200
    lookup = await bridge.get("/v1/sr/311000000001")
    assert lookup.status_code in (404, 422)  # unknown, or its check digit is wrong
    assert (await bridge.get("/open311/v2/services.json")).status_code == 200
    assert (await bridge.get("/open311/v2/requests.xml")).status_code == 200
    refused = await bridge.post(
        "/open311/v2/requests.json", data={"api_key": "l311_wrong-" + "x" * 20}
    )
    assert refused.status_code == 403
    too_big = await bridge.post(
        "/v1/calls",
        content=b"{" + b" " * 70_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413

    response = await bridge.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = parse(response.text)
    counts = named(samples, "line311_crm_http_request_duration_seconds_count")
    assert counts[(("method", "POST"), ("route", "/v1/calls"), ("status", "201"))] == 1
    assert counts[(("method", "POST"), ("route", "/v1/calls"), ("status", "409"))] == 1
    assert counts[(("method", "POST"), ("route", "/v1/calls"), ("status", "413"))] == 1
    assert counts[(("method", "GET"), ("route", "/v1/calls/{call_id}"), ("status", "200"))] == 1
    status = str(lookup.status_code)
    assert counts[(("method", "GET"), ("route", "/v1/sr/{sr_number}"), ("status", status))] == 1
    assert named(samples, "line311_crm_call_records_received_total") == {
        (("outcome", "created"),): 3,
        (("outcome", "duplicate"),): 1,
        (("outcome", "conflict"),): 1,
    }
    assert named(samples, "line311_crm_open311_requests_total") == {
        (("endpoint", "services"), ("format", "json")): 1,
        (("endpoint", "requests"), ("format", "xml")): 1,
        (("endpoint", "post_request"), ("format", "json")): 1,
    }
    for secret in ("1737986400", "311000000001", API_KEY, OPEN311_KEY, "l311_wrong", "Bearer"):
        assert secret not in response.text


async def test_given_pending_and_dead_records_then_the_bridge_shows_them_and_their_age(
    bridge: httpx.AsyncClient, engine: Engine
) -> None:
    sessions = make_session_factory(engine)
    calls = CallRepository(sessions, forward=True)
    for i in range(5):
        calls.add_call(_call(i))
    created = datetime.now(UTC) - timedelta(minutes=20)
    with sessions.begin() as session:  # two dead, the rest pending since 20 minutes ago
        session.execute(update(OutboxRow).values(created_at=created))
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.idempotency_key.in_(["call:metrics.0", "call:metrics.1"]))
            .values(state="dead")
        )
    metrics = _app(bridge).state.metrics

    await metrics.read_outbox()  # what the lifespan does every 5 s
    samples = parse((await bridge.get("/metrics")).text)

    assert named(samples, "line311_crm_outbox_records") == {
        (("state", "pending"),): 3,
        (("state", "dead"),): 2,
    }
    age = samples[("line311_crm_outbox_oldest_pending_age_seconds", ())]
    assert 20 * 60 <= age < 60 * 60
    assert samples[("line311_crm_database_up", ())] == 1


async def test_given_the_outbox_then_backlog_figures_agree_with_stats(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    store = OutboxStore(sessions)
    empty = store.backlog_figures()
    assert (empty.pending, empty.dead, empty.oldest_pending_at) == (0, 0, None)
    calls = CallRepository(sessions, forward=True)
    for i in range(6):
        calls.add_call(_call(i))
    [first, second, *_] = store.claim(10, timedelta(seconds=30))
    store.mark_delivered([first.id])
    store.mark_failed(second.id, "HTTP 400", None)

    figures, stats = store.backlog_figures(), store.stats()

    assert (figures.pending, figures.dead) == (stats.pending, stats.dead) == (4, 1)
    assert figures.oldest_pending_at == stats.oldest_pending_at
    assert figures.oldest_pending_at is not None
    assert figures.oldest_pending_at.tzinfo is not None


async def test_given_the_app_running_then_its_lifespan_reads_the_outbox_for_metrics(
    engine: Engine, forwarding: Settings
) -> None:
    app = create_app(forwarding, engine=engine, deliver_outbox=False)
    metrics = app.state.metrics
    async with app.router.lifespan_context(app):
        for _ in range(200):  # a bounded poll: the first read starts with the app
            if metrics.outbox_read is not None:
                break
            await asyncio.sleep(0.05)
        assert metrics.outbox_read is True
        assert metrics.outbox is not None
        assert metrics.outbox.pending == 0


async def test_given_two_apps_in_one_process_then_each_has_its_own_registry(
    engine: Engine, forwarding: Settings
) -> None:
    one = create_app(forwarding, engine=engine, deliver_outbox=False)
    two = create_app(forwarding, engine=engine, deliver_outbox=False)
    assert one.state.metrics.registry is not two.state.metrics.registry
    transport = httpx.ASGITransport(app=one)
    async with httpx.AsyncClient(transport=transport, base_url="http://one") as client:
        await client.get("/health")
    assert "/health" not in (await _metrics_of(two))


async def _metrics_of(app: FastAPI) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return (await client.get("/metrics")).text
