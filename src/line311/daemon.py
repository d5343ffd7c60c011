"""One daemon of ours (Asterisk, Redis, Kamailio), run the same way whichever it is.

It runs in the foreground in its own session (a Ctrl-C meant for the stack does not reach it)
with its output appended to ``log_file``; its PID is kept in ``pid_file`` and checked against
/proc (`Daemon.is_ours`) before any signal, so a stale pid file never makes us signal another
process. Start is idempotent and waits until the daemon's own readiness probe answers; stop is
SIGTERM, then SIGKILL after a timeout.

Each manager subclasses `Daemon` and keeps only what is its own: the files it writes before a
start (`prepare`, `command`), its command line, its readiness probe and its messages.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from line311.procs import kill_and_wait, log_tail, pid_alive, read_pid_file, terminate

__all__ = [
    "Daemon",
    "DaemonStatus",
    "Installed",
    "proc_cmdline",
    "runs_with_config",
    "tcp_listening",
]


class Installed(Protocol):
    """What a daemon's installation tells the logs: ``system`` or ``chroot``."""

    @property
    def mode(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """What every daemon's status starts with; each adds how it answers, then its log file."""

    instance: str
    mode: str
    version: str
    pid: int | None
    running: bool


def proc_cmdline(pid: int) -> list[bytes] | None:
    """The arguments ``pid`` runs with (from /proc), or None when they cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None


def tcp_listening(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``host:port`` (a port taken before a
    daemon's start, or a daemon of any password)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def runs_with_config(pid: int, program: bytes, config_file: str) -> bool:
    """True when ``pid`` is alive, runs ``program`` and has ``config_file`` as an argument."""
    cmdline = proc_cmdline(pid)
    return (
        cmdline is not None
        and pid_alive(pid)
        and any(program in part for part in cmdline)
        and config_file.encode() in cmdline
    )


class Daemon(ABC):
    """Start, wait for, stop and kill one daemon process of ours."""

    name: ClassVar[str]
    """How logs and errors name it: ``Asterisk``."""
    program: ClassVar[str]
    """How the error names the program that exited during start-up: ``redis-server``."""
    start_error: ClassVar[type[Exception]]
    """Raised when it dies or never answers during a start."""
    start_wait: ClassVar[float] = 15.0
    """Seconds `start` waits for the probe by default."""
    poll_interval: ClassVar[float] = 0.0
    """Pause between two probes (none where the probe itself waits)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None  # when we started it ourselves

    # ------------------------------------------------------------------ its own
    @property
    @abstractmethod
    def instance(self) -> str: ...

    @property
    @abstractmethod
    def installation(self) -> Installed: ...

    @property
    @abstractmethod
    def pid_file(self) -> Path: ...

    @property
    @abstractmethod
    def log_file(self) -> Path: ...

    @abstractmethod
    def is_ours(self, pid: int) -> bool:
        """True when ``pid`` is a live process of this daemon instance."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command line that starts it (called once per start that spawns a process)."""

    @abstractmethod
    def ready_probe(self) -> tuple[bool, str]:
        """Whether it answers now, and what it answered (for the error when it never does)."""

    @abstractmethod
    def not_ready_message(self, pid: int, timeout: float, last: str) -> str:
        """The start of the error when the probe did not answer within ``timeout``."""

    @abstractmethod
    def prepare(self) -> None:
        """Write what it needs before every start, running or not."""

    def in_use_message(self) -> str | None:
        """Why it cannot start when something else holds its address (None: not checked)."""
        return None

    @property
    def listening(self) -> str:
        """Where it listens, for the start-up log line (`` on host:port``)."""
        return ""

    # ------------------------------------------------------------------ shared
    @property
    def _log(self) -> logging.Logger:
        return logging.getLogger(type(self).__module__)

    def read_pid(self) -> int | None:
        """PID of our running daemon, or None (a stale pid file is removed)."""
        return read_pid_file(self.pid_file, self.is_ours)

    def start(self, *, wait: float | None = None) -> int:
        """Start it (idempotent) and wait until it answers its probe; return its PID."""
        timeout = self.start_wait if wait is None else wait
        self.prepare()
        pid = self.read_pid()
        if pid is not None:
            self.wait_ready(timeout, pid=pid)
            return pid
        busy = self.in_use_message()
        if busy is not None:
            raise self.start_error(busy)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        argv = self.command()
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
        self._log.info(
            "%s %s (%s) starting%s, pid %d, log %s",
            self.name,
            self.instance,
            self.installation.mode,
            self.listening,
            proc.pid,
            self.log_file,
        )
        try:
            self.wait_ready(timeout, pid=proc.pid, proc=proc)
        except self.start_error:
            self.stop()
            raise
        return proc.pid

    def wait_ready(
        self, timeout: float, *, pid: int, proc: subprocess.Popen[bytes] | None = None
    ) -> None:
        """Probe until it answers, the process dies, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise self.start_error(
                    f"{self.program} exited with {proc.returncode} during start-up; "
                    f"see {self.log_file}:\n{log_tail(self.log_file)}"
                )
            ok, last = self.ready_probe()
            if ok:
                return
            if self.poll_interval:
                time.sleep(self.poll_interval)
        raise self.start_error(
            f"{self.not_ready_message(pid, timeout, last)}; "
            f"see {self.log_file}:\n{log_tail(self.log_file)}"
        )

    def stop(self, *, timeout: float = 10.0) -> bool:
        """Stop it (SIGTERM, then SIGKILL); return whether one was running."""
        pid = self.read_pid()
        if pid is None:
            self._reap()
            return False
        terminate(pid, self.name, timeout=timeout)
        self._reap()
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        self._log.info("%s %s stopped", self.name, self.instance)
        return True

    def kill(self) -> None:
        """SIGKILL it at once (crash and fault tests)."""
        pid = self.read_pid()
        if pid is not None:
            kill_and_wait(pid)
            self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
