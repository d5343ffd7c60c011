"""Running the CRM bridge under uvicorn, inside the caller's asyncio loop.

``make_server(settings)`` returns a `uvicorn.Server` bound to ``crm_host:crm_port``; the lead's
bootstrap can ``await server.serve()`` next to the controller in one loop and stop it with
``server.should_exit = True``. By default it installs **no** signal handlers (the process
owner handles Ctrl-C); `run` is the stand-alone, blocking variant that does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from line311.config import Settings
from line311.crm_bridge.app import create_app

__all__ = ["CrmBridgeServer", "make_server", "run", "serve"]

logger = logging.getLogger(__name__)


class CrmBridgeServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its owner unless asked to handle them."""

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool = False) -> None:
        super().__init__(config)
        self._handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if self._handle_signals:
            with super().capture_signals():
                yield
        else:
            yield

    @property
    def bound_port(self) -> int:
        """The TCP port actually listened on (useful with port 0)."""
        for server in self.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("the server is not listening yet")

    async def wait_started(self, within: float = 10.0) -> None:
        """Return once the socket is listening; `TimeoutError` after ``within`` seconds."""
        async with asyncio.timeout(within):
            while not self.started:
                if self.should_exit:
                    raise TimeoutError("CRM bridge exited before listening")
                await asyncio.sleep(0.02)


def make_server(
    settings: Settings,
    *,
    app: FastAPI | None = None,
    handle_signals: bool = False,
    port: int | None = None,
) -> CrmBridgeServer:
    """A server for ``app`` (default: ``create_app(settings)``) on crm_host:crm_port.

    ``port`` overrides ``settings.crm_port`` (0: an ephemeral port, see `bound_port`).
    """
    config = uvicorn.Config(
        app if app is not None else create_app(settings),
        host=settings.crm_host,
        port=settings.crm_port if port is None else port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return CrmBridgeServer(config, handle_signals=handle_signals)


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
