"""Two Kamailios as a pair (`kamailio_peers`): Debian's Kamailio 6.1 with line311's config,
each the other's DMQ peer, on loopback. What one learns of the CCR phones (a REGISTER, an
un-REGISTER) the other knows within moments, and a node that starts asks its peer for every
registration, so either node reaches every phone. KDMQ from anyone but the peer is refused.
No Asterisk: the location table is Kamailio's alone."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from line311.kamailio.edge_stats import EdgeCollector, EdgeCounters
from line311.kamailio.manager import KamailioManager, Peer
from line311.kamailio.registrations import registered_aors
from line311.kamailio.rpc import KamailioRpc
from line311.sim.sipp import free_udp_port, register_phone, start_agent
from tests.conftest import _test_settings, fleet_ports
from tests.fixtures.kamailio import edge_read, rpc_call, rpc_url, run_sipp, running_kamailio
from tests.fixtures.polling import wait_until

pytestmark = pytest.mark.integration

DIALS_PHONE = Path(__file__).parent.parent / "fixtures" / "sipp" / "asterisk_dials_phone.xml"
PASSWORD = "pair-of-edges-agent-pw-0123"
TOKEN = "pair-of-edges-rpc-token-0123"


@contextlib.contextmanager
def _node(workdir: Path, name: str, dmq_port: int, peer_dmq_port: int) -> Iterator[KamailioManager]:
    settings = _test_settings(
        workdir,
        asterisk_instance=f"kpair{name}{id(workdir)}",
        **fleet_ports(2),
        kamailio_peers=[f"127.0.0.1:{peer_dmq_port}"],
        kamailio_dmq_port=dmq_port,
        kamailio_rpc_token=TOKEN,
        agent_password=PASSWORD,
        agent_qualify_frequency=0,  # no keepalive: the test's phones do not stay to answer
    )
    with running_kamailio(settings) as manager:
        yield manager


@contextlib.contextmanager
def _pair(tmp_path: Path) -> Iterator[tuple[KamailioManager, KamailioManager]]:
    """Nodes A and B, each the other's peer, both started."""
    dmq_a, dmq_b = free_udp_port(), free_udp_port()
    with (
        _node(tmp_path / "a", "a", dmq_a, dmq_b) as a,
        _node(tmp_path / "b", "b", dmq_b, dmq_a) as b,
    ):
        yield a, b


def _registered(node: KamailioManager) -> set[str]:
    """The AoRs with a live contact in ``node``'s location table, read as the controller does."""
    return registered_aors(rpc_call(node, "ul.dump", "brief"))


def _register(
    workdir: Path, node: KamailioManager, agent: str, *, port: int = 0, expires: int = 3600
) -> int:
    """REGISTER ``agent``'s phone (its contact on ``port``, a free one by default) with
    ``node``; ``expires=0`` takes that contact out. Returns the port."""
    port = port or free_udp_port()
    register_phone(
        workdir / f"{agent}-{expires}", node.settings.sip_port, agent, PASSWORD, port,
        expires=expires,
    )  # fmt: skip
    return port


def test_given_a_pair_then_each_node_knows_every_phone_whichever_it_registered_with(
    tmp_path: Path,
) -> None:
    dmq_a, dmq_b = free_udp_port(), free_udp_port()
    with _node(tmp_path / "a", "a", dmq_a, dmq_b) as a:
        phone1 = _register(tmp_path, a, "agent1")
        assert _registered(a) == {"agent1"}
        # B starts after the REGISTER: it asks A for every contact (dmq_usrloc sync)
        with _node(tmp_path / "b", "b", dmq_b, dmq_a) as b:
            wait_until(lambda: _registered(b) == {"agent1"}, 15, "B synced agent1 from A")
            # what `line311 kamailio status` shows of the pair, on each node, and /metrics
            assert a.status().peers == (Peer(f"127.0.0.1:{dmq_b}", "active"),)
            assert b.status().peers == (Peer(f"127.0.0.1:{dmq_a}", "active"),)
            assert edge_read(a, peers=True).peers_seen == (1, 0)  # line311_edge_peers
            # a phone registering with B: A knows it too
            _register(tmp_path, b, "agent2")
            wait_until(lambda: _registered(a) == {"agent1", "agent2"}, 10, "agent2 on A")
            # a phone leaving through A (un-REGISTER): B forgets it too
            _register(tmp_path, a, "agent1", port=phone1, expires=0)
            wait_until(lambda: _registered(b) == {"agent2"}, 10, "agent1 gone from B")
            assert _registered(a) == {"agent2"}
            # the Asterisk of a call taken by A (for in-dialog requests that come without a
            # Route header): B has it too
            a.rpc("htable.sets", "media", "call-via-a", "sip:127.0.0.1:5161")
            wait_until(
                lambda: "sip:127.0.0.1:5161" in b.rpc("htable.get", "media", "call-via-a"),
                10,
                "the media htable replicated to B",
            )


