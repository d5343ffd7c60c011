"""The CRM bridge's FastAPI application factory.

``create_app(settings)`` builds everything from the settings it is given (nothing is read at
import time): the database engine (unless one is passed in), the repositories and the
routes. It checks the schema revision first, so a bridge never serves a database that is
behind: the error says ``run: line311 db upgrade``.

Routes: ``/v1/calls`` (call records; ``/v1/calls/batch`` for many in one transaction),
``/v1/sr`` (SR filing and the IVR's status lookup), ``/v1/screen-pops`` (call context for CCR
desktops), ``/open311/v2/`` (GeoReport v2) and ``/open311/discovery`` (its Service Discovery), and
``/metrics`` (Prometheus text, `line311.crm_bridge.metrics`: like every line311 process's,
unauthenticated; keep it off any public proxy).

Auth (`line311.crm_bridge.auth`): every ``/v1`` route needs ``Authorization: Bearer <key>``
of a scope the route allows (``crm_api_key`` is the bootstrap ``controller`` key; others are
made with ``line311 apikeys create``), within the key's rate limit; a desk key bound to a CCR
sees only that CCR's calls and screen pops (unbound desk keys, made before binding, are warned
about at start). Open311 GETs are public;
``POST requests`` takes an ``open311_client`` key as the ``api_key`` form field, as the spec
says. ``/health`` is open and says only whether the database answers.

Forwarding: with ``crm_webhook_url`` set, every stored record is also written to the outbox
in the same transaction, and the lifespan runs the delivery worker
(`line311.crm_bridge.outbox`). ``app.state.outbox_backlog()`` is the number waiting.
The lifespan also reads the outbox figures for ``/metrics`` every 5 s (``app.state.metrics``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import BaseRoute

from line311.config import Settings
from line311.crm_bridge.auth import Authenticator
from line311.crm_bridge.catalogue import SEED_SERVICES
from line311.crm_bridge.errors import ApiError
from line311.crm_bridge.http import (
    BodySizeLimit,
    install_error_handlers,
    refuse_unsafe_request_text,
)
from line311.crm_bridge.metrics import BridgeMetrics, MetricsMiddleware
from line311.crm_bridge.open311.routes import discovery_router, open311_router
from line311.crm_bridge.outbox import DeliveryPolicy, OutboxWorker
from line311.crm_bridge.routes_calls import calls_router
from line311.crm_bridge.routes_sr import sr_router
from line311.db.api_keys import ApiKeyStore, Scope
from line311.db.calls import CallRepository
from line311.db.engine import engine_from_settings, make_session_factory
from line311.db.migrate import ensure_schema_current
from line311.db.outbox import OutboxStore
from line311.db.screen_pops import ScreenPopStore
from line311.db.service_requests import ServiceRequestStore
from line311.db.services import ServiceCatalogue
from line311.errors import ConfigError
from line311.privacy import caller_hash

__all__ = ["MAX_BATCH_BODY_BYTES", "MAX_BODY_BYTES", "create_app"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
"""Largest request body accepted (413 above)."""
MAX_BATCH_BODY_BYTES = 1024 * 1024
"""Largest body of ``POST /v1/calls/batch``."""


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    check_schema: bool = True,
    seed_catalogue: bool = True,
    deliver_outbox: bool = True,
    delivery_policy: DeliveryPolicy | None = None,
) -> FastAPI:
    """Build the CRM bridge app.

    ``engine``: use this engine (tests, or a process sharing one pool); the app then does
    not dispose of it. ``check_schema``: refuse a database whose schema is not current
    (raises `line311.db.SchemaNotCurrent`). ``seed_catalogue``: add the seeded services
    that are missing from the catalogue. ``deliver_outbox``: when ``crm_webhook_url`` is
    set, run the outbox delivery worker while the app runs (``delivery_policy`` tunes it).
    """
    api_key = settings.crm_api_key.get_secret_value()
    if not api_key:
        raise ConfigError("crm_api_key is empty (LINE311_CRM_API_KEY); the bridge needs one")
    owns_engine = engine is None
    db = engine if engine is not None else engine_from_settings(settings)
    if check_schema:
        try:
            ensure_schema_current(db)
        except Exception:
            if owns_engine:
                db.dispose()
            raise
    forward = bool(settings.crm_webhook_url)
    webhook_secret = settings.crm_webhook_secret.get_secret_value()
    if forward and not webhook_secret:
        raise ConfigError(
            "crm_webhook_url is set but crm_webhook_secret is empty (LINE311_CRM_WEBHOOK_SECRET)"
        )
    sessions = make_session_factory(db)
    calls = CallRepository(sessions, forward=forward)
    catalogue = ServiceCatalogue(sessions)
    requests = ServiceRequestStore(sessions, forward=forward)
    pops = ScreenPopStore(sessions, forward=forward)
    outbox = OutboxStore(sessions)
    if seed_catalogue:
        added = catalogue.seed(SEED_SERVICES)
        if added:
            logger.info("service catalogue: %s services seeded", added)
    hash_key = settings.caller_hash_key.get_secret_value()

    def hash_phone(number: str) -> str | None:
        return caller_hash(number, hash_key) if hash_key else None

    keys = ApiKeyStore(sessions)
    _warn_unbound_desk_keys(keys)
    auth = Authenticator(keys, api_key)

    def open311_authorise(token: str | None) -> object:
        try:
            return auth.authorise(token, (Scope.OPEN311_CLIENT,), admin=False)
        except ApiError as exc:
            if exc.status in (401, 403):
                raise ApiError(403, "open311", "invalid api_key") from None
            raise

    # its own registry: two apps in one process (tests) never share a series
    metrics = BridgeMetrics(CollectorRegistry(), outbox=outbox.backlog_figures)
    worker: OutboxWorker | None = None
    if forward and deliver_outbox:
        policy = delivery_policy or DeliveryPolicy(max_attempts=settings.crm_webhook_max_attempts)
        worker = OutboxWorker(
            outbox, settings.crm_webhook_url, webhook_secret, policy, observer=metrics.delivered
        )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                if worker is not None:
                    tg.create_task(_deliver_until(worker, stop), name="outbox-delivery")
                tg.create_task(metrics.run(stop), name="metrics-outbox")
                gc.collect()
                gc.freeze()  # start-up objects: never scanned again by the cyclic collector
                logger.info("CRM bridge ready")
                try:
                    yield
                finally:
                    stop.set()
        finally:
            if owns_engine:
                db.dispose()
            logger.info("CRM bridge stopped")

    app = FastAPI(
        title="line311 CRM bridge",
        version="1",
        description="Call records from the line311 controller; Open311 GeoReport v2.",
        lifespan=lifespan,
        dependencies=[Depends(refuse_unsafe_request_text)],
    )
    app.state.engine = db
    app.state.settings = settings
    app.state.outbox = outbox
    app.state.outbox_backlog = outbox.backlog
    app.state.outbox_worker = worker
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=MAX_BODY_BYTES,
        per_path={"/v1/calls/batch": MAX_BATCH_BODY_BYTES},
    )
    # outermost: the body limit's 413s are counted too (by the route they were meant for)
    routes: list[BaseRoute] = []
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: routes)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """Prometheus text (no auth, as every line311 process's: docs/dashboard.md)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", tags=["health"])
    def health() -> JSONResponse:
        """Liveness and database reachability (no auth, no data)."""
        try:
            with db.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return JSONResponse({"status": "degraded", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    app.state.auth = auth
    routers = [
        calls_router(calls, auth, on_received=metrics.received),
        sr_router(catalogue, requests, pops, calls, auth, ZoneInfo(settings.timezone)),
        open311_router(catalogue, requests, authorise=open311_authorise, hash_phone=hash_phone),
        discovery_router(
            # the catalogue is seeded as the bridge starts: clients refresh what they cached
            changeset=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            contact=settings.open311_contact,
            key_service=settings.open311_key_service,
            url=settings.open311_url,
        ),
    ]
    for router in routers:
        app.include_router(router)
    # every route with its own template, for a request answered before routing
    routes.extend(r for r in app.router.routes if isinstance(getattr(r, "path", None), str))
    routes.extend(r for router in routers for r in router.routes)
    return app


def _warn_unbound_desk_keys(keys: ApiKeyStore) -> None:
    """One WARNING when live desk keys belong to no CCR (made before keys were bound): they
    keep working, so an upgrade locks no desk out, but each reads every call and screen pop."""
    unbound = keys.count_unbound()
    if unbound:
        logger.warning(
            "%s agent_desktop API key(s) belong to no CCR and can read every call and screen "
            "pop; give each desk its own key (line311 apikeys create --scope agent_desktop "
            "--agent CCR_ID --name NAME), then revoke the unbound ones (line311 apikeys list "
            "shows them as unbound; line311 apikeys revoke ID)",
            unbound,
        )


async def _deliver_until(worker: OutboxWorker, stop: asyncio.Event) -> None:
    """Deliver the outbox until ``stop``; give the last delivery 5 s, then cancel it."""
    async with asyncio.TaskGroup() as tg:
        delivery = tg.create_task(worker.run(stop), name="outbox-worker")
        await stop.wait()
        await asyncio.wait({delivery}, timeout=5)
        if not delivery.done():  # cancelled: unsettled records go back to the outbox
            logger.warning("outbox delivery cancelled at shutdown")
            delivery.cancel()
