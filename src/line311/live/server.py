"""The Redis that holds line311's live state: where it comes from, its config, start and stop.

Managed like our Asterisk (``asterisk/install.py``, ``asterisk/manager.py``), with the process
lifecycle they share (`line311.daemon.Daemon`) and `find_packaged`:

* **Installation.** ``system``: a ``redis-server`` on PATH, run as is. ``chroot``: Debian's
  ``redis-server`` package installed into the Debian sid root the Asterisk chroot uses
  (`line311.asterisk.install.install_into_root` builds that root once and adds the package),
  run with ``chroot <root> /usr/bin/redis-server``. ``auto`` prefers the system binary.
* **Instance.** One instance (default ``main``) owns a data directory: ``<state_dir>/redis-
  <instance>`` for a system binary; for the chroot, whose process sees only the root,
  ``/var/lib/line311/redis-<instance>`` inside the root (as Asterisk's instance dir). We write
  our own ``redis.conf`` there on every start: loopback only, our port, AOF on with fsync
  every second, no eviction, log to stdout (captured in ``<state_dir>/redis-<instance>.log``),
  and ``requirepass`` (the ``redis_password`` setting): the password is in that file only
  (mode 0600, never on the command line, where ``ps`` would show it), and every probe here
  sends AUTH before PING. No system service, unit file or ``/etc/redis`` is read or touched.
* **Process.** Foreground (``daemonize no``) in its own session; the PID is kept in
  ``<state_dir>/redis-<instance>.pid`` and checked against /proc (a redis process listening on
  our port) before any signal, so a stale pid file never makes us signal another process.
  Stop is SIGTERM (Redis flushes the AOF and exits), then SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from line311.asterisk.errors import AsteriskInstallError
from line311.asterisk.install import Package, argv_in, find_packaged, host_path_in, program_version
from line311.daemon import Daemon, DaemonStatus, proc_cmdline, tcp_listening
from line311.live.errors import RedisInstallError, RedisStartError
from line311.procs import pid_alive

__all__ = [
    "DEFAULT_PORT",
    "RedisInstallation",
    "RedisServer",
    "RedisStatus",
    "find_redis",
    "ping",
    "probe",
    "render_conf",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 6380
"""Not 6379: a system Redis may own that one, and it is never ours to touch."""
PACKAGE = Package("redis-server", "redis", ("redis-server",), "/usr/bin/redis-server")
Mode = Literal["auto", "system", "chroot"]


@dataclass(frozen=True, slots=True)
class RedisInstallation:
    """A redis-server we can run: the binary and, for the chroot, the root it runs in."""

    mode: Literal["system", "chroot"]
    root: Path | None
    binary: str
    """Path of the binary as the process sees it (inside the root for the chroot)."""
    version: str

    def host_path(self, path: str | Path) -> Path:
        """Path on the host of a file the server sees as ``path`` (absolute)."""
        return host_path_in(self.root, path)

    def argv(self, *args: str) -> list[str]:
        return argv_in(self.root, self.binary, *args)


def _version(argv: list[str]) -> str | None:
    return program_version([*argv, "--version"], r"v=(\S+)")


def find_redis(mode: Mode, root: Path, *, build: bool = True) -> RedisInstallation:
    """Locate the redis-server to run; for the chroot, install it into ``root`` once."""
    try:
        found = find_packaged(PACKAGE, mode, root, version=_version, build=build)
    except AsteriskInstallError as exc:
        raise RedisInstallError(str(exc)) from None
    return RedisInstallation(found.mode, found.root, found.binary, found.version)


def _conf_string(value: str) -> str:
    """``value`` as a double-quoted redis.conf argument (any character, none can end the line)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_conf(
    *,
    port: int,
    data_dir: str,
    bind: str = "127.0.0.1",
    password: str = "",
    tls: bool = False,
) -> str:
    """The whole redis.conf of an instance (valid for Redis 6.2 to 8); with ``password``, the
    default user must AUTH with it (``requirepass``); with ``tls``, it listens with TLS only,
    with the certificate and key in ``data_dir`` (``server.crt``, ``server.key``, ``ca.crt``;
    clients are not asked for certificates: they AUTH)."""
    auth = f"requirepass {_conf_string(password)}\n" if password else ""
    listen = f"port {port}\n"
    if tls:
        listen = (
            "port 0\n"
            f"tls-port {port}\n"
            f'tls-cert-file "{data_dir}/server.crt"\n'
            f'tls-key-file "{data_dir}/server.key"\n'
            f'tls-ca-cert-file "{data_dir}/ca.crt"\n'
            "tls-auth-clients no\n"
        )
    return (
        "# written by line311 on every start: edits are lost\n"
        f"bind {bind}\n"
        f"{listen}"
        "protected-mode yes\n"
        "daemonize no\n"
        "supervised no\n"
        'logfile ""\n'
        "loglevel notice\n"
        f'dir "{data_dir}"\n'
        # live state must survive a crash: every write goes to the AOF, fsync'd each second
        "appendonly yes\n"
        'appendfilename "line311.aof"\n'
        "appendfsync everysec\n"
        "aof-use-rdb-preamble yes\n"
        'save ""\n'
        'dbfilename "line311.rdb"\n'
        # never drop a caller's place to make room
        "maxmemory-policy noeviction\n"
        "tcp-keepalive 60\n"
        "timeout 0\n"
        "databases 16\n"
        f"{auth}"
    )


