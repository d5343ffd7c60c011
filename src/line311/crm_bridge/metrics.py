"""The CRM bridge's Prometheus metrics, on an injected `CollectorRegistry` (one per app).

* **Requests** (`MetricsMiddleware`, outermost, so a 413 or an error answer counts too): a
  histogram of the time to the answer by method, **route template** and status
  (``route="/v1/sr/{sr_number}"``: never the raw path, so no SR number, call id or key ever
  becomes a label value; a path no route matches is ``route="unmatched"``), and Open311
  requests by GeoReport v2 endpoint and format.
* **Records**: call records received by outcome (created, duplicate, conflict), and outbox
  deliveries settled by outcome (delivered, retried, dead), told by `OutboxWorker`.
* **Outbox** (read every `OUTBOX_EVERY` seconds in a worker thread by `BridgeMetrics.run`,
  never by the scrape, which runs on the event loop): records pending and dead, the age of
  the oldest pending one, and whether that read of the database worked.

Names (all ``line311_crm_``) are listed in docs/dashboard.md with every other process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from line311.crm_bridge.outbox import DeliveryReport
from line311.db.outbox import OutboxBacklog

__all__ = ["OUTBOX_EVERY", "BridgeMetrics", "MetricsMiddleware"]

logger = logging.getLogger(__name__)

OUTBOX_EVERY: Final = 5.0
"""Seconds between two reads of the outbox figures (a scrape every 15 s sees each)."""
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED: Final = "unmatched"
OPEN311_ENDPOINTS: Final = {
    ("GET", "/open311/discovery.{fmt}"): "discovery",
    ("GET", "/open311/v2/services.{fmt}"): "services",
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): "service_definition",
    ("POST", "/open311/v2/requests.{fmt}"): "post_request",
    ("GET", "/open311/v2/requests.{fmt}"): "requests",
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): "request",
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): "token",
}
"""Each GeoReport v2 route (method, template) and its ``endpoint`` label."""
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _OutboxCollector(Collector):
    def __init__(self, metrics: BridgeMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        if m.outbox_read is None:
            return
        up = GaugeMetricFamily(
            "line311_crm_database_up",
            "1 when the bridge's last read of the outbox figures worked, 0 when it failed.",
        )
        up.add_metric([], 1.0 if m.outbox_read else 0.0)
        yield up
        figures = m.outbox
        if figures is None:
            return
        records = GaugeMetricFamily(
            "line311_crm_outbox_records",
            "Outbox records not delivered: pending (waiting or retrying) and dead.",
            labels=["state"],
        )
        records.add_metric(["pending"], float(figures.pending))
        records.add_metric(["dead"], float(figures.dead))
        yield records
        age = GaugeMetricFamily(
            "line311_crm_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox record (0 when none is pending).",
        )
        oldest = figures.oldest_pending_at
        age.add_metric([], 0.0 if oldest is None else max(0.0, m.now() - oldest.timestamp()))
        yield age


class BridgeMetrics:
    """Registers the bridge's metrics on ``registry``.

    ``outbox`` reads the outbox figures (a blocking database read: `run` calls it in a
    worker thread every ``every`` seconds; the gauges show the last read, and vanish after a
    failed one while ``line311_crm_database_up`` says 0). ``clock``: POSIX seconds, for the
    oldest pending record's age at scrape time.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        outbox: Callable[[], OutboxBacklog] | None = None,
        every: float = OUTBOX_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self._read_outbox = outbox
        self.every = every
        self.now = clock
        self.outbox: OutboxBacklog | None = None
        """The last read of the outbox figures (None: not read yet, or the read failed)."""
        self.outbox_read: bool | None = None
        """Whether the last read worked (None: not read yet)."""
        self.requests = Histogram(
            "line311_crm_http_request_duration_seconds",
            "Time from a request to its answer, by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.open311 = Counter(
            "line311_crm_open311_requests",
            "Open311 GeoReport v2 requests, by endpoint and format (json, xml).",
            ["endpoint", "format"],
            registry=registry,
        )
        self.records = Counter(
            "line311_crm_call_records_received",
            "Call records received, by outcome: created, duplicate (stored already), conflict.",
            ["outcome"],
            registry=registry,
        )
        self.deliveries = Counter(
            "line311_crm_outbox_deliveries",
            "Outbox deliveries to the city's CRM settled, by outcome: delivered, retried, dead.",
            ["outcome"],
            registry=registry,
        )
        registry.register(_OutboxCollector(self))

    # ------------------------------------------------------------------ observed
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).observe(seconds)

    def observe_open311(self, endpoint: str, fmt: str) -> None:
        self.open311.labels(endpoint, fmt if fmt in ("json", "xml") else "other").inc()

    def received(self, outcomes: Iterable[str]) -> None:
        """Call records stored (or refused as conflicts), one outcome each."""
        for outcome in outcomes:
            self.records.labels(outcome).inc()

    def delivered(self, report: DeliveryReport) -> None:
        """`OutboxWorker`'s observer: one settled batch."""
        for outcome, count in (
            ("delivered", report.delivered),
            ("retried", report.retried),
            ("dead", report.dead),
        ):
            if count:
                self.deliveries.labels(outcome).inc(count)

    # ------------------------------------------------------------------ read
    async def read_outbox(self) -> None:
        """Read the outbox figures once, in a worker thread; a failure is one WARNING until
        a read works again."""
        if self._read_outbox is None:
            return
        was = self.outbox_read
        try:
            self.outbox = await asyncio.to_thread(self._read_outbox)
        except Exception:
            self.outbox = None
            self.outbox_read = False
            if was is not False:
                logger.warning("outbox figures unavailable for /metrics", exc_info=True)
        else:
            self.outbox_read = True
            if was is False:
                logger.info("outbox figures readable again")

    async def run(self, stop: asyncio.Event) -> None:
        """Read the outbox figures every ``every`` seconds until ``stop``."""
        while not stop.is_set():
            await self.read_outbox()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)


def route_template(routes: Iterable[BaseRoute], scope: Scope) -> tuple[str, dict[str, str]]:
    """The template of the route that took (or would take) the request, and its path
    parameters; ``unmatched`` when none does (a 404)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path, dict(scope.get("path_params") or {})
    partial: tuple[str, dict[str, str]] | None = None
    for candidate in routes:  # answered before routing (a 413), or no such method (405)
        match, child = candidate.matches(scope)
        template = getattr(candidate, "path", None)
        if not isinstance(template, str):
            continue
        if match is Match.FULL:
            return template, dict(child.get("path_params") or {})
        if match is Match.PARTIAL and partial is None:
            partial = (template, dict(child.get("path_params") or {}))
    return partial or (UNMATCHED, {})


class MetricsMiddleware:
    """Times each HTTP request to its answer and counts it by route template (pure ASGI)."""

    def __init__(
        self, app: ASGIApp, metrics: BridgeMetrics, routes: Callable[[], Iterable[BaseRoute]]
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an error that escapes every handler is answered 500 outside

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        method = str(scope.get("method", "GET")).upper()
        method = method if method in METHODS else "other"
        template, params = route_template(self._routes(), scope)
        self._metrics.observe_request(method, template, status, seconds)
        endpoint = OPEN311_ENDPOINTS.get((method, template))
        if endpoint is not None:
            self._metrics.observe_open311(endpoint, str(params.get("fmt", "")))
