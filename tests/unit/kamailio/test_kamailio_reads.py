"""The controller's reads of Kamailio (registrations, edge counters): one RPC client without
a pair, one per node for the counters of a pair, all closed once the reads stop
(`line311.bootstrap._KamailioReads`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from line311.bootstrap import _kamailio_reads, _kamailio_rpcs, _KamailioReads
from line311.config import load_settings
from line311.kamailio.edge_stats import EdgeCounters
from line311.kamailio.registrations import RegistrationWatch
from line311.kamailio.rpc import KamailioRpc
from tests.fixtures.phone_desk import RecordingDesk


class Rpc:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class Reader:
    def __init__(self) -> None:
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.running.set()
        await asyncio.Event().wait()  # until cancelled


async def test_every_read_runs_and_every_client_is_closed_when_they_are_cancelled() -> None:
    rpc, peer, registrations = Rpc(), Rpc(), Reader()
    counters = [Reader(), Reader()]
    reads = _KamailioReads(
        cast(Any, rpc), cast(Any, registrations), cast(Any, counters), cast(Any, [rpc, peer])
    )
    task = asyncio.create_task(reads.run())
    await asyncio.wait_for(registrations.running.wait(), 1)
    for node in counters:
        await asyncio.wait_for(node.running.wait(), 1)
    assert not rpc.closed
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert rpc.closed
    assert peer.closed


async def test_given_two_asterisks_then_the_watch_and_the_counters_share_the_client(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, asterisks=2)
    reads = _kamailio_reads(settings, RecordingDesk(), {"PJSIP/agent1": "agent1"})
    assert reads is not None
    try:
        assert isinstance(reads.rpc, KamailioRpc)
        assert isinstance(reads.registrations, RegistrationWatch)
        [counters] = reads.counters
        assert isinstance(counters, EdgeCounters)
        assert reads.registrations._rpc is reads.rpc
        assert counters._rpc is reads.rpc
        assert counters.node == "127.0.0.1"
        assert reads.clients == [reads.rpc]
        # the phone watch off: the counters are still read
        off = load_settings(state_dir=tmp_path, asterisks=2, queue_phone_state=False)
        alone = _kamailio_reads(off, RecordingDesk(), {})
        assert alone is not None
        assert alone.registrations is None
        await alone.rpc.aclose()
        assert _kamailio_reads(load_settings(state_dir=tmp_path), RecordingDesk(), {}) is None
    finally:
        await reads.rpc.aclose()


async def test_given_peers_then_the_client_falls_back_to_each_peers_rpc(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path, asterisks=2, kamailio_peers="10.0.0.12:5090,[2001:db8::12]:5090"
    )
    rpc, nodes = _kamailio_rpcs(settings)
    try:
        assert rpc.urls == (
            "http://127.0.0.1:5070/RPC",
            "http://10.0.0.12:5070/RPC",  # the peer's address, this node's RPC port
            "http://[2001:db8::12]:5070/RPC",
        )
        # each node's counters from that node alone: a count never read off another node
        assert [(host, node.urls) for host, node in nodes] == [
            ("127.0.0.1", ("http://127.0.0.1:5070/RPC",)),
            ("10.0.0.12", ("http://10.0.0.12:5070/RPC",)),
            ("2001:db8::12", ("http://[2001:db8::12]:5070/RPC",)),
        ]
    finally:
        for client in {rpc, *(node for _, node in nodes)}:
            await client.aclose()


async def test_given_a_pair_then_each_node_is_read_for_its_counters_and_the_first_for_peers(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, asterisks=2, kamailio_peers="10.0.0.12:5090")
    reads = _kamailio_reads(settings, RecordingDesk(), {})
    assert reads is not None
    try:
        assert [(c.node, c._peers) for c in reads.counters] == [
            ("127.0.0.1", True),
            ("10.0.0.12", False),
        ]
        assert reads.clients[0] is reads.rpc
        assert len(reads.clients) == 3  # the registrations' and one per node
        assert all(c._rpc is not reads.rpc for c in reads.counters)
    finally:
        for client in reads.clients:
            await client.aclose()
