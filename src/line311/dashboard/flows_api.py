"""HTTP API of the IVR's flow and content files, mounted under ``/api/flows``.

    GET   /api/flows          what is loaded: flow and content identity, file, last error,
                              the nodes a pushed alert may target (``flow.alert_nodes``),
                              the live alerts whose node the flow no longer has
                              (``flow.orphaned_alerts``), today's self-service facts
    POST  /api/flows/reload   reload both; each is swapped in only if it validates
                              (200 with the report, or 422 ``flow-reload-refused``); a
                              flow that leaves out a live alert's node is not refused: the
                              report lists those alerts (``flow.orphaned_alerts``)

The router is given the IVR's edge as a `FlowFiles` (``line311.ari.ivr_edge.IvrEdge`` is
one); roles and CSRF are the app's business (``dependencies=`` at mount time).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from line311.dashboard.auth import AuditSink, record_action

__all__ = ["FlowFiles", "ReloadOutcome", "flows_router"]


class ReloadOutcome(Protocol):
    @property
    def ok(self) -> bool: ...

    def as_dict(self) -> dict[str, Any]: ...


class FlowFiles(Protocol):
    def loaded(self) -> dict[str, Any]:
        """What is loaded (the body of ``GET /api/flows``)."""
        ...

    def reload(self) -> ReloadOutcome:
        """Reload the files (blocking: file reads and validation)."""
        ...


def flows_router(files: FlowFiles, *, audit: AuditSink | None = None) -> APIRouter:
    """``GET /api/flows`` and ``POST /api/flows/reload`` over ``files``. ``audit`` records
    each reload (``flows.reload``: who, ``ok`` / ``refused`` / ``error``, the report) with
    the principal the mount's `require_role` dependency found: a reload changes what every
    caller hears."""
    router = APIRouter(prefix="/api/flows", tags=["flows"])

    @router.get("")
    async def current() -> dict[str, Any]:
        return files.loaded()

    @router.post("/reload", name="flows.reload")
    async def reload(request: Request) -> JSONResponse:
        outcome, details = "error", {}
        try:
            report = await asyncio.to_thread(files.reload)
            details = report.as_dict()
            outcome = "ok" if report.ok else "refused"
        finally:
            await record_action(audit, request, "flows.reload", "flows", outcome, details)
        if report.ok:
            return JSONResponse(details)
        body = {
            "error_id": "flow-reload-refused",
            "message": "a file did not validate; the previous version stays in use",
            "details": details,
        }
        return JSONResponse(body, status_code=422)

    return router
