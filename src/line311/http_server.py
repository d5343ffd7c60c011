"""Run uvicorn servers inside our own asyncio loop.

uvicorn's `Server.serve` captures SIGINT/SIGTERM itself and re-raises them when it returns,
which fights with a process that runs several servers and an ARI client in one loop and
owns its own shutdown. `EmbeddedServer` leaves signals to the caller: stop it with `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from typing import Any

import uvicorn

__all__ = ["EmbeddedServer"]


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that doesn't touch signal handlers."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                lifespan="on",
                server_header=False,
            )
        )

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def wait_started(self, timeout: float = 10.0) -> None:
        """Wait until the socket is bound (or the server failed to start)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.started:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"HTTP server on port {self.config.port} did not start")
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        self.should_exit = True
