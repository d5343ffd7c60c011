"""line311's own HTTP face (127.0.0.1:8311 by default).

``create_app(health)`` serves ``/health`` only. With more parts it also mounts:

* ``hub`` + ``auth`` + ``actions``: the operations dashboard (page, sign-in, live SSE,
  supervisor actions, reports; see `line311.dashboard.api`);
* ``alerts_router``: a router built with ``require_role("operations")`` (the pushed alerts
  API), mounted under ``/api/alerts``; it then owns ``/api/alerts/{id}/withdraw``;
* ``auth``: also the `line311.dashboard.auth.SessionRenewal` middleware (a session's
  renewed cookie, its idle clock restarted, on the answer to a request that used it);
* ``registry``: ``/metrics`` in Prometheus' text format (unauthenticated, loopback service).
* ``proxy`` (the dashboard as its own process): the supervisor actions are not served here;
  every request no route of this app answers is forwarded to the controller, ``/health`` is
  merged with the controller's and ``/metrics`` appended to its (`line311.dashboard.proxy`).

Every answer carries the security headers of `line311.dashboard.headers` (no caching of
what a signed-in user reads, no sniffing, no framing, no referrer). Every request body is
capped (`line311.dashboard.body_limit`): ``max_body_bytes`` for JSON and forms,
``max_upload_bytes`` (plus multipart overhead) for alert audio uploads; a larger body is
refused with 413 before it is buffered.

The hub's periodic refresh runs for the app's lifespan.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from line311 import __version__
from line311.dashboard.actions import Actions, InMemoryActions
from line311.dashboard.api import STATIC_DIR, create_dashboard_router, error_response
from line311.dashboard.auth import Authenticator, SessionRenewal
from line311.dashboard.body_limit import (
    DEFAULT_BODY_LIMIT,
    BodyLimit,
    BodyLimitRule,
    BodyTooLarge,
)
from line311.dashboard.errors import DashboardError
from line311.dashboard.headers import SecurityHeaders
from line311.dashboard.live import LiveHub
from line311.dashboard.proxy import FORWARDED_METHODS, ControllerProxy
from line311.dashboard.reports import EventLoader
from line311.queue.errors import QueueError

__all__ = ["HealthProvider", "create_app"]

HealthProvider = Callable[[], dict[str, Any]]
_MULTIPART_SLACK = 64 * 1024  # form boundaries and part headers around an uploaded file


def create_app(
    health: HealthProvider,
    *,
    hub: LiveHub | None = None,
    auth: Authenticator | None = None,
    actions: Actions | None = None,
    registry: CollectorRegistry | None = None,
    alerts_router: APIRouter | None = None,
    events: EventLoader | None = None,
    max_body_bytes: int = DEFAULT_BODY_LIMIT,
    max_upload_bytes: int = 25_000_000,
    proxy: ControllerProxy | None = None,
) -> FastAPI:
    """The app; ``health()`` returns a dict with at least ``ok: bool``.

    The dashboard is mounted when ``hub`` and ``auth`` are given (``actions`` defaults to
    `InMemoryActions` over the hub, for demos). ``events`` loads the stored queue events the
    reports read (without it they read the live state's memory: today only).
    """

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if hub is None:
            yield
            return
        async with hub:
            yield

    app = FastAPI(
        title="line311", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan
    )

    @app.get("/health")
    async def get_health() -> JSONResponse:
        body = {"service": "line311", "version": __version__, **health()}
        if proxy is not None:
            body = await proxy.health(body)
        return JSONResponse(body, status_code=200 if body.get("ok") else 503)

    @app.exception_handler(DashboardError)
    async def dashboard_error(_: Request, exc: DashboardError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return error_response(exc.status_code, exc.error_id, str(exc), headers=headers)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(
            413,
            "body-too-large",
            f"the request body is limited to {exc.limit} bytes",
            {"limit": exc.limit},
            headers={"Connection": "close"},
        )

    @app.exception_handler(QueueError)
    async def queue_error(_: Request, exc: QueueError) -> JSONResponse:
        return error_response(400, "invalid-parameter", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return error_response(422, "invalid-request", "the request is not valid", details)

    if hub is not None and auth is not None:
        app.state.dashboard_auth = auth
        app.state.dashboard_hub = hub
        app.include_router(
            create_dashboard_router(
                hub,
                auth,
                None if proxy is not None else actions or InMemoryActions(hub),
                withdraw_route=alerts_router is None,
                events=events,
            )
        )
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    elif hub is not None or auth is not None:
        raise ValueError("the dashboard needs both hub and auth")
    if alerts_router is not None:
        app.include_router(alerts_router, prefix="/api/alerts")

    if auth is not None:  # the session cookies a request renewed (its idle clock)
        app.add_middleware(SessionRenewal)
    app.add_middleware(
        BodyLimit,
        default=max_body_bytes,
        rules=[
            BodyLimitRule.of(
                ["PUT"], r"/api/alerts/[^/]+/audio/[^/]+", max_upload_bytes + _MULTIPART_SLACK
            )
        ],
    )

    # outermost: the 413s of the body limit get the headers too
    app.add_middleware(SecurityHeaders)

    if registry is not None:
        metrics_registry = registry

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            text = generate_latest(metrics_registry)
            if proxy is not None:
                text = await proxy.metrics() + text
            return Response(text, media_type=CONTENT_TYPE_LATEST)

    if proxy is not None:
        forwarder = proxy

        @app.api_route("/{path:path}", methods=FORWARDED_METHODS, include_in_schema=False)
        async def forward(request: Request) -> Response:
            return await forwarder.forward(request)

    return app
