"""Errors of the process supervisor.

SuperviseError (line311.errors.Line311Error)
 ├── StartError       a process could not be started (local: bad command, port taken ...)
 └── StatusFileError  the status file is missing or unreadable
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = ["StartError", "StatusFileError", "SuperviseError"]


class SuperviseError(Line311Error):
    """Base of the supervisor's errors."""


class StartError(SuperviseError):
    """A supervised process could not be started."""


class StatusFileError(SuperviseError):
    """The supervisor's status file is missing or unreadable."""
