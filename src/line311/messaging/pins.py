"""Supervisor PINs and the per-line sign-in lockout (pure).

PINs are stored as salted PBKDF2 hashes (`hash_pin`) and compared in constant time
(`verify_pin`). Consecutive failed sign-ins are counted per line and persist across calls
(`after_failure`), so hanging up doesn't reset the count; ``max_failures`` wrong PINs lock
the line for ``lockout`` seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["LineLock", "after_failure", "after_success", "hash_pin", "is_locked", "verify_pin"]

_PBKDF2_ROUNDS = 200_000


def hash_pin(pin: str, *, salt: bytes | None = None, rounds: int = _PBKDF2_ROUNDS) -> str:
    """``pbkdf2_sha256$<rounds>$<salt>$<hash>`` of a PIN (never store the PIN itself)."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, rounds)
    b64 = base64.urlsafe_b64encode
    return f"pbkdf2_sha256${rounds}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches a `hash_pin` result (constant-time comparison)."""
    try:
        scheme, rounds, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.urlsafe_b64decode(digest)
        got = hashlib.pbkdf2_hmac(
            "sha256", pin.encode(), base64.urlsafe_b64decode(salt), int(rounds)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True, slots=True)
class LineLock:
    """Consecutive failed sign-ins on one line, and until when it is locked."""

    failures: int = 0
    locked_until: datetime | None = None


def is_locked(lock: LineLock, now: datetime) -> bool:
    return lock.locked_until is not None and now < lock.locked_until


def after_failure(lock: LineLock, now: datetime, max_failures: int, lockout: float) -> LineLock:
    """One more failed sign-in; the ``max_failures``-th locks the line for ``lockout`` s
    (and resets the count, so the next failure after the lock starts again from one)."""
    failures = lock.failures + 1
    if failures >= max_failures:
        return LineLock(0, now + timedelta(seconds=lockout))
    return LineLock(failures, None)


def after_success(lock: LineLock) -> LineLock:
    return LineLock()
