"""line311's own HTTP face (127.0.0.1:8311 by default): ``/health`` for now.

The live operations dashboard and ``/metrics`` mount here too (issue 6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from line311 import __version__

__all__ = ["HealthProvider", "create_app"]

HealthProvider = Callable[[], dict[str, Any]]


def create_app(health: HealthProvider) -> FastAPI:
    """The app; ``health()`` returns a dict with at least ``ok: bool``."""
    app = FastAPI(title="line311", version=__version__, docs_url=None, redoc_url=None)

    @app.get("/health")
    async def get_health() -> JSONResponse:
        body = {"service": "line311", "version": __version__, **health()}
        return JSONResponse(body, status_code=200 if body.get("ok") else 503)

    return app