def test_given_a_pair_then_a_node_takes_kdmq_from_its_peer_only(tmp_path: Path) -> None:
    dmq_a, dmq_b = free_udp_port(), free_udp_port()
    with _node(tmp_path / "a", "a", dmq_a, dmq_b) as a:
        # a stranger's KDMQ to A's DMQ port, as dmq_usrloc would send a contact: refused
        kdmq = (
            f"KDMQ sip:usrloc@127.0.0.1:{dmq_a} SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-stranger-1\r\n"
            "From: <sip:usrloc@127.0.0.1>;tag=stranger\r\n"
            f"To: <sip:usrloc@127.0.0.1:{dmq_a}>\r\n"
            "Call-ID: stranger-kdmq-1\r\n"
            "CSeq: 1 KDMQ\r\n"
            "Max-Forwards: 1\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: {length}\r\n\r\n{body}"
        )
        body = (
            '{"action":1,"aor":"agent9","ruid":"x","c":"sip:agent9@198.51.100.9:5060",'
            '"received":"","path":"","callid":"c","user_agent":"u","instance":"",'
            '"expires":9999999999,"cseq":1,"flags":0,"cflags":0,"q":-1,"last_modified":1,'
            '"methods":4294967295,"reg_id":0,"server_id":0}'
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            stranger.bind(("127.0.0.1", 0))
            stranger.settimeout(5)
            message = kdmq.format(
                port=stranger.getsockname()[1], length=len(body.encode()), body=body
            )
            stranger.sendto(message.encode(), ("127.0.0.1", dmq_a))
            answer = stranger.recv(4096).decode(errors="replace")
        assert answer.startswith("SIP/2.0 403 Not a peer\r\n"), answer
        assert _registered(a) == set()


def test_given_a_pair_then_an_asterisk_reaches_a_phone_through_the_node_it_did_not_register_with(
    tmp_path: Path,
) -> None:
    with _pair(tmp_path) as (a, b):
        phone = start_agent(tmp_path / "phone", a.settings.sip_port, "agent1", PASSWORD)
        try:
            wait_until(lambda: _registered(b) == {"agent1"}, 10, "agent1 on B")
            # B's Asterisk 1 (SIPp from its address in B's dispatcher list) calls the CCR's
            # phone, as the queue's dial of PJSIP/agent1 does: B finds the contact A saved
            run_sipp(
                tmp_path / "asterisk", "-sf", str(DIALS_PHONE),
                f"127.0.0.1:{b.settings.sip_port}", "-s", "agent1", "-m", "1",
                "-key", "edge_route", f"<sip:127.0.0.1:{b.settings.sip_port};lr>",
                "-p", str(b.settings.asterisk_sip_port_base + 1), "-aa",
                timeout=20,
            )  # fmt: skip
            wait_until(lambda: phone.invites == 1, 5, "the phone rang once")
            rang = phone.snapshot().log  # by B, which took the Asterisk's INVITE
            assert f"Record-Route: <sip:127.0.0.1:{b.settings.sip_port};lr" in rang, rang[-2000:]
            assert "BYE sip:" in rang, rang[-2000:]  # the Asterisk's, through B
        finally:
            phone.stop()


def test_given_a_pair_then_the_controllers_reads_go_to_the_peer_while_its_kamailio_is_down(
    tmp_path: Path,
) -> None:
    with _pair(tmp_path) as (a, b):
        _register(tmp_path, a, "agent1")
        wait_until(lambda: _registered(b) == {"agent1"}, 10, "agent1 on B")

        async def reads() -> tuple[set[str], str]:
            rpc = KamailioRpc(rpc_url(a), token=TOKEN, fallbacks=[rpc_url(b)], timeout=1.0)
            try:
                assert registered_aors(await rpc.call("ul.dump", "brief")) == {"agent1"}
                assert rpc.url == rpc_url(a)
                a.stop()  # the controller's own Kamailio goes away: B holds the same table
                return registered_aors(await rpc.call("ul.dump", "brief")), rpc.url
            finally:
                await rpc.aclose()

        assert asyncio.run(reads()) == ({"agent1"}, rpc_url(b))


def test_given_a_pair_then_each_nodes_edge_counters_are_read_from_it_and_shown_by_node(
    tmp_path: Path,
) -> None:
    with _pair(tmp_path) as (a, b):

        async def reads() -> tuple[str, str, bool, bool]:
            clients = [KamailioRpc(rpc_url(n), token=TOKEN, timeout=1.0) for n in (a, b)]
            nodes = [
                EdgeCounters(clients[0], node="node-a", peers=True),
                EdgeCounters(clients[1], node="node-b"),
            ]
            registry = CollectorRegistry()
            registry.register(EdgeCollector(*nodes))
            try:
                assert all([await n.poll() for n in nodes])
                both = generate_latest(registry).decode()
                a.stop()  # A gone: its last counts stay, B is still read
                read_a, read_b = [await n.poll() for n in nodes]
                return both, generate_latest(registry).decode(), read_a, read_b
            finally:
                for client in clients:
                    await client.aclose()

        both, after, read_a, read_b = asyncio.run(reads())
    for node in ("node-a", "node-b"):
        assert f'line311_edge_failovers_total{{node="{node}"}} 0.0' in both
        assert f'line311_edge_late_answers_total{{node="{node}"}} 0.0' in both
    assert 'line311_edge_peers{state="up"} 1.0' in both  # A's view of B, once
    assert (read_a, read_b) == (False, True)
    assert 'line311_edge_failovers_total{node="node-a"} 0.0' in after
    assert 'line311_edge_node_up{node="node-a"} 1.0' in both
    assert 'line311_edge_node_up{node="node-a"} 0.0' in after  # within a read, not DMQ's minute
    assert 'line311_edge_node_up{node="node-b"} 1.0' in after
