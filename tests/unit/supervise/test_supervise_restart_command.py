"""`line311 restart NAME`: what it refuses before it signals anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from line311.commands.supervise import restart_process
from line311.config import load_settings
from line311.supervise.errors import StatusFileError, SuperviseError
from line311.supervise.status import write_status


def _status(tmp_path: Path, supervisor_pid: int, *, state: str = "running") -> None:
    write_status(
        tmp_path / "supervisor.json",
        {
            "supervisor_pid": supervisor_pid,
            "processes": [
                {"name": "crm-bridge", "state": "running", "pid": os.getpid(), "rolling": False},
                {"name": "controller", "state": state, "pid": os.getpid(), "rolling": True,
                 "generation": 1},
            ],
        },
    )  # fmt: skip


def test_given_no_supervisor_ever_ran_then_restart_says_so(tmp_path: Path) -> None:
    with pytest.raises(StatusFileError, match="line311 run"):
        restart_process(load_settings(state_dir=tmp_path), "controller", timeout=1)


def test_given_the_supervisor_is_gone_then_restart_is_refused(tmp_path: Path) -> None:
    _status(tmp_path, 2**22 + 12345)
    with pytest.raises(SuperviseError, match="not running"):
        restart_process(load_settings(state_dir=tmp_path), "controller", timeout=1)


@pytest.mark.parametrize(
    ("name", "state", "message"),
    [
        ("crm-bridge", "running", "no rolling restart"),
        ("dashboard", "running", "no process 'dashboard'"),
        ("controller", "backoff", "restarts it by itself"),
    ],
)
def test_given_a_process_that_cannot_roll_now_then_restart_is_refused_before_any_signal(
    tmp_path: Path, name: str, state: str, message: str
) -> None:
    # the "supervisor" is a sleeping child: a SIGHUP sent by mistake would end it
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        _status(tmp_path, sleeper.pid, state=state)
        with pytest.raises(SuperviseError, match=message):
            restart_process(load_settings(state_dir=tmp_path), name, timeout=1)
        assert sleeper.poll() is None  # nothing was signalled
    finally:
        sleeper.kill()
        sleeper.wait()
