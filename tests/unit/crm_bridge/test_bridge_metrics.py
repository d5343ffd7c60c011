"""The CRM bridge's metrics on their own registry, parsed back as Prometheus reads them:
requests by route template (never the raw path), Open311 endpoints, the outbox figures read
off the event loop, deliveries told by the outbox worker. The whole app's /metrics, on SQLite
and PostgreSQL: tests/integration/crm/test_crm_metrics.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest

from line311.crm_bridge.metrics import BridgeMetrics, MetricsMiddleware
from line311.crm_bridge.outbox import DeliveryPolicy, DeliveryReport, OutboxWorker
from line311.db.errors import DbUnavailable
from line311.db.outbox import OutboxBacklog, OutboxItem
from tests.fixtures.prom import named, scrape

T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


# ---------------------------------------------------------------------- outbox figures
async def test_given_an_outbox_read_then_pending_dead_and_the_oldest_age_show() -> None:
    now = T0.timestamp() + 90
    registry = CollectorRegistry()
    metrics = BridgeMetrics(
        registry,
        outbox=lambda: OutboxBacklog(pending=7, dead=2, oldest_pending_at=T0),
        clock=lambda: now,
    )
    assert named(scrape(registry), "line311_crm_outbox_records") == {}  # not read yet
    assert named(scrape(registry), "line311_crm_database_up") == {}

    await metrics.read_outbox()
    samples = scrape(registry)

    assert named(samples, "line311_crm_outbox_records") == {
        (("state", "pending"),): 7,
        (("state", "dead"),): 2,
    }
    assert samples[("line311_crm_outbox_oldest_pending_age_seconds", ())] == 90
    assert samples[("line311_crm_database_up", ())] == 1
    now += 30  # the age moves between reads: it is taken at the scrape
    assert scrape(registry)[("line311_crm_outbox_oldest_pending_age_seconds", ())] == 120


async def test_given_nothing_pending_then_the_oldest_age_is_zero() -> None:
    registry = CollectorRegistry()
    metrics = BridgeMetrics(
        registry, outbox=lambda: OutboxBacklog(pending=0, dead=0, oldest_pending_at=None)
    )
    await metrics.read_outbox()
    assert scrape(registry)[("line311_crm_outbox_oldest_pending_age_seconds", ())] == 0


async def test_given_the_database_fails_then_the_figures_go_and_one_warning_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    up = [True]

    def read() -> OutboxBacklog:
        if not up[0]:
            raise DbUnavailable("reading the outbox backlog failed: refused")
        return OutboxBacklog(pending=1, dead=0, oldest_pending_at=T0)

    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry, outbox=read, clock=lambda: T0.timestamp())
    await metrics.read_outbox()
    up[0] = False
    with caplog.at_level(logging.INFO, logger="line311.crm_bridge.metrics"):
        await metrics.read_outbox()
        await metrics.read_outbox()
        samples = scrape(registry)
        assert samples[("line311_crm_database_up", ())] == 0
        assert named(samples, "line311_crm_outbox_records") == {}
        assert named(samples, "line311_crm_outbox_oldest_pending_age_seconds") == {}
        up[0] = True
        await metrics.read_outbox()
    assert scrape(registry)[("line311_crm_database_up", ())] == 1
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


def test_given_deliveries_and_records_then_they_are_counted_by_outcome() -> None:
    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry)
    metrics.delivered(DeliveryReport(claimed=5, delivered=3, retried=1, dead=1))
    metrics.delivered(DeliveryReport(claimed=2, delivered=2))
    metrics.received(["created", "created", "duplicate", "conflict"])
    samples = scrape(registry)

    assert named(samples, "line311_crm_outbox_deliveries_total") == {
        (("outcome", "delivered"),): 5,
        (("outcome", "retried"),): 1,
        (("outcome", "dead"),): 1,
    }
    assert named(samples, "line311_crm_call_records_received_total") == {
        (("outcome", "created"),): 2,
        (("outcome", "duplicate"),): 1,
        (("outcome", "conflict"),): 1,
    }


# ---------------------------------------------------------------------- requests
def _app() -> tuple[FastAPI, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry)
    app = FastAPI()

    @app.get("/v1/sr/{sr_number}")
    def sr(sr_number: str) -> dict[str, str]:
        return {"sr_number": sr_number}

    @app.get("/open311/v2/requests/{service_request_id}.{fmt}")
    def request(service_request_id: str, fmt: str) -> dict[str, str]:
        return {}

    @app.post("/open311/v2/requests.{fmt}")
    def post_request(fmt: str) -> dict[str, str]:
        return {}

    @app.get("/boom/{call_id}")
    def boom(call_id: str) -> None:
        raise RuntimeError("a bug")

    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: app.router.routes)
    return app, registry


async def test_given_requests_then_they_are_counted_by_route_template_never_by_path() -> None:
    app, registry = _app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/v1/sr/311-00012345")).status_code == 200
        assert (await client.get("/v1/sr/311-00067890")).status_code == 200
        assert (await client.get("/v1/calls/1737986400.1/secret")).status_code == 404
        assert (await client.post("/v1/sr/311-00012345")).status_code == 405
        assert (await client.get("/boom/1737986400.2")).status_code == 500
        assert (await client.request("BREW", "/v1/sr/311-1")).status_code == 405
    text = generate_latest(registry).decode()
    counts = named(scrape(registry), "line311_crm_http_request_duration_seconds_count")

    assert counts == {
        (("method", "GET"), ("route", "/v1/sr/{sr_number}"), ("status", "200")): 2,
        (("method", "GET"), ("route", "unmatched"), ("status", "404")): 1,
        (("method", "POST"), ("route", "/v1/sr/{sr_number}"), ("status", "405")): 1,
        (("method", "GET"), ("route", "/boom/{call_id}"), ("status", "500")): 1,
        (("method", "other"), ("route", "/v1/sr/{sr_number}"), ("status", "405")): 1,
    }
    for raw in ("311-000", "1737986400", "secret", "BREW"):
        assert raw not in text


async def test_given_open311_requests_then_they_are_counted_by_endpoint_and_format() -> None:
    app, registry = _app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/open311/v2/requests/311-00012345.json")
        await client.get("/open311/v2/requests/311-00012345.xml")
        await client.get("/open311/v2/requests/311-00012345.yaml")
        await client.post("/open311/v2/requests.json")
        await client.get("/v1/sr/311-00012345")
    samples = scrape(registry)

    assert named(samples, "line311_crm_open311_requests_total") == {
        (("endpoint", "request"), ("format", "json")): 1,
        (("endpoint", "request"), ("format", "xml")): 1,
        (("endpoint", "request"), ("format", "other")): 1,
        (("endpoint", "post_request"), ("format", "json")): 1,
    }
    assert "311-000" not in generate_latest(registry).decode()


# ---------------------------------------------------------------------- the worker's reports
class FakeStore:
    """What `OutboxWorker` uses of `OutboxStore`, in memory: three records due once."""

    def __init__(self) -> None:
        self.items = [
            OutboxItem(i, f"call:{i}", "call.finished", {"i": i}, "pending", 1, T0, T0)
            for i in (1, 2, 3)
        ]
        self.delivered: list[int] = []
        self.failed: dict[int, datetime | None] = {}

    def now(self) -> datetime:
        return T0

    def claim(self, limit: int, lease: timedelta) -> list[OutboxItem]:
        items, self.items = self.items[:limit], self.items[limit:]
        return items

    def mark_delivered(self, ids: list[int]) -> None:
        self.delivered += ids

    def mark_failed(self, item_id: int, error: str, retry_at: datetime | None) -> None:
        self.failed[item_id] = retry_at

    def release(self, ids: list[int]) -> None:
        raise AssertionError("nothing is cancelled here")


def _crm(request: httpx.Request) -> httpx.Response:
    """Takes record 1, fails record 2 for now (503), refuses record 3 for good (400)."""
    i = json.loads(request.content)["data"]["i"]
    return httpx.Response({1: 200, 2: 503, 3: 400}[i])


async def _deliver(observer: Callable[[DeliveryReport], None]) -> FakeStore:
    store = FakeStore()
    async with httpx.AsyncClient(transport=httpx.MockTransport(_crm)) as client:
        worker = OutboxWorker(
            store,  # type: ignore[arg-type]
            "http://crm.test/hook",
            "secret",
            DeliveryPolicy(max_attempts=5),
            client=client,
            observer=observer,
        )
        await worker.deliver_once()
    return store


async def test_given_a_delivery_round_then_the_bridge_counts_each_outcome() -> None:
    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry)

    store = await _deliver(metrics.delivered)

    assert store.delivered == [1]
    assert store.failed[2] is not None
    assert store.failed[3] is None
    assert named(scrape(registry), "line311_crm_outbox_deliveries_total") == {
        (("outcome", "delivered"),): 1,
        (("outcome", "retried"),): 1,
        (("outcome", "dead"),): 1,
    }


async def test_given_a_failing_observer_then_delivery_goes_on_and_it_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(report: Any) -> None:
        raise RuntimeError("observer bug")

    store = await _deliver(broken)

    assert store.delivered == [1]
    assert any("observer failed" in r.getMessage() for r in caplog.records)
