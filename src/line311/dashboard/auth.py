"""Dashboard accounts, sign-in, sessions, bearer tokens, roles and the audit log.

Theory of operation
-------------------
* **Passwords** are stored as ``scrypt$N$r$p$salt$hash`` (hashlib.scrypt, a random 16-byte salt
  per account) and compared in constant time.
* **Sessions and bearer tokens** are the same signed, expiring token (HMAC-SHA256 under the
  ``dashboard_secret`` setting) with a different ``kind``: ``session`` travels in an HttpOnly,
  SameSite=Strict cookie (``Secure`` unless served on loopback); ``api`` in
  ``Authorization: Bearer ...``. Every request re-reads the account, so disabling an account
  or changing its role takes effect at once. Each token carries its account's *generation*
  (one for sessions, one for bearer tokens): signing out bumps the session generation (every
  session of that account ends, the old cookie included), revoking tokens bumps the token
  generation.
* **Passwords** must be at least 10 characters and not a common password.
* **CSRF**: a session carries a random CSRF token; a cookie-authenticated request that
  changes something (POST, PUT, PATCH, DELETE) must echo it in ``X-CSRF-Token`` (or a
  ``csrf_token`` form field). The page reads it from ``GET /api/me``. Bearer requests are not
  exposed to CSRF (a browser never adds that header by itself).
* **Roles**: ``operations`` reads, ``supervisor`` reads and acts. `require_role` is the FastAPI
  dependency other routers mount (the alerts API uses ``require_role("operations")`` and checks
  ``principal.role`` itself).
* **Audit**: every supervisor action (also refused or failed ones) is one `AuditRow`.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from line311.dashboard.errors import AccountError, AuthError, DashboardError
from line311.db.accounts_models import AccountRow, AuditRow
from line311.db.engine import make_session_factory

__all__ = [
    "SESSION_COOKIE",
    "AccountStore",
    "AccountView",
    "Authenticator",
    "ForbiddenError",
    "Principal",
    "Role",
    "TokenSigner",
    "hash_password",
    "require_role",
    "require_role_by_method",
    "verify_password",
]

logger = logging.getLogger(__name__)

SESSION_COOKIE: Final = "line311_session"
CSRF_HEADER: Final = "x-csrf-token"
_SCRYPT_N: Final = 2**14
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_USERNAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")
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
        self, username: str, kind: str, *, expires: float, csrf: str = "", generation: int = 0
    ) -> str:
        """A token for ``username`` of ``kind`` valid until ``expires`` (POSIX seconds) while
        the account's generation for ``kind`` stays ``generation``."""
        payload = {"u": username, "k": kind, "e": int(expires), "c": csrf, "g": generation}
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


# ---------------------------------------------------------------------- storage
def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not 1 <= len(name) <= 64 or not set(name) <= _USERNAME_CHARS:
        raise AccountError(f"bad username {username!r}: 1-64 characters among a-z 0-9 . _ - @")
    return name


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise AccountError(
            f"unknown role {value!r}: use {Role.OPERATIONS.value} or {Role.SUPERVISOR.value}"
        ) from None


