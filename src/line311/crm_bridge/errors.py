"""Errors of the CRM bridge, on both sides of the wire.

CrmBridgeError                  (line311.errors.Line311Error)
├── ApiError                    local, server side: a request we refuse (carries
│                               status, error_id, message, details for the JSON body)
└── CrmRemoteError              remote, client side: the bridge said no or is away
    ├── CrmUnavailable          unreachable / 5xx after every retry: try again later
    ├── CrmConflict             409: another record with this call id is stored
    └── CrmRejected             other 4xx: the record or the API key is wrong (our bug
                                or bad config); retrying will not help
"""

from __future__ import annotations

from typing import Any

from line311.errors import Line311Error

__all__ = [
    "ApiError",
    "CrmBridgeError",
    "CrmConflict",
    "CrmRejected",
    "CrmRemoteError",
    "CrmUnavailable",
]


class CrmBridgeError(Line311Error):
    """Base of the CRM bridge's errors."""


class ApiError(CrmBridgeError):
    """A request the API refuses; rendered as ``{"error_id", "message", "details"}``."""

    def __init__(
        self,
        status: int,
        error_id: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = headers
        self.status = status
        self.error_id = error_id
        self.message = message
        self.details = details


class CrmRemoteError(CrmBridgeError):
    """The CRM bridge, seen from a client, failed or refused."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CrmUnavailable(CrmRemoteError):
    """Unreachable or failing (5xx) after all retries."""


class CrmConflict(CrmRemoteError):
    """A different record with the same id is already stored (HTTP 409)."""


class CrmRejected(CrmRemoteError):
    """The request was refused (401, 413, 422, ...): fix the caller, do not retry."""
