"""Shared fixtures: a real Asterisk instance for the tests that need one.

The instance is private to this pytest process: its own name, SIP/ARI ports picked free on
loopback, an RTP block of its own (`rtp_block`), its own state directory, and it is stopped
(by PID) at the end of the session. It reuses the Asterisk installation `line311 asterisk up`
uses (system, or the cached sid root, built on first use).

`make test` runs the integration, e2e and browser tests on pytest-xdist workers (``--dist
loadfile``; the Makefile's TIMED_FILES first, then the rest on SUITE_WORKERS, two): every
file runs whole on one worker, the slow files first (`SLOW_FILES_FIRST`).

Every test leaves logging as it found it (`_logging_as_found`).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from line311.asterisk.manager import AsteriskManager
from line311.config import REPO_ROOT, Settings, load_settings
from line311.sim.cue import fleet_cues
from tests.fixtures.logging_state import logging_kept


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """Every test leaves logging as it found it: a CLI command run in-process configures it
    for the whole pytest worker otherwise (`tests.fixtures.logging_state`)."""
    with logging_kept():
        yield


def _free_port(kind: int, avoid: Collection[int]) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port
    raise RuntimeError("no free loopback port outside the ones to avoid")


def free_tcp_port(avoid: Collection[int] = ()) -> int:
    """A free loopback TCP port, none of ``avoid`` (ports another part already has: TCP and
    UDP ports are picked apart, and the settings refuse two parts on one number)."""
    return _free_port(socket.SOCK_STREAM, avoid)


def free_tcp_ports(count: int, avoid: Collection[int] = ()) -> list[int]:
    """``count`` different free loopback TCP ports, none of ``avoid`` (two calls of
    `free_tcp_port` in a row may return the same number: the first was closed again)."""
    taken = set(avoid)
    out: list[int] = []
    for _ in range(count):
        port = free_tcp_port(taken)
        taken.add(port)
        out.append(port)
    return out


def free_udp_port(avoid: Collection[int] = ()) -> int:
    """A free loopback UDP port, none of ``avoid``."""
    return _free_port(socket.SOCK_DGRAM, avoid)


def ports_of(values: Mapping[str, object]) -> set[int]:
    """Every port a set of settings values takes (a fleet's second Asterisk's too)."""
    ports = {
        v
        for k in (
            "sip_port",
            "http_port",
            "crm_port",
            "redis_port",
            "controller_http_port",
            "kamailio_rpc_port",
        )
        if isinstance(v := values.get(k), int)
    }
    url = values.get("ari_url")
    if isinstance(url, str) and (port := urlsplit(url).port) is not None:
        ports |= {port, port + 1}
    base = values.get("asterisk_sip_port_base")
    if isinstance(base, int):
        ports |= {base + 1, base + 2}
    return ports


RUN_BAND = range(32000, 32768)
"""Where runs of consecutive ports (`free_port_run`) come from: above the tests' RTP regions
(`RTP_REGIONS_BASE`..31999) and below the kernel's ephemeral ports (32768-60999 by default).
A run cannot come from the ephemeral ports: ``bind(("127.0.0.1", 0))`` hands out odd ports and
the kernel prefers even ones for a ``connect()``, so a single port picked free stays free, but
its even neighbour can be taken by any process's outgoing connection (a Redis or ARI client)
between the probe and the server's bind. One CI run lost an IVR worker's health port so."""
RUN_SLICE = 40
"""Ports of `RUN_BAND` per pytest process: 16 xdist workers and 3 more (as `rtp_block`)."""
_run_cursor: dict[int, int] = {}


def free_port_run(count: int, kind: int = socket.SOCK_STREAM, avoid: Collection[int] = ()) -> int:
    """A port p with p .. p + count - 1 free on loopback (``kind``: SOCK_STREAM or SOCK_DGRAM),
    none of ``avoid``, from this process's slice of `RUN_BAND`. Each call starts after the run
    the last call returned, so two calls in a row (the SIP and the ARI pair of a fleet) never
    overlap while the slice lasts."""
    if not 1 <= count <= RUN_SLICE // 2:
        raise ValueError(f"a run of {count} ports: 1..{RUN_SLICE // 2}")
    region = process_region()
    first = RUN_BAND.start + region * RUN_SLICE
    for _ in range(RUN_SLICE):
        offset = _run_cursor.get(region, 0)
        if offset + count > RUN_SLICE:
            offset = 0
        _run_cursor[region] = offset + 1
        base = first + offset
        ports = range(base, base + count)
        if set(ports) & set(avoid) or not _all_bindable(ports, kind):
            continue
        _run_cursor[region] = offset + count
        return base
    raise RuntimeError(f"no run of {count} free ports in {first}..{first + RUN_SLICE - 1}")


def _all_bindable(ports: range, kind: int) -> bool:
    socks: list[socket.socket] = []
    try:
        for port in ports:
            s = socket.socket(socket.AF_INET, kind)
            socks.append(s)
            s.bind(("127.0.0.1", port))
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()
    return True


def free_port_pair(kind: int) -> int:
    """A port p with p and p + 1 free on loopback (``kind``: SOCK_DGRAM or SOCK_STREAM): the
    SIP or ARI ports of two Asterisks of a fleet (`line311.asterisk.fleet`)."""
    return free_port_run(2, kind)


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


RTP_REGIONS_BASE = 13000
"""RTP blocks of the tests start here: above the default range of `make run` (10000-12000) and
below the kernel's ephemeral ports (32768-60999), where every port picked "free" (SIP, ARI,
SIPp's media) comes from, so an Asterisk's RTP never takes a port a test has just picked."""
RTP_REGION = 1000
"""Ports of one pytest process: `RTP_SLOTS` blocks."""
RTP_SLOTS = 5
"""Blocks of 200 ports in a region: 0 the session Asterisk (`asterisk_instance`), 1 a
module's fleet (Kamailio edge), 2.. the `line311 run` stacks of tests/e2e/supervised.py."""
XDIST_REGIONS = 16
"""Regions 0..15: the pytest-xdist workers gw0..gw15; 16..18: a pytest without xdist (by PID)."""


