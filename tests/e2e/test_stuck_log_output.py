"""A log output that stops taking lines never holds up a call (real Asterisk, SIPp, line311).

The controller's stdout and stderr go to a pipe that the test fills and then leaves unread,
as journald pushing back or a pager nobody reads would. Before the controller logged through
a writer thread, its first log line then blocked its event loop, and every call with it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from line311.sim.sipp import start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import greeting_only_flow, record_for, start_stack
from tests.e2e.stack import Service, Stack

pytestmark = pytest.mark.asterisk

CALLS = 4


class PipedService(Service):
    """A line311 subprocess whose output goes to a pipe that nobody reads until `drain`."""

    def start(self) -> None:
        self._read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=write_fd, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            # a second, non-blocking description of the same pipe, for `fill` (the child's
            # own stays blocking: it must block as a real stuck output would make it)
            self._filler = os.open(f"/proc/self/fd/{write_fd}", os.O_WRONLY | os.O_NONBLOCK)
        finally:
            os.close(write_fd)
        self.drained = bytearray()
        self._drainer: threading.Thread | None = None

    def fill(self) -> int:
        """Write into the pipe until it is full; how many bytes that took."""
        written = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                written += os.write(self._filler, b"#" * 4096)
        return written

    def pipe_full(self) -> bool:
        try:
            os.write(self._filler, b"#")
        except BlockingIOError:
            return True
        return False

    def drain(self) -> None:
        """Read the pipe from now on, in a thread, into ``drained``."""

        def read() -> None:
            while chunk := os.read(self._read_fd, 65536):
                self.drained += chunk

        os.close(self._filler)
        self._drainer = threading.Thread(target=read, daemon=True)
        self._drainer.start()

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self._drainer is None:
            self.drain()  # a child blocked on its output could not stop
        code = super().stop(timeout)
        assert self._drainer is not None
        self._drainer.join(timeout=10)
        os.close(self._read_fd)
        return code

    def output(self) -> str:
        return self.drained.decode(errors="replace").replace("#", "")


@pytest.fixture
def stack(asterisk_instance: AsteriskInstance, tmp_path: Path) -> Iterator[Stack]:
    flow = greeting_only_flow(tmp_path)
    env = {"LINE311_FLOW_FILE": str(flow), "LINE311_LOG_LEVEL": "DEBUG"}  # lines every step
    stack = start_stack(asterisk_instance, tmp_path, env)
    stack.controller.stop()
    stack.controller = PipedService("controller", stack.controller.argv, stack.env, Path())
    try:
        stack.start_controller()
        yield stack
    finally:
        stack.stop()


def test_given_the_controllers_log_output_stuck_when_residents_call_then_each_is_answered_and_recorded_and_no_line_is_lost(
    stack: Stack, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    controller = stack.controller
    assert isinstance(controller, PipedService)
    known = {r["call_id"] for r in stack.calls()}
    assert controller.fill() > 0
    assert controller.pipe_full()

    callers = [
        start_caller(tmp_path / f"sipp-{n}", asterisk_instance.sip_port, "311", hold_ms=3000)
        for n in range(CALLS)
    ]
    results = [caller.wait(timeout=60) for caller in callers]

    assert [r.final_status for r in results] == [200] * CALLS
    records = []
    for _ in range(CALLS):
        records.append(record_for(stack, "311", known))
        known.add(records[-1]["call_id"])
    assert controller.pipe_full()  # the output was stuck all along
    metrics = httpx.get(f"http://127.0.0.1:{stack.http_port}/metrics", timeout=5).text
    assert "line311_call_records_unspooled 0.0" in metrics  # all in the spool
    assert 'line311_output_lines_dropped_total{output="log"} 0.0' in metrics
    assert 'line311_output_lines_dropped_total{output="queue_log"} 0.0' in metrics

    controller.drain()
    controller.stop()
    lines = controller.output()
    for record in records:  # held while the output was stuck, written once it moved
        assert f"call ended: outcome {record['outcome']} [call_id={record['call_id']}" in lines
    assert "dropped" not in lines
