"""Errors of the live shared state (Redis).

LiveError(Line311Error)
├── RedisInstallError      no usable redis-server, or installing it failed (local)
├── RedisStartError        the process died or never answered PING (remote)
├── LiveStateError         a record or reply is not what line311 expects (local: a bug)
└── LiveUnavailableError   Redis cannot be reached or refused a command (remote: degrade, retry)
    └── LiveAuthError      Redis (or a Sentinel) refused line311's credentials: a wrong or
                           missing redis_password / redis_sentinel_password (remote: degrade,
                           retry; it lasts until the settings or the server change)
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = [
    "LiveAuthError",
    "LiveError",
    "LiveStateError",
    "LiveUnavailableError",
    "RedisInstallError",
    "RedisStartError",
]


class LiveError(Line311Error):
    """Base of the errors of the live shared state."""


class RedisInstallError(LiveError):
    pass


class RedisStartError(LiveError):
    pass


class LiveStateError(LiveError):
    pass


class LiveUnavailableError(LiveError):
    pass


class LiveAuthError(LiveUnavailableError):
    pass
