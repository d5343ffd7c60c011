"""The root of line311's exception tree.

    Line311Error
    ├── ConfigError             bad settings or files: a local error, fix and restart
    ├── ivr.IvrError            (see line311.ivr.errors)
    ├── routing.RoutingError
    ├── queue.QueueError
    ├── messaging.MessagingError
    ├── crm_bridge.CrmBridgeError
    ├── ari.AriError            remote: Asterisk said no or is unreachable
    ├── asterisk.AsteriskError  managing the Asterisk process and its root
    └── db.DbError

Each package keeps one base of its own, derived from `Line311Error`, so callers can catch a
whole layer at once. *Local* errors (our bug, bad input, bad config) and *remote* errors
(Asterisk, the CRM) are kept apart inside each tree.
"""

from __future__ import annotations

__all__ = ["ConfigError", "Line311Error"]


class Line311Error(Exception):
    """Base of every exception line311 raises on purpose."""


class ConfigError(Line311Error):
    """Settings or a configuration file are invalid; the message names what to fix."""
