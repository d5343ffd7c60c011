"""The dashboard process's way to the controller: what acts on calls and CCRs is forwarded.

With ``dashboard_process`` the dashboard runs apart from the controller (``line311 dashboard``
on ``http_port``). It serves what it can answer from its own copy of the wallboard and the
database (the page, sign-in, the live feed, the snapshot, reports, the audit log); every other
request -- supervisor actions, the CCR desk API and its screen pops, the alerts API, the flows
-- is forwarded as it came (method, path, query, body, cookie, bearer token, CSRF header) to
the controller's own HTTP (``controller_http_port``), which authenticates and audits it as it
always has, and its answer is streamed back (a screen-pop or alert feed stays open).

The controller away (restarting) is a 503 ``controller-unavailable`` with ``Retry-After: 1``;
the wallboard and the reports go on meanwhile. ``/health`` is the line's: the controller's
answer with the dashboard's own under ``dashboard``; ``/metrics`` is the controller's text
followed by the dashboard's own series.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any, Final

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

__all__ = ["FORWARDED_METHODS", "ControllerProxy"]

logger = logging.getLogger(__name__)

FORWARDED_METHODS: Final = ["GET", "POST", "PUT", "PATCH", "DELETE"]

_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_STREAMS: Final = ("/pops", "/feed")
"""Paths (ends) of the long-lived event streams: no read timeout on those."""

_UNAVAILABLE: Final = (httpx.TransportError,)


def _headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``pairs`` without the hop-by-hop headers, repeated ones (Set-Cookie) kept."""
    return [(k, v) for k, v in pairs if k.lower() not in _HOP_BY_HOP]


class ControllerProxy:
    """Forwards requests to the controller at ``base_url`` (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 2.0,
        max_connections: int = 2_000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._stream_timeout = httpx.Timeout(None, connect=connect_timeout)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=50),
            transport=transport,
            follow_redirects=False,
        )
        self.reachable = True

    async def aclose(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ forwarding
    async def forward(self, request: Request) -> Response:
        """``request`` sent on to the controller; its answer streamed back."""
        path = request.url.path
        streaming = path.endswith(_STREAMS) or "text/event-stream" in request.headers.get(
            "accept", ""
        )
        headers = _headers(request.headers.items())
        if request.client is not None:
            headers.append(("x-forwarded-for", request.client.host))
        body = await request.body()  # capped by the app's body limit before it gets here
        upstream = self._client.build_request(
            request.method,
            path,
            params=str(request.query_params),
            headers=headers,
            content=body,
            timeout=self._stream_timeout if streaming else self._timeout,
        )
        try:
            answer = await self._client.send(upstream, stream=True)
        except _UNAVAILABLE as exc:
            self.reachable = False
            logger.warning("controller not reachable for %s %r: %s", request.method, path, exc)
            return self.unavailable_response()
        self.reachable = True
        response = StreamingResponse(
            self._relay(answer),
            status_code=answer.status_code,
            background=BackgroundTask(answer.aclose),
        )
        response.raw_headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in _headers(answer.headers.multi_items())
        ]
        return response

    async def _relay(self, answer: httpx.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in answer.aiter_raw():
                yield chunk
        except _UNAVAILABLE as exc:  # the controller left mid-answer (a stream ends)
            logger.info("controller answer cut short: %s", exc)
        finally:
            await answer.aclose()

    @staticmethod
    def unavailable_response() -> Response:
        from line311.dashboard.api import error_response

        return error_response(
            503,
            "controller-unavailable",
            "the call controller is not answering (restarting?); try again in a moment",
            headers={"Retry-After": "1"},
        )

    # ------------------------------------------------------------------ health and metrics
    async def health(self, own: dict[str, Any]) -> dict[str, Any]:
        """The controller's /health with the dashboard's ``own`` under ``dashboard``; ok only
        when both are."""
        try:
            answer = await self._client.get("/health", timeout=self._health_timeout())
            body = answer.json()
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
        except (*_UNAVAILABLE, ValueError) as exc:
            self.reachable = False
            return {
                **own,
                "ok": False,
                "ari_connected": False,
                "status": "degraded",
                "degraded": {"controller": f"not answering ({type(exc).__name__})"},
                "dashboard": own,
            }
        self.reachable = True
        merged = {**body, "dashboard": own}
        merged["ok"] = bool(body.get("ok")) and bool(own.get("ok"))
        if own.get("degraded") or not own.get("ok"):
            # the controller's reasons as they are, the dashboard's beside them
            merged["status"] = "degraded"
            merged["degraded"] = {
                **(body.get("degraded") or {}),
                "dashboard": own.get("degraded") or "not ok",
            }
        return merged

    async def metrics(self) -> bytes:
        """The controller's /metrics text (empty while it does not answer)."""
        try:
            answer = await self._client.get("/metrics", timeout=self._health_timeout())
        except _UNAVAILABLE:
            return b""
        return answer.content if answer.status_code == 200 else b""

    def _health_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(2.0, connect=1.0)
