"""Warm spares (`line311.supervise.spare`): real OS processes, no Asterisk needed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from line311.procs import pid_alive
from line311.supervise.policy import Backoff
from line311.supervise.processes import CommandProcess
from line311.supervise.spare import GO, READY, SPARE_ENV, code_stamp
from line311.supervise.supervisor import Supervisor
from tests.integration.supervise.test_supervise_children import by_name, supervising, until

pytestmark = pytest.mark.integration

# notes its PID in argv[1] once it runs as the command (a spare waits before that)
CHILD = (
    "import os, sys, time\n"
    "from line311.supervise.spare import await_turn\n"
    "await_turn(modules=['json'])\n"
    "with open(sys.argv[1], 'a') as fh: fh.write(f'{os.getpid()}\\n')\n"
    "time.sleep(300)\n"
)


def ran(path: Path) -> list[int]:
    """The PIDs that ran as the command, in order."""
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def spared(tmp: Path, name: str = "ctl") -> CommandProcess:
    return CommandProcess(
        name,
        [sys.executable, "-c", CHILD, str(tmp / "ran")],
        tmp / f"{name}.log",
        spare=True,
        spare_after=0.05,
    )


async def test_given_a_process_with_spares_when_it_dies_then_its_spare_takes_over_and_a_new_spare_follows(
    tmp_path: Path,
) -> None:
    proc = spared(tmp_path)
    first = await proc.start()
    try:
        assert not proc.warm  # nothing to take over the first time: a cold start
        await until(lambda: proc.spare_pid is not None, 30, "a spare ready")
        spare = proc.spare_pid
        assert spare is not None
        assert spare != first
        await until(lambda: ran(tmp_path / "ran") == [first], 10, "the first one to run")
        await asyncio.sleep(0.2)
        assert ran(tmp_path / "ran") == [first]  # the spare waits: it has not run

        os.kill(first, signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
        second = await proc.start()
        assert second == spare
        assert proc.warm
        await until(lambda: ran(tmp_path / "ran") == [first, second], 10, "the spare to run")
        await until(lambda: proc.spare_pid not in (None, second), 30, "the next spare")
        follower = proc.spare_pid
        assert follower is not None
    finally:
        await proc.stop(5.0)
    assert not pid_alive(second)
    assert not pid_alive(follower)  # a stop takes the spare with it
    assert ran(tmp_path / "ran") == [first, second]


async def test_given_a_spare_that_died_when_the_process_starts_again_then_it_starts_cold(
    tmp_path: Path,
) -> None:
    proc = spared(tmp_path)
    first = await proc.start()
    try:
        await until(lambda: proc.spare_pid is not None, 30, "a spare ready")
        spare = proc.spare_pid
        assert spare is not None
        os.kill(spare, signal.SIGKILL)
        os.kill(first, signal.SIGKILL)
        await proc.wait()
        await until(lambda: proc.spare_pid is None, 10, "the spare's death seen")
        second = await proc.start()
        assert not proc.warm
        assert second not in (first, spare)
        await until(lambda: ran(tmp_path / "ran") == [first, second], 10, "a cold start")
    finally:
        await proc.stop(5.0)


def test_given_a_spare_when_its_pipe_closes_then_it_leaves_with_0_having_done_nothing(
    tmp_path: Path,
) -> None:
    # what happens to a spare whose supervisor died (SIGKILL: nobody stops it)
    env = {**os.environ, SPARE_ENV: "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "ran")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    assert child.stdout.readline() == READY
    child.stdin.close()
    assert child.wait(timeout=10) == 0
    child.stdout.close()
    assert ran(tmp_path / "ran") == []


def test_given_a_spare_told_to_go_then_it_runs_with_its_output_in_its_log(tmp_path: Path) -> None:
    env = {**os.environ, SPARE_ENV: "1"}
    code = (
        "import os, sys\n"
        "from line311.supervise.spare import await_turn\n"
        "await_turn(modules=['json', 'no_such_module_here'])\n"
        "print('as the command:', os.environ.get('LINE311_SPARE'), sys.stdin.read() == '')\n"
    )
    log = tmp_path / "spare.log"
    with log.open("wb") as fh:
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=fh,
            env=env,
        )  # fmt: skip
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline() == READY
        child.stdin.write(GO)
        child.stdin.close()
        assert child.wait(timeout=10) == 0
        assert child.stdout.read() == b""  # after "go" its stdout is its log
        child.stdout.close()
    text = log.read_text()
    assert "no_such_module_here not imported ahead" in text  # a failed import is only logged
    assert "as the command: None True" in text  # no spare flag left; stdin is /dev/null


async def test_given_supervised_spares_then_status_shows_them_and_a_rolling_restart_replaces_them(
    tmp_path: Path,
) -> None:
    proc = spared(tmp_path)
    proc.rolling = True
    sup = Supervisor(
        [proc], tmp_path / "supervisor.json", backoff=Backoff(initial=0.1), grace=5.0, takeover=0.5
    )
    async with supervising(sup):
        await until(lambda: by_name(sup)["ctl"]["spare"] is not None, 30, "a spare shown")
        old_spare = by_name(sup)["ctl"]["spare"]
        old_pid = by_name(sup)["ctl"]["pid"]
        assert await sup.roll("ctl")  # the old one is stopped after takeover; its spare at once
        assert not pid_alive(old_spare)
        await until(
            lambda: by_name(sup)["ctl"]["spare"] not in (None, old_spare), 30, "the twin's spare"
        )
        new_pid = by_name(sup)["ctl"]["pid"]
        assert new_pid != old_pid
        assert new_pid != old_spare  # a roll starts cold: new code, not the old spare's
        spare = by_name(sup)["ctl"]["spare"]
    assert not pid_alive(spare)
    assert not pid_alive(new_pid)


async def test_given_the_code_changed_since_the_spare_started_when_the_process_restarts_then_it_starts_cold(
    tmp_path: Path,
) -> None:
    version = ["1.0"]
    proc = spared(tmp_path)
    proc.code_stamp = lambda: version[0]
    first = await proc.start()
    try:
        await until(lambda: proc.spare_pid is not None, 30, "a spare ready")
        stale = proc.spare_pid
        assert stale is not None
        version[0] = "1.1"  # a new version installed, no rolling restart
        os.kill(first, signal.SIGKILL)
        await proc.wait()
        second = await proc.start()
        assert not proc.warm
        assert second != stale
        assert not pid_alive(stale)  # dropped, never run
        await until(lambda: ran(tmp_path / "ran") == [first, second], 10, "a cold start")
        await until(lambda: proc.spare_pid not in (None, stale), 30, "a spare of the new code")
        third_spare = proc.spare_pid
        os.kill(second, signal.SIGKILL)
        await proc.wait()
        assert await proc.start() == third_spare  # same code since it started: taken over
        assert proc.warm
    finally:
        await proc.stop(5.0)


def test_the_code_stamp_counts_line311s_source_files() -> None:
    count, latest = code_stamp()
    assert count > 100
    assert latest > 0
    assert code_stamp() == (count, latest)
