"""Shared set-up for benchmarks that need the real thing: a private Asterisk instance (free
ports, its own state dir, the built prompt library), ``line311 crm-bridge`` + ``line311
serve`` as subprocesses, and an ARI observer that stamps every event on arrival.

With ``LINE311_LIVE_STATE=redis`` in the stack's environment (what ``line311 run``, and so
``make run``, ships) the controller keeps its live state in a redis-server of the bench's own
on a free port (AOF on, as shipped), and `BenchStack.processes` counts it among line311's
processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from line311.asterisk.manager import AsteriskManager
from line311.config import Settings
from line311.live.server import RedisServer
from tests.conftest import _test_settings, free_tcp_port
from tests.e2e.stack import AriObserver, Stack, stack_env


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


@dataclass
class BenchStack:
    settings: Settings
    stack: Stack
    workdir: Path
    redis: RedisServer | None = None

    def processes(self) -> dict[str, int]:
        """Asterisk and every line311 process of the stack: name -> pid."""
        pid = AsteriskManager(self.settings).read_pid()
        controller, crm = self.stack.controller.proc, self.stack.crm.proc
        assert pid is not None, "Asterisk is not running"
        assert controller is not None
        assert crm is not None
        out = {"asterisk": pid, "controller": controller.pid, "crm-bridge": crm.pid}
        if self.redis is not None:
            redis = self.redis.read_pid()
            assert redis is not None, "redis-server is not running"
            out["redis"] = redis
        return out

    def observer(self) -> TimedObserver:
        s = self.settings
        return TimedObserver(s.ari_url, s.ari_user, s.ari_password.get_secret_value())


@contextlib.contextmanager
def bench_stack(
    extra_env: dict[str, str] | None = None, *, rtp_ports: int = 100, log_level: str = "WARNING"
) -> Iterator[BenchStack]:
    """Asterisk + CRM bridge + controller on free ports; everything removed afterwards.
    ``rtp_ports``: size of Asterisk's RTP range (two ports per call leg)."""
    workdir = Path(tempfile.mkdtemp(prefix="line311-bench-"))
    rtp_base = min(52000 + (os.getpid() % 20) * 600, 65000 - rtp_ports)
    settings = _test_settings(
        workdir / "state", rtp_port_start=rtp_base, rtp_port_end=rtp_base + rtp_ports
    )
    (workdir / "state").mkdir(parents=True, exist_ok=True)
    library = Settings().state_dir / "sounds"
    (workdir / "state" / "sounds").symlink_to(library, target_is_directory=True)
    manager = AsteriskManager(settings)
    manager.start(wait=30)
    http_port, crm_port = free_tcp_port(), free_tcp_port()
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
        },
        workdir,
        http_port,
        crm_port,
    )
    env["LINE311_LOG_LEVEL"] = log_level
    env.update(extra_env or {})
    redis = None
    if env.get("LINE311_LIVE_STATE") == "redis":
        redis = RedisServer(workdir / "redis", port=free_tcp_port(), instance="bench")
        redis.start()
        env["LINE311_REDIS_PORT"] = str(redis.port)
    stack = Stack(env, workdir, http_port, crm_port)
    try:
        stack.start()
        yield BenchStack(settings, stack, workdir, redis)
    finally:
        stack.stop()
        if redis is not None:
            redis.stop()
        manager.stop()
        shutil.rmtree(manager.installation.host_path(manager.instance_dir), ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
