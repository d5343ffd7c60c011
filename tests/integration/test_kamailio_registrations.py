"""The CCR phones' registrations read from a real Kamailio's location table
(`line311.kamailio.registrations`): Debian's Kamailio 6.1 with line311's config, a SIPp
phone registering with it, the controller's poll over JSON-RPC on HTTP. No Asterisk: the
location table is Kamailio's alone."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from line311.kamailio.manager import KamailioManager
from line311.kamailio.registrations import RegistrationWatch
from line311.kamailio.rpc import KamailioRpc, KamailioRpcError
from line311.sim.sipp import start_agent
from tests.conftest import _test_settings, fleet_ports
from tests.fixtures.kamailio import rpc_url, running_kamailio
from tests.fixtures.phone_desk import RecordingDesk

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def _kamailio(workdir: Path, **overrides: object) -> Iterator[KamailioManager]:
    settings = _test_settings(
        workdir, asterisk_instance=f"kreg{id(workdir)}", **fleet_ports(2), **overrides
    )
    with running_kamailio(settings) as manager:
        yield manager


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KamailioManager]:
    # RPC allowed from two networks this host is not on (IPv4 and IPv6: both parse)
    allow = ["198.51.100.0/24", "2001:db8::/64"]
    with _kamailio(
        tmp_path_factory.mktemp("kamailio-registrations"), kamailio_rpc_allow=allow
    ) as k:
        yield k


def _token(kamailio: KamailioManager) -> dict[str, str]:
    return {"Authorization": f"Bearer {kamailio.settings.kamailio_rpc_token.get_secret_value()}"}


@pytest.fixture
async def rpc(kamailio: KamailioManager) -> AsyncIterator[KamailioRpc]:
    token = kamailio.settings.kamailio_rpc_token.get_secret_value()
    client = KamailioRpc(rpc_url(kamailio), token=token)
    yield client
    await client.aclose()


def _other_local_address() -> str | None:
    """An IPv4 address of this host that is not a loopback one (None: it has none)."""
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                packed = fcntl.ioctl(
                    probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15])
                )  # SIOCGIFADDR
            except OSError:
                continue
        address = socket.inet_ntoa(packed[20:24])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


async def test_given_a_phone_registered_with_kamailio_then_its_ccr_reads_online_until_it_is_gone(
    kamailio: KamailioManager, rpc: KamailioRpc, tmp_path: Path
) -> None:
    s = kamailio.settings
    desk = RecordingDesk()
    watch = RegistrationWatch(rpc, desk, {"PJSIP/agent1": "agent1", "PJSIP/agent2": "agent2"})
    phone = start_agent(tmp_path, s.sip_port, "agent1", s.agent_password.get_secret_value())
    try:
        assert await watch.poll()
        assert desk.told == [("agent1", True), ("agent2", False)]
        # the contact leaves the table (as an un-REGISTER or a keepalive drop does)
        assert "agent1" in kamailio.rpc("ul.lookup", "location", "agent1")
        kamailio.rpc("ul.rm", "location", "agent1")
        assert await watch.poll()
        assert desk.told[2:] == [("agent1", False)]
        assert (watch.states.count(True), watch.states.count(False)) == (0, 2)
    finally:
        phone.stop()


async def test_kamailio_answers_rpc_on_rpc_only_and_a_bad_request_clearly(
    kamailio: KamailioManager, rpc: KamailioRpc
) -> None:
    base = f"http://127.0.0.1:{kamailio.settings.kamailio_rpc_port}"
    async with httpx.AsyncClient(timeout=3, headers=_token(kamailio)) as http:
        other = await http.post(f"{base}/other", content=b"{}")
        junk = await http.post(f"{base}/RPC", content=b"junk")
    assert (other.status_code, other.text) == (404, "POST JSON-RPC to /RPC\n")
    assert (junk.status_code, junk.text) == (400, "not a JSON-RPC request\n")
    with pytest.raises(KamailioRpcError, match="Method Not Found"):
        await rpc.call("no.such.method")
    assert "kamailio 6." in await rpc.call("core.version")


async def test_kamailio_answers_no_rpc_without_the_token_even_from_its_own_host(
    kamailio: KamailioManager,
) -> None:
    body = {"jsonrpc": "2.0", "method": "core.version", "id": 1}
    async with httpx.AsyncClient(timeout=3) as http:
        bare = await http.post(rpc_url(kamailio), json=body)
        wrong = await http.post(
            rpc_url(kamailio), json=body, headers={"Authorization": "Bearer not-the-token-1234"}
        )
    for refused in (bare, wrong):
        assert (refused.status_code, refused.text) == (
            401,
            "send the kamailio_rpc_token as a bearer token\n",
        )
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="line311-kamailio-rpc"'
    stranger = KamailioRpc(rpc_url(kamailio), token="not-the-token-1234")
    try:
        with pytest.raises(KamailioRpcError, match=r"HTTP 401 .*the same kamailio_rpc_token"):
            await stranger.call("core.version")
    finally:
        await stranger.aclose()


async def test_kamailio_answers_rpc_from_another_host_only_when_kamailio_rpc_allow_has_it(
    kamailio: KamailioManager, tmp_path: Path
) -> None:
    # a client on this host's other address stands in for a controller on another host: its
    # requests come from that address, not from a loopback one or one Kamailio listens on
    address = _other_local_address()
    if address is None:
        pytest.skip("this host has no address but loopback ones")

    async def version(of: KamailioManager) -> str:
        token = of.settings.kamailio_rpc_token.get_secret_value()
        transport = httpx.AsyncHTTPTransport(local_address=address)
        client = KamailioRpc(rpc_url(of), token=token, transport=transport)
        try:
            return str(await client.call("core.version"))
        finally:
            await client.aclose()

    with pytest.raises(KamailioRpcError, match=r"HTTP 403 .*add it to kamailio_rpc_allow"):
        await version(kamailio)  # allowed: 198.51.100.0/24 and 2001:db8::/64 only
    with _kamailio(tmp_path, kamailio_rpc_allow=[address]) as allowing:
        assert "kamailio 6." in await version(allowing)
