"""Errors of the dashboard edge.

    DashboardError                (line311.errors.Line311Error)
    ├── AuthError                 local: bad credentials, bad or expired session/token
    ├── AccountError              local: account store problems (duplicate user, bad role...)
    ├── ReportRequestError        local: a report asked with bad parameters (HTTP 400)
    ├── NoStorageError            the report needs the stored queue events (HTTP 503)
    └── ActionError               an action the supervisor asked for cannot be done
        ├── InvalidTargetError    the id in the path is too long or not safe text (HTTP 400)
        ├── UnknownTargetError    the agent, queue or alert does not exist (HTTP 404)
        └── ActionRefusedError    it exists but the action does not apply now (HTTP 409)

Each class carries a stable ``error_id`` for the API's ``{"error_id", "message", "details"}``.
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = [
    "AccountError",
    "ActionError",
    "ActionRefusedError",
    "AuthError",
    "DashboardError",
    "InvalidTargetError",
    "NoStorageError",
    "ReportRequestError",
    "UnknownTargetError",
]


class DashboardError(Line311Error):
    """Base of every error the dashboard raises."""

    error_id = "dashboard-error"
    status_code = 500


class AuthError(DashboardError):
    """Credentials, a session cookie or a bearer token were refused."""

    error_id = "unauthenticated"
    status_code = 401


class AccountError(DashboardError, ValueError):
    """An account cannot be created or changed (duplicate name, unknown role, weak password)."""

    error_id = "account-invalid"
    status_code = 400


class ActionError(DashboardError):
    """A supervisor action failed."""

    error_id = "action-failed"
    status_code = 409


class InvalidTargetError(ActionError):
    """The agent, queue or alert id of an action cannot name anything: too long, or holding
    a control character or broken Unicode."""

    error_id = "invalid-target"
    status_code = 400


class UnknownTargetError(ActionError):
    """The agent, queue or alert named by an action does not exist."""

    error_id = "not-found"
    status_code = 404


class ActionRefusedError(ActionError):
    """The target exists but the action does not apply in its current state."""

    error_id = "action-refused"
    status_code = 409


class ReportRequestError(DashboardError, ValueError):
    """A report's parameters are wrong (a date that does not parse, an empty range)."""

    error_id = "bad-request"
    status_code = 400


class NoStorageError(DashboardError):
    """The report reads the stored queue events and this process has no database."""

    error_id = "no-storage"
    status_code = 503
