"""Structured logging: one configuration, call ids carried by a LoggerAdapter.

Text lines for people at a terminal, JSON lines in production (``LINE311_LOG_FORMAT=json``).
Never log a caller's number: use `line311.privacy.caller_hash` instead.

The long-running processes (controller, IVR workers, dashboard, CRM bridge, supervisor) log
in the background (``configure_logging(..., background=True)``): a call's thread only puts
the record on a bounded queue and a writer thread writes it out. A log output that stops
taking lines (a full disk, a pipe nobody reads, journald pushing back) then never holds up an
event loop, and so never a caller's next prompt. While it is stuck the queue fills
(`BACKLOG_LINES`); lines beyond are dropped and counted, never waited for, and once the output
moves again a WARNING says how many were lost. What is queued is written at exit.
"""

from __future__ import annotations

import atexit
import copy
import logging
import logging.handlers
import math
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "BACKLOG_LINES",
    "BackgroundHandler",
    "CallLogger",
    "JsonFormatter",
    "LineFile",
    "call_logger",
    "configure_logging",
    "dropped_log_lines",
]

BACKLOG_LINES = 10_000
"""Log records held for the writer thread at most; beyond, new ones are dropped and counted."""

STOP_WAIT_SECONDS = 5.0
"""At exit, how long the queued lines may take to be written before the process goes."""

_CONTEXT_KEYS = ("call_id", "channel_id", "agent_id", "queue")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the call context keys when present."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = " ".join(
            f"{k}={getattr(record, k)}" for k in _CONTEXT_KEYS if getattr(record, k, None)
        )
        base = super().format(record)
        return f"{base} [{ctx}]" if ctx else base


