"""`line311 status`: the processes `line311 run` supervises, from its status file."""

from __future__ import annotations

import json
import time

import typer
from rich.console import Console
from rich.table import Table

from line311.config import Settings
from line311.supervise.stack import status_path
from line311.supervise.status import StatusView, read_status

__all__ = ["format_uptime", "show_status", "status_table"]


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
    for column in ("process", "state", "pid", "uptime", "restarts", "last exit", "log"):
        table.add_column(column, justify="right" if column in ("pid", "restarts") else "left")
    for p in view.processes:
        style = _STYLE.get(p.state, "red")
        last = "-" if p.last_exit is None else str(p.last_exit)
        if p.last_error:
            last = f"{last} ({p.last_error})"
        table.add_row(
            p.name,
            f"[{style}]{p.state}[/]",
            "-" if p.pid is None else str(p.pid),
            format_uptime(p.uptime),
            str(p.restarts),
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
