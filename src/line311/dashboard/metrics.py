"""Prometheus metrics of the call center, on an injected `CollectorRegistry`.

Two kinds:

* **Read at scrape time** from the hub's `LiveState` (a custom collector, so they are never
  stale and cost nothing between scrapes): calls in the IVR, calls waiting per queue, SL and
  ASA per queue (current interval and today), the SL goal and threshold, the projected SL
  and the callers waiting past the threshold, CCRs per state, active alerts,
  open dashboards, and the CRM outbox backlog: a database count, so never at scrape time on
  the event loop (a scrape would hold up every call while the database is slow or away):
  `DashboardMetrics.run` reads it in a worker thread every `BACKLOG_EVERY` seconds and the
  scrape shows the last read.
* **Observed as they happen**: wait-time and handle-time histograms and offered / answered /
  abandoned counters (a hub listener), and the ARI reaction-time histogram (the controller's
  ``observer`` hook: pass `DashboardMetrics.observe_ari_reaction`).

Names (all prefixed ``line311_``) are listed in docs/dashboard.md and used by
docs/grafana/line311.json.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, Sized
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from line311.dashboard.live import LiveHub
from line311.dashboard.state import Fact, HandleMeasured, Measurement, WaitMeasured
from line311.queue.events import CallEnqueued

__all__ = [
    "DashboardMetrics",
    "DeskLinkCollector",
    "OrphanedAlertsCollector",
    "WriteBacklogCollector",
    "ari_reaction_histogram",
]

logger = logging.getLogger(__name__)

WAIT_BUCKETS: Final = (
    1, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 2700, 3600,
)  # fmt: skip
"""Seconds: the usual SL thresholds (10 to 60 s) are bounds, and a storm's waits (past 20
minutes) stay apart up to an hour instead of all reading as the last bound."""
HANDLE_BUCKETS: Final = (30, 60, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 3600)
BACKLOG_EVERY: Final = 5.0
"""Seconds between two reads of the CRM outbox backlog (a scrape every 15 s sees each)."""
REACTION_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


def ari_reaction_histogram(registry: CollectorRegistry) -> Histogram:
    """``line311_ari_reaction_seconds{operation}``: from an ARI event (or timer) to the REST
    call done, by command (``play``, ``answer``, ...). Every process that drives calls (the
    controller, each IVR worker) has its own, with the same buckets: the Grafana panel adds
    them by ``le``."""
    return Histogram(
        "line311_ari_reaction_seconds",
        "Time from an ARI event (or timer) to this process's REST call done, by command.",
        ["operation"],
        buckets=REACTION_BUCKETS,
        registry=registry,
    )


class WriteBacklogCollector(Collector):
    """What a process could not write yet, read at scrape time: a stuck disk or log output
    shows here even when the log itself cannot say so.

    * ``line311_call_records_unspooled``: finished calls' records waiting in memory for the
      spool (a thread hop each; more only while the spool refuses them, e.g. a full disk);
    * ``line311_output_lines_dropped_total{output}``: log lines (``log``) and queue_log lines
      (``queue_log``) dropped because their output was not taking them.
    """

    def __init__(
        self,
        *,
        unspooled: Callable[[], int],
        dropped: dict[str, Callable[[], int]],
    ) -> None:
        self._unspooled = unspooled
        self._dropped = dict(dropped)

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "line311_call_records_unspooled",
            "Finished calls' records waiting in memory to be written to the spool.",
        )
        waiting.add_metric([], self._unspooled())
        yield waiting
        dropped = CounterMetricFamily(
            "line311_output_lines_dropped",
            "Lines dropped because their output (log, queue_log) was not taking them.",
            labels=["output"],
        )
        for output, count in sorted(self._dropped.items()):
            dropped.add_metric([output], count())
        yield dropped


class OrphanedAlertsCollector(Collector):
    """``line311_alerts_orphaned``: live caller alerts whose node the flow this process runs
    no longer has (or now refuses), read at scrape time (`line311.ari.ivr_edge.IvrEdge
    .orphaned_alerts`, which also logs each one at WARNING). They play where an alert
    without a node plays; a supervisor decides whether to withdraw them."""

    def __init__(self, orphaned: Callable[[], Sized]) -> None:
        self._orphaned = orphaned

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "line311_alerts_orphaned",
            "Live caller alerts whose node the running IVR flow no longer has (played "
            "where alerts without a node play).",
        )
        gauge.add_metric([], len(self._orphaned()))
        yield gauge


class DeskLinkFigures(Protocol):
    """What `DeskLinkCollector` reads of a desk link (`line311.live.desk.DeskLink`)."""

    @property
    def queued(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def sent(self) -> Mapping[str, int]: ...
    @property
    def received(self) -> Mapping[str, int]: ...
    @property
    def entries_written(self) -> int: ...
    @property
    def reads(self) -> int: ...


class DeskLinkCollector(Collector):
    """The desk link between the IVR workers and the controller (``queue_legs = workers``),
    read at scrape time: ``line311_desk_link_queued`` messages not yet in Redis (a backlog
    that grows while Redis is away), ``line311_desk_link_dropped_total`` messages given up
    past the backlog's bound, ``line311_desk_messages_total`` by direction and kind, and the
    stream entries behind them (``line311_desk_link_entries_total``: written, and read, one
    reader wake-up per read)."""

    def __init__(self, link: DeskLinkFigures) -> None:
        self._link = link

    def collect(self) -> Iterator[Metric]:
        link = self._link
        queued = GaugeMetricFamily(
            "line311_desk_link_queued", "Desk link messages waiting to be written to Redis."
        )
        queued.add_metric([], link.queued)
        yield queued
        dropped = CounterMetricFamily(
            "line311_desk_link_dropped",
            "Desk link messages dropped because Redis was away past the backlog's bound.",
        )
        dropped.add_metric([], link.dropped)
        yield dropped
        messages = CounterMetricFamily(
            "line311_desk_messages",
            "Desk link messages sent and received, by kind (enqueue, cmd, event, ...).",
            labels=["direction", "kind"],
        )
        for direction, counts in (("sent", link.sent), ("received", link.received)):
            for kind, count in sorted(counts.items()):
                messages.add_metric([direction, kind], count)
        yield messages
        entries = CounterMetricFamily(
            "line311_desk_link_entries",
            "Desk link stream entries written (XADD) and reads that brought entries (XREAD).",
            labels=["direction"],
        )
        entries.add_metric(["written"], link.entries_written)
        entries.add_metric(["read"], link.reads)
        yield entries


class _StateCollector(Collector):
    def __init__(self, hub: LiveHub, outbox_backlog: Callable[[], int | None]) -> None:
        self._hub = hub
        self._backlog = outbox_backlog

    def collect(self) -> Iterator[Metric]:
        snap = self._hub.snapshot()
        ivr = GaugeMetricFamily("line311_ivr_calls", "Calls in the IVR now.")
        ivr.add_metric([], snap["ivr"]["in_ivr"])
        yield ivr
        share = GaugeMetricFamily(
            "line311_ivr_resolved_ratio", "Share of today's IVR calls resolved there (no CCR)."
        )
        if snap["ivr"]["resolved_share"] is not None:
            share.add_metric([], snap["ivr"]["resolved_share"])
        yield share
        waiting = GaugeMetricFamily(
            "line311_queue_calls_waiting", "Calls waiting in a queue now.", labels=["queue"]
        )
        callbacks = GaugeMetricFamily(
            "line311_queue_callbacks_pending",
            "Callbacks waiting for their turn in a queue.",
            labels=["queue"],
        )
        longest = GaugeMetricFamily(
            "line311_queue_longest_wait_seconds",
            "Longest current wait in a queue.",
            labels=["queue"],
        )
        sl = GaugeMetricFamily(
            "line311_queue_service_level_ratio",
            "Service level (the center's formula), by window: interval or today.",
            labels=["queue", "window"],
        )
        goal = GaugeMetricFamily(
            "line311_queue_service_level_goal_ratio", "SL goal of a queue.", labels=["queue"]
        )
        threshold = GaugeMetricFamily(
            "line311_queue_service_level_threshold_seconds",
            "SL threshold T of a queue (answered within T counts).",
            labels=["queue"],
        )
        past = GaugeMetricFamily(
            "line311_queue_calls_waiting_past_threshold",
            "Calls (on hold or awaiting a callback) that have waited longer than the queue's T.",
            labels=["queue"],
        )
        projected = GaugeMetricFamily(
            "line311_queue_service_level_projected_ratio",
            "SL if every caller now waiting past T who entered in the window counted as a miss.",
            labels=["queue", "window"],
        )
        asa = GaugeMetricFamily(
            "line311_queue_asa_seconds",
            "Average speed of answer, by window: interval or today.",
            labels=["queue", "window"],
        )
        for q in snap["queues"]:
            name = q["name"]
            waiting.add_metric([name], q["waiting"])
            callbacks.add_metric([name], q["callbacks_pending"])
            longest.add_metric([name], q["longest_wait"])
            goal.add_metric([name], q["goal"])
            threshold.add_metric([name], q["threshold"])
            past.add_metric([name], q["waiting_past_threshold"])
            for window in ("interval", "today"):
                if q[window]["sl"] is not None:
                    sl.add_metric([name, window], q[window]["sl"])
                if q[window]["projected_sl"] is not None:
                    projected.add_metric([name, window], q[window]["projected_sl"])
                if q[window]["asa"] is not None:
                    asa.add_metric([name, window], q[window]["asa"])
        yield from (waiting, callbacks, longest, sl, goal, asa, threshold, past, projected)
        agents = GaugeMetricFamily(
            "line311_ccr_agents", "CCRs in each state now.", labels=["state"]
        )
        for state, count in snap["agent_counts"].items():
            agents.add_metric([state], count)
        yield agents
        alerts = GaugeMetricFamily("line311_alerts_active", "Active pushed alerts.")
        alerts.add_metric([], len(snap["alerts"]))
        yield alerts
        clients = GaugeMetricFamily("line311_dashboard_clients", "Open live dashboard streams.")
        clients.add_metric([], self._hub.clients)
        yield clients
        pending = self._backlog()
        if pending is not None:
            backlog = GaugeMetricFamily(
                "line311_crm_outbox_backlog", "CRM outbox records not delivered yet."
            )
            backlog.add_metric([], float(pending))
            yield backlog


class DashboardMetrics:
    """Registers line311's call-center metrics on ``registry`` and feeds them from ``hub``.

    ``outbox_backlog`` returns the number of CRM outbox records not yet delivered (a
    blocking database count: `run` calls it in a worker thread every ``backlog_every``
    seconds, and the gauge shows the last read; absent before the first, after a failed one,
    or when None is given).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        hub: LiveHub,
        *,
        outbox_backlog: Callable[[], int] | None = None,
        backlog_every: float = BACKLOG_EVERY,
    ) -> None:
        self.registry = registry
        self._read_backlog = outbox_backlog
        self.backlog_every = backlog_every
        self.outbox_backlog: int | None = None
        """The last read of the CRM outbox backlog (None: not read, or the read failed)."""
        self._backlog_failing = False
        registry.register(_StateCollector(hub, lambda: self.outbox_backlog))
        self.wait = Histogram(
            "line311_queue_wait_seconds",
            "How long callers waited in a queue, by outcome (answered, abandoned, timed_out,"
            " media_server_lost).",
            ["queue", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.handle = Histogram(
            "line311_queue_handle_seconds",
            "Handle time (talk + hold + wrap-up) of answered calls.",
            ["queue"],
            buckets=HANDLE_BUCKETS,
            registry=registry,
        )
        self.offered = Counter(
            "line311_queue_calls_offered", "Calls that entered a queue.", ["queue"],
            registry=registry,
        )  # fmt: skip
        self.ended = Counter(
            "line311_queue_calls_ended",
            "Calls that left the wait, by outcome (answered, abandoned, timed_out,"
            " media_server_lost).",
            ["queue", "outcome"],
            registry=registry,
        )
        self.reaction = ari_reaction_histogram(registry)
        hub.add_listener(self.on_fact)

    async def read_backlog(self) -> None:
        """Read the CRM outbox backlog once, in a worker thread; a failure leaves the gauge
        out (one WARNING until a read works again)."""
        if self._read_backlog is None:
            return
        try:
            self.outbox_backlog = int(await asyncio.to_thread(self._read_backlog))
        except Exception:
            self.outbox_backlog = None
            if not self._backlog_failing:
                logger.warning("CRM outbox backlog unavailable", exc_info=True)
            self._backlog_failing = True
        else:
            if self._backlog_failing:
                logger.info("CRM outbox backlog readable again")
            self._backlog_failing = False

    async def run(self) -> None:
        """Read the CRM outbox backlog every ``backlog_every`` seconds, until cancelled."""
        while True:
            await self.read_backlog()
            await asyncio.sleep(self.backlog_every)

    def on_fact(self, fact: Fact, measurements: list[Measurement]) -> None:
        """The hub listener: counters and histograms from facts and their measurements."""
        if isinstance(fact, CallEnqueued):
            self.offered.labels(fact.queue).inc()
        for m in measurements:
            if isinstance(m, WaitMeasured):
                self.wait.labels(m.queue, m.outcome).observe(m.seconds)
                self.ended.labels(m.queue, m.outcome).inc()
            elif isinstance(m, HandleMeasured):
                self.handle.labels(m.queue).observe(m.seconds)

    def observe_ari_reaction(self, operation: str, seconds: float) -> None:
        """The ARI controller's ``observer(operation, seconds)`` hook."""
        self.reaction.labels(operation).observe(seconds)
