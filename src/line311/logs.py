"""Structured logging: one configuration, call ids carried by a LoggerAdapter.

Text lines for people at a terminal, JSON lines in production (``LINE311_LOG_FORMAT=json``).
Never log a caller's number: use `line311.privacy.caller_hash` instead.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import orjson

__all__ = ["CallLogger", "JsonFormatter", "call_logger", "configure_logging"]

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


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_line311", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._line311 = True  # type: ignore[attr-defined]
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            _TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
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
