"""HTTP routes of the operations dashboard (mounted by `line311.dashboard.app.create_app`).

    GET  /                        the wallboard (signed-in users; else redirect to /login)
    GET  /login   POST /login     sign-in form -> session cookie
    POST /logout                  ends every session of the account (the cookie stops working)
    GET  /static/...              index.html, app.js, app.css (served here, no CDN)
    GET  /api/me                  {username, role, can_act, csrf, idle_timeout}
    POST /api/activity            the page's user is active: restarts the session's idle clock
    POST /api/token               {username, password} -> bearer token for API use
    POST /api/token/revoke        revoke every bearer token of the caller's account
    GET  /api/snapshot            the current snapshot (JSON)
    GET  /api/live                text/event-stream of snapshots, with heartbeats
    POST /api/agents/{id}/pause   {reason}           supervisor
    POST /api/agents/{id}/logout  {reason}           supervisor
    POST /api/queues/{name}/goal  {goal: 0..1}       supervisor
    POST /api/alerts/{id}/withdraw                   supervisor (when the alerts API is not
                                                     mounted; it owns that path otherwise)
    GET  /api/audit               newest audit entries           supervisor
    GET  /api/reports/sl          ?from=&to=[&interval=][&format=csv]   SL and volume
    GET  /api/reports/abandoned   ?from=&to=[&format=csv]               abandoned calls
    GET  /api/reports/monthly     ?month=YYYY-MM[&format=csv]           month by queue, language
                                  (all three: line311.dashboard.reports)

Sign-in attempts are throttled per (name, client), per client, and from many clients per
name, except for a client that signed in to that name before (`line311.dashboard.throttle`);
a refused attempt is 429 with ``Retry-After``. A session unused for the idle timeout is
refused everywhere but the page, ``/api/me``, the snapshot, the live feed and sign-out
(`line311.dashboard.auth`);
report ranges are capped, must be finite (400 otherwise) and are built in a worker thread,
off the loop that runs the calls (`line311.dashboard.reports`).

Reads need role ``operations`` (or ``supervisor``). An action by an operations user is
refused with 403, one whose id in the path is over 128 characters or holds a control
character with 400 ``invalid-target``, and, like every action, written to the audit log with
its outcome.
Errors are ``{"error_id", "message", "details"}``.
"""

from __future__ import annotations

import functools
import html
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from line311.dashboard.accounts import MAX_AUDIT_TARGET, is_action_target
from line311.dashboard.actions import Actions
from line311.dashboard.auth import (
    SESSION_COOKIE,
    Authenticator,
    ForbiddenError,
    Principal,
    Role,
    require_role,
    while_allowed,
)
from line311.dashboard.bodies import MAX_REASON, SafeBody
from line311.dashboard.errors import AuthError, DashboardError, InvalidTargetError
from line311.dashboard.live import LiveHub
from line311.dashboard.reports import EventLoader, create_reports_router
from line311.dashboard.throttle import LoginThrottle, Refusal

__all__ = ["STATIC_DIR", "create_dashboard_router", "error_response"]

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MAX_NAME: Final = 64
_MAX_PASSWORD: Final = 1024
_LOGIN_FAILURES_PER_PAIR: Final = 5
_LOGIN_FAILURES_PER_CLIENT: Final = 20
_LOGIN_LOCK_SECONDS: Final = 60.0
_LOGIN_FAILURES_PER_NAME: Final = 100
_LOGIN_NAME_SECONDS: Final = 900.0


def error_response(
    status: int, error_id: str, message: str, details: Any = None, **kw: Any
) -> JSONResponse:
    """An API error in line311's shape."""
    return JSONResponse(
        {"error_id": error_id, "message": message, "details": details}, status_code=status, **kw
    )


class ReasonBody(SafeBody):
    reason: str = Field(default="supervisor", min_length=1, max_length=MAX_REASON)


class GoalBody(SafeBody):
    goal: float = Field(gt=0.0, le=1.0, description="SL goal as a ratio, 0.8 for 80%.")


class TokenBody(SafeBody):
    username: str = Field(min_length=1, max_length=_MAX_NAME)
    password: str = Field(min_length=1, max_length=_MAX_PASSWORD)


def _login_page(message: str = "", status: int = 200) -> HTMLResponse:
    notice = f'<p class="login-error" role="alert">{html.escape(message)}</p>' if message else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>line311 — sign in</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css"></head>
<body class="login"><main class="login-box"><h1>line311 operations</h1>{notice}
<form method="post" action="/login">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" maxlength="{_MAX_NAME}"
 autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 maxlength="{_MAX_PASSWORD}" required>
