"""Exceptions of the pure call-flow core.

    Line311Error
    └── IvrError                 anything the ivr package raises on purpose (local errors)
        ├── FlowError            a flow definition is invalid; the message names the node
        └── SessionRestoreError  a serialised session cannot be resumed (bad data, other flow)

The core talks to nothing remote, so it has no remote errors: a failed command comes back to
it as a `CommandFailed` *event*, not as an exception.
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = ["FlowError", "IvrError", "SessionRestoreError"]


class IvrError(Line311Error):
    """Base of the ivr package's exceptions."""


class FlowError(IvrError):
    """A call-flow definition is invalid. ``node`` names the offending node when there is one."""

    def __init__(self, message: str, *, node: str | None = None) -> None:
        self.node = node
        super().__init__(f"node {node!r}: {message}" if node is not None else message)


class SessionRestoreError(IvrError):
    """``CallSession.from_dict`` was given data it cannot resume from."""
