"""How often the SIP edge sends a new call on to another Asterisk, and ends a late answer:
Kamailio's own counters, polled for the controller's /metrics.

With several Asterisks, Kamailio fails a new call over when its Asterisk sends nothing back
within ``kamailio_failover_timeout`` (or answers 5xx), and ends the answer of an Asterisk that
answered after all (``route[LATE_ANSWER]`` of ``kamailio_conf/kamailio.cfg``). Both mean an
Asterisk that is dead or overloaded, which operators want to see before residents do. The
config counts them (the ``statistics`` module: ``line311_failovers``,
``line311_late_answers``); this reads them with one ``stats.fetch script:`` over the same
JSON-RPC as the registrations (`line311.kamailio.rpc.KamailioRpc`), every `EVERY`
seconds, and `EdgeCollector` shows the last values read as Prometheus counters::

    line311_edge_failovers_total{node}     new calls sent on to another Asterisk
    line311_edge_late_answers_total{node}  answers after a failover, ended with ACK and BYE
    line311_edge_peers{state}              one of a pair: its peers up / down (dmq.list_nodes)
    line311_edge_node_up{node}             1: the last read of that node worked, 0: it failed

Each Kamailio counts the calls it carried, so with a pair (`kamailio_peers`) every node is
read on its own, by its own client that never falls back to another, and labelled with its
host (``node``): the edge's total is their sum. The peers' state is the controller's own
Kamailio's view, which DMQ refreshes once a minute; ``line311_edge_node_up`` tells within a
read (`EVERY` seconds) that a node stopped answering the controller.

The counters are Kamailio's since it started: a Kamailio restart sets them back to 0, which
Prometheus reads as a counter reset. A read that fails keeps the last values (one WARNING
until it reads again); before the first read the counters are absent, not 0.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from line311.kamailio.dmq import peers_of
from line311.kamailio.errors import KamailioError
from line311.kamailio.rpc import KamailioRpcError, ReadOutage, RpcCaller

__all__ = ["COUNTERS", "EVERY", "EdgeCollector", "EdgeCounters", "dmq_peers", "edge_counters"]

logger = logging.getLogger(__name__)

EVERY = 5.0
"""Seconds between two reads of Kamailio's counters (a scrape every 15 s or more sees each)."""

COUNTERS: Mapping[str, tuple[str, str]] = {
    "line311_failovers": (
        "line311_edge_failovers",
        "New calls Kamailio sent on to another Asterisk because theirs sent nothing back within "
        "kamailio_failover_timeout or answered 5xx (an Asterisk dead or overloaded), since "
        "Kamailio started.",
    ),
    "line311_late_answers": (
        "line311_edge_late_answers",
        "Answers of an Asterisk that came after its call had failed over, ended by Kamailio "
        "with ACK and BYE (one call, one Asterisk), since Kamailio started.",
    ),
}
"""Kamailio's script counter -> the metric's name (without ``_total``) and help."""


def edge_counters(fetched: Any) -> dict[str, int]:
    """The `COUNTERS` in a ``stats.fetch script:`` result (``{"script.line311_failovers":
    "3", ...}``); a counter missing from it (an older config) is left out.
    KamailioRpcError when the result is not such a mapping or a value is not a count."""
    if not isinstance(fetched, Mapping):
        raise KamailioRpcError("stats.fetch: not a mapping of statistics")
    counts: dict[str, int] = {}
    for name in COUNTERS:
        value = fetched.get(f"script.{name}")
        if value is None:
            continue
        try:
            count = int(value)
        except (TypeError, ValueError):
            raise KamailioRpcError(f"stats.fetch: {name} is {value!r}, not a count") from None
        if count < 0:
            raise KamailioRpcError(f"stats.fetch: {name} is {count}, not a count")
        counts[name] = count
    return counts


def dmq_peers(nodes: Any) -> tuple[int, int]:
    """How many of the other Kamailios of a pair DMQ holds active, and how many not, in a
    ``dmq.list_nodes`` result (a list of nodes, this one's own with ``local`` 1).
    KamailioRpcError when it is not such a list."""
    if not isinstance(nodes, list) or not all(isinstance(n, Mapping) for n in nodes):
        raise KamailioRpcError("dmq.list_nodes: not a list of nodes")
    peers = peers_of(nodes)
    up = sum(1 for peer in peers if peer.active)
    return up, len(peers) - up


class EdgeCounters:
    """One Kamailio's edge counters (``node``: its host, the metrics' label), read every
    ``interval`` seconds; ``values`` holds the last read (empty before the first). With
    ``peers`` (one of a pair, `kamailio_peers`) also how many peers DMQ holds up and down:
    ``peers_seen``, None before the first read."""

    def __init__(
        self,
        rpc: RpcCaller,
        *,
        node: str = "",
        interval: float = EVERY,
        peers: bool = False,
    ) -> None:
        self._rpc = rpc
        self.node = node
        self._interval = interval
        self._peers = peers
        self.values: dict[str, int] = {}
        self.peers_seen: tuple[int, int] | None = None
        self.answered: bool | None = None
        """Whether the last read worked (None before the first)."""
        self._outage = ReadOutage(
            f"the edge counters of {node}" if node else "the edge counters", logger
        )

    async def poll(self) -> bool:
        """One read; False (logged once while it lasts) when it failed: the values stay."""
        try:
            values = edge_counters(await self._rpc.call("stats.fetch", "script:"))
            peers = dmq_peers(await self._rpc.call("dmq.list_nodes")) if self._peers else None
        except KamailioError as exc:
            self._outage.failed(exc)
            self.answered = False
            return False
        self._outage.read()
        self.answered = True
        self.values = values
        self.peers_seen = peers
        return True

    async def run(self) -> None:
        """Read until cancelled."""
        while True:
            await self.poll()
            await asyncio.sleep(self._interval)


class EdgeCollector(Collector):
    """The last values of each node's `EdgeCounters` as Prometheus counters labelled with the
    node (a node not read yet has none), and the peers' state of the first node that has
    one."""

    def __init__(self, *nodes: EdgeCounters) -> None:
        self._nodes = nodes

    def collect(self) -> Iterator[Metric]:
        for name, (metric, documentation) in COUNTERS.items():
            read = [(n.node, n.values[name]) for n in self._nodes if name in n.values]
            if not read:
                continue
            family = CounterMetricFamily(metric, documentation, labels=["node"])
            for node, value in read:
                family.add_metric([node], value)
            yield family
        tried = [n for n in self._nodes if n.answered is not None]
        if tried:
            node_up = GaugeMetricFamily(
                "line311_edge_node_up",
                "1 when the controller's last read of this Kamailio's RPC (every 5 s) worked, 0 "
                "when it failed: the node down or unreachable, or refusing the controller.",
                labels=["node"],
            )
            for n in tried:
                node_up.add_metric([n.node], 1 if n.answered else 0)
            yield node_up
        seen = next((n.peers_seen for n in self._nodes if n.peers_seen is not None), None)
        if seen is not None:
            peers = GaugeMetricFamily(
                "line311_edge_peers",
                "The other Kamailios of the pair (kamailio_peers) as DMQ, which pings them "
                "once a minute, holds them: up (sharing the registrations) or down; any down "
                "is a pair without its redundancy.",
                labels=["state"],
            )
            up, down = seen
            peers.add_metric(["up"], up)
            peers.add_metric(["down"], down)
            yield peers

    def describe(self) -> Iterator[Metric]:
        return iter(())  # the metrics appear with the first read
