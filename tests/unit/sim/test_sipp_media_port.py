"""`free_udp_port(even=True)`: a media port for SIPp, which binds audio RTP at it and video RTP
two above it (a taken video port fails the call: "Unable to bind video RTP socket")."""

from __future__ import annotations

import socket

import pytest

from line311.sim import sipp
from line311.sim.sipp import MEDIA_PORTS, free_udp_port


def test_given_a_media_port_then_it_is_even_and_the_ports_sipp_binds_above_it_are_free() -> None:
    port = free_udp_port(even=True)
    assert port % 2 == 0
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(MEDIA_PORTS)]
    try:
        for k, sock in enumerate(socks):
            sock.bind(("127.0.0.1", port + k))  # raises if one is taken
        assert [s.getsockname()[1] for s in socks] == list(range(port, port + MEDIA_PORTS))
    finally:
        for sock in socks:
            sock.close()


def test_given_the_video_port_above_a_candidate_is_taken_then_that_candidate_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken: list[int] = []
    real_free = sipp._udp_free

    def free(port: int) -> bool:
        if not taken:  # the first candidate's video port: another SIPp has it
            taken.append(port)
            return False
        return real_free(port)

    monkeypatch.setattr(sipp, "_udp_free", free)
    port = free_udp_port(even=True)
    assert taken
    assert port + 1 != taken[0]
    assert port + 2 != taken[0]
