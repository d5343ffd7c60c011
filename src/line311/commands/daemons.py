"""What the ``up|down|status`` commands of our daemons (``asterisk``, ``redis``, ``kamailio``)
share: the ``down`` word, the ``status --json`` object and the ``status`` line."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from line311.daemon import DaemonStatus

__all__ = ["down_word", "status_json", "status_line"]


def down_word(stopped: bool) -> str:
    """What ``down`` says: whether it stopped one."""
    return "stopped" if stopped else "not running"


def status_json(status: DaemonStatus) -> str:
    """The status as one JSON object, its fields in order, paths as strings."""
    payload = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(status).items()}
    return json.dumps(payload)


def status_line(name: str, status: DaemonStatus, *, label: str, answers: str) -> str:
    """``<name> <version> (<mode>, <label>): running, pid <pid>, <answers>`` (or ``stopped``)."""
    state = "running" if status.running else "stopped"
    return f"{name} {status.version} ({status.mode}, {label}): {state}" + (
        f", pid {status.pid}, {answers}" if status.running else ""
    )
