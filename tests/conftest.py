"""Shared fixtures: a real Asterisk instance for the tests that need one.

The instance is private to this pytest process: its own name, SIP/ARI/RTP ports picked free
on loopback, its own state directory, and it is stopped (by PID) at the end of the session.
It reuses the Asterisk installation `line311 asterisk up` uses (system, or the cached sid
root, built on first use).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from line311.asterisk.manager import AsteriskManager
from line311.config import REPO_ROOT, Settings, load_settings


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair(kind: int) -> int:
    """A port p with p and p + 1 free on loopback (``kind``: SOCK_DGRAM or SOCK_STREAM): the
    SIP or ARI ports of two Asterisks of a fleet (`line311.asterisk.fleet`)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, kind) as a:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
            with socket.socket(socket.AF_INET, kind) as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        if port < 65000:
            return port
    raise RuntimeError("no two consecutive free ports")


def fleet_ports(asterisks: int) -> dict[str, object]:
    """Settings for ``asterisks`` Asterisks behind Kamailio on free loopback ports (SIP and
    ARI ports in consecutive pairs, so at most 2); none for one Asterisk."""
    if asterisks < 2:
        return {}
    return {
        "asterisks": asterisks,
        "asterisk_sip_port_base": free_port_pair(socket.SOCK_DGRAM) - 1,
        "ari_url": f"http://127.0.0.1:{free_port_pair(socket.SOCK_STREAM)}",
    }


@dataclass
class AsteriskInstance:
    """A running Asterisk for tests, with the settings a controller needs to reach it."""

    settings: Settings
    manager: AsteriskManager

    @property
    def ari_url(self) -> str:
        return self.settings.ari_url

    @property
    def ari_user(self) -> str:
        return self.settings.ari_user

    @property
    def ari_password(self) -> str:
        return self.settings.ari_password.get_secret_value()

    @property
    def sip_port(self) -> int:
        return self.settings.sip_port

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point a `line311` process at this instance."""
        s = self.settings
        return {
            "LINE311_STATE_DIR": str(s.state_dir),
            "LINE311_ASTERISK_INSTANCE": s.asterisk_instance,
            "LINE311_SIP_PORT": str(s.sip_port),
            "LINE311_ARI_URL": s.ari_url,
            "LINE311_ARI_PASSWORD": self.ari_password,
            "LINE311_AGENT_PASSWORD": s.agent_password.get_secret_value(),
            "LINE311_CALLER_HASH_KEY": s.caller_hash_key.get_secret_value(),
            "LINE311_CRM_API_KEY": s.crm_api_key.get_secret_value(),
            "LINE311_RTP_PORT_START": str(s.rtp_port_start),
            "LINE311_RTP_PORT_END": str(s.rtp_port_end),
        }

    def start(self) -> None:
        self.manager.start(wait=30)

    def stop(self) -> None:
        self.manager.stop()

    def kill(self) -> None:
        self.manager.kill()

    def restart(self) -> None:
        self.manager.stop()
        self.manager.start(wait=30)


def _test_settings(state_dir: Path, **overrides: object) -> Settings:
    rtp_base = 30000 + (os.getpid() % 200) * 100
    values: dict[str, object] = {
        "state_dir": state_dir,
        "asterisk_instance": f"test{os.getpid()}",
        "sip_port": free_udp_port(),
        "ari_url": f"http://127.0.0.1:{free_tcp_port()}",
        "http_port": free_tcp_port(),
        "crm_port": free_tcp_port(),
        "rtp_port_start": rtp_base,
        "rtp_port_end": rtp_base + 98,
        "agent_count": 4,
        # the interpreter line: a port of this session's own, where e2e tests answer it
        "interpreter_contact": f"sip:interpreter@127.0.0.1:{free_udp_port()}",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(scope="session")
def asterisk_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskInstance]:
    """A real Asterisk (module list, dialplan, PJSIP, ARI) private to this test session."""
    state_dir = tmp_path_factory.mktemp("line311-state")
    settings = _test_settings(state_dir)
    manager = AsteriskManager(settings)
    # prompts: the library `make test` built (line311 sounds build) into the default state dir
    library = Settings().state_dir / "sounds"
    if not library.is_dir():
        library = REPO_ROOT / "var" / "sounds"
    (state_dir / "sounds").symlink_to(library, target_is_directory=True)
    manager.start(wait=30)
    instance = AsteriskInstance(settings, manager)
    try:
        yield instance
    finally:
        manager.stop()
        shutil.rmtree(manager.installation.host_path(manager.instance_dir), ignore_errors=True)


E2E_TIMEOUT = 360
"""Seconds a real-Asterisk or browser test may take (setup included): real audio is played at
real speed, and a test must still pass on a busy machine (``make test`` beside another job)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        slow = item.get_closest_marker("asterisk") or item.get_closest_marker("browser")
        if slow and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))
