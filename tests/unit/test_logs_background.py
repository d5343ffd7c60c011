"""Logging in the background: a stuck log output never holds up the thread that logs."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from line311.logs import LineFile, call_logger, configure_logging, dropped_log_lines
from tests.fixtures.polling import wait_until


class StuckStream(io.StringIO):
    """A log output that stops taking lines until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        if not self.release.wait(timeout=30):
            raise AssertionError("never released")
        return super().write(text)


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    configure_logging()  # stops the writer thread, writing what it holds
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_given_a_stuck_output_then_logging_returns_at_once_and_the_lines_follow_later(
    root_logging: None,
) -> None:
    stream = StuckStream()
    configure_logging("INFO", "text", background=True, stream=stream)
    log = logging.getLogger("line311.test")
    released_by_timer = threading.Event()

    def give_up() -> None:  # only if logging blocked this thread: the test then fails
        released_by_timer.set()
        stream.release.set()

    timer = threading.Timer(20.0, give_up)
    timer.start()
    try:
        log.info("first %s", "line")
        assert stream.entered.wait(timeout=10)  # the writer thread is stuck on it
        for n in range(5):
            log.warning("line %d while the output is stuck", n)
        stream.release.set()  # this thread got here: none of the calls above waited
    finally:
        timer.cancel()
    configure_logging()  # writes what is queued

    assert not released_by_timer.is_set()
    text = stream.getvalue()
    assert "first line" in text
    assert all(f"line {n} while the output is stuck" in text for n in range(5))
    assert "dropped" not in text


def test_given_the_backlog_full_then_lines_are_dropped_counted_and_reported(
    root_logging: None,
) -> None:
    stream = StuckStream()
    configure_logging("INFO", "text", background=True, stream=stream, backlog=2)
    log = logging.getLogger("line311.test")
    log.info("line 0")
    assert stream.entered.wait(timeout=10)  # line 0 is being written: the queue is empty
    for n in range(1, 10):
        log.info("line %d", n)  # 1 and 2 are queued, 3..9 dropped
    assert dropped_log_lines() == 7  # for /metrics, even while nothing can be logged
    stream.release.set()
    configure_logging()

    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1] for line in lines if "line311.test" in line] == [
        "line 0",
        "line 1",
        "line 2",
    ]
    assert any("7 log line(s) dropped while the log output was not taking them" in x for x in lines)


def test_given_json_in_the_background_then_context_and_exception_are_kept_apart(
    root_logging: None,
) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", background=True, stream=stream)
    log = call_logger(logging.getLogger("line311.test"), call_id="c-1")
    args = {"n": 1}
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed with %s", args)
    args["n"] = 2  # changed after the call: the line keeps what it said then
    configure_logging()

    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["msg"] == "failed with {'n': 1}"
    assert line["call_id"] == "c-1"
    assert line["level"] == "ERROR"
    assert "ValueError: boom" in line["exc"]
    assert "boom" not in line["msg"]


def test_given_a_line_file_then_lines_arrive_in_order_and_a_stuck_disk_drops_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "queue_log"
    lines = LineFile(path, backlog=2)
    entered, release = threading.Event(), threading.Event()
    real_write = lines._write_text

    def stuck_write(text: str) -> None:
        if text == "line 0\n":
            entered.set()
            assert release.wait(timeout=30)
        real_write(text)

    lines._write_text = stuck_write  # type: ignore[method-assign]
    lines.write("line 0")
    assert entered.wait(timeout=10)  # the disk is stuck on it; this thread goes on
    for n in range(1, 6):
        lines.write(f"line {n}")  # 1 and 2 wait, 3..5 are dropped
    assert lines.dropped == 3
    release.set()
    lines.flush()
    assert path.read_text(encoding="utf-8") == "line 0\nline 1\nline 2\n"
    lines.write("line 6")
    lines.close()
    lines.close()  # again: nothing

    assert path.read_text(encoding="utf-8") == "line 0\nline 1\nline 2\nline 6\n"
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"{path}: 3 line(s) dropped while the disk was not taking them"
    ]


def test_given_many_lines_then_every_one_is_written_in_order_and_close_writes_the_rest(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue_log"
    lines = LineFile(path)
    writes: list[int] = []
    real_write = lines._write_text

    def counted(text: str) -> None:
        writes.append(text.count("\n"))
        real_write(text)

    lines._write_text = counted  # type: ignore[method-assign]
    for n in range(2000):
        lines.write(f"line {n}")
    lines.flush()
    assert sum(writes) == 2000
    lines.write("last")
    lines.close()
    assert path.read_text(encoding="utf-8").splitlines() == [
        *(f"line {n}" for n in range(2000)),
        "last",
    ]
    assert lines.dropped == 0


def test_given_a_busy_line_file_then_lines_gather_for_linger_and_flush_or_close_cut_it_short(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue_log"
    lines = LineFile(path, linger=3600.0)  # an hour: nothing is written on the clock here
    lines.write("line 0")  # after a quiet spell: written at once
    wait_until(lambda: path.read_text(encoding="utf-8") == "line 0\n", 10, "line 0 written")
    lines.write("line 1")
    lines.write("line 2")
    time.sleep(0.05)
    assert path.read_text(encoding="utf-8") == "line 0\n"  # gathering for the next write
    lines.flush()  # a flush does not wait for the linger
    assert path.read_text(encoding="utf-8") == "line 0\nline 1\nline 2\n"
    lines.write("line 3")
    lines.close()  # nor does closing
    assert path.read_text(encoding="utf-8") == "line 0\nline 1\nline 2\nline 3\n"