def _command(*args: str) -> bytes:
    """One command as a RESP array of bulk strings (any byte of an argument is safe)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def probe(
    host: str,
    port: int,
    *,
    password: str = "",
    username: str = "",
    timeout: float = 1.0,
    tls: ssl.SSLContext | None = None,
) -> tuple[bool, str]:
    """(True, "") when a Redis at host:port answers PING with PONG (and is not loading), after
    AUTH with ``password`` (as ``username`` when set) if one is given; else (False, why).
    ``tls``: speak TLS with that context (the server's certificate checked for ``host``)."""
    auth = ["AUTH", *([username] if username else []), password] if password else []
    reply = ""
    try:
        with contextlib.ExitStack() as stack:
            raw = stack.enter_context(socket.create_connection((host, port), timeout=timeout))
            sock = stack.enter_context(tls.wrap_socket(raw, server_hostname=host)) if tls else raw
            replies = stack.enter_context(sock.makefile("rb"))
            sock.sendall((_command(*auth) if auth else b"") + _command("PING"))
            for _ in range(2 if auth else 1):
                reply = replies.readline(512).rstrip(b"\r\n").decode(errors="replace")
                if not reply.startswith("+"):
                    break  # AUTH refused: the reply to PING says no more
    except OSError as exc:
        return False, f"no answer ({exc})"
    if reply == "+PONG":
        return True, ""
    if reply.startswith(("-NOAUTH", "-WRONGPASS")) or "AUTH" in reply:
        return False, f"authentication failed: {reply[1:] or 'connection closed'}"
    return False, reply[1:] or "connection closed"


def ping(
    host: str, port: int, timeout: float = 1.0, *, password: str = "", username: str = ""
) -> bool:
    """True when a Redis at host:port answers PING with PONG (and is not loading), after
    AUTH with ``password`` if one is given (`probe`)."""
    return probe(host, port, password=password, username=username, timeout=timeout)[0]


@dataclass(frozen=True, slots=True)
class RedisStatus(DaemonStatus):
    ready: bool
    url: str
    data_dir: Path
    log_file: Path


class RedisServer(Daemon):
    """Configure, start, stop and report on one redis-server instance of ours."""

    name = "Redis"
    program = "redis-server"
    start_error = RedisStartError
    poll_interval = 0.05

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = DEFAULT_PORT,
        instance: str = "main",
        mode: Mode = "auto",
        root: Path | None = None,
        installation: RedisInstallation | None = None,
        host: str = "127.0.0.1",
        password: str = "",
        tls_dir: Path | None = None,
    ) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,30}", instance):
            raise RedisStartError(f"bad instance name {instance!r}")
        super().__init__()
        self.state_dir = state_dir
        self.port = port
        self._instance = instance
        self.host = host
        self.password = password
        """``requirepass`` of its config, sent (AUTH) by every probe; empty: none."""
        self.tls_dir = tls_dir
        """With TLS only: line311's own CA and certificate are made (kept) there
        (`line311.live.tls.ensure_own_certs`) and copied into the data directory."""
        self._mode: Mode = mode
        self._root = root
        self._installation = installation

    # ------------------------------------------------------------------ paths
    @property
    def instance(self) -> str:
        return self._instance

    @property
    def installation(self) -> RedisInstallation:
        if self._installation is None:
            root = self._root if self._root is not None else Path("/nonexistent-sid-root")
            self._installation = find_redis(self._mode, root)
        return self._installation

    @property
    def url(self) -> str:
        """Where it listens (never with the password: this is shown and logged)."""
        scheme = "rediss" if self.tls_dir is not None else "redis"
        return f"{scheme}://{self.host}:{self.port}/0"

    @property
    def server_dir(self) -> str:
        """The data directory as the server sees it."""
        if self.installation.root is None:
            return str(self.state_dir.resolve() / f"redis-{self.instance}")
        return f"/var/lib/line311/redis-{self.instance}"

    @property
    def data_dir(self) -> Path:
        """The data directory on the host."""
        return self.installation.host_path(self.server_dir)

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"redis-{self.instance}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"redis-{self.instance}.log"

    # ------------------------------------------------------------------ process
    def write_conf(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        conf = self.data_dir / "redis.conf"
        if self.tls_dir is not None:
            from line311.live.tls import ensure_own_certs

            own = ensure_own_certs(self.tls_dir)
            for src, name in ((own.cert_file, "server.crt"), (own.key_file, "server.key")):
                _copy_private(src, self.data_dir / name)
            _copy_private(own.ca_file, self.data_dir / "ca.crt")
        text = render_conf(
            port=self.port,
            data_dir=self.server_dir,
            bind=self.host,
            password=self.password,
            tls=self.tls_dir is not None,
        )
        # it holds the password: created private, and made private if an older one was not
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return conf

    def prepare(self) -> None:
        """Nothing to do while one runs: its config is written only before a spawn (`command`)."""

    def is_ours(self, pid: int) -> bool:
        return _is_our_redis(pid, self.port)

    def _probe(self) -> tuple[bool, str]:
        context = None
        if self.tls_dir is not None:
            from line311.live.tls import RedisTls, own_ca_file

            ca = own_ca_file(self.tls_dir)
            if not ca.exists():
                return False, "its TLS certificates are not made yet"
            context = RedisTls(ca).context()
        return probe(self.host, self.port, password=self.password, tls=context)

    def in_use_message(self) -> str | None:
        if tcp_listening(self.host, self.port):
            return f"something else already answers on {self.host}:{self.port}; pick another port"
        return None

    def command(self) -> list[str]:
        self.write_conf()
        return self.installation.argv(f"{self.server_dir}/redis.conf")

    @property
    def listening(self) -> str:
        return f" on {self.host}:{self.port}"

    def ready_probe(self) -> tuple[bool, str]:
        return self._probe()

    def not_ready_message(self, pid: int, timeout: float, last: str) -> str:
        why = f" ({last})" if last else ""
        hint = ""
        if last.startswith("authentication failed"):
            # one of ours already running with another password (or none) is adopted as is
            hint = (
                "; it does not take redis_password: stop it (`line311 redis down`) so it "
                "restarts with its new config"
            )
        return (
            f"Redis pid {pid} did not answer PING on {self.host}:{self.port} within "
            f"{timeout:.0f} s{why}{hint}"
        )

    def status(self) -> RedisStatus:
        pid = self.read_pid()
        inst = self.installation
        return RedisStatus(
            instance=self.instance,
            mode=inst.mode,
            version=inst.version,
            pid=pid,
            running=pid is not None,
            ready=pid is not None and self._probe()[0],
            url=self.url,
            data_dir=self.data_dir,
            log_file=self.log_file,
        )


def _copy_private(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` readable by its owner only (the server may run in a chroot)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, dest)


def _is_our_redis(pid: int, port: int) -> bool:
    """A live redis-server listening on ``port`` (it rewrites its title to ``host:port``)."""
    args = proc_cmdline(pid)
    if args is None:
        return False
    cmdline = b"\0".join(args)
    return pid_alive(pid) and b"redis-server" in cmdline and f":{port}".encode() in cmdline
