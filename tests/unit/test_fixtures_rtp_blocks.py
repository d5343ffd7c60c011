"""The RTP blocks of the tests' Asterisks (tests/conftest.py): one region per pytest-xdist
worker, out of the kernel's ephemeral ports, blocks that do not overlap."""

from __future__ import annotations

import pytest

from tests.conftest import RTP_REGION, RTP_SLOTS, rtp_block, worker_index


def _blocks(monkeypatch: pytest.MonkeyPatch, worker: str | None) -> list[range]:
    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    size = RTP_REGION // RTP_SLOTS
    return [range(rtp_block(slot), rtp_block(slot) + size) for slot in range(RTP_SLOTS)]


def test_given_xdist_workers_then_their_index_comes_from_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert worker_index() == 1
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert worker_index() is None


def test_given_two_workers_and_a_plain_run_then_no_rtp_port_is_shared_or_ephemeral(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks = [b for w in ("gw0", "gw1", None) for b in _blocks(monkeypatch, w)]
    ports = [p for b in blocks for p in b]
    assert len(ports) == len(set(ports))
    assert min(ports) > 12000  # above `make run`'s default range (10000-12000)
    assert max(ports) < 32768  # below the ephemeral ports (net.ipv4.ip_local_port_range)


def test_given_a_slot_outside_the_region_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="RTP slot 5"):
        rtp_block(RTP_SLOTS)
