"""Errors of the queue core.

    QueueError                    (line311.errors.Line311Error)
    ├── InvalidParameterError     local: a bad argument (negative AHT, goal outside (0, 1) ...)
    ├── InconsistentEventError    local: an event contradicts what is known about its call
    │                             (answered after it was abandoned, a wait that ends before it
    │                             starts); raised only by accumulators built with strict=True
    ├── IncompatibleStatsError    local: merging statistics kept under different thresholds
    ├── QueueLogParseError        local: a queue_log line that cannot be read
    └── StaffingError             local: no staffing meets the goal within the search limit

All of them are *local*: the queue core talks to nothing remote. Each class carries a stable
``error_id`` for APIs and logs.
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = [
    "IncompatibleStatsError",
    "InconsistentEventError",
    "InvalidParameterError",
    "QueueError",
    "QueueLogParseError",
    "StaffingError",
]


class QueueError(Line311Error):
    """Base of every error the queue core raises."""

    error_id = "queue-error"


class InvalidParameterError(QueueError, ValueError):
    """An argument is out of its domain; the message names it and the accepted range."""

    error_id = "queue-invalid-parameter"


class InconsistentEventError(QueueError):
    """A queue event contradicts the call's known history (strict accumulators only)."""

    error_id = "queue-inconsistent-event"


class IncompatibleStatsError(QueueError):
    """Statistics counted under different thresholds cannot be added together."""

    error_id = "queue-incompatible-stats"


class QueueLogParseError(QueueError, ValueError):
    """A queue_log line is malformed; ``line_number`` is set when known."""

    error_id = "queue-log-parse-error"

    def __init__(self, message: str, *, line: str = "", line_number: int | None = None) -> None:
        where = f"line {line_number}: " if line_number is not None else ""
        super().__init__(f"{where}{message}: {line[:200]!r}" if line else f"{where}{message}")
        self.line = line
        self.line_number = line_number


class StaffingError(QueueError):
    """No number of agents up to the search limit meets the staffing goal."""

    error_id = "queue-staffing-error"
