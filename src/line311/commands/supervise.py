"""`line311 status`: the processes `line311 run` supervises, from its status file;
`line311 restart NAME`: a rolling restart of one of them, through the running supervisor.

The restart asks by signal: SIGHUP to the supervisor (its PID is in the status file) is a
rolling restart of every ``rolling`` process (the controller), the same signal systemd's
``ExecReload`` sends. The command then follows the status file until the new process runs
and the replaced one has left.
"""

from __future__ import annotations

import json
import os
import signal
import time

import typer
from rich.console import Console
from rich.table import Table

from line311.config import Settings
from line311.supervise.errors import SuperviseError
from line311.supervise.stack import status_path
from line311.supervise.status import ProcessView, StatusView, read_status

__all__ = ["format_uptime", "restart_process", "show_status", "status_table"]


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {s}s"
    return f"{minutes}m {s}s" if minutes else f"{s}s"


_STYLE = {"running": "green", "backoff": "yellow", "starting": "yellow", "stopping": "yellow"}


def status_table(view: StatusView) -> Table:
    sup = (
        f"supervisor pid {view.supervisor_pid}"
        if view.supervisor_running
        else "supervisor not running"
    )
    table = Table(title=f"line311 processes ({sup})")
    columns = ("process", "state", "pid", "uptime", "gen", "restarts", "last exit", "log")
    for column in columns:
        table.add_column(column, justify="right" if column in ("gen", "restarts") else "left")
    for p in view.processes:
        style = _STYLE.get(p.state, "red")
        last = "-" if p.last_exit is None else str(p.last_exit)
        if p.last_error:
            last = f"{last} ({p.last_error})"
        pid = "-" if p.pid is None else str(p.pid)
        if p.draining:  # a rolling restart: the old process still hands its work over
            pid += f" (draining {', '.join(map(str, p.draining))})"
        if p.spare is not None:  # a warm spare waits to take over at the next start
            pid += f" (spare {p.spare})"
        restarts = f"{p.restarts} ({p.rolled} rolling)" if p.rolled else str(p.restarts)
        table.add_row(
            p.name,
            f"[{style}]{p.state}[/]",
            pid,
            format_uptime(p.uptime),
            str(p.generation),
            restarts,
            last,
            p.log_file or "-",
        )
    return table


def show_status(settings: Settings, *, as_json: bool) -> int:
    """Print the status; return the exit code (0 only when every process runs)."""
    view = read_status(status_path(settings), time.time())
    if as_json:
        typer.echo(json.dumps(view.to_dict(), indent=2))
    else:
        Console().print(status_table(view))
    return 0 if view.all_up else 1


def _process(view: StatusView, name: str) -> ProcessView:
    for process in view.processes:
        if process.name == name:
            return process
    names = ", ".join(p.name for p in view.processes)
    raise SuperviseError(f"no process {name!r} under `line311 run` (there are: {names})")


def restart_process(settings: Settings, name: str, *, timeout: float, poll: float = 0.2) -> int:
    """Rolling restart of ``name``; return the exit code (0 once the new one runs and the old
    one has left)."""
    path = status_path(settings)
    view = read_status(path, time.time())
    if not view.supervisor_running or view.supervisor_pid is None:
        raise SuperviseError("`line311 run` is not running: nothing to restart")
    before = _process(view, name)
    if not before.rolling:
        raise SuperviseError(
            f"{name} has no rolling restart (the controller, the IVR workers and the dashboard"
            " have)"
        )
    if before.state != "running":
        raise SuperviseError(f"{name} is {before.state}: the supervisor restarts it by itself")
    os.kill(view.supervisor_pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(poll)
        now = read_status(path, time.time())
        if not now.supervisor_running:
            raise SuperviseError("`line311 run` stopped during the restart")
        after = _process(now, name)
        if after.generation > before.generation and after.up and not after.draining:
            left = "left" if name == "dashboard" else "handed its calls over and left"
            typer.echo(
                f"{name}: pid {before.pid} -> {after.pid} (generation {after.generation});"
                f" the old one {left}"
            )
            return 0
    typer.secho(
        f"{name}: the rolling restart did not finish within {timeout:.0f} s"
        " (see the supervisor's log and `line311 status`)",
        fg="red",
        err=True,
    )
    return 1
