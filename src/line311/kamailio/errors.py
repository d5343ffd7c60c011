"""Errors of the Kamailio edge.

KamailioError(Line311Error)
├── KamailioInstallError   no usable kamailio, or installing it failed (local)
├── KamailioConfigError    a setting cannot go into kamailio.cfg (local)
└── KamailioStartError     the process died or never answered SIP OPTIONS (remote)
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = ["KamailioConfigError", "KamailioError", "KamailioInstallError", "KamailioStartError"]


class KamailioError(Line311Error):
    """Base of the errors of the Kamailio edge."""


class KamailioInstallError(KamailioError):
    pass


class KamailioConfigError(KamailioError):
    pass


class KamailioStartError(KamailioError):
    pass
