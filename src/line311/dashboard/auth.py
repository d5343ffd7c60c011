"""Dashboard accounts, sign-in, sessions, bearer tokens, roles and the audit log.

Theory of operation
-------------------
* **Passwords** are stored as ``scrypt$N$r$p$salt$hash`` (hashlib.scrypt, a random 16-byte salt
  per account) and compared in constant time.
* **Sessions and bearer tokens** are the same signed, expiring token (HMAC-SHA256 under the
  ``dashboard_secret`` setting) with a different ``kind``: ``session`` travels in an HttpOnly,
  SameSite=Strict cookie (``Secure`` unless served on loopback, and always when signed in
  over HTTPS); ``api`` in ``Authorization: Bearer ...``. Every request re-reads the
  account, so disabling an account or changing its role takes effect at once. Each token
  carries its account's *generation* (one for sessions, one for bearer tokens): signing out
  bumps the session generation (every session of that account ends, the old cookie
  included), revoking tokens bumps the token generation.
* **Passwords** must be at least 10 characters and not a common password.
* **CSRF**: a session carries a random CSRF token; a cookie-authenticated request that
  changes something (POST, PUT, PATCH, DELETE) must echo it in ``X-CSRF-Token`` (a form
  field is not taken). The page reads it from ``GET /api/me``. Bearer requests are not
  exposed to CSRF (a browser never adds that header by itself).
* **Roles**: ``operations`` reads, ``supervisor`` reads and acts. `require_role` is the FastAPI
  dependency other routers mount (the alerts API uses ``require_role("operations")`` and checks
  ``principal.role`` itself).
* **Audit**: every supervisor action (also refused or failed ones) is one `AuditRow`; a
  write refused for its role by `require_role_by_method` too, when it is given ``audit``.
* **Idle timeout** (``idle_seconds``, the ``dashboard_idle_timeout`` setting; 0: off): a
  session carries when it was last *used*; a request through a session unused for that
  long is refused with 401 (the page goes to sign-in), whatever its absolute expiry. Every
  session request counts as use and renews the cookie (same expiry, same CSRF token; the
  `SessionRenewal` middleware sends it) -- except *watching*: the page itself, ``/api/me``,
  the snapshot, signing out, the open feeds and a desk's last screen pop neither count nor
  are refused when idle (``require_role(..., watching=True)``), so
  a wallboard on a wall screen keeps showing all day while an unattended session loses
  everything else (every action, reports, the audit log, the desk and alerts APIs) once
  idle. The page reports its user's own input (``POST /api/activity``) at most once a
  minute. Bearer tokens have no idle timeout.
* **Open feeds** (the live wallboard, the CCR messages, a desk's screen pops) outlive the
  request that opened them: `while_allowed` checks the request's credentials again before
  a message once ``recheck_seconds`` (5 s) have passed since the last check, and ends the
  stream when they no longer hold (account disabled, signed out, tokens revoked, session
  expired, role taken away). The browser's EventSource then reconnects and gets its 401.

Roles, principals, passwords and tokens are in `line311.dashboard.credentials`, the account
store in `line311.dashboard.accounts`; this module turns requests into principals and keeps
the public names importable from here.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from line311.dashboard.accounts import AccountStore
from line311.dashboard.credentials import (
    AccountView,
    ForbiddenError,
    Principal,
    Role,
    TokenSigner,
    hash_password,
    verify_password,
)
from line311.dashboard.errors import AuthError, DashboardError

__all__ = [
    "SESSION_COOKIE",
    "AccountStore",
    "AccountView",
    "AuditSink",
    "Authenticator",
    "ForbiddenError",
    "Principal",
    "Role",
    "SessionRenewal",
    "TokenSigner",
    "hash_password",
    "record_action",
    "require_role",
    "require_role_by_method",
    "verify_password",
    "while_allowed",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

AuditSink = Callable[[Principal, str, str, str, Mapping[str, Any]], None]
"""``audit(principal, action, target, outcome, details)``: `AccountStore.audit`, for the
routers mounted behind `require_role` that act (the desk API, flow reloads)."""

SESSION_COOKIE: Final = "line311_session"
CSRF_HEADER: Final = "x-csrf-token"
_UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RENEWAL: Final = "session_renewal"  # request.state: the renewed cookie's Set-Cookie value


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
        recheck_seconds: float = 5.0,
        idle_seconds: float = 900.0,
    ) -> None:
        """``secure_cookie``: mark the session cookie ``Secure`` (browsers then send it over
        HTTPS only); on by default when the app is served off loopback. ``recheck_seconds``:
        how often an open feed checks its credentials again (`while_allowed`).
        ``idle_seconds``: a session unused that long is refused (0: never; see the module
        docstring)."""
        if idle_seconds < 0:
            raise ValueError("idle_seconds must be 0 (off) or positive")
        self.store = store
        self.signer = TokenSigner(secret)
        self.clock = clock
        self.session_seconds = session_seconds
        self.token_seconds = token_seconds
        self.secure_cookie = secure_cookie
        self.recheck_seconds = recheck_seconds
        self.idle_seconds = idle_seconds

    def _generations(self, username: str) -> tuple[Principal, int, int]:
        found = self.store.generations(username)
        if found is None:
            raise AuthError("account unknown or disabled")
        return found

    def session_cookie(self, principal: Principal) -> tuple[str, int]:
        """A new session cookie value (with a fresh CSRF token) and its max-age."""
        csrf = secrets.token_urlsafe(24)
        _, session_generation, _ = self._generations(principal.username)
        now = self.clock()
        value = self.signer.issue(
            principal.username,
            "session",
            expires=now + self.session_seconds,
            csrf=csrf,
            generation=session_generation,
            active=now,
        )
        return value, int(self.session_seconds)

    def cookie_secure(self, request: Request) -> bool:
        """Whether the session cookie is ``Secure``: by the setting, and always when signed in
        over TLS (a proxy's X-Forwarded-Proto, which uvicorn trusts from loopback), so it is
        never sent over plain HTTP whatever the setting says."""
        return self.secure_cookie or request.url.scheme == "https"

    def set_cookie(self, response: Response, request: Request, value: str, max_age: int) -> None:
        """Put the session cookie ``value`` on ``response`` (sign-in and renewals alike)."""
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=self.cookie_secure(request),
            path="/",
        )

    def bearer_token(self, username: str, *, seconds: float | None = None) -> tuple[str, float]:
        """A bearer token for ``username`` and when it expires."""
        expires = self.clock() + (seconds if seconds is not None else self.token_seconds)
        _, _, token_generation = self._generations(username)
        token = self.signer.issue(username, "api", expires=expires, generation=token_generation)
        return token, expires

    def principal(self, request: Request, *, watching: bool = False) -> Principal:
        """Who sent ``request``; `AuthError` (401) or `ForbiddenError` (CSRF, 403).

        A session unused for ``idle_seconds`` is refused unless the request is only
        ``watching`` (the page, the snapshot, an open feed: see the module docstring);
        any other session request counts as use, and its renewed cookie is left in
        ``request.state`` for `SessionRenewal` to send."""
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
        if via == "session" and self.idle_seconds and not watching:
            self._use(request, payload, now)
        return Principal(account.username, account.role, via=via, csrf=csrf)

    def _use(self, request: Request, payload: Mapping[str, Any], now: float) -> None:
        """Refuse an idle session; else renew its cookie as used ``now``."""
        active = payload.get("a")
        if not isinstance(active, int | float):  # a cookie from before idle timeouts
            active = float(payload["e"]) - self.session_seconds
        if now - active >= self.idle_seconds:
            raise AuthError(
                f"signed out after {self.idle_seconds / 60:g} minutes without activity; "
                "sign in again"
            )
        if int(now) > active:
            value = self.signer.issue(
                str(payload["u"]),
                "session",
                expires=float(payload["e"]),
                csrf=str(payload.get("c", "")),
                generation=int(payload.get("g", 0)),
                active=now,
            )
            renewal = Response()
            self.set_cookie(renewal, request, value, max(1, int(float(payload["e"]) - now)))
            setattr(request.state, _RENEWAL, renewal.headers["set-cookie"])


class SessionRenewal:
    """ASGI middleware: sends the session cookie `Authenticator.principal` renewed for a
    request (its idle clock restarted), unless the answer sets the cookie itself (sign-in,
    sign-out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def renewing(message: Message) -> None:
            if message["type"] == "http.response.start":
                renewal = scope.get("state", {}).get(_RENEWAL)
                headers = MutableHeaders(scope=message)
                prefix = f"{SESSION_COOKIE}="
                if renewal and not any(v.startswith(prefix) for v in headers.getlist("set-cookie")):
                    headers.append("set-cookie", renewal)
            await send(message)

        await self.app(scope, receive, renewing)


class _RoleRefused(ForbiddenError):
    """Signed in, but the role is not enough (`require_role`); names who was refused."""

    def __init__(self, principal: Principal, needed: Role) -> None:
        super().__init__(f"role {principal.role.value} may not do this (needs {needed.value})")
        self.principal = principal


def require_role(
    role: Role | str, *, watching: bool = False
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the request's `Principal` if its role allows ``role``.

    401 without valid credentials, 403 when the role is not enough. The `Authenticator` is
    ``request.app.state.dashboard_auth``. ``watching``: the route only shows what the
    wallboard shows, so an idle session may still use it, and using it does not count as
    activity (`Authenticator.principal`).
    """
    needed = Role(role)

    async def dependency(request: Request) -> Principal:
        auth: Authenticator | None = getattr(request.app.state, "dashboard_auth", None)
        if auth is None:
            raise AuthError("sign-in is not configured on this server")
        principal = await run_in_threadpool(
            functools.partial(auth.principal, request, watching=watching)
        )
        if not principal.role.allows(needed):
            raise _RoleRefused(principal, needed)
        request.state.principal = principal  # for routes mounted behind it (their audit)
        return principal

    return dependency


def require_role_by_method(
    read: Role | str = Role.OPERATIONS,
    write: Role | str = Role.SUPERVISOR,
    *,
    audit: AuditSink | None = None,
) -> Callable[[Request], Awaitable[Principal]]:
    """Like `require_role`, with ``read`` for GET/HEAD and ``write`` for every other method
    (for routers that mix reading and acting, such as the CCR desk API).

    With ``audit``, a write refused for its role (403) is one audit entry with outcome
    ``forbidden``, as allowed ones are: its action is the route's name when that is dotted
    (``agent.pause``; else the method and path), its target the route's path parameters
    (else the name's first part: ``flows.reload`` is on ``flows``)."""
    readers, writers = require_role(read), require_role(write)
    needed = Role(write)

    async def dependency(request: Request) -> Principal:
        if request.method in ("GET", "HEAD"):
            return await readers(request)
        try:
            return await writers(request)
        except _RoleRefused as refused:
            action, target = _route_action(request)
            logger.info(  # %r: the target is the request's text
                "dashboard action %s on %r by %s: forbidden",
                action,
                target,
                refused.principal.username,
            )
            if audit is not None:
                await asyncio.to_thread(
                    audit, refused.principal, action, target, "forbidden", {"needs": needed.value}
                )
            raise

    return dependency


def _route_action(request: Request) -> tuple[str, str]:
    """What a write to ``request``'s route does, and on what, for its audit entry."""
    route = request.scope.get("route")
    name = str(getattr(route, "name", "") or "")
    path = str(getattr(route, "path_format", "") or request.url.path)
    action = name if "." in name else f"{request.method} {path}"
    target = "/".join(str(v) for v in request.path_params.values())
    return action, target or (name.partition(".")[0] if "." in name else path)


async def record_action(
    audit: AuditSink | None,
    request: Request,
    action: str,
    target: str,
    outcome: str,
    details: Mapping[str, Any],
) -> None:
    """One audit entry for ``action`` on ``target`` by the principal `require_role` found for
    ``request`` (a route mounted behind it), written in a worker thread; nothing without an
    ``audit`` sink or a principal."""
    principal = getattr(request.state, "principal", None)
    if audit is not None and principal is not None:
        await asyncio.to_thread(audit, principal, action, target, outcome, details)


async def while_allowed(
    request: Request,
    stream: AsyncIterator[_T],
    *,
    role: Role = Role.OPERATIONS,
    allowed: Callable[[Principal], bool] | None = None,
) -> AsyncIterator[_T]:
    """``stream``'s messages for as long as ``request``'s credentials allow ``role`` (and
    ``allowed(principal)``, when given): they are checked again before a message once the
    authenticator's ``recheck_seconds`` have passed, and the stream ends, sending nothing
    more, when they no longer hold. Without an authenticator on the app, ``stream`` as is.
    ``stream`` is closed when this ends."""
    auth: Authenticator | None = getattr(request.app.state, "dashboard_auth", None)
    checked = auth.clock() if auth is not None else 0.0
    try:
        async for message in stream:
            if auth is not None and auth.clock() - checked >= auth.recheck_seconds:
                checked = auth.clock()
                try:  # watching: an open feed outlives the idle timeout
                    principal = await run_in_threadpool(
                        functools.partial(auth.principal, request, watching=True)
                    )
                except DashboardError as exc:
                    logger.info("feed %s ended: %s", request.url.path, exc)
                    return
                if not principal.role.allows(role) or (
                    allowed is not None and not allowed(principal)
                ):
                    logger.info(
                        "feed %s of %s ended: role %s no longer allows it",
                        request.url.path,
                        principal.username,
                        principal.role.value,
                    )
                    return
            yield message
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
