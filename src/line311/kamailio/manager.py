"""Run the Kamailio SIP edge: install, render its config, start, stop, report.

Managed like our Asterisk (``asterisk/manager.py``) and Redis (``live/server.py``):

* **Installation.** ``system``: a ``kamailio`` on PATH. ``chroot``: Debian's ``kamailio``
  package installed into the Debian sid root the Asterisk chroot uses
  (`line311.asterisk.install.install_into_root`), run with ``chroot <root> /usr/sbin/kamailio``.
* **Instance.** ``kamailio-<asterisk_instance>`` owns a directory (``/var/lib/line311/...`` in
  the root, ``<state_dir>/...`` for a system binary) holding the rendered ``kamailio.cfg``,
  the dispatcher list (one line per Asterisk of `asterisk_fleet`) and the runtime dir with the
  control socket ``kamcmd`` talks to.
* **Process.** In the foreground (``-DD``, logs to stderr) in its own session; the PID (the
  main process: it stops its workers itself) is kept in ``<state_dir>/kamailio-<instance>.pid``
  and checked against /proc before any signal. Ready when it answers a SIP OPTIONS.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from line311.asterisk.errors import AsteriskConfigError, AsteriskInstallError
from line311.asterisk.fleet import asterisk_fleet
from line311.asterisk.install import install_into_root
from line311.asterisk.render import render_text, write_if_changed
from line311.config import REPO_ROOT, Settings
from line311.kamailio.errors import (
    KamailioConfigError,
    KamailioInstallError,
    KamailioStartError,
)
from line311.procs import kill_and_wait, log_tail, pid_alive, read_pid_file, terminate

__all__ = [
    "Destination",
    "KamailioInstallation",
    "KamailioManager",
    "KamailioStatus",
    "find_kamailio",
    "parse_dispatcher_list",
    "sip_ping",
]

logger = logging.getLogger(__name__)

TEMPLATES_DIR = REPO_ROOT / "kamailio_conf"
CHROOT_BINARY = "/usr/sbin/kamailio"
PACKAGES = ("kamailio",)
Mode = Literal["auto", "system", "chroot"]


@dataclass(frozen=True, slots=True)
class KamailioInstallation:
    """A kamailio we can run: binary, module dir and, for the chroot, its root."""

    mode: Literal["system", "chroot"]
    root: Path | None
    binary: str
    modules_dir: str
    version: str

    def host_path(self, path: str | Path) -> Path:
        p = Path(path)
        if self.root is None:
            return p
        return self.root / p.relative_to("/")

    def argv(self, program: str, *args: str) -> list[str]:
        """Run ``program`` (a path as Kamailio sees it) with ``args``."""
        if self.root is None:
            return [program, *args]
        return ["chroot", str(self.root), program, *args]


def _version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(
            [*argv, "-v"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"version: kamailio (\S+)", out)
    return match.group(1) if match else None


def _modules_dir(base: Path) -> str:
    found = sorted(base.glob("usr/lib*/**/kamailio/modules/dispatcher.so"))
    if not found:
        raise KamailioInstallError(f"no Kamailio modules (dispatcher.so) under {base}")
    return "/" + str(found[0].parent.relative_to(base))


def find_kamailio(mode: Mode, root: Path, *, build: bool = True) -> KamailioInstallation:
    """Locate the kamailio to run; for the chroot, install it into ``root`` once."""
    if mode in ("auto", "system"):
        binary = shutil.which("kamailio")
        version = _version([binary]) if binary else None
        if binary is not None and version is not None:
            return KamailioInstallation("system", None, binary, _modules_dir(Path("/")), version)
        if mode == "system":
            raise KamailioInstallError("kamailio_mode=system needs a kamailio on PATH")
    if not (root / CHROOT_BINARY.lstrip("/")).exists():
        if not build:
            raise KamailioInstallError(
                f"no kamailio in {root}; run `line311 kamailio up` to install it"
            )
        try:
            install_into_root(root, PACKAGES, binary=CHROOT_BINARY)
        except AsteriskInstallError as exc:
            raise KamailioInstallError(str(exc)) from None
    version = _version(["chroot", str(root), CHROOT_BINARY]) or "unknown"
    return KamailioInstallation("chroot", root, CHROOT_BINARY, _modules_dir(root), version)


def sip_ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a SIP server at host:port (UDP) answers an OPTIONS with any response."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.bind((host, 0))
            local = sock.getsockname()[1]
            branch = "z9hG4bK" + uuid.uuid4().hex[:16]
            message = (
                f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {host}:{local};branch={branch};rport\r\n"
                "Max-Forwards: 70\r\n"
                f"From: <sip:ping@{host}>;tag={uuid.uuid4().hex[:8]}\r\n"
                f"To: <sip:{host}:{port}>\r\n"
                f"Call-ID: {uuid.uuid4().hex}@{host}\r\n"
                "CSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            sock.sendto(message.encode(), (host, port))
            reply, _ = sock.recvfrom(4096)
        except OSError:
            return False
    return reply.startswith(b"SIP/2.0 ")


@dataclass(frozen=True, slots=True)
class Destination:
    """One Asterisk as the dispatcher sees it."""

    uri: str
    flags: str  # AP: active (probed), IP: inactive (probed), TP: trying (probed), DX: disabled

    @property
    def active(self) -> bool:
        return self.flags.startswith("A")


@dataclass(frozen=True, slots=True)
class KamailioStatus:
    instance: str
    mode: str
    version: str
    pid: int | None
    running: bool
    ready: bool
    sip: str
    destinations: tuple[Destination, ...]
    log_file: Path


class KamailioManager:
    """Render, start, stop and report on the Kamailio edge of a fleet of Asterisks."""

    def __init__(
        self, settings: Settings, installation: KamailioInstallation | None = None
    ) -> None:
        self.settings = settings
        self._installation = installation
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ paths
    @property
    def installation(self) -> KamailioInstallation:
        if self._installation is None:
            self._installation = find_kamailio(
                self.settings.kamailio_mode, self.settings.effective_asterisk_root
            )
        return self._installation

    @property
    def instance(self) -> str:
        return f"kamailio-{self.settings.asterisk_instance}"

    @property
    def server_dir(self) -> str:
        """The instance directory as Kamailio sees it."""
        if self.installation.root is None:
            return str(Path(self.settings.state_dir).resolve() / self.instance)
        return f"/var/lib/line311/{self.instance}"

    @property
    def config_file(self) -> str:
        return f"{self.server_dir}/kamailio.cfg"

    @property
    def ctl_socket(self) -> str:
        return f"unix:{self.server_dir}/run/kamailio_ctl"

    @property
    def pid_file(self) -> Path:
        return Path(self.settings.state_dir) / f"{self.instance}.pid"

    @property
    def log_file(self) -> Path:
        return Path(self.settings.state_dir) / f"{self.instance}.log"

    # ------------------------------------------------------------------ prepare
    def dispatcher_list(self) -> str:
        """Dispatcher set 1: every Asterisk of the fleet, by SIP address."""
        lines = ["# set uri flags priority -- written by line311 on every start"]
        lines += [f"1 sip:{a.sip_host}:{a.sip_port} 0 0" for a in asterisk_fleet(self.settings)]
        return "\n".join(lines) + "\n"

    def render(self) -> list[Path]:
        """Write kamailio.cfg and the dispatcher list; return the files that changed."""
        s = self.settings
        password = s.agent_password.get_secret_value()
        if any(c in password for c in '"\\\n\r$'):
            raise KamailioConfigError(
                "agent_password must not contain quotes, backslashes, '$' or newlines"
            )
        host_dir = self.installation.host_path(self.server_dir)
        (host_dir / "run").mkdir(parents=True, exist_ok=True)
        values = {
            "instance": self.instance,
            "children": "4",
            "sip_host": s.sip_host,
            "sip_port": str(s.sip_port),
            "modules_dir": self.installation.modules_dir,
            "run_dir": f"{self.server_dir}/run",
            "dispatcher_list": f"{self.server_dir}/dispatcher.list",
            "agent_password": password,
        }
        template = (TEMPLATES_DIR / "kamailio.cfg").read_text()
        try:
            cfg = render_text(template, values, name="kamailio.cfg")
        except AsteriskConfigError as exc:  # the renderer is shared with Asterisk
            raise KamailioConfigError(str(exc)) from None
        written = []
        for name, text in (("kamailio.cfg", cfg), ("dispatcher.list", self.dispatcher_list())):
            if write_if_changed(host_dir / name, text, 0o600):
                written.append(host_dir / name)
        return written

    # ------------------------------------------------------------------ process
    def read_pid(self) -> int | None:
        """PID of our running Kamailio, or None (a stale pid file is removed)."""
        return read_pid_file(self.pid_file, lambda pid: _is_our_kamailio(pid, self.config_file))

    def start(self, *, wait: float = 15.0) -> int:
        """Start Kamailio (idempotent) and wait until it answers OPTIONS; return its PID."""
        s = self.settings
        self.render()
        pid = self.read_pid()
        if pid is not None:
            self.wait_ready(wait, pid=pid)
            return pid
        if sip_ping(s.sip_host, s.sip_port):
            raise KamailioStartError(
                f"something else already answers SIP on {s.sip_host}:{s.sip_port}"
            )
        Path(s.state_dir).mkdir(parents=True, exist_ok=True)
        argv = self.installation.argv(
            self.installation.binary,
            *("-DD", "-E", "-m", "64", "-M", "8", "-Y", f"{self.server_dir}/run"),
            *("-f", self.config_file),
        )
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._proc = proc
        self.pid_file.write_text(f"{proc.pid}\n")
        logger.info(
            "Kamailio %s (%s) starting on udp:%s:%d, pid %d, log %s",
            self.instance,
            self.installation.mode,
            s.sip_host,
            s.sip_port,
            proc.pid,
            self.log_file,
        )
        try:
            self.wait_ready(wait, pid=proc.pid, proc=proc)
        except KamailioStartError:
            self.stop()
            raise
        return proc.pid

    def wait_ready(
        self, timeout: float, *, pid: int, proc: subprocess.Popen[bytes] | None = None
    ) -> None:
        """Poll with OPTIONS until Kamailio answers, dies, or ``timeout`` passes."""
        s = self.settings
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise KamailioStartError(
                    f"kamailio exited with {proc.returncode} during start-up; "
                    f"see {self.log_file}:\n{log_tail(self.log_file)}"
                )
            if sip_ping(s.sip_host, s.sip_port, timeout=0.2):
                return
        raise KamailioStartError(
            f"Kamailio pid {pid} did not answer OPTIONS on {s.sip_host}:{s.sip_port} within "
            f"{timeout:.0f} s; see {self.log_file}:\n{log_tail(self.log_file)}"
        )

    def stop(self, *, timeout: float = 10.0) -> bool:
        """Stop our Kamailio (SIGTERM, then SIGKILL); return whether one was running."""
        pid = self.read_pid()
        if pid is None:
            self._reap()
            return False
        terminate(pid, "Kamailio", timeout=timeout)
        self._reap()
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        logger.info("Kamailio %s stopped", self.instance)
        return True

    def kill(self) -> None:
        pid = self.read_pid()
        if pid is not None:
            kill_and_wait(pid)
            self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
            self._proc = None

    def rpc(self, *command: str, timeout: float = 5.0) -> str:
        """Run a Kamailio RPC command (``kamcmd``) on the running instance."""
        kamcmd = str(Path(self.installation.binary).with_name("kamcmd"))
        if self.installation.root is None:
            kamcmd = shutil.which("kamcmd") or kamcmd
        argv = self.installation.argv(kamcmd, "-s", self.ctl_socket, *command)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        return proc.stdout

    def destinations(self) -> tuple[Destination, ...]:
        """The dispatcher's view of the Asterisks (empty when Kamailio is not answering)."""
        return parse_dispatcher_list(self.rpc("dispatcher.list"))

    def status(self) -> KamailioStatus:
        pid = self.read_pid()
        s = self.settings
        ready = pid is not None and sip_ping(s.sip_host, s.sip_port)
        return KamailioStatus(
            instance=self.instance,
            mode=self.installation.mode,
            version=self.installation.version,
            pid=pid,
            running=pid is not None,
            ready=ready,
            sip=f"udp:{s.sip_host}:{s.sip_port}",
            destinations=self.destinations() if ready else (),
            log_file=self.log_file,
        )


_DEST = re.compile(r"URI:\s*(sip:\S+)\s+FLAGS:\s*(\S+)")


def parse_dispatcher_list(text: str) -> tuple[Destination, ...]:
    """Destinations from ``kamcmd dispatcher.list`` output (URI then FLAGS per entry)."""
    return tuple(Destination(m.group(1), m.group(2)) for m in _DEST.finditer(text))


def _is_our_kamailio(pid: int, config_file: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        pid_alive(pid)
        and any(b"kamailio" in part for part in cmdline)
        and config_file.encode() in cmdline
    )
