"""The controller's reads of Kamailio (registrations, edge counters) share one RPC client,
closed once both reads stop (`line311.bootstrap._KamailioReads`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from line311.bootstrap import _kamailio_reads, _kamailio_rpc, _KamailioReads
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


async def test_both_reads_run_on_one_client_closed_when_they_are_cancelled() -> None:
    rpc, registrations, counters = Rpc(), Reader(), Reader()
    reads = _KamailioReads(cast(Any, rpc), cast(Any, registrations), cast(Any, counters))
    task = asyncio.create_task(reads.run())
    await asyncio.wait_for(registrations.running.wait(), 1)
    await asyncio.wait_for(counters.running.wait(), 1)
    assert not rpc.closed
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert rpc.closed


async def test_given_two_asterisks_then_the_watch_and_the_counters_share_the_client(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, asterisks=2)
    reads = _kamailio_reads(settings, RecordingDesk(), {"PJSIP/agent1": "agent1"})
    assert reads is not None
    try:
        assert isinstance(reads.rpc, KamailioRpc)
        assert isinstance(reads.registrations, RegistrationWatch)
        assert isinstance(reads.counters, EdgeCounters)
        assert reads.registrations._rpc is reads.rpc
        assert reads.counters._rpc is reads.rpc
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
    rpc = _kamailio_rpc(settings)
    try:
        assert rpc.urls == (
            "http://127.0.0.1:5070/RPC",
            "http://10.0.0.12:5070/RPC",  # the peer's address, this node's RPC port
            "http://[2001:db8::12]:5070/RPC",
        )
    finally:
        await rpc.aclose()
