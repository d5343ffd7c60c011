"""Security headers on every answer of line311's own HTTP app (pure ASGI middleware).

The routes that serve a page set their own policy (`line311.dashboard.api`: scripts and
styles from the page's own origin only). Every other answer -- JSON, CSV exports, the live
feeds, errors, redirects, ``/health`` and ``/metrics`` -- gets, unless the route set it:

* ``Cache-Control: no-store``: what a signed-in user reads (call ids, CCR names, the session's
  CSRF token, a report saved as CSV) is not kept by the browser or a shared proxy. The page's
  own files under ``/static/`` hold no data and keep their validators instead;
* ``X-Content-Type-Options: nosniff``, so a browser never reads JSON or CSV as a page;
* ``X-Frame-Options: DENY`` and ``Content-Security-Policy: default-src 'none';
  frame-ancestors 'none'``: nothing here may be framed, and an answer opened on its own runs
  nothing (audio, which a browser plays in a document of its own, gets no policy);
* ``Referrer-Policy: no-referrer``.

A header already present is left as it is, so answers relayed from the controller (the
dashboard as its own process) are not given a second copy.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_POLICY", "SecurityHeaders"]

API_POLICY: Final = "default-src 'none'; frame-ancestors 'none'"
"""The content security policy of every answer that is not a page."""

_ALWAYS: Final = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)
_CACHED_PREFIX: Final = "/static/"


class SecurityHeaders:
    """ASGI middleware: the headers of the module doc on every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cached = str(scope.get("path", "")).startswith(_CACHED_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS:
                    headers.setdefault(name, value)
                if not cached:
                    headers.setdefault("cache-control", "no-store")
                if not headers.get("content-type", "").startswith("audio/"):
                    headers.setdefault("content-security-policy", API_POLICY)
            await send(message)

        await self.app(scope, receive, with_headers)
