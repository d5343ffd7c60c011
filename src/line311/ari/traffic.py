"""What a process says to Asterisk and hears from it: ARI events by type, REST calls by route.

One `AriTraffic` per process, shared by every ARI client in it (a fleet has one per
Asterisk). Counting is a dict increment on the hot path; `TrafficCollector` turns the
counts into two Prometheus counters at scrape time::

    line311_ari_events_total{type="StasisStart"}
    line311_ari_requests_total{method="POST",route="/channels/{id}/answer"}

A route is the request's path with every id replaced by ``{id}`` (`route_of`), so the
label set stays small whatever the number of calls. Divide by the calls a benchmark made to
get messages per call (``python -m bench queue_cost`` reports them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

__all__ = ["AriTraffic", "TrafficCollector", "route_of"]

_WORDS = frozenset(
    {
        "",
        "addChannel",
        "answer",
        "applications",
        "asterisk",
        "bridges",
        "channels",
        "claim",
        "continue",
        "control",
        "dtmf",
        "endpoints",
        "eventFilter",
        "events",
        "file",
        "info",
        "live",
        "moh",
        "move",
        "play",
        "playbacks",
        "record",
        "recordings",
        "redirect",
        "removeChannel",
        "ring",
        "stop",
        "stored",
        "subscription",
        "variable",
    }
)
"""The fixed segments of the ARI paths line311 calls (and the empty one before the leading
slash); any other segment is an id."""


def route_of(path: str) -> str:
    """``path`` with each id as ``{id}``: ``/channels/c1/play/p2`` is
    ``/channels/{id}/play/{id}``."""
    return "/".join([s if s in _WORDS else "{id}" for s in path.split("/")])


class AriTraffic:
    """Counts of events heard and requests sent (see the module docstring)."""

    __slots__ = ("events", "requests")

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()

    def heard(self, event_type: str) -> None:
        self.events[event_type] += 1

    def sent(self, method: str, path: str) -> None:
        self.requests[(method, route_of(path))] += 1


class TrafficCollector(Collector):
    """`AriTraffic` as ``line311_ari_events_total`` and ``line311_ari_requests_total``."""

    def __init__(self, traffic: AriTraffic) -> None:
        self._traffic = traffic

    def collect(self) -> Iterator[CounterMetricFamily]:
        events = CounterMetricFamily(
            "line311_ari_events", "ARI events received, by type.", labels=["type"]
        )
        for event_type, count in sorted(self._traffic.events.items()):
            events.add_metric([event_type], count)
        requests = CounterMetricFamily(
            "line311_ari_requests",
            "ARI REST requests sent (over HTTP or the websocket), by method and route.",
            labels=["method", "route"],
        )
        for (method, route), count in sorted(self._traffic.requests.items()):
            requests.add_metric([method, route], count)
        yield events
        yield requests
