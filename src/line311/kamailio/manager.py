"""Run the Kamailio SIP edge: install, render its config, start, stop, report.

Managed like our Asterisk (``asterisk/manager.py``) and Redis (``live/server.py``), with the
process lifecycle they share (`line311.daemon.Daemon`) and `find_packaged`:

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

import logging
import re
import shutil
import socket
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from line311.asterisk.errors import AsteriskConfigError, AsteriskInstallError
from line311.asterisk.fleet import asterisk_fleet
from line311.asterisk.install import Installation, Package, find_packaged, program_version
from line311.asterisk.render import render_text, write_if_changed
from line311.config import REPO_ROOT, Settings, url_host
from line311.daemon import Daemon, DaemonStatus, runs_with_config, tcp_listening
from line311.kamailio.dmq import Peer, peers_of
from line311.kamailio.errors import (
    KamailioConfigError,
    KamailioInstallError,
    KamailioStartError,
)

__all__ = [
    "Destination",
    "KamailioInstallation",
    "KamailioManager",
    "KamailioStatus",
    "Peer",
    "dmq_values",
    "find_kamailio",
    "keepalive_values",
    "parse_dispatcher_list",
    "parse_dmq_nodes",
    "rpc_sources",
    "sip_ping",
]

logger = logging.getLogger(__name__)

TEMPLATES_DIR = REPO_ROOT / "kamailio_conf"
PACKAGE = Package("kamailio", "kamailio", ("kamailio",), "/usr/sbin/kamailio")
Mode = Literal["auto", "system", "chroot"]


KamailioInstallation = Installation
"""A kamailio we can run: binary, module dir and, for the chroot, its root."""


def _version(argv: list[str]) -> str | None:
    return program_version([*argv, "-v"], r"version: kamailio (\S+)")


def _modules_dir(base: Path) -> str:
    found = sorted(base.glob("usr/lib*/**/kamailio/modules/dispatcher.so"))
    if not found:
        raise KamailioInstallError(f"no Kamailio modules (dispatcher.so) under {base}")
    return "/" + str(found[0].parent.relative_to(base))


def find_kamailio(mode: Mode, root: Path, *, build: bool = True) -> KamailioInstallation:
    """Locate the kamailio to run; for the chroot, install it into ``root`` once."""
    try:
        found = find_packaged(PACKAGE, mode, root, version=_version, build=build)
    except AsteriskInstallError as exc:
        raise KamailioInstallError(str(exc)) from None
    modules = _modules_dir(found.root or Path("/"))
    return KamailioInstallation(found.mode, found.root, found.binary, modules, found.version)


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
class KamailioStatus(DaemonStatus):
    ready: bool
    sip: str
    destinations: tuple[Destination, ...]
    log_file: Path
    peers: tuple[Peer, ...] = ()
    """With `kamailio_peers`: the other nodes as DMQ sees them (empty when not answering)."""


class KamailioManager(Daemon):
    """Render, start, stop and report on the Kamailio edge of a fleet of Asterisks."""

    name = "Kamailio"
    program = "kamailio"
    start_error = KamailioStartError

    def __init__(
        self, settings: Settings, installation: KamailioInstallation | None = None
    ) -> None:
        super().__init__()
        self.settings = settings
        self._installation = installation

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
            "rpc_port": str(s.kamailio_rpc_port),
            "rpc_sources": rpc_sources(s.kamailio_rpc_allow),
            "rpc_token": s.kamailio_rpc_token.get_secret_value(),
            **dmq_values(s.sip_host, s.kamailio_dmq_port, s.kamailio_peers),
            "failover_ms": str(round(s.kamailio_failover_timeout * 1000)),
            "modules_dir": self.installation.modules_dir,
            "run_dir": f"{self.server_dir}/run",
            "dispatcher_list": f"{self.server_dir}/dispatcher.list",
            "agent_password": password,
            **keepalive_values(s.agent_qualify_frequency),
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
    def prepare(self) -> None:
        self.render()

    def is_ours(self, pid: int) -> bool:
        return runs_with_config(pid, b"kamailio", self.config_file)

    def in_use_message(self) -> str | None:
        s = self.settings
        if sip_ping(s.sip_host, s.sip_port):
            return f"something else already answers SIP on {s.sip_host}:{s.sip_port}"
        if tcp_listening(s.sip_host, s.kamailio_rpc_port):
            return (
                f"something else already listens on {s.sip_host}:{s.kamailio_rpc_port} "
                "(kamailio_rpc_port)"
            )
        return None

    def command(self) -> list[str]:
        return self.installation.argv(
            *("-DD", "-E", "-m", "64", "-M", "8", "-Y", f"{self.server_dir}/run"),
            *("-f", self.config_file),
        )

    @property
    def listening(self) -> str:
        return f" on udp:{self.settings.sip_host}:{self.settings.sip_port}"

    def ready_probe(self) -> tuple[bool, str]:
        return sip_ping(self.settings.sip_host, self.settings.sip_port, timeout=0.2), ""

    def not_ready_message(self, pid: int, timeout: float, last: str) -> str:
        s = self.settings
        return (
            f"Kamailio pid {pid} did not answer OPTIONS on {s.sip_host}:{s.sip_port} within "
            f"{timeout:.0f} s"
        )

    def rpc(self, *command: str, timeout: float = 5.0) -> str:
        """Run a Kamailio RPC command (``kamcmd``) on the running instance."""
        kamcmd = str(Path(self.installation.binary).with_name("kamcmd"))
        if self.installation.root is None:
            kamcmd = shutil.which("kamcmd") or kamcmd
        argv = self.installation.run(kamcmd, "-s", self.ctl_socket, *command)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        return proc.stdout

    def peers(self) -> tuple[Peer, ...]:
        """The other Kamailios of the pair as DMQ sees them (empty with no peers, or when
        Kamailio is not answering)."""
        if not self.settings.kamailio_peers:
            return ()
        return parse_dmq_nodes(self.rpc("dmq.list_nodes"))

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
            peers=self.peers() if ready else (),
        )


_DEST = re.compile(r"URI:\s*(sip:\S+)\s+FLAGS:\s*(\S+)")


_NODE_FIELD = re.compile(r"^\s*(\w+):\s*(.*?)\s*$")


def parse_dmq_nodes(text: str) -> tuple[Peer, ...]:
    """The peers in ``kamcmd dmq.list_nodes`` output (one ``{ key: value ... }`` block per
    node; this node's own has ``local: 1``)."""
    return peers_of(
        {m.group(1): m.group(2) for line in block.splitlines() if (m := _NODE_FIELD.match(line))}
        for block in re.findall(r"\{([^{}]*)\}", text)
    )


def dmq_values(host: str, port: int, peers: list[str]) -> dict[str, str]:
    """The parts of kamailio.cfg that make this Kamailio one of a pair (or more): its DMQ
    listener on ``host:port``, ``dmq_usrloc`` for the location table, the ``media`` htable
    replicated, and KDMQ taken from ``peers`` (``IP:port``) only. All empty with no peers."""
    if not peers:
        return dict.fromkeys(
            ("dmq_listen", "dmq_modules", "dmq_params", "dmq_request", "media_dmq"), ""
        )
    own = url_host(host)
    notify = "".join(f'modparam("dmq", "notification_address", "sip:{p}")\n' for p in peers)
    sources = " || ".join(
        "(src_ip == {} && src_port == {})".format(*p.rsplit(":", 1)) for p in peers
    )
    return {
        "dmq_listen": f"# KDMQ from the peers (kamailio_peers) only: request_route\n"
        f"listen=udp:{own}:{port}\n",
        "dmq_modules": 'loadmodule "dmq.so"\nloadmodule "dmq_usrloc.so"\n',
        "dmq_params": (
            f'modparam("dmq", "server_address", "sip:{own}:{port}")\n'
            f'modparam("dmq", "server_socket", "udp:{own}:{port}")\n'
            f"{notify}"
            + ('modparam("dmq", "multi_notify", 0)\n' if len(peers) > 1 else "")
            + 'modparam("dmq", "num_workers", 2)\n'
            "# every save and delete in the location table goes to the peers; a node that\n"
            "# starts asks them for every contact\n"
            'modparam("dmq_usrloc", "enable", 1)\n'
            'modparam("dmq_usrloc", "sync", 1)\n'
            'modparam("dmq_usrloc", "batch_msg_contacts", 50)\n'
            'modparam("dmq_usrloc", "batch_size", 4000)\n'
            'modparam("dmq_usrloc", "batch_usleep", 1000)\n'
            'modparam("htable", "enable_dmq", 1)\n'
        ),
        "dmq_request": (
            f"\tif ($Rp == {port}) {{\n"
            "\t\t# the DMQ listener: KDMQ from a peer, nothing else\n"
            f'\t\tif (is_method("KDMQ") && ({sources})) {{\n'
            "\t\t\tdmq_handle_message();\n"
            "\t\t\texit;\n"
            "\t\t}\n"
            '\t\tif (!is_method("ACK")) {\n'
            '\t\t\tsl_send_reply("403", "Not a peer");\n'
            "\t\t}\n"
            "\t\texit;\n"
            "\t}\n"
        ),
        "media_dmq": "dmqreplicate=1;",
    }


def rpc_sources(allow: list[str]) -> str:
    """The condition of kamailio.cfg on a client of its RPC: this host (a loopback address or
    one Kamailio listens on), or a network of `kamailio_rpc_allow` (``address/prefix``)."""
    nets = [f"src_ip == {net}" for net in allow]
    return " || ".join(["src_ip == 127.0.0.0/8", "src_ip == myself", *nets])


def keepalive_values(frequency: int) -> dict[str, str]:
    """usrloc's keepalive of the CCR phones registered here: an OPTIONS to each contact every
    ``frequency`` seconds (``agent_qualify_frequency``) plus up to a fifth more at random (so
    400 phones are not pinged in the same instant), the timer that checks them as often; a
    contact that answered none for twice that expires (usrloc gives it 10 s more). 0 turns
    the keepalive off and keeps usrloc's 60-s timer."""
    if frequency <= 0:
        return {"ul_timer": "60", "ka_mode": "0", "ka_interval": "40", "ka_randomize": "20",
                "ka_timeout": "0"}  # fmt: skip
    return {
        "ul_timer": str(frequency),
        "ka_mode": "1",
        "ka_interval": str(frequency),
        # at least 1: Kamailio 6.1 takes a random number modulo this (0 crashed a worker)
        "ka_randomize": str(max(1, frequency // 5)),
        "ka_timeout": str(2 * frequency),
    }


def parse_dispatcher_list(text: str) -> tuple[Destination, ...]:
    """Destinations from ``kamcmd dispatcher.list`` output (URI then FLAGS per entry)."""
    return tuple(Destination(m.group(1), m.group(2)) for m in _DEST.finditer(text))
