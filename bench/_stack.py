"""Shared set-up for benchmarks that need the real thing: a private Asterisk instance (free
ports, its own state dir, the built prompt library), ``line311 crm-bridge`` + ``line311
serve`` as subprocesses, and an ARI observer that stamps every event on arrival.

With ``asterisks=N`` (N >= 2) it is the fleet of ``line311 run --asterisks N``: Kamailio on the
stack's SIP port in front of N Asterisks (`line311.asterisk.fleet`), one controller driving
them all.

With ``LINE311_LIVE_STATE=redis`` in the stack's environment (what ``line311 run``, and so
``make run``, ships) the controller keeps its live state in a redis-server of the bench's own
on a free port (AOF on, as shipped), and `BenchStack.processes` counts it among line311's
processes.

With ``LINE311_IVR_WORKERS=N`` (N >= 1; it implies the Redis live state) the Asterisk dialplan
offers each new call to N IVR workers (``line311 serve --worker K``, started beside the
controller), and `BenchStack.processes` watches them as ``ivr-worker-K``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from line311.asterisk.fleet import asterisk_fleet
from line311.asterisk.manager import AsteriskManager
from line311.config import Settings
from line311.kamailio.manager import KamailioManager
from line311.live.server import RedisServer
from tests.conftest import (
    _test_settings,
    fleet_ports,
    free_port_run,
    free_tcp_port,
    free_tcp_ports,
    ports_of,
)
from tests.e2e.stack import LINE311, AriObserver, Service, Stack, stack_env
from tests.fixtures.polling import wait_until


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


class TimedObserver(AriObserver):
    """An observer that stamps every event with a monotonic arrival time (perf_counter)."""

    def __init__(self, *args: str) -> None:
        self.stamped: list[tuple[dict[str, object], float]] = []
        super().__init__(*args)

    def record(self, message: str | bytes) -> None:
        self.stamped.append((json.loads(message), time.perf_counter()))

    def timed_snapshot(self) -> list[tuple[dict[str, object], float]]:
        return list(self.stamped)


def parse_variants(specs: list[str]) -> list[tuple[str, dict[str, str]]]:
    """``--variant LABEL:NAME=VALUE,...`` options as (label, environment) pairs, in order."""
    out: list[tuple[str, dict[str, str]]] = []
    for spec in specs:
        label, _, pairs = spec.partition(":")
        out.append((label, dict(p.split("=", 1) for p in pairs.split(",") if p)))
    return out


def calls_processed(text: str) -> int | None:
    """The ``N calls processed`` counter in ``core show channels [count]`` output."""
    match = re.search(r"(\d+) calls? processed", text)
    return int(match.group(1)) if match else None


@dataclass
class BenchStack:
    settings: Settings
    stack: Stack
    workdir: Path
    asterisks: list[AsteriskManager]
    """Each Asterisk (one, or the fleet behind Kamailio)."""
    kamailio: KamailioManager | None = None
    redis: RedisServer | None = None
    workers: list[Service] = field(default_factory=list)
    worker_ports: list[int] = field(default_factory=list)
    """Each IVR worker's HTTP port (/health, /metrics), in the order of `workers`."""
    dashboard: Service | None = None
    """``line311 dashboard`` with ``LINE311_DASHBOARD_PROCESS=true`` (the stack's http_port)."""

    def observer(self) -> TimedObserver:
        s = self.settings
        return TimedObserver(s.ari_url, s.ari_user, s.ari_password.get_secret_value())

    def ari(self) -> list[tuple[str, str, str]]:
        """(url, user, password) of every Asterisk's ARI."""
        return [
            (m.settings.ari_url, m.settings.ari_user, m.settings.ari_password.get_secret_value())
            for m in self.asterisks
        ]

    def processes(self) -> dict[str, int]:
        """What a benchmark watches, name -> pid: ``asterisk`` (or ``asterisk-1``..
        ``asterisk-N`` and ``kamailio``), ``controller``, ``crm-bridge``."""
        out: dict[str, int] = {}
        for k, manager in enumerate(self.asterisks, start=1):
            pid = manager.read_pid()
            assert pid is not None, f"Asterisk {manager.instance} is not running"
            out["asterisk" if len(self.asterisks) == 1 else f"asterisk-{k}"] = pid
        if self.kamailio is not None:
            pid = self.kamailio.read_pid()
            assert pid is not None, "Kamailio is not running"
            out["kamailio"] = pid
        controller, crm = self.stack.controller.proc, self.stack.crm.proc
        assert controller is not None
        assert crm is not None
        out |= {"controller": controller.pid, "crm-bridge": crm.pid}
        if self.redis is not None:
            pid = self.redis.read_pid()
            assert pid is not None, "redis-server is not running"
            out["redis"] = pid
        for k, worker in enumerate(self.workers, start=1):
            assert worker.proc is not None, f"IVR worker {k} is not running"
            out[f"ivr-worker-{k}"] = worker.proc.pid
        if self.dashboard is not None:
            assert self.dashboard.proc is not None, "the dashboard is not running"
            out["dashboard"] = self.dashboard.proc.pid
        return out

    def processed(self) -> dict[str, int]:
        """Each Asterisk's ``calls processed`` counter (-1 when it cannot be read)."""
        out: dict[str, int] = {}
        for k, manager in enumerate(self.asterisks, start=1):
            count = calls_processed(manager.cli("core show channels count"))
            out["asterisk" if len(self.asterisks) == 1 else f"asterisk-{k}"] = (
                -1 if count is None else count
            )
        return out


