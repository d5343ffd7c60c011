"""``line311 run`` as the stack of an end-to-end test (issue 12: the supervised processes).

`Supervised` is ``line311 run`` itself (not the test `Stack` of separate services): its own
Asterisk instance, its own Redis, CRM bridge and controller, on free ports and a state dir of
the test, with the `Stack` helpers (CLI, /health, call records) pointed at it. The
``supervised_run`` fixture (tests/e2e/conftest.py) starts one, waits until it answers and
stops it after the test; the tests keep only their scenario.

``asterisks=2`` is ``line311 run --asterisks 2``: Kamailio on the run's SIP port in front of
two Asterisks (SIP and ARI ports picked as free pairs), one controller driving both.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from line311.asterisk.fleet import asterisk_fleet
from line311.asterisk.manager import AsteriskManager
from line311.config import REPO_ROOT, Settings
from line311.kamailio.manager import KamailioManager
from line311.queue.queue_log import QueueLogRecord, parse_lines
from line311.sim.cue import PromptCue, fleet_cues
from tests.conftest import (
    RTP_SLOTS,
    AsteriskInstance,
    _test_settings,
    fleet_ports,
    free_tcp_port,
    ports_of,
    rtp_block,
)
from tests.e2e.stack import LINE311, TEST_DEFAULTS, AriObserver, Service, Stack, wait_until

__all__ = ["Desk", "Killed", "Supervised", "alive"]


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass(frozen=True, slots=True)
class Killed:
    """A controller SIGKILLed by `Supervised.kill_controller`, and its successor."""

    pid: int
    at: float
    """time.time() of the kill."""
    back_in: float
    """Seconds from the kill until the new controller's /health said ARI connected."""


_RUNS = itertools.count()
"""Numbers the `Supervised` runs of this process."""