<button type="submit">Sign in</button></form></main></body></html>"""
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def create_dashboard_router(
    hub: LiveHub,
    auth: Authenticator,
    actions: Actions | None,
    *,
    withdraw_route: bool = True,
    events: EventLoader | None = None,
) -> APIRouter:
    """The dashboard's routes. The app must set ``app.state.dashboard_auth = auth``.
    Time (sign-in lock-out, report defaults) is ``auth.clock``. ``events`` loads stored
    queue events for the reports (`line311.dashboard.reports`). Without ``actions`` (a
    dashboard process, which forwards them to the controller) the action routes are left out."""
    router = APIRouter()
    clock = auth.clock
    reader = Depends(require_role(Role.OPERATIONS))
    # what the wallboard shows: an idle session may still watch (and watching is no activity)
    watcher = Depends(require_role(Role.OPERATIONS, watching=True))
    throttle = LoginThrottle(
        clock,
        per_pair=_LOGIN_FAILURES_PER_PAIR,
        per_client=_LOGIN_FAILURES_PER_CLIENT,
        window=_LOGIN_LOCK_SECONDS,
        per_name=_LOGIN_FAILURES_PER_NAME,
        name_window=_LOGIN_NAME_SECONDS,
    )

    async def _authenticate(request: Request, username: str, password: str) -> Principal:
        name = username.strip().lower()
        # the peer, or X-Forwarded-For from a proxy uvicorn trusts (loopback by default)
        client = request.client.host if request.client is not None else ""
        attempt = throttle.begin(name, client)  # counted before the (slow) hash
        if isinstance(attempt, Refusal):
            if attempt.limit == "account":
                logger.warning(
                    "dashboard sign-in held off for %r: too many failures from many addresses",
                    name,
                )
                raise _TooManyAttempts(
                    "too many failed sign-ins for this account; try again later",
                    attempt.retry_after,
                )
            raise _TooManyAttempts("too many failed sign-ins; wait a minute", attempt.retry_after)
        try:
            principal = await run_in_threadpool(auth.store.authenticate, name, password)
        except AuthError:
            # %r: a typed name is anyone's text, and must not start a forged log line
            logger.warning("dashboard sign-in refused for %r", name)
            raise
        throttle.succeeded(attempt)
        return principal

    # ------------------------------------------------------------------ pages
    @router.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        try:  # watching: an idle session still shows the wallboard, and cannot act
            await run_in_threadpool(functools.partial(auth.principal, request, watching=True))
        except DashboardError:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)

    @router.get("/login", include_in_schema=False)
    async def login_form() -> HTMLResponse:
        return _login_page()

    @router.post("/login", include_in_schema=False)
    async def login(
        request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Response:
        if len(username) > _MAX_NAME or len(password) > _MAX_PASSWORD:  # the page, not JSON
            return _login_page(
                f"The username is at most {_MAX_NAME} characters and the password at most "
                f"{_MAX_PASSWORD}.",
                status=400,
            )
        try:
            principal = await _authenticate(request, username, password)
        except _TooManyAttempts as exc:
            page = _login_page(str(exc), status=429)
            page.headers["Retry-After"] = exc.retry_after_header
            return page
        except AuthError:
            return _login_page("Wrong username or password.", status=401)
        value, max_age = auth.session_cookie(principal)
        response = RedirectResponse("/", status_code=303)
        auth.set_cookie(response, request, value, max_age)
        logger.info("dashboard sign-in: %s (%s)", principal.username, principal.role.value)
        return response

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request, principal: Principal = watcher) -> Response:
        if principal.via == "session":
            await run_in_threadpool(auth.store.end_sessions, principal.username)
        response = JSONResponse({"signed_out": principal.username})
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=auth.cookie_secure(request),
        )
        return response

    # ------------------------------------------------------------------ reading
    @router.get("/api/me")
    async def me(principal: Principal = watcher) -> dict[str, Any]:
        return {
            "username": principal.username,
            "role": principal.role.value,
            "can_act": principal.role is Role.SUPERVISOR,
            "csrf": principal.csrf,
            "idle_timeout": auth.idle_seconds if principal.via == "session" else 0,
        }

    @router.post("/api/activity")
    async def activity(principal: Principal = reader) -> dict[str, Any]:
        """The page's user is at it (the page says so at most once a minute): like every
        request that is not only watching, this restarts the session's idle clock, or is
        refused (401) when the session has already been idle too long."""
        return {"username": principal.username, "idle_timeout": auth.idle_seconds}

    @router.post("/api/token")
    async def token(request: Request, body: TokenBody) -> Response:
        try:
            principal = await _authenticate(request, body.username, body.password)
        except _TooManyAttempts as exc:
            return error_response(
                429,
                "too-many-attempts",
                str(exc),
                headers={"Retry-After": exc.retry_after_header},
            )
        value, expires = auth.bearer_token(principal.username)
        return JSONResponse(
            {"token": value, "token_type": "bearer", "expires_at": _iso(expires)},
            headers={"Cache-Control": "no-store"},
        )

    @router.post("/api/token/revoke")
    async def revoke_tokens(principal: Principal = reader) -> Response:
        await run_in_threadpool(auth.store.revoke_tokens, principal.username)
        logger.info("dashboard bearer tokens revoked for %s", principal.username)
        return JSONResponse({"revoked_tokens_of": principal.username})

    @router.get("/api/snapshot")
    async def snapshot(principal: Principal = watcher) -> JSONResponse:
        return JSONResponse(hub.snapshot(), headers={"Cache-Control": "no-store"})

    @router.get("/api/live")
    async def live(request: Request, principal: Principal = watcher) -> Response:
        if hub.full():
            return error_response(503, "too-many-clients", "the live feed is full; retry later")
        return StreamingResponse(
            while_allowed(request, hub.stream()),  # ends when the credentials do
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    if actions is not None:
        _action_routes(router, hub, auth, actions, withdraw_route=withdraw_route)

    @router.get("/api/audit")
    async def audit(
        principal: Principal = Depends(require_role(Role.SUPERVISOR)),  # noqa: B008
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return {"entries": await run_in_threadpool(auth.store.audit_entries, limit)}

    router.include_router(create_reports_router(hub, reader, clock, events))

    return router


def _action_routes(
    router: APIRouter, hub: LiveHub, auth: Authenticator, actions: Actions, *, withdraw_route: bool
) -> None:
    """The supervisor's actions (each audited with its outcome)."""
    reader = Depends(require_role(Role.OPERATIONS))

    async def act(
        principal: Principal,
        action: str,
        target: str,
        details: dict[str, Any],
        run: Callable[[], Awaitable[None]],
    ) -> JSONResponse:
        outcome = "ok"
        try:
            if principal.role is not Role.SUPERVISOR:
                outcome = "forbidden"
                raise ForbiddenError(
                    f"role {principal.role.value} is read-only; supervisors may {action}"
                )
            if not is_action_target(target):
                outcome = InvalidTargetError.error_id
                raise InvalidTargetError(
                    f"{action}: the id must be at most {MAX_AUDIT_TARGET} characters of text "
                    "without control characters or broken Unicode (refused, nothing done)"
                )
            try:
                await run()
            except DashboardError as exc:
                outcome = exc.error_id
                raise
            except Exception:
                outcome = "error"
                raise
        finally:
            await run_in_threadpool(auth.store.audit, principal, action, target, outcome, details)
            logger.info(  # %r: the id is the request's text, line breaks and all
                "dashboard action %s on %r by %s: %s", action, target, principal.username, outcome
            )
        return JSONResponse({"ok": True, "action": action, "target": target})

    @router.post("/api/agents/{agent_id}/pause")
    async def pause(agent_id: str, body: ReasonBody, principal: Principal = reader) -> Any:
        return await act(
            principal,
            "agent.pause",
            agent_id,
            {"reason": body.reason},
            lambda: actions.pause_agent(agent_id, body.reason, by=principal.username),
        )

    @router.post("/api/agents/{agent_id}/logout")
    async def logout_agent(agent_id: str, body: ReasonBody, principal: Principal = reader) -> Any:
        return await act(
            principal,
            "agent.logout",
            agent_id,
            {"reason": body.reason},
            lambda: actions.logout_agent(agent_id, body.reason, by=principal.username),
        )

    @router.post("/api/queues/{queue}/goal")
    async def goal(queue: str, body: GoalBody, principal: Principal = reader) -> Any:
        return await act(
            principal,
            "queue.goal",
            queue,
            {"goal": body.goal, "previous": hub.state.goal(queue)},
            lambda: actions.set_queue_goal(queue, body.goal, by=principal.username),
        )

    if withdraw_route:

        @router.post("/api/alerts/{alert_id}/withdraw")
        async def withdraw(alert_id: str, principal: Principal = reader) -> Any:
            return await act(
                principal,
                "alert.withdraw",
                alert_id,
                {},
                lambda: actions.withdraw_alert(alert_id, by=principal.username),
            )


class _TooManyAttempts(DashboardError):
    error_id = "too-many-attempts"
    status_code = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after_header = str(max(1, math.ceil(retry_after)))