def worker_index() -> int | None:
    """This pytest-xdist worker's number (``gw1`` -> 1), or None outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else None


def process_region() -> int:
    """This pytest process's region: its xdist worker's number (``gw1`` -> 1, modulo
    `XDIST_REGIONS`), or, outside xdist, one of three regions beyond the workers' (by PID).
    The RTP blocks (`rtp_block`) and the runs of ports (`free_port_run`) are sliced by it."""
    worker = worker_index()
    return worker % XDIST_REGIONS if worker is not None else XDIST_REGIONS + os.getpid() % 3


def rtp_block(slot: int) -> int:
    """First port of RTP block ``slot`` (0..`RTP_SLOTS`-1, 200 ports each) of this process.

    Two pytest-xdist workers never share a region (it comes from the worker's number, not its
    PID, which could repeat modulo the region count); a process without xdist takes one of
    three regions beyond the workers'. Each Asterisk also skips a port in use, so a shared
    block would only shrink, but separate blocks keep call capacity predictable."""
    if not 0 <= slot < RTP_SLOTS:
        raise ValueError(f"RTP slot {slot} outside 0..{RTP_SLOTS - 1}")
    return RTP_REGIONS_BASE + process_region() * RTP_REGION + slot * (RTP_REGION // RTP_SLOTS)


def _test_settings(state_dir: Path, **overrides: object) -> Settings:
    rtp_base = rtp_block(0)
    taken = ports_of(overrides)  # each port picked here is none of those nor another's

    def pick(free: Callable[[Collection[int]], int]) -> int:
        port = free(taken)
        taken.add(port)
        return port

    values: dict[str, object] = {
        "state_dir": state_dir,
        "asterisk_instance": f"test{os.getpid()}",
        "sip_port": pick(free_udp_port),
        "ari_url": f"http://127.0.0.1:{pick(free_tcp_port)}",
        "http_port": pick(free_tcp_port),
        "crm_port": pick(free_tcp_port),
        # Kamailio's RPC port (a fleet's only): one of its own, or two fleets would share 5070
        "kamailio_rpc_port": pick(free_tcp_port),
        "rtp_port_start": rtp_base,
        "rtp_port_end": rtp_base + 98,
        "agent_count": 4,
        # the phones are qualified as shipped, only more often: a test finds a dead phone in
        # seconds (the shipped 30 s round is rendered and checked by the unit tests)
        "agent_qualify_frequency": 3,
        "agent_qualify_timeout": 1.5,
        # the interpreter line: a port of this session's own, where e2e tests answer it
        "interpreter_contact": f"sip:interpreter@127.0.0.1:{pick(free_udp_port)}",
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
    # callers with a `Cue` step key the language menu as it starts (line311.sim.cue)
    [cue] = fleet_cues(settings)
    try:
        yield instance
    finally:
        cue.close()
        manager.stop()
        shutil.rmtree(manager.installation.host_path(manager.instance_dir), ignore_errors=True)


E2E_TIMEOUT = 360
"""Seconds a real-Asterisk or browser test may take (setup included): real audio is played at
real speed, and a test must still pass on a busy machine (``make test`` beside another job)."""


SLOW_FILES_FIRST = (
    # first: the CPU-per-call ratio, while the other worker is on the start of the longest e2e
    # file (real-time audio), not on the CPU-heavy integration tests, which come last
    "tests/e2e/test_cpu_ratio.py",  # 58 s (+ the sid root's build on a fresh machine)
    "tests/e2e/test_supervised_run.py",  # 225 s
    "tests/e2e/test_ivr_workers.py",  # 355 s
    # the router's CPU ratio: queued behind the first ratio on its worker (xdist hands a
    # worker its next file once it has two tests or fewer left), never beside it
    "tests/e2e/test_router_cpu_ratio.py",  # 63 s
    "tests/e2e/test_queues.py",  # 216 s
    "tests/e2e/test_alerts.py",  # 156 s
    "tests/e2e/test_queue_paths.py",  # 153 s
    "tests/e2e/test_first_call.py",  # 132 s
    "tests/e2e/test_fleet_faults.py",  # 77 s (a dead phone behind Kamailio: 36 s of it)
    "tests/e2e/test_queue_limits.py",  # 75 s
    "tests/e2e/test_alerts_targeted.py",  # 75 s
    "tests/e2e/test_rolling_restart.py",  # 73 s
    "tests/e2e/test_dashboard_process.py",  # 68 s
    "tests/e2e/test_live_state_faults.py",  # 62 s
    "tests/e2e/test_desk_pops.py",  # 49 s
    "tests/e2e/test_name_resolution.py",  # 47 s
    "tests/e2e/test_ivr.py",  # 45 s
    "tests/e2e/test_sr_lookup_slow_crm.py",  # 44 s
    "tests/integration/live/test_live_routing_processes.py",  # 44 s
    "tests/e2e/test_metrics.py",  # 41 s
    "tests/browser/test_dashboard_live.py",  # 40 s
    "tests/e2e/test_fleet_queue.py",  # 38 s
    "tests/e2e/test_demo.py",  # 37 s
    "tests/e2e/test_dialplan_twin.py",  # 32 s
    "tests/integration/crm/test_crm_outbox.py",  # 31 s
    "tests/integration/live/test_live_sentinel.py",  # 27 s
    "tests/integration/live/test_live_routing_random.py",  # 24 s
    "tests/browser/test_dashboard_page.py",  # 24 s
    "tests/e2e/test_languages.py",  # 22 s
    "tests/e2e/test_stuck_log_output.py",  # 21 s
)
"""Files that run before all others, in this order (the rest keep pytest's order): on
pytest-xdist workers (``--dist loadfile --no-loadscope-reorder``) each file goes whole to the
next free worker, so the long ones start first and the short ones fill in at the end, instead
of one worker ending alone on a long file. Seconds: each file's tests (setup included) in a
two-worker run of every non-unit test (1377 s, half the sum of its tests (2630 s) + 62 s).
``make test`` runs the Makefile's TIMED_FILES first, in pytests of their own: the CPU ratios
one after the other in one process, then the restarts, the desk pops and the browser, on
TIMED_WORKERS (2 by default); this order holds within each run."""


def _file_rank(item: pytest.Item) -> int:
    path = (
        item.path.relative_to(REPO_ROOT).as_posix() if item.path.is_relative_to(REPO_ROOT) else ""
    )
    return SLOW_FILES_FIRST.index(path) if path in SLOW_FILES_FIRST else len(SLOW_FILES_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_file_rank)  # stable: each file's tests keep their order
    for item in items:
        slow = item.get_closest_marker("asterisk") or item.get_closest_marker("browser")
        if slow and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))
