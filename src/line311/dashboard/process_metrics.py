"""The metrics of each process beside the call center's own (`line311.dashboard.metrics`), on
an injected `CollectorRegistry`: what an IVR worker, the dashboard process and the controller's
optional parts (CCR phones, legs in the workers, the live state) expose on their /metrics.

Every metric line311 defines is made in this module, `line311.dashboard.metrics`,
`line311.ari.traffic` or `line311.kamailio.edge_stats` (a unit test holds the rest of the
source to that; the CRM bridge's are made in `line311.crm_bridge.metrics`, a package this
one may not import), so the table of docs/dashboard.md can be checked against all of them.

Which process serves which (each on its own /metrics; docs/dashboard.md, "Scraping"):

* the controller: `DashboardMetrics`, the ARI traffic, the write backlog, and here
  `ari_connected`, `controller_phones`, `controller_calls_in_workers`, `controller_live_state`;
* an IVR worker: `WorkerMetrics`, `ari_connected`, the ARI traffic, the write backlog (and the
  desk link with ``queue_legs = workers``);
* the dashboard process: `WallboardProcessCollector` (its /metrics also carries the
  controller's text before its own).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from line311.dashboard.metrics import ari_reaction_histogram

__all__ = [
    "WallboardProcessCollector",
    "WorkerMetrics",
    "ari_connected",
    "controller_calls_in_workers",
    "controller_live_state",
    "controller_phones",
]


def ari_connected(registry: CollectorRegistry, connected: Callable[[], bool]) -> None:
    """``line311_ari_connected``: 1 while this process's ARI event websocket is up (with
    several Asterisks, every one's), read at scrape time."""
    Gauge(
        "line311_ari_connected",
        "1 while this process's ARI event websocket is up (several Asterisks: every one's).",
        registry=registry,
    ).set_function(lambda: 1.0 if connected() else 0.0)


def controller_phones(registry: CollectorRegistry, counted: Callable[[bool], int]) -> None:
    """``line311_ccr_phones{state}``: roster CCR phones registered (``counted(True)``) and
    not (``counted(False)``), read at scrape time."""
    phones = Gauge(
        "line311_ccr_phones",
        "Roster CCR phones by registration, as Asterisk's device states (one "
        "Asterisk) or Kamailio's location table (several) last said (many "
        "unregistered at once: the phones' network or the registrar).",
        ["state"],
        registry=registry,
    )
    for label, online in (("registered", True), ("unregistered", False)):
        phones.labels(state=label).set_function(functools.partial(_counted, counted, online))


def _counted(counted: Callable[[bool], int], online: bool) -> float:
    return float(counted(online))


def controller_calls_in_workers(registry: CollectorRegistry, read: Callable[[], int]) -> None:
    """``line311_queue_calls_in_workers``: the controller's queued calls whose leg an IVR
    worker runs (``queue_legs = workers``)."""
    Gauge(
        "line311_queue_calls_in_workers",
        "Queued calls whose leg an IVR worker runs (queue_legs = workers).",
        registry=registry,
    ).set_function(lambda: float(read()))


def controller_live_state(registry: CollectorRegistry, up: Callable[[], bool]) -> None:
    """``line311_live_state_up``: 1 while the controller's live state (Redis) answers."""
    Gauge(
        "line311_live_state_up",
        "1 while the live state (Redis) answers, 0 while the controller runs from memory.",
        registry=registry,
    ).set_function(lambda: 1.0 if up() else 0.0)


class WorkerMetrics:
    """An IVR worker's own metrics: calls claimed and handed off (counters the worker bumps),
    its ARI reaction times (pass `observe_ari_reaction` as its runner's ``observer``: with
    IVR workers, most calls' prompts are theirs), and, read at scrape time once `follow` is
    called, the calls it holds and (``queue_legs = workers``) its callers in a queue."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.claimed = Counter(
            "line311_worker_calls_claimed", "Calls this IVR worker claimed.", registry=registry
        )
        self.handed = Counter(
            "line311_worker_calls_handed_off",
            "Calls this IVR worker moved to the controller's queues.",
            registry=registry,
        )
        self.reaction = ari_reaction_histogram(registry)

    def observe_ari_reaction(self, operation: str, seconds: float) -> None:
        """The runner's ``observer(operation, seconds)`` hook."""
        self.reaction.labels(operation).observe(seconds)

    def follow(
        self,
        *,
        active_calls: Callable[[], int],
        queued_calls: Callable[[], int] | None = None,
    ) -> None:
        """Read ``active_calls`` (and ``queued_calls``, with legs in the workers) at every
        scrape."""
        Gauge(
            "line311_worker_active_calls",
            "Calls this IVR worker holds now.",
            registry=self.registry,
        ).set_function(lambda: float(active_calls()))
        if queued_calls is not None:
            Gauge(
                "line311_worker_queued_calls",
                "Callers of this IVR worker in a queue now (waiting, ringing or talking).",
                registry=self.registry,
            ).set_function(lambda: float(queued_calls()))


class WallboardProcessCollector(Collector):
    """The dashboard process's own series, read at scrape time: whether it follows the live
    state and reaches the controller (gauges, 1 or 0), the wallboard facts it took from the
    stream since it started (``line311_wallboard_facts_followed_total``, a counter), and its
    open live feeds."""

    def __init__(
        self,
        *,
        live_state_up: Callable[[], bool],
        controller_up: Callable[[], bool],
        facts_followed: Callable[[], int],
        clients: Callable[[], int],
    ) -> None:
        self._live_state_up = live_state_up
        self._controller_up = controller_up
        self._facts_followed = facts_followed
        self._clients = clients

    def collect(self) -> Iterator[Metric]:
        for name, text, read in (
            ("live_state_up", "1 while the wallboard follows the live state (Redis).",
             self._live_state_up),
            ("controller_up", "1 while the controller answers the dashboard.",
             self._controller_up),
        ):  # fmt: skip
            up = GaugeMetricFamily(f"line311_wallboard_{name}", text)
            up.add_metric([], 1.0 if read() else 0.0)
            yield up
        facts = CounterMetricFamily(  # a count since the process started: rate() it
            "line311_wallboard_facts_followed",
            "Wallboard facts taken from the stream since this process started.",
        )
        facts.add_metric([], self._facts_followed())
        yield facts
        clients = GaugeMetricFamily(
            "line311_wallboard_clients", "Open live feeds of this dashboard process."
        )
        clients.add_metric([], self._clients())
        yield clients
