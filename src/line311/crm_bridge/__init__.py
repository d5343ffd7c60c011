"""The CRM bridge: where finished calls (and, later, service requests) are kept and served.

    app.py          create_app(settings) -> FastAPI (the app factory)
    server.py       make_server / serve / run: uvicorn inside the caller's asyncio loop
    routes_calls.py /v1/calls: intake from the controller, queries for operators
    schemas.py      the strict wire schemas (no raw caller numbers, ever)
    http.py         auth, error bodies, body-size limit
    metrics.py      /metrics: requests by route template, outbox figures, deliveries
    client.py       CrmClient: the controller's side, with bounded retries
    errors.py       CrmBridgeError and its tree

Importing this package is cheap (no FastAPI, no SQLAlchemy): import the module you need.
"""

from __future__ import annotations

from line311.crm_bridge.errors import (
    ApiError,
    CrmBridgeError,
    CrmConflict,
    CrmRejected,
    CrmRemoteError,
    CrmUnavailable,
)

__all__ = [
    "ApiError",
    "CrmBridgeError",
    "CrmConflict",
    "CrmRejected",
    "CrmRemoteError",
    "CrmUnavailable",
]