class AccountStore:
    """Accounts and the audit log in the database (synchronous; call from a thread)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._sessions = make_session_factory(engine)
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def create(self, username: str, password: str, role: str) -> AccountView:
        """Create an account; `AccountError` on a duplicate, weak password or unknown role."""
        name = _check_username(username)
        checked_role = _role(role)
        check_password_policy(password)
        row = AccountRow(
            username=name,
            role=checked_role.value,
            password_hash=hash_password(password),
            disabled=False,
            created_at=self._now(),
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise AccountError(f"account {name!r} already exists") from None
        return AccountView(name, checked_role, False, row.created_at)

    def accounts(self) -> list[AccountView]:
        """Every account, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(AccountRow).order_by(AccountRow.username)).all()
            return [AccountView(r.username, Role(r.role), r.disabled, r.created_at) for r in rows]

    def disable(self, username: str) -> None:
        """Disable an account (its sessions and tokens stop working at once)."""
        name = _check_username(username)
        with self._sessions.begin() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == name)).first()
            if row is None:
                raise AccountError(f"no account {name!r}")
            row.disabled = True
            row.disabled_at = self._now()

    def _bump(self, username: str, column: str) -> int:
        name = _check_username(username)
        with self._sessions.begin() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == name)).first()
            if row is None:
                raise AccountError(f"no account {name!r}")
            value = int(getattr(row, column) or 0) + 1
            setattr(row, column, value)
            return value

    def end_sessions(self, username: str) -> None:
        """End every session of ``username`` (sign-out): older session cookies are refused."""
        self._bump(username, "session_generation")

    def revoke_tokens(self, username: str) -> None:
        """Revoke every bearer token issued so far to ``username``."""
        self._bump(username, "token_generation")

    def generations(self, username: str) -> tuple[Principal, int, int] | None:
        """The enabled account ``username`` with its session and token generations, or None."""
        with self._sessions() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == username)).first()
            if row is None or row.disabled:
                return None
            return (
                Principal(row.username, Role(row.role)),
                int(row.session_generation or 0),
                int(row.token_generation or 0),
            )

    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for good credentials of an enabled account; `AuthError` otherwise."""
        try:
            name = _check_username(username)
        except AccountError:
            raise AuthError("wrong username or password") from None
        with self._sessions() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == name)).first()
            stored = row.password_hash if row is not None else _DUMMY_HASH
            ok = verify_password(password, stored)  # also for unknown users: same timing
            if row is None or not ok or row.disabled:
                raise AuthError("wrong username or password")
            return Principal(row.username, Role(row.role))

    def active(self, username: str) -> Principal | None:
        """The enabled account ``username`` as a principal, or None."""
        with self._sessions() as session:
            row = session.scalars(select(AccountRow).where(AccountRow.username == username)).first()
            if row is None or row.disabled:
                return None
            return Principal(row.username, Role(row.role))

    def audit(
        self,
        principal: Principal,
        action: str,
        target: str,
        outcome: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Write one audit entry."""
        with self._sessions.begin() as session:
            session.add(
                AuditRow(
                    at=self._now(),
                    username=principal.username,
                    role=principal.role.value,
                    action=action,
                    target=target,
                    outcome=outcome,
                    details=dict(details or {}),
                )
            )

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries first."""
        with self._sessions() as session:
            rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).all()
            return [
                {
                    "at": r.at.isoformat(),
                    "username": r.username,
                    "role": r.role,
                    "action": r.action,
                    "target": r.target,
                    "outcome": r.outcome,
                    "details": r.details,
                }
                for r in rows
            ]


_DUMMY_HASH: Final = hash_password("not a real password", salt=b"\0" * 16)


# ---------------------------------------------------------------------- requests
class Authenticator:
    """Turns requests into principals (session cookie or bearer token)."""

    def __init__(
        self,
        store: AccountStore,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        session_seconds: float = 12 * 3600,
        token_seconds: float = 30 * 86400,
        secure_cookie: bool = False,
    ) -> None:
        """``secure_cookie``: mark the session cookie ``Secure`` (browsers then send it over
        HTTPS only); on by default when the app is served off loopback."""
        self.store = store
        self.signer = TokenSigner(secret)
        self.clock = clock
        self.session_seconds = session_seconds
        self.token_seconds = token_seconds
        self.secure_cookie = secure_cookie

    def _generations(self, username: str) -> tuple[Principal, int, int]:
        found = self.store.generations(username)
        if found is None:
            raise AuthError("account unknown or disabled")
        return found

    def session_cookie(self, principal: Principal) -> tuple[str, int]:
        """A new session cookie value (with a fresh CSRF token) and its max-age."""
        csrf = secrets.token_urlsafe(24)
        _, session_generation, _ = self._generations(principal.username)
        value = self.signer.issue(
            principal.username,
            "session",
            expires=self.clock() + self.session_seconds,
            csrf=csrf,
            generation=session_generation,
        )
        return value, int(self.session_seconds)

    def bearer_token(self, username: str, *, seconds: float | None = None) -> tuple[str, float]:
        """A bearer token for ``username`` and when it expires."""
        expires = self.clock() + (seconds if seconds is not None else self.token_seconds)
        _, _, token_generation = self._generations(username)
        token = self.signer.issue(username, "api", expires=expires, generation=token_generation)
        return token, expires

    def principal(self, request: Request) -> Principal:
        """Who sent ``request``; `AuthError` (401) or `ForbiddenError` (CSRF, 403)."""
        now = self.clock()
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            payload = self.signer.check(header[7:].strip(), "api", now=now)
            via, csrf = "token", ""
        else:
            cookie = request.cookies.get(SESSION_COOKIE)
            if not cookie:
                raise AuthError("sign in first")
            payload = self.signer.check(cookie, "session", now=now)
            via, csrf = "session", str(payload.get("c", ""))
            if request.method in _UNSAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not sent or not hmac.compare_digest(sent, csrf):
                    raise ForbiddenError("missing or wrong CSRF token (X-CSRF-Token)")
        found = self.store.generations(str(payload.get("u", "")))
        if found is None:
            raise AuthError("account unknown or disabled")
        account, session_generation, token_generation = found
        current = token_generation if via == "token" else session_generation
        if payload.get("g", 0) != current:
            raise AuthError(
                "credentials revoked; sign in again"
                if via == "token"
                else "signed out; sign in again"
            )
        return Principal(account.username, account.role, via=via, csrf=csrf)


def require_role(role: Role | str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the request's `Principal` if its role allows ``role``.

    401 without valid credentials, 403 when the role is not enough. The `Authenticator` is
    ``request.app.state.dashboard_auth``.
    """
    needed = Role(role)

    async def dependency(request: Request) -> Principal:
        auth: Authenticator | None = getattr(request.app.state, "dashboard_auth", None)
        if auth is None:
            raise AuthError("sign-in is not configured on this server")
        principal = await run_in_threadpool(auth.principal, request)
        if not principal.role.allows(needed):
            raise ForbiddenError(
                f"role {principal.role.value} may not do this (needs {needed.value})"
            )
        return principal

    return dependency


def require_role_by_method(
    read: Role | str = Role.OPERATIONS, write: Role | str = Role.SUPERVISOR
) -> Callable[[Request], Awaitable[Principal]]:
    """Like `require_role`, with ``read`` for GET/HEAD and ``write`` for every other method
    (for routers that mix reading and acting, such as the CCR desk API)."""
    readers, writers = require_role(read), require_role(write)

    async def dependency(request: Request) -> Principal:
        check = readers if request.method in ("GET", "HEAD") else writers
        return await check(request)

    return dependency
