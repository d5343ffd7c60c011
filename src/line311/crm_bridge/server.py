"""Running the CRM bridge under uvicorn, inside the caller's asyncio loop.

``make_server(settings)`` returns a `uvicorn.Server` bound to ``crm_host:crm_port``; the lead's
bootstrap can ``await server.serve()`` next to the controller in one loop and stop it with
``server.should_exit = True``. By default it installs **no** signal handlers (the process
owner handles Ctrl-C); `run` is the stand-alone, blocking variant that does.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.http_server import EmbeddedServer, make_embedded_server

__all__ = ["make_server", "run", "serve"]

logger = logging.getLogger(__name__)


def make_server(
    settings: Settings,
    *,
    app: FastAPI | None = None,
    handle_signals: bool = False,
    port: int | None = None,
) -> EmbeddedServer:
    """A server for ``app`` (default: ``create_app(settings)``) on crm_host:crm_port.

    ``port`` overrides ``settings.crm_port`` (0: an ephemeral port, see `bound_port`).
    """
    return make_embedded_server(
        app if app is not None else create_app(settings),
        settings.crm_host,
        settings.crm_port if port is None else port,
        handle_signals=handle_signals,
    )


async def serve(settings: Settings) -> None:
    """Serve until cancelled or until ``should_exit`` is set; no signal handlers."""
    server = make_server(settings)
    logger.info("CRM bridge listening on http://%s:%s", settings.crm_host, settings.crm_port)
    try:
        await server.serve()
    except asyncio.CancelledError:
        server.should_exit = True
        raise


def run(settings: Settings) -> None:
    """Blocking stand-alone run with Ctrl-C handling (``line311 crm-bridge``)."""
    server = make_server(settings, handle_signals=True)
    logger.info("CRM bridge listening on http://%s:%s", settings.crm_host, settings.crm_port)
    asyncio.run(server.serve())