class Supervised:
    """``line311 run`` as a subprocess, with the test `Stack` helpers pointed at it."""

    def __init__(
        self,
        workdir: Path,
        flow: Path,
        extra_env: dict[str, str] | None = None,
        *,
        asterisks: int = 1,
    ) -> None:
        state = workdir / "state"
        state.mkdir(parents=True)
        library = Settings().state_dir / "sounds"
        if not library.is_dir():
            library = REPO_ROOT / "var" / "sounds"
        (state / "sounds").symlink_to(library, target_is_directory=True)
        # its own Asterisk instance and RTP block, also beside another run of this process (a
        # module's shared run and a test's own): same name = "Asterisk already running"
        n = next(_RUNS)
        rtp = rtp_block(2 + n % (RTP_SLOTS - 2))  # clear of the session Asterisk's block
        fleet = fleet_ports(asterisks)
        settings = _test_settings(
            state,
            asterisk_instance=f"sup{os.getpid()}x{n}",
            rtp_port_start=rtp,
            rtp_port_end=rtp + 98 * asterisks,
            **fleet,
        )
        self.settings = settings
        self.manager = AsteriskManager(settings)
        self.asterisks = [AsteriskManager(one) for one in asterisk_fleet(settings)]
        """Each Asterisk of the run (just `manager` with one)."""
        # ports of this run's other parts, each picked apart: none may share a number
        taken = ports_of(settings.model_dump())
        controller_port = free_tcp_port(taken)
        redis_port = free_tcp_port(taken | {controller_port})
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINE311_")}
        env.update(TEST_DEFAULTS)
        env.update(AsteriskInstance(settings, self.manager).env)
        if asterisks >= 2:
            env["LINE311_ASTERISKS"] = str(asterisks)
            env["LINE311_ASTERISK_SIP_PORT_BASE"] = str(settings.asterisk_sip_port_base)
            env["LINE311_KAMAILIO_RPC_PORT"] = str(settings.kamailio_rpc_port)
        env.update(
            {
                "LINE311_HTTP_PORT": str(settings.http_port),
                # the controller's own port (the dashboard process has http_port): one of its
                # own, as SO_REUSEPORT would let two runs share a fixed one
                "LINE311_CONTROLLER_HTTP_PORT": str(controller_port),
                "LINE311_CRM_PORT": str(settings.crm_port),
                "LINE311_REDIS_PORT": str(redis_port),
                "LINE311_INTERPRETER_CONTACT": settings.interpreter_contact,
                "LINE311_AGENT_COUNT": str(settings.agent_count),
                "LINE311_DATABASE_URL": f"sqlite:///{workdir / 'line311.db'}",
                "LINE311_FLOW_FILE": str(flow),
                "LINE311_LOG_LEVEL": "DEBUG",
            }
        )
        env.update(extra_env or {})
        self.stack = Stack(env, workdir, settings.http_port, settings.crm_port)
        self.run = Service("run", [*LINE311, "run"], env, workdir / "run.log")
        self.cues: list[PromptCue] = []
        """One per Asterisk once the run is up (`wait_ready`): callers key on its cue."""

    # ------------------------------------------------------------------ life cycle
    def close(self) -> None:
        """Stop ``line311 run`` (it stops its processes) and remove the Asterisk instance."""
        for cue in self.cues:
            cue.close()
        self.run.stop(timeout=60)
        if len(self.asterisks) > 1:  # only if the supervisor left it (it stops it itself)
            kamailio = KamailioManager(self.settings)
            kamailio.stop()
            shutil.rmtree(kamailio.installation.host_path(kamailio.server_dir), ignore_errors=True)
        for manager in self.asterisks:
            manager.stop()  # only if the supervisor left it (it stops Asterisk itself)
            shutil.rmtree(manager.installation.host_path(manager.instance_dir), ignore_errors=True)

    def ari_up(self) -> bool:
        """The controller's /health answers with ARI connected."""
        health = self.stack.health()
        return health is not None and bool(health["ari_connected"])

    def wait_ready(self) -> None:
        """The first start: controller with ARI connected, and the CRM bridge (the run's
        output and the process logs in the failure when they do not come up)."""
        try:
            wait_until(self.ari_up, 120, "the supervised controller's /health with ARI connected")
            wait_until(self.stack.crm_health, 30, "the supervised CRM bridge")
        except AssertionError:
            raise AssertionError(self.logs()) from None
        self.cues = self.cues or fleet_cues(self.settings)

    # ------------------------------------------------------------------ `line311 status`
    def status(self) -> tuple[int, dict[str, Any]]:
        proc = self.stack.cli("status", "--json", check=False)
        return proc.returncode, json.loads(proc.stdout)

    def processes(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.status()[1]["processes"]}

    def controller(self) -> dict[str, Any]:
        return self.processes()["controller"]

    def wait_spare(self, name: str = "controller", within: float = 60) -> int:
        """Wait for ``name``'s warm spare to be ready (`line311.supervise.spare`), as it is
        in a run some seconds after each start; its PID."""
        spare = wait_until(
            lambda: self.processes()[name].get("spare"), within, f"the {name}'s warm spare", 0.5
        )
        return int(spare)

    def kill_controller(
        self, back_within: float = 5.0, *, pid: int | None = None, warm: bool = True
    ) -> Killed:
        """SIGKILL the controller (``pid``, when the test has just read it from `status`);
        wait for it to die (5 s) and for the one the supervisor starts to have ARI connected
        (``back_within`` s). ``warm``: first wait for its warm spare to be ready (the
        restart then takes it over)."""
        if warm:
            self.wait_spare()
        pid = int(self.controller()["pid"]) if pid is None else pid
        os.kill(pid, signal.SIGKILL)
        killed_at, killed_wall = time.monotonic(), time.time()
        wait_until(lambda: not alive(pid), 5, "the controller to die")
        wait_until(
            self.ari_up, back_within, "the restarted controller's /health with ARI connected"
        )
        return Killed(pid, killed_wall, time.monotonic() - killed_at)

    # ------------------------------------------------------------------ what it wrote
    def queue_log(self) -> list[QueueLogRecord]:
        """The queue_log lines, in the order they were written."""
        path = self.settings.state_dir / "queue_log"
        return list(parse_lines(path.read_text().splitlines())) if path.exists() else []

    def queue_log_ids(self, event: str) -> list[str]:
        """Call ids of the queue_log lines of ``event``, in the order they were written."""
        return [r.call_id for r in self.queue_log() if r.event == event]

    def observer(self) -> AriObserver:
        """An ARI observer of this run's Asterisk (the caller closes it)."""
        s = self.settings
        return AriObserver(s.ari_url, s.ari_user, s.ari_password.get_secret_value())

    def logs(self) -> str:
        state = self.settings.state_dir
        parts = [self.run.output()]
        for name in ("controller.log", "dashboard.log", "crm-bridge.log"):
            path = state / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)


class Desk:
    """The CCR desk API and the wallboard snapshot, signed in as a supervisor."""

    def __init__(self, sup: Supervised) -> None:
        self.base = f"http://127.0.0.1:{sup.settings.http_port}"
        self.headers = {"Authorization": f"Bearer {sup.stack.supervisor_token()}"}

    def post(self, path: str) -> None:
        r = httpx.post(self.base + "/api/desk" + path, headers=self.headers, timeout=5)
        assert r.status_code == 200, r.text

    def agent(self, agent_id: str) -> dict[str, Any]:
        r = httpx.get(self.base + "/api/desk/agents", headers=self.headers, timeout=5)
        return next(a for a in r.json()["agents"] if a["agent_id"] == agent_id)  # type: ignore[no-any-return]

    def snapshot(self) -> dict[str, Any]:
        r = httpx.get(self.base + "/api/snapshot", headers=self.headers, timeout=5)
        assert r.status_code == 200, r.text
        return dict(r.json())