class BackgroundHandler(logging.handlers.QueueHandler):
    """Puts each record on a bounded queue for `_Writer`'s thread; never waits. A record that
    finds the queue full is dropped and counted (``dropped``)."""

    def __init__(self, backlog: int) -> None:
        self.backlog: queue.Queue[logging.LogRecord | None] = queue.Queue(backlog)
        super().__init__(self.backlog)
        self.dropped = 0
        self._count_lock = threading.Lock()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The message rendered now (its arguments may change once this returns); the
        exception kept as is, for the formatter (JSON puts it apart, under ``exc``)."""
        queued = copy.copy(record)  # other handlers see the record as it came
        queued.message = record.getMessage()
        queued.msg, queued.args = queued.message, None
        return queued

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.backlog.put_nowait(record)
        except queue.Full:
            with self._count_lock:
                self.dropped += 1


class _Writer(logging.handlers.QueueListener):
    """The thread that writes what `BackgroundHandler` queued, saying first how many lines
    were dropped since the last it wrote."""

    def __init__(
        self,
        source: BackgroundHandler,
        target: logging.Handler,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(source.queue, target, respect_handler_level=False)
        self._source = source
        self._reported = 0
        self._on_dropped = on_dropped or self._say_dropped

    @property
    def dropped(self) -> int:
        return self._source.dropped

    def stop(self) -> None:
        """Write what is queued, then end the thread; give up after `STOP_WAIT_SECONDS` if
        the output is stuck (the thread is a daemon: exit is not held up)."""
        try:
            self._source.backlog.put(None, timeout=STOP_WAIT_SECONDS)  # the end (sentinel)
        except queue.Full:
            return
        if self._thread is not None:
            self._thread.join(STOP_WAIT_SECONDS)
            self._thread = None

    def handle(self, record: logging.LogRecord) -> None:
        dropped = self._source.dropped
        if dropped != self._reported:
            lost, self._reported = dropped - self._reported, dropped
            self._on_dropped(lost)
        super().handle(record)

    def _say_dropped(self, lost: int) -> None:
        super().handle(
            logging.LogRecord(
                __name__,
                logging.WARNING,
                __file__,
                0,
                "%d log line(s) dropped while the log output was not taking them",
                (lost,),
                None,
            )
        )


class LineFile:
    """Lines appended to a file by a writer thread (the queue_log): `write` never waits on
    the disk. The thread writes whatever has gathered since its last write in one go and
    flushes it, at most once per ``linger`` seconds: a line after a quiet spell is written at
    once, and tools tailing the file see every line within ``linger``; a busy queue costs one
    write (and one wake-up of the thread) per ``linger``, not one per line (at 600 queued
    calls/s a wake-up per line was 6 % of the controller). Past ``backlog`` lines waiting
    (the disk is stuck), new ones are dropped and counted, and an ERROR in the process's log
    says how many once the file moves again."""

    def __init__(self, path: Path, *, backlog: int = 100_000, linger: float = 0.02) -> None:
        self.path = path
        self._backlog = backlog
        self._linger = linger
        self._flushing = 0
        """Callers of `flush` waiting: the thread does not linger for them."""
        self._out = path.open("a", encoding="utf-8")
        self._cond = threading.Condition()
        self._pending: deque[str] = deque()
        self._queued = 0
        """Lines taken so far (`flush` waits until this many are written)."""
        self._done = 0
        self._dropped = 0
        self._reported = 0
        self._stopping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"line-file {path.name}")
        self._thread.daemon = True  # a stuck disk never holds up the exit
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self._dropped

    def write(self, line: str) -> None:
        """Queue one line (without its newline)."""
        with self._cond:
            if len(self._pending) >= self._backlog:
                self._dropped += 1
                return
            self._pending.append(line)
            self._queued += 1
            if len(self._pending) == 1:  # the thread takes them all: wake it for the first
                self._cond.notify_all()

    def flush(self) -> None:
        """Return once every line queued so far is written (blocks: for tests and tools)."""
        with self._cond:
            target = self._queued
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._done < target and self._thread.is_alive():
                    self._cond.wait(timeout=1.0)
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Write what is queued (`STOP_WAIT_SECONDS` at most if the disk is stuck), close.
        Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(STOP_WAIT_SECONDS)
        if not self._thread.is_alive():
            self._out.close()

    def _run(self) -> None:
        last = -math.inf
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                while not self._stopping and not self._flushing:
                    wait = last + self._linger - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)  # gather more lines into this write
                if not self._pending:
                    return  # stopping, and all written
                batch = list(self._pending)
                self._pending.clear()
                dropped = self._dropped
            last = time.monotonic()
            try:
                self._write_text("\n".join(batch) + "\n")
            except (OSError, ValueError) as exc:
                logging.getLogger(__name__).error(
                    "%s: %d line(s) not written: %s", self.path, len(batch), exc
                )
            if dropped != self._reported:
                lost, self._reported = dropped - self._reported, dropped
                self._say_dropped(lost)
            with self._cond:
                self._done += len(batch)
                self._cond.notify_all()

    def _write_text(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    def _say_dropped(self, lost: int) -> None:
        logging.getLogger(__name__).error(
            "%s: %d line(s) dropped while the disk was not taking them", self.path, lost
        )


_writer: _Writer | None = None


def dropped_log_lines() -> int:
    """Log lines this process dropped since its logging went to the background (0 before)."""
    writer = _writer
    return 0 if writer is None else writer.dropped


def _stop_writer() -> None:
    """Write what is queued, then stop the writer thread (at exit, or before reconfiguring)."""
    global _writer
    writer, _writer = _writer, None
    if writer is not None:
        writer.stop()


atexit.register(_stop_writer)


def configure_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    background: bool = False,
    stream: Any = None,
    backlog: int = BACKLOG_LINES,
) -> None:
    """Install one handler on the root logger, writing to ``stream`` (stderr); idempotent.

    ``background``: records go through a bounded queue to a writer thread (module docstring),
    for processes whose event loop must never wait on the log output."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_line311", False):
            root.removeHandler(old)
    _stop_writer()
    out = logging.StreamHandler(sys.stderr if stream is None else stream)
    if fmt == "json":
        out.setFormatter(JsonFormatter())
    else:
        out.setFormatter(
            _TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler: logging.Handler = out
    if background:
        global _writer
        queued = BackgroundHandler(backlog)
        _writer = _Writer(queued, out)
        _writer.start()
        handler = queued
    handler._line311 = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class CallLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that stamps every record with the call's context (call_id, ...)."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def call_logger(logger: logging.Logger, **context: Any) -> CallLogger:
    return CallLogger(logger, context)