@contextlib.contextmanager
def bench_stack(
    extra_env: dict[str, str] | None = None,
    *,
    rtp_ports: int = 100,
    log_level: str = "WARNING",
    asterisks: int = 1,
    agent_count: int = 4,
) -> Iterator[BenchStack]:
    """Asterisk + CRM bridge + controller on free ports; everything removed afterwards.
    ``rtp_ports``: size of each Asterisk's RTP range (two ports per call leg). ``asterisks``
    >= 2: Kamailio on the SIP port in front of that many Asterisks (ports in free pairs, so
    at most 2). ``agent_count``: CCR endpoints ``agent1``..``agentN`` (Asterisk and line311)."""
    if not 1 <= asterisks <= 2:
        raise ValueError("bench_stack runs 1 or 2 Asterisks")
    workdir = Path(tempfile.mkdtemp(prefix="line311-bench-"))
    span = rtp_ports * asterisks
    rtp_base = min(52000 + (os.getpid() % 20) * 600, 65000 - span)
    fleet = fleet_ports(asterisks)
    workers = int((extra_env or {}).get("LINE311_IVR_WORKERS", "0"))
    settings = _test_settings(
        workdir / "state",
        # not the tests' `test<pid>`: a test running this stack (tests/e2e/
        # test_router_cpu_ratio.py) may share its process with the session's Asterisk
        asterisk_instance=f"bench{os.getpid()}",
        rtp_port_start=rtp_base,
        rtp_port_end=rtp_base + span,
        ivr_workers=workers,  # the dialplan broadcasts new calls to them
        agent_count=agent_count,
        **fleet,
    )
    (workdir / "state").mkdir(parents=True, exist_ok=True)
    library = Settings().state_dir / "sounds"
    (workdir / "state" / "sounds").symlink_to(library, target_is_directory=True)
    managers = [AsteriskManager(one) for one in asterisk_fleet(settings)]
    kamailio = KamailioManager(settings) if asterisks >= 2 else None
    lab: BenchStack | None = None
    try:
        for manager in managers:
            manager.start(wait=30)
        if kamailio is not None:
            kamailio.start(wait=15)
            edge = kamailio
            wait_until(
                lambda: all(d.active for d in edge.destinations()),
                10,
                "every Asterisk up in Kamailio's dispatcher",
            )
        lab = _with_services(settings, workdir, managers, kamailio, extra_env, log_level)
        yield lab
    finally:
        if lab is not None:
            if lab.dashboard is not None:
                lab.dashboard.stop()
            for worker in lab.workers:
                worker.stop()
            lab.stack.stop()
            if lab.redis is not None:
                lab.redis.stop()
        if kamailio is not None:
            kamailio.stop()
            shutil.rmtree(kamailio.installation.host_path(kamailio.server_dir), ignore_errors=True)
        for manager in managers:
            manager.stop()
            shutil.rmtree(manager.installation.host_path(manager.instance_dir), ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _with_services(
    settings: Settings,
    workdir: Path,
    managers: list[AsteriskManager],
    kamailio: KamailioManager | None,
    extra_env: dict[str, str] | None,
    log_level: str,
) -> BenchStack:
    """The CRM bridge and the controller started against the running Asterisk(s)."""
    http_port, crm_port = free_tcp_ports(2, ports_of(settings.model_dump()))
    env = stack_env(
        {
            "LINE311_STATE_DIR": str(settings.state_dir),
            "LINE311_ASTERISK_INSTANCE": settings.asterisk_instance,
            "LINE311_SIP_PORT": str(settings.sip_port),
            "LINE311_ARI_URL": settings.ari_url,
            "LINE311_ARI_PASSWORD": settings.ari_password.get_secret_value(),
            "LINE311_CALLER_HASH_KEY": settings.caller_hash_key.get_secret_value(),
            "LINE311_CRM_API_KEY": settings.crm_api_key.get_secret_value(),
            "LINE311_AGENT_PASSWORD": settings.agent_password.get_secret_value(),
            "LINE311_RTP_PORT_START": str(settings.rtp_port_start),
            "LINE311_RTP_PORT_END": str(settings.rtp_port_end),
            "LINE311_AGENT_COUNT": str(settings.agent_count),
            "LINE311_QUEUE_PHONE_STATE": "true",  # as shipped (the tests' stacks turn it off)
        },
        workdir,
        http_port,
        crm_port,
    )
    if settings.asterisks >= 2:
        env["LINE311_ASTERISKS"] = str(settings.asterisks)
        env["LINE311_ASTERISK_SIP_PORT_BASE"] = str(settings.asterisk_sip_port_base)
    env["LINE311_LOG_LEVEL"] = log_level
    env.update(extra_env or {})
    if settings.ivr_workers:
        env["LINE311_LIVE_STATE"] = "redis"  # hand-offs and claims live there
        # worker K listens on base + K: a run clear of the ephemeral ports (see free_port_run)
        env["LINE311_IVR_WORKER_HTTP_PORT_BASE"] = str(free_port_run(settings.ivr_workers) - 1)
    split = env.get("LINE311_DASHBOARD_PROCESS") == "true"
    if split:  # the dashboard follows the controller through Redis, on the stack's http_port
        env["LINE311_LIVE_STATE"] = "redis"
        taken = ports_of(settings.model_dump()) | {http_port, crm_port}
        env["LINE311_CONTROLLER_HTTP_PORT"] = str(free_tcp_port(taken))
    redis = None
    if env.get("LINE311_LIVE_STATE") == "redis":
        password = env.get("LINE311_REDIS_PASSWORD") or settings.redis_password.get_secret_value()
        redis = RedisServer(
            workdir / "redis", port=free_tcp_port(), instance="bench", password=password
        )
        redis.start()
        env["LINE311_REDIS_PORT"] = str(redis.port)
        env["LINE311_REDIS_PASSWORD"] = password
    stack = Stack(env, workdir, http_port, crm_port)
    workers = [
        Service(
            f"ivr-worker-{k}",
            [*LINE311, "serve", "--worker", str(k)],
            env,
            workdir / f"ivr-worker-{k}.log",
        )
        for k in range(1, settings.ivr_workers + 1)
    ]
    base = int(env.get("LINE311_IVR_WORKER_HTTP_PORT_BASE", "0"))
    worker_ports = [base + k for k in range(1, len(workers) + 1)]
    dashboard = (
        Service("dashboard", [*LINE311, "dashboard"], env, workdir / "dashboard.log")
        if split
        else None
    )
    try:
        if dashboard is not None:  # first: the stack's start waits for /health on http_port
            stack.cli("db", "upgrade")
            dashboard.start()
        stack.start()
        for worker in workers:
            worker.start()
        for k, port in enumerate(worker_ports, start=1):
            wait_until(partial(_worker_connected, port), 30, f"IVR worker {k} up in ARI")
    except BaseException:
        if dashboard is not None:
            dashboard.stop()
        for worker in workers:
            worker.stop()
        stack.stop()
        if redis is not None:
            redis.stop()
        raise
    return BenchStack(
        settings, stack, workdir, managers, kamailio, redis, workers, worker_ports, dashboard
    )


def _worker_connected(port: int) -> bool:
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
    except httpx.HTTPError:
        return False
    return reply.status_code == 200 and bool(reply.json().get("ari_connected"))
