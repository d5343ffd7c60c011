"""The status file: replaced atomically, judged against living PIDs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from line311.commands.supervise import format_uptime
from line311.supervise.errors import StatusFileError
from line311.supervise.status import read_status, write_status


def _payload(supervisor_pid: int, pid: int) -> dict[str, object]:
    return {
        "supervisor_pid": supervisor_pid,
        "updated_at": 100.0,
        "processes": [
            {"name": "controller", "state": "running", "pid": pid, "started_at": 40.0,
             "restarts": 2, "last_exit": -9, "last_error": None, "log_file": "c.log"},
            {"name": "redis", "state": "backoff", "pid": None, "started_at": None,
             "restarts": 0, "last_exit": None, "last_error": "port taken", "log_file": "r.log"},
        ],
    }  # fmt: skip


def test_given_a_live_supervisor_then_uptime_and_restarts_are_shown(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.json"
    write_status(path, _payload(os.getpid(), os.getpid()))
    view = read_status(path, now=100.0)
    controller, redis = view.processes
    assert (controller.state, controller.uptime, controller.restarts) == ("running", 60.0, 2)
    assert redis.state == "backoff"
    assert not view.all_up
    assert json.loads(path.read_text())["supervisor_pid"] == os.getpid()
    assert [p.name for p in tmp_path.iterdir()] == ["supervisor.json"]  # no temporary left


def test_given_a_dead_supervisor_then_nothing_reads_as_running(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.json"
    write_status(path, _payload(2**22 + 12345, os.getpid()))
    view = read_status(path, now=100.0)
    assert not view.supervisor_running
    assert [p.state for p in view.processes] == ["unknown", "stopped"]
    assert view.processes[0].uptime is None


def test_given_no_status_file_then_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StatusFileError, match="line311 run"):
        read_status(tmp_path / "supervisor.json", now=0.0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (5.4, "5s"), (65, "1m 5s"), (3700, "1h 1m 40s"), (90000, "1d 1h 0m")],
)
def test_uptime_reads_as_a_duration(seconds: float | None, text: str) -> None:
    assert format_uptime(seconds) == text


def test_given_a_rolling_restart_under_way_then_generation_and_the_live_draining_pid_are_shown(
    tmp_path: Path,
) -> None:
    from rich.console import Console

    from line311.commands.supervise import status_table

    path = tmp_path / "supervisor.json"
    gone = 2**22 + 12345
    payload = _payload(os.getpid(), os.getpid())
    payload["processes"][0] |= {  # type: ignore[index]
        "generation": 3, "rolled": 1, "rolling": True, "draining": [os.getppid(), gone],
    }  # fmt: skip
    write_status(path, payload)
    controller, redis = read_status(path, now=100.0).processes
    assert (controller.generation, controller.rolled, controller.rolling) == (3, 1, True)
    assert controller.draining == (os.getppid(),)  # a PID that is gone is not shown
    assert (redis.generation, redis.rolled, redis.rolling, redis.draining) == (0, 0, False, ())
    console = Console(width=200, record=True)
    console.print(status_table(read_status(path, now=100.0)))
    text = console.export_text()
    assert f"{os.getpid()} (draining {os.getppid()})" in text
    assert "2 (1 rolling)" in text
