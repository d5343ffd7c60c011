"""The daemon lifecycle the Asterisk, Redis and Kamailio managers share, on a tiny Python
process: idempotent start, readiness probe, start-up death, pid file checks, stop and kill."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from line311.daemon import Daemon, runs_with_config
from line311.procs import pid_alive

SERVES = "import pathlib, sys, time; pathlib.Path(sys.argv[2]).touch(); time.sleep(60)"
"""A daemon that answers (its flag file) once it runs, then runs until stopped."""
SILENT = "import time; time.sleep(60)"
"""One that runs and never answers."""


class FakeStartError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class FakeInstallation:
    mode: str = "system"


class FakeDaemon(Daemon):
    name = "Fake"
    program = "fake-server"
    start_error = FakeStartError
    start_wait = 10.0
    poll_interval = 0.01

    def __init__(self, state_dir: Path, code: str = SERVES) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.code = code
        self.config_file = str(state_dir / "fake.conf")
        self.ready_flag = state_dir / "ready"
        self.busy: str | None = None
        self.prepared = 0

    @property
    def instance(self) -> str:
        return "main"

    @property
    def installation(self) -> FakeInstallation:
        return FakeInstallation()

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "fake-main.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "fake-main.log"

    def prepare(self) -> None:
        self.prepared += 1

    def is_ours(self, pid: int) -> bool:
        return runs_with_config(pid, b"python", self.config_file)

    def in_use_message(self) -> str | None:
        return self.busy

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.code, self.config_file, str(self.ready_flag)]

    def ready_probe(self) -> tuple[bool, str]:
        return self.ready_flag.exists(), "no flag"

    def not_ready_message(self, pid: int, timeout: float, last: str) -> str:
        return f"Fake pid {pid} did not answer within {timeout:.1f} s ({last})"


@pytest.fixture
def daemon(tmp_path: Path):
    d = FakeDaemon(tmp_path / "state")
    yield d
    d.kill()


def test_given_a_ready_daemon_when_started_twice_then_one_process_and_stop_ends_it(
    daemon: FakeDaemon,
) -> None:
    pid = daemon.start()
    assert pid_alive(pid)
    assert daemon.pid_file.read_text() == f"{pid}\n"
    assert daemon.read_pid() == pid
    assert daemon.start() == pid  # idempotent: the running one
    assert daemon.prepared == 2  # prepared on every start
    assert daemon.stop() is True
    assert not pid_alive(pid)
    assert not daemon.pid_file.exists()
    assert daemon.stop() is False


def test_given_no_answer_when_started_then_the_error_names_the_probe_and_the_process_is_gone(
    tmp_path: Path,
) -> None:
    daemon = FakeDaemon(tmp_path, code=SILENT)
    with pytest.raises(FakeStartError, match=r"did not answer within 0\.5 s \(no flag\); see "):
        daemon.start(wait=0.5)
    assert not daemon.pid_file.exists()
    assert daemon.read_pid() is None


def test_given_a_process_that_dies_at_start_up_then_the_error_shows_its_log(
    tmp_path: Path,
) -> None:
    daemon = FakeDaemon(tmp_path, code="import sys; print('boom: bad config'); sys.exit(3)")
    with pytest.raises(FakeStartError, match="fake-server exited with 3 during start-up") as exc:
        daemon.start()
    assert "boom: bad config" in str(exc.value)
    assert not daemon.pid_file.exists()


def test_given_something_else_on_its_address_then_nothing_is_started(daemon: FakeDaemon) -> None:
    daemon.busy = "something else already answers"
    with pytest.raises(FakeStartError, match="something else already answers"):
        daemon.start()
    assert not daemon.pid_file.exists()
    assert not daemon.log_file.exists()


def test_given_a_pid_file_naming_another_process_then_it_is_never_signalled(
    daemon: FakeDaemon,
) -> None:
    daemon.state_dir.mkdir()
    daemon.pid_file.write_text(f"{os.getpid()}\n")  # this test run: not ours to stop
    assert daemon.stop() is False
    assert pid_alive(os.getpid())
    assert not daemon.pid_file.exists()  # the stale file is removed


def test_given_a_running_daemon_when_killed_then_it_is_gone_at_once(daemon: FakeDaemon) -> None:
    pid = daemon.start()
    daemon.kill()
    assert not pid_alive(pid)
    assert daemon.read_pid() is None
