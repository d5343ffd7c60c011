"""Errors of managing the Asterisk process.

AsteriskError(Line311Error)
├── AsteriskInstallError    no usable Asterisk, or building the sid root failed (local)
├── AsteriskConfigError     a template or rendered config is wrong (local)
└── AsteriskStartError      the process died or ARI never answered (remote)
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = ["AsteriskConfigError", "AsteriskError", "AsteriskInstallError", "AsteriskStartError"]


class AsteriskError(Line311Error):
    """Base of the errors of managing Asterisk."""


class AsteriskInstallError(AsteriskError):
    pass


class AsteriskConfigError(AsteriskError):
    pass


class AsteriskStartError(AsteriskError):
    pass
