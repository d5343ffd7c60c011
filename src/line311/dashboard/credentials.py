"""Who may do what: roles, principals, password hashing and policy, signed tokens (no I/O).

Passwords are stored as ``scrypt$N$r$p$salt$hash`` (hashlib.scrypt, a random 16-byte salt per
account), compared in constant time, and must be at least 10 characters and not a common
password. Sessions and bearer tokens are the same signed, expiring token (HMAC-SHA256,
`TokenSigner`) with a different ``kind``. `line311.dashboard.auth` (requests) and
`line311.dashboard.accounts` (storage) build on these.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from line311.dashboard.errors import AccountError, AuthError, DashboardError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AccountView",
    "ForbiddenError",
    "Principal",
    "Role",
    "TokenSigner",
    "check_password_policy",
    "hash_password",
    "verify_password",
]

_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
MIN_PASSWORD_LENGTH: Final = 10
_COMMON_PASSWORDS: Final = frozenset(
    {
        "1234567890",
        "0123456789",
        "1111111111",
        "0000000000",
        "1q2w3e4r5t",
        "qwertyuiop",
        "asdfghjkl;",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou123",
        "qwerty1234",
        "qwerty12345",
        "qwerty123456",
        "abcdefghij",
        "abc1234567",
        "letmein123",
        "welcome123",
        "welcome1234",
        "changeme123",
        "administrator",
        "admin12345",
        "admin123456",
        "supervisor",
        "supervisor1",
        "operations",
        "dashboard1",
        "line311line311",
        "newyork311",
        "nyc311nyc311",
        "football123",
        "baseball123",
        "sunshine123",
        "princess123",
        "trustno1trustno1",
        "1qaz2wsx3edc",
        "zaq12wsxcde3",
        "q1w2e3r4t5",
        "aaaaaaaaaa",
    }
)
"""Passwords refused even though they are long enough (checked case-insensitively, and
also when they are one character repeated or a run of consecutive digits)."""


class ForbiddenError(DashboardError):
    """Signed in, but the role (or a missing CSRF token) does not allow this."""

    error_id = "forbidden"
    status_code = 403


class Role(enum.StrEnum):
    """What an account may do. A supervisor may do everything operations may."""

    OPERATIONS = "operations"
    SUPERVISOR = "supervisor"

    def allows(self, needed: Role) -> bool:
        """Whether this role includes ``needed``."""
        return self is Role.SUPERVISOR or needed is Role.OPERATIONS


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request."""

    username: str
    role: Role
    via: str = "session"  # "session" or "token"
    csrf: str = ""


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account as listed (no hash)."""

    username: str
    role: Role
    disabled: bool
    created_at: datetime


# ---------------------------------------------------------------------- passwords
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_password_policy(password: str) -> None:
    """`AccountError` unless ``password`` is long enough and not a common one."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    digits = "01234567890123456789"
    if (
        lowered in _COMMON_PASSWORDS
        or len(set(lowered)) <= 2
        or lowered in digits
        or lowered in digits[::-1]
    ):
        raise AccountError("password is too common or too simple; choose another")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``password`` with a fresh random salt."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# ---------------------------------------------------------------------- signed tokens
class TokenSigner:
    """Signs and checks ``payload.signature`` tokens (HMAC-SHA256, expiring)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise AccountError("the dashboard secret must be at least 16 characters")
        self._key = hashlib.sha256(b"line311-dashboard\0" + secret.encode()).digest()

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def issue(
        self,
        username: str,
        kind: str,
        *,
        expires: float,
        csrf: str = "",
        generation: int = 0,
        active: float | None = None,
    ) -> str:
        """A token for ``username`` of ``kind`` valid until ``expires`` (POSIX seconds) while
        the account's generation for ``kind`` stays ``generation``; ``active``: when its
        holder was last active (a session's idle timeout, `line311.dashboard.auth`)."""
        payload: dict[str, Any] = {
            "u": username,
            "k": kind,
            "e": int(expires),
            "c": csrf,
            "g": generation,
        }
        if active is not None:
            payload["a"] = int(active)
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def check(self, token: str, kind: str, *, now: float) -> Mapping[str, Any]:
        """The payload of a valid, unexpired token of ``kind``; `AuthError` otherwise."""
        body, _, signature = token.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(body)):
            raise AuthError("invalid credentials token")
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            raise AuthError("invalid credentials token") from None
        if not isinstance(payload, dict) or payload.get("k") != kind:
            raise AuthError("invalid credentials token")
        if not isinstance(payload.get("e"), int | float) or payload["e"] <= now:
            raise AuthError("credentials expired; sign in again")
        return payload
