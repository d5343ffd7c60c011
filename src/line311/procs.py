"""Local processes by PID, for the daemons line311 manages (Asterisk, Redis) and the
supervisor's status: is it alive, which PID its pid file names, stopping it, its log's end."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["kill_and_wait", "log_tail", "pid_alive", "read_pid_file", "terminate"]

logger = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ("" when it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def read_pid_file(path: Path, is_ours: Callable[[int], bool]) -> int | None:
    """The PID ``path`` names when ``is_ours(pid)``; else None, and a stale file is removed."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if is_ours(pid):
        return pid
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def kill_and_wait(pid: int) -> None:
    """SIGKILL ``pid`` and return once it is gone."""
    os.kill(pid, signal.SIGKILL)
    while pid_alive(pid):
        time.sleep(0.02)


def terminate(pid: int, what: str, *, timeout: float) -> None:
    """SIGTERM ``pid``; SIGKILL it if it is still alive after ``timeout`` seconds."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.02)
    if pid_alive(pid):
        logger.warning("%s pid %d ignored SIGTERM; killing it", what, pid)
        kill_and_wait(pid)
