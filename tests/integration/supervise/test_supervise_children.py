"""The supervisor with cheap stand-in children (real OS processes, no Asterisk needed)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from line311.supervise.policy import Backoff
from line311.supervise.processes import CommandProcess
from line311.supervise.supervisor import Supervisor

pytestmark = pytest.mark.integration

SLEEPER = "import time; time.sleep(300)"
# on SIGTERM: note our name in the shared file, then exit 0 (says "ready" once it listens)
POLITE = (
    "import signal, sys, time\n"
    "def bye(*_):\n"
    "    with open(sys.argv[2], 'a') as fh: fh.write(sys.argv[1] + '\\n')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "print('ready', flush=True)\n"
    "while True: time.sleep(1)\n"
)


def child(tmp: Path, name: str, code: str = SLEEPER, *args: str) -> CommandProcess:
    return CommandProcess(name, [sys.executable, "-c", code, *args], tmp / f"{name}.log")


async def until(predicate: Any, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def said_ready(tmp: Path, *names: str) -> bool:
    """Each child ``names`` has printed "ready" (its SIGTERM handler is in place) to its log."""
    logs = [tmp / f"{name}.log" for name in names]
    return all(log.exists() and "ready" in log.read_text() for log in logs)


def status_json(state_dir: Path) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINE311_")}
    env["LINE311_STATE_DIR"] = str(state_dir)
    proc = subprocess.run(
        [sys.executable, "-m", "line311", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout)


@asynccontextmanager
async def supervising(sup: Supervisor) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(sup.run(stop))
        try:
            yield stop
        finally:
            stop.set()


def by_name(sup: Supervisor) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in sup.view()}


async def test_given_a_supervised_child_when_it_is_killed_then_it_comes_back_and_status_shows_it(
    tmp_path: Path,
) -> None:
    sup = Supervisor(
        [child(tmp_path, "alpha"), child(tmp_path, "beta")],
        tmp_path / "supervisor.json",
        backoff=Backoff(initial=0.2),
        grace=5.0,
    )
    async with supervising(sup):
        await until(lambda: by_name(sup)["beta"]["state"] == "running", 10, "both running")
        code, status = await asyncio.to_thread(status_json, tmp_path)
        assert code == 0, status
        assert status["ok"] is True
        old_pid = by_name(sup)["alpha"]["pid"]
        os.kill(old_pid, signal.SIGKILL)
        await until(
            lambda: (
                by_name(sup)["alpha"]["restarts"] == 1
                and by_name(sup)["alpha"]["state"] == "running"
            ),
            10,
            "alpha restarted",
        )
        alpha = by_name(sup)["alpha"]
        assert alpha["pid"] != old_pid
        assert alpha["last_exit"] == -signal.SIGKILL
        code, status = await asyncio.to_thread(status_json, tmp_path)
        assert code == 0, status
        shown = {p["name"]: p for p in status["processes"]}
        assert shown["alpha"]["restarts"] == 1
        assert shown["alpha"]["pid"] == alpha["pid"]
        assert shown["alpha"]["state"] == "running"
        assert shown["alpha"]["last_exit"] == -9
        assert shown["beta"]["restarts"] == 0
    code, status = await asyncio.to_thread(status_json, tmp_path)
    assert code == 1  # after stop: the supervisor is gone, nothing runs
    assert {p["state"] for p in status["processes"]} == {"stopped"}


async def test_given_a_child_that_keeps_dying_then_it_backs_off_and_status_exits_non_zero(
    tmp_path: Path,
) -> None:
    sup = Supervisor(
        [child(tmp_path, "ok"), child(tmp_path, "crashy", "import sys; sys.exit(3)")],
        tmp_path / "supervisor.json",
        # 0.1, 0.5, 2.5 s, then 12.5: once in backoff after the third restart, crashy stays
        # there longer than `line311 status` takes to start on a loaded box (with a short
        # maximum it was running again, for a moment, as often as not when status read it)
        backoff=Backoff(initial=0.1, factor=5.0, maximum=12.5),
    )
    async with supervising(sup):
        await until(lambda: by_name(sup)["crashy"]["restarts"] >= 3, 10, "three restarts")
        assert by_name(sup)["crashy"]["last_exit"] == 3
        assert by_name(sup)["ok"]["restarts"] == 0
        await until(lambda: by_name(sup)["crashy"]["state"] == "backoff", 5, "backoff")
        code, status = await asyncio.to_thread(status_json, tmp_path)
        assert code == 1
        assert status["ok"] is False


async def test_given_a_stop_then_children_stop_in_reverse_order_with_sigterm(
    tmp_path: Path,
) -> None:
    order = tmp_path / "order.txt"
    names = ["first", "second", "third"]
    sup = Supervisor(
        [child(tmp_path, n, POLITE, n, str(order)) for n in names],
        tmp_path / "supervisor.json",
        grace=5.0,
    )
    async with supervising(sup) as stop:
        await until(lambda: by_name(sup)["third"]["state"] == "running", 10, "all running")
        await until(lambda: said_ready(tmp_path, *names), 10, "each SIGTERM handler")
        pids = [by_name(sup)[n]["pid"] for n in names]
        stop.set()
    assert order.read_text().split() == ["third", "second", "first"]
    assert all(by_name(sup)[n]["state"] == "stopped" for n in names)
    assert all(by_name(sup)[n]["last_exit"] == 0 for n in names)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_given_a_child_that_ignores_sigterm_then_it_is_killed_after_the_grace(
    tmp_path: Path,
) -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(300)"
    )
    sup = Supervisor(
        [child(tmp_path, "stubborn", stubborn)], tmp_path / "supervisor.json", grace=0.5
    )
    async with supervising(sup) as stop:
        await until(lambda: by_name(sup)["stubborn"]["state"] == "running", 10, "running")
        await until(lambda: said_ready(tmp_path, "stubborn"), 10, "SIGTERM ignored")
        stop.set()
    assert by_name(sup)["stubborn"]["last_exit"] == -signal.SIGKILL


class Broken:
    """A process whose start fails in a way the supervisor does not expect (a bug)."""

    name = "broken"

    def __init__(self, tmp: Path) -> None:
        self.log_file = tmp / "broken.log"

    async def start(self) -> int:
        raise RuntimeError("bug")

    async def wait(self) -> int | None:
        return None

    async def stop(self, grace: float) -> None:
        return None


async def test_given_the_supervisor_itself_fails_then_the_children_it_started_are_stopped(
    tmp_path: Path,
) -> None:
    first = child(tmp_path, "first")
    sup = Supervisor([first, Broken(tmp_path)], tmp_path / "supervisor.json", grace=2.0)
    with pytest.raises(BaseExceptionGroup) as caught:
        await sup.run(asyncio.Event())
    assert caught.group_contains(RuntimeError, match="bug")
    assert first._proc is not None
    assert first._proc.returncode == -signal.SIGTERM
    assert by_name(sup)["first"]["state"] == "stopped"


# a stand-in controller: notes its PID as the newest in a shared file and leaves by itself
# (exit 0) once a newer one has noted its own (as a controller does on ApplicationReplaced)
HANDS_OVER = (
    "import os, sys, time\n"
    "path = sys.argv[1]\n"
    "with open(path, 'a') as fh: fh.write(f'{os.getpid()}\\n')\n"
    "while open(path).read().split()[-1] == str(os.getpid()): time.sleep(0.05)\n"
)


def _rolling(tmp: Path, code: str, *args: str) -> CommandProcess:
    argv = [sys.executable, "-c", code, *args]
    return CommandProcess("controller", argv, tmp / "controller.log", rolling=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_given_a_rolling_child_when_a_rolling_restart_is_requested_then_the_new_one_starts_first_and_the_old_one_leaves_by_itself(
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids.txt"
    sup = Supervisor(
        [child(tmp_path, "bridge"), _rolling(tmp_path, HANDS_OVER, str(pids))],
        tmp_path / "supervisor.json",
        backoff=Backoff(initial=0.2),
        grace=5.0,
        takeover=30.0,
    )
    async with supervising(sup):
        await until(lambda: by_name(sup)["controller"]["state"] == "running", 10, "running")
        old_pid = by_name(sup)["controller"]["pid"]
        await until(
            lambda: pids.exists() and pids.read_text().split() == [str(old_pid)], 10, "noted"
        )
        sup.request_roll()
        await until(lambda: by_name(sup)["controller"]["generation"] == 2, 10, "generation 2")
        new_pid = by_name(sup)["controller"]["pid"]
        assert new_pid != old_pid
        await until(lambda: not by_name(sup)["controller"]["draining"], 10, "the old one to leave")
        assert pids.read_text().split() == [str(old_pid), str(new_pid)]  # the new one came first
        assert not _alive(old_pid)
        assert _alive(new_pid)
        controller = by_name(sup)["controller"]
        assert controller["state"] == "running"
        assert (controller["restarts"], controller["rolled"]) == (1, 1)
        assert by_name(sup)["bridge"]["restarts"] == 0
        code, status = await asyncio.to_thread(status_json, tmp_path)
        assert code == 0, status
        shown = {p["name"]: p for p in status["processes"]}["controller"]
        assert (shown["pid"], shown["generation"], shown["rolled"]) == (new_pid, 2, 1)
        assert shown["draining"] == []
        assert shown["rolling"] is True


async def test_given_a_replaced_child_that_does_not_leave_then_it_gets_sigterm_after_the_takeover_time(
    tmp_path: Path,
) -> None:
    order = tmp_path / "order.txt"
    sup = Supervisor(
        [_rolling(tmp_path, POLITE, "controller", str(order))],
        tmp_path / "supervisor.json",
        grace=5.0,
        takeover=0.5,
    )
    async with supervising(sup):
        await until(lambda: by_name(sup)["controller"]["state"] == "running", 10, "running")
        old_pid = by_name(sup)["controller"]["pid"]
        assert await sup.roll("controller") is True  # returns once the old one is gone
        assert not _alive(old_pid)
        assert order.read_text().split() == ["controller"]  # it left on SIGTERM
        controller = by_name(sup)["controller"]
        assert controller["pid"] != old_pid
        assert controller["state"] == "running"
        assert controller["draining"] == []


async def test_given_a_process_that_is_not_rolling_then_a_rolling_restart_is_refused(
    tmp_path: Path,
) -> None:
    sup = Supervisor([child(tmp_path, "bridge")], tmp_path / "supervisor.json")
    async with supervising(sup):
        await until(lambda: by_name(sup)["bridge"]["state"] == "running", 10, "running")
        pid = by_name(sup)["bridge"]["pid"]
        assert await sup.roll("bridge") is False
        assert by_name(sup)["bridge"]["pid"] == pid
        assert by_name(sup)["bridge"]["generation"] == 1
