"""The tests' port picking: no two parts of one test's settings on the same number (UDP and
TCP ports are picked apart, and the settings refuse a clash)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.conftest import (
    _test_settings,
    fleet_ports,
    free_port_run,
    free_tcp_port,
    free_tcp_ports,
    ports_of,
)


def test_ports_of_names_every_port_a_set_of_settings_takes() -> None:
    values = {
        "sip_port": 5060,
        "http_port": 8311,
        "crm_port": 8312,
        "ari_url": "http://127.0.0.1:8088",
        "asterisk_sip_port_base": 5160,
        "controller_http_port": 8319,
        "rtp_port_start": 10000,
    }
    assert ports_of(values) == {5060, 8311, 8312, 8088, 8089, 5161, 5162, 8319}


def test_a_free_port_is_none_of_those_to_avoid() -> None:
    first = free_tcp_port()
    assert all(free_tcp_port({first}) != first for _ in range(20))


def test_given_a_fleet_then_the_picked_ports_clash_with_none_of_it(tmp_path: Path) -> None:
    for n in range(20):
        fleet = fleet_ports(2)
        settings = _test_settings(tmp_path / str(n), **fleet)  # the settings refuse a clash
        picked = [settings.sip_port, settings.http_port, settings.crm_port, settings.ari_port]
        assert len(set(picked)) == len(picked)
        assert not set(picked) & (ports_of(fleet) - {settings.ari_port})


def test_given_ports_in_use_then_the_ports_picked_for_a_stack_are_apart_and_none_of_them() -> None:
    """The e2e stack's HTTP and CRM ports beside an Asterisk instance's (one CI run once drew
    its SIP port's number for the HTTP port)."""
    for _ in range(50):
        avoid = set(free_tcp_ports(3))
        picked = free_tcp_ports(2, avoid)
        assert len(set(picked)) == 2
        assert not set(picked) & avoid


def test_a_run_of_ports_is_free_outside_the_ephemeral_ports_and_apart_from_the_last_run() -> None:
    """A run's ports lie outside the kernel's ephemeral ports, where another process's
    outgoing connection could take one between the probe and the server's bind."""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(30):
        first = free_port_run(3)
        second = free_port_run(2, socket.SOCK_DGRAM)
        assert max(first + 2, second + 1) < ephemeral_low
        assert not set(range(first, first + 3)) & set(range(second, second + 2))


def test_given_a_port_of_the_run_held_then_the_run_picked_is_clear_of_it() -> None:
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", free_port_run(1)))
        held = int(holder.getsockname()[1])
        for _ in range(30):
            base = free_port_run(4, avoid={held + 100})
            assert held not in range(base, base + 4)
            assert held + 100 not in range(base, base + 4)
    finally:
        holder.close()
