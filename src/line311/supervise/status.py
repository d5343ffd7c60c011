"""The supervisor's status file: written atomically by `line311 run`, read by `line311 status`.

``<state_dir>/supervisor.json``::

    {"supervisor_pid": 1234, "updated_at": 1733340000.0,
     "processes": [{"name": "asterisk", "state": "running", "pid": 1240,
                    "started_at": 1733339990.0, "restarts": 0, "rolled": 0, "generation": 1,
                    "last_exit": null, "last_error": null, "restart_at": null,
                    "draining": [], "rolling": false, "spare": null,
                    "log_file": ".../asterisk-main.log"}]}

``generation`` numbers the starts (rolling restarts included), ``rolled`` counts the rolling
restarts among ``restarts``, ``draining`` lists the PIDs of replaced processes still handing
their work over (a rolling restart in progress), ``spare`` the PID of the warm spare waiting
to take over at the next start (`line311.supervise.spare`).

A reader trusts the file only while ``supervisor_pid`` is alive: a supervisor killed with
SIGKILL leaves a file that says "running", so every process then reads as ``unknown``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from line311.procs import pid_alive
from line311.supervise.errors import StatusFileError

__all__ = ["STATUS_FILE", "ProcessView", "StatusView", "read_status", "write_status"]

STATUS_FILE = "supervisor.json"


def write_status(path: Path, payload: dict[str, Any]) -> None:
    """Replace ``path`` with ``payload`` at once (write a temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class ProcessView:
    name: str
    state: str
    pid: int | None
    uptime: float | None
    restarts: int
    last_exit: int | None
    last_error: str | None
    log_file: str | None
    generation: int = 0
    rolled: int = 0
    draining: tuple[int, ...] = ()
    rolling: bool = False
    """It can be restarted without a gap (``line311 restart``)."""
    spare: int | None = None
    """PID of its warm spare, if one waits."""

    @property
    def up(self) -> bool:
        return self.state == "running"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.pid,
            "uptime": self.uptime,
            "restarts": self.restarts,
            "rolled": self.rolled,
            "generation": self.generation,
            "draining": list(self.draining),
            "rolling": self.rolling,
            "spare": self.spare,
            "last_exit": self.last_exit,
            "last_error": self.last_error,
            "log_file": self.log_file,
        }


@dataclass(frozen=True, slots=True)
class StatusView:
    supervisor_pid: int | None
    supervisor_running: bool
    updated_at: float | None
    processes: tuple[ProcessView, ...]

    @property
    def all_up(self) -> bool:
        return self.supervisor_running and all(p.up for p in self.processes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "supervisor_pid": self.supervisor_pid,
            "supervisor_running": self.supervisor_running,
            "updated_at": self.updated_at,
            "ok": self.all_up,
            "processes": [p.to_dict() for p in self.processes],
        }


def read_status(path: Path, now: float) -> StatusView:
    """What the status file says, judged at ``now`` (uptime) and against the living PIDs."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StatusFileError(f"no {path}: `line311 run` has not run with this state_dir") from None
    except (OSError, ValueError) as exc:
        raise StatusFileError(f"cannot read {path}: {exc}") from None
    sup_pid = data.get("supervisor_pid")
    sup_alive = isinstance(sup_pid, int) and pid_alive(sup_pid)
    views = []
    for item in data.get("processes", []):
        state = str(item.get("state", "unknown"))
        pid = item.get("pid")
        if not sup_alive:
            state = "unknown" if state == "running" else "stopped"
        elif state == "running" and not (isinstance(pid, int) and pid_alive(pid)):
            state = "dead"  # died since the supervisor's last write (it is about to notice)
        started = item.get("started_at")
        uptime = now - started if state == "running" and isinstance(started, int | float) else None
        spare = item.get("spare")
        draining = tuple(
            p for p in item.get("draining", []) if sup_alive and isinstance(p, int) and pid_alive(p)
        )
        views.append(
            ProcessView(
                name=str(item.get("name", "?")),
                state=state,
                pid=pid if state == "running" else None,
                uptime=uptime,
                restarts=int(item.get("restarts", 0)),
                last_exit=item.get("last_exit"),
                last_error=item.get("last_error"),
                log_file=item.get("log_file"),
                generation=int(item.get("generation", 0)),
                rolled=int(item.get("rolled", 0)),
                draining=draining,
                rolling=bool(item.get("rolling", False)),
                spare=spare if sup_alive and isinstance(spare, int) and pid_alive(spare) else None,
            )
        )
    return StatusView(sup_pid, sup_alive, data.get("updated_at"), tuple(views))
