"""Kamailio's edge counters (failovers, late answers ended) read for /metrics
(`line311.kamailio.edge_stats`). The answers' shape is Kamailio 6.1.5's ``stats.fetch
script:``, as captured from it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from line311.kamailio.edge_stats import EdgeCollector, EdgeCounters, dmq_peers, edge_counters
from line311.kamailio.rpc import KamailioRpcError

FETCHED = {"script.line311_failovers": "3", "script.line311_late_answers": "1"}


class Rpc:
    """Answers each call with the next of ``answers`` (an exception is raised)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, ...]] = []

    async def call(self, method: str, *params: str) -> Any:
        self.calls.append((method, *params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_given_kamailios_script_statistics_then_the_edge_counters_are_read() -> None:
    assert edge_counters(FETCHED) == {"line311_failovers": 3, "line311_late_answers": 1}
    # a config without one of them (an older one): that counter is left out, not 0
    assert edge_counters({"script.line311_failovers": "0"}) == {"line311_failovers": 0}


@pytest.mark.parametrize(
    "fetched",
    [[], "3", {"script.line311_failovers": "three"}, {"script.line311_late_answers": "-1"}],
)
def test_given_an_answer_that_is_not_counts_then_it_is_refused(fetched: Any) -> None:
    with pytest.raises(KamailioRpcError, match=r"stats\.fetch"):
        edge_counters(fetched)


async def test_given_reads_then_the_last_good_one_is_kept_and_a_failure_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rpc = Rpc(FETCHED, KamailioRpcError("down"), KamailioRpcError("down"), {"x": "1"})
    counters = EdgeCounters(rpc)
    assert counters.values == {}
    assert await counters.poll()
    assert rpc.calls == [("stats.fetch", "script:")]
    with caplog.at_level(logging.INFO, logger="line311.kamailio.edge_stats"):
        assert not await counters.poll()
        assert not await counters.poll()
        assert await counters.poll()  # read again: a config with neither counter
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "read from Kamailio again" in caplog.records[-1].getMessage()
    assert counters.values == {}


async def test_given_counters_read_then_metrics_shows_them_as_prometheus_counters() -> None:
    counters = EdgeCounters(Rpc(FETCHED), node="127.0.0.1")
    registry = CollectorRegistry()
    registry.register(EdgeCollector(counters))
    assert b"line311_edge" not in generate_latest(registry)  # nothing read yet: absent
    await counters.poll()
    text = generate_latest(registry).decode()
    assert "# TYPE line311_edge_failovers_total counter" in text
    assert 'line311_edge_failovers_total{node="127.0.0.1"} 3.0' in text
    assert 'line311_edge_late_answers_total{node="127.0.0.1"} 1.0' in text


async def test_given_a_pair_then_each_nodes_counters_are_shown_under_its_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    own = EdgeCounters(Rpc(FETCHED, NODES), node="10.0.0.11", peers=True)
    peer_answers = {"script.line311_failovers": "5", "script.line311_late_answers": "0"}
    peer = EdgeCounters(Rpc(KamailioRpcError("down"), peer_answers), node="10.0.0.12")
    registry = CollectorRegistry()
    registry.register(EdgeCollector(own, peer))
    assert await own.poll()
    with caplog.at_level(logging.WARNING, logger="line311.kamailio.edge_stats"):
        assert not await peer.poll()  # the peer not read yet: only the own node's counts
    assert "the edge counters of 10.0.0.12 not read" in caplog.text
    text = generate_latest(registry).decode()
    assert 'line311_edge_failovers_total{node="10.0.0.11"} 3.0' in text
    assert 'line311_edge_failovers_total{node="10.0.0.12"}' not in text
    assert 'line311_edge_node_up{node="10.0.0.11"} 1.0' in text
    assert 'line311_edge_node_up{node="10.0.0.12"} 0.0' in text  # tried, and it failed
    assert await peer.poll()
    text = generate_latest(registry).decode()
    assert 'line311_edge_node_up{node="10.0.0.12"} 1.0' in text
    assert text.count("# TYPE line311_edge_failovers_total counter") == 1  # one family
    assert 'line311_edge_failovers_total{node="10.0.0.12"} 5.0' in text
    assert 'line311_edge_late_answers_total{node="10.0.0.12"} 0.0' in text
    assert 'line311_edge_peers{state="up"} 1.0' in text  # the own node's view of DMQ


NODES = [  # dmq.list_nodes of Kamailio 6.1.5 over JSON-RPC: the peer, then this node
    {"host": "127.0.0.1", "port": "37898", "proto": "*", "resolved_ip": "127.0.0.1",
     "status": "active", "last_notification": 0, "local": 0, "fail_count": 0},
    {"host": "127.0.0.1", "port": "34549", "proto": "*", "resolved_ip": "127.0.0.1",
     "status": "active", "last_notification": 0, "local": 1, "fail_count": 0},
]  # fmt: skip


def test_given_dmqs_nodes_then_the_peers_up_and_down_are_counted_without_this_node() -> None:
    assert dmq_peers(NODES) == (1, 0)
    assert dmq_peers([{**NODES[0], "status": "not_active"}, NODES[1]]) == (0, 1)
    with pytest.raises(KamailioRpcError, match=r"dmq\.list_nodes"):
        dmq_peers({"nodes": NODES})


async def test_given_a_pair_then_metrics_shows_its_peers_up_and_down() -> None:
    rpc = Rpc(FETCHED, NODES, FETCHED, KamailioRpcError("down"))
    counters = EdgeCounters(rpc, peers=True)
    registry = CollectorRegistry()
    registry.register(EdgeCollector(counters))
    assert b"line311_edge_peers" not in generate_latest(registry)  # nothing read yet
    assert await counters.poll()
    text = generate_latest(registry).decode()
    assert 'line311_edge_peers{state="up"} 1.0' in text
    assert 'line311_edge_peers{state="down"} 0.0' in text
    assert not await counters.poll()  # dmq.list_nodes not read: nothing of the read kept
    assert counters.peers_seen == (1, 0)
    assert counters.values == edge_counters(FETCHED)
    assert rpc.calls == [
        ("stats.fetch", "script:"), ("dmq.list_nodes",), ("stats.fetch", "script:"),
        ("dmq.list_nodes",),
    ]  # fmt: skip
    # one Kamailio (no peers): dmq is not asked, and there is no such metric
    alone = EdgeCounters(Rpc(FETCHED))
    assert await alone.poll()
    assert alone.peers_seen is None
