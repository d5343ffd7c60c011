"""The CCR phones' registrations read from a real Kamailio's location table
(`line311.kamailio.registrations`): Debian's Kamailio 6.1 with line311's config, a SIPp
phone registering with it, the controller's poll over JSON-RPC on HTTP. No Asterisk: the
location table is Kamailio's alone."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from line311.kamailio.manager import KamailioManager
from line311.kamailio.registrations import KamailioRpc, KamailioRpcError, RegistrationWatch
from line311.sim.sipp import start_agent
from tests.conftest import _test_settings, fleet_ports
from tests.fixtures.phone_desk import RecordingDesk

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KamailioManager]:
    settings = _test_settings(
        tmp_path_factory.mktemp("kamailio-registrations"),
        asterisk_instance=f"kreg{id(tmp_path_factory)}",
        **fleet_ports(2),
    )
    manager = KamailioManager(settings)
    manager.start(wait=15)
    try:
        yield manager
    finally:
        manager.stop()
        shutil.rmtree(manager.installation.host_path(manager.server_dir), ignore_errors=True)


@pytest.fixture
async def rpc(kamailio: KamailioManager) -> AsyncIterator[KamailioRpc]:
    client = KamailioRpc(f"http://127.0.0.1:{kamailio.settings.kamailio_rpc_port}/RPC")
    yield client
    await client.aclose()


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
    async with httpx.AsyncClient(timeout=3) as http:
        other = await http.post(f"{base}/other", content=b"{}")
        junk = await http.post(f"{base}/RPC", content=b"junk")
    assert (other.status_code, other.text) == (404, "POST JSON-RPC to /RPC\n")
    assert (junk.status_code, junk.text) == (400, "not a JSON-RPC request\n")
    with pytest.raises(KamailioRpcError, match="Method Not Found"):
        await rpc.call("no.such.method")
    assert "kamailio 6." in await rpc.call("core.version")
