"""Run one Asterisk instance for line311: render its configs, sync prompts, start, stop.

An *instance* (``asterisk_instance``, default ``main``) owns a directory that Asterisk sees as
``/var/lib/line311/<instance>`` holding its rendered configs (etc/), astdb (db/), spool
(spool/, recordings in spool/recording), control socket (run/) and log (log/). Several
instances can share one installation: the running stack and a test run, each with its own
ports. The prompt library is shared by all instances at ``/var/lib/line311/sounds``.

The process runs in the foreground (``-f``) in its own session, so a Ctrl-C meant for the
stack doesn't reach it; we stop it ourselves with SIGTERM, then SIGKILL. Its PID is kept in
``<state_dir>/asterisk-<instance>.pid`` and checked against /proc before any signal, so a
stale pid file can never make us kill an unrelated process (`line311.daemon.Daemon`, shared
with Redis and Kamailio).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from line311.asterisk.errors import AsteriskStartError
from line311.asterisk.install import Installation, find_installation
from line311.asterisk.render import agent_sections, enter_stasis, render_directory
from line311.config import REPO_ROOT, Settings
from line311.daemon import Daemon, DaemonStatus, runs_with_config

__all__ = ["AsteriskManager", "AsteriskStatus"]

logger = logging.getLogger(__name__)

TEMPLATES_DIR = REPO_ROOT / "asterisk_conf"
SOUNDS_ASTERISK_DIR = "/var/lib/line311/sounds"


@dataclass(frozen=True, slots=True)
class AsteriskStatus(DaemonStatus):
    ari_ready: bool
    sip: str
    ari_url: str
    log_file: Path


class AsteriskManager(Daemon):
    """Render, start, stop and report on one Asterisk instance."""

    name = "Asterisk"
    program = "Asterisk"
    start_error = AsteriskStartError
    start_wait = 30.0
    poll_interval = 0.1

    def __init__(self, settings: Settings, installation: Installation | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._installation = installation

    # ------------------------------------------------------------------ paths
    @property
    def instance(self) -> str:
        return self.settings.asterisk_instance

    @property
    def installation(self) -> Installation:
        if self._installation is None:
            self._installation = find_installation(
                self.settings.asterisk_mode, self.settings.effective_asterisk_root
            )
        return self._installation

    @property
    def instance_dir(self) -> str:
        """Asterisk path of this instance's directory."""
        return f"/var/lib/line311/{self.settings.asterisk_instance}"

    @property
    def config_file(self) -> str:
        return f"{self.instance_dir}/etc/asterisk.conf"

    @property
    def sounds_dir(self) -> str:
        """Asterisk path of the prompt library (``sound:<this>/<lang>/<prompt>``)."""
        return SOUNDS_ASTERISK_DIR

    @property
    def recordings_dir(self) -> Path:
        """Host path where ARI stores recordings of this instance."""
        return self.installation.host_path(f"{self.instance_dir}/spool/recording")

    @property
    def pid_file(self) -> Path:
        return self.settings.state_dir / f"asterisk-{self.settings.asterisk_instance}.pid"

    @property
    def log_file(self) -> Path:
        return self.settings.state_dir / f"asterisk-{self.settings.asterisk_instance}.log"

    # ------------------------------------------------------------------ prepare
    def render(self) -> list[Path]:
        """Render configs and create the instance's runtime directories."""
        s = self.settings
        inst = self.installation
        for sub in ("etc", "db", "spool/recording", "run", "log"):
            inst.host_path(f"{self.instance_dir}/{sub}").mkdir(parents=True, exist_ok=True)
        values = {
            "instance": s.asterisk_instance,
            "instance_dir": self.instance_dir,
            "modules_dir": inst.modules_dir,
            "ari_host": s.ari_host,
            "ari_port": str(s.ari_port),
            "ari_user": s.ari_user,
            "ari_password": s.ari_password.get_secret_value(),
            "ari_app": s.ari_app,
            "enter_stasis": enter_stasis(s.ari_app, s.ivr_workers, s.ivr_broadcast_timeout_ms),
            "sip_host": s.sip_host,
            "sip_port": str(s.sip_port),
            "rtp_port_start": str(s.rtp_port_start),
            "rtp_port_end": str(s.rtp_port_end),
            "sounds_dir": self.sounds_dir,
            "referral_contact": s.referral_contact,
            "interpreter_endpoint": s.interpreter_endpoint,
            "interpreter_contact": s.interpreter_contact,
            "agent_sections": agent_sections(
                s.agent_count, s.agent_password.get_secret_value(), s.asterisk_edge
            ),
            # behind Kamailio an aor's contact is Kamailio, not the phone, and Asterisk takes
            # any answer (a 404 for a phone not registered too) for reachable: no qualify there
            "agent_qualify_frequency": "0" if s.asterisk_edge else str(s.agent_qualify_frequency),
            "agent_qualify_timeout": f"{s.agent_qualify_timeout:g}",
            # the carrier trunk: any UA on loopback, or only the Kamailio in front of us
            "carrier_match": s.asterisk_edge or "127.0.0.0/8",
            # behind Kamailio a Contact is the far phone's own, not the address we heard it from
            "rewrite_contact": "no" if s.asterisk_edge else "yes",
        }
        return render_directory(TEMPLATES_DIR, inst.host_path(f"{self.instance_dir}/etc"), values)

    def sync_sounds(self, library: Path | None = None) -> int:
        """Copy the built prompt library into Asterisk's view; return files copied.

        Only new or changed files are copied (size + mtime), so this is cheap when nothing
        changed. The library is built by ``line311 sounds build`` into ``<state_dir>/sounds``.

        The library and Asterisk's view are shared by every instance of the installation, and
        alert audio comes and goes in both while another instance runs (published through a
        hidden temporary file, unpublished by removal): hidden files are skipped, a file that
        vanishes during the walk is skipped, and a copy appears atomically (a temporary file
        renamed over the target), so an Asterisk playing it never reads half a file.
        """
        src = library or (self.settings.state_dir / "sounds")
        dest = self.installation.host_path(self.sounds_dir)
        dest.mkdir(parents=True, exist_ok=True)
        if not src.is_dir():
            logger.warning("no prompt library at %s: run `line311 sounds build`", src)
            return 0
        copied = 0
        for path in src.rglob("*"):
            if path.name.startswith("."):
                continue
            try:
                if _copy_if_changed(path, dest / path.relative_to(src)):
                    copied += 1
            except FileNotFoundError:
                logger.debug("%s went away while the prompt library was synced", path)
        return copied

    # ------------------------------------------------------------------ process
    def prepare(self) -> None:
        self.render()
        self.sync_sounds()

    def is_ours(self, pid: int) -> bool:
        return runs_with_config(pid, b"asterisk", self.config_file)

    def command(self) -> list[str]:
        return self.installation.argv("-f", "-n", "-C", self.config_file)

    def ready_probe(self) -> tuple[bool, str]:
        return self.ari_ping()

    def not_ready_message(self, pid: int, timeout: float, last: str) -> str:
        return f"ARI at {self.settings.ari_url} did not answer within {timeout:.0f} s ({last})"

    def ari_ping(self) -> tuple[bool, str]:
        s = self.settings
        try:
            r = httpx.get(
                f"{s.ari_url}/ari/asterisk/info",
                auth=(s.ari_user, s.ari_password.get_secret_value()),
                timeout=2.0,
            )
        except httpx.HTTPError as exc:
            return False, type(exc).__name__
        if r.status_code == 401:
            return False, "ARI refused our credentials (401)"
        return r.status_code == 200, f"HTTP {r.status_code}"

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command on the running instance (``asterisk -rx``)."""
        argv = self.installation.argv("-C", self.config_file, "-rx", command)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        return proc.stdout

    def status(self) -> AsteriskStatus:
        pid = self.read_pid()
        ready = self.ari_ping()[0] if pid is not None else False
        s = self.settings
        return AsteriskStatus(
            instance=s.asterisk_instance,
            mode=self.installation.mode,
            version=self.installation.version,
            pid=pid,
            running=pid is not None,
            ari_ready=ready,
            sip=f"udp:{s.sip_host}:{s.sip_port}",
            ari_url=s.ari_url,
            log_file=self.log_file,
        )


def _copy_if_changed(path: Path, target: Path) -> bool:
    """Copy the regular file ``path`` to ``target`` (through a temporary file beside it, so it
    appears whole) unless ``target`` has its size and mtime already; True when copied.
    `FileNotFoundError` when ``path`` is removed meanwhile."""
    if not path.is_file():
        return False
    st = path.stat()
    if target.exists():
        tt = target.stat()
        if tt.st_size == st.st_size and int(tt.st_mtime) == int(st.st_mtime):
            return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copy2(path, tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return True
