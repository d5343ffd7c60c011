"""Run uvicorn servers inside our own asyncio loop.

uvicorn's `Server.serve` captures SIGINT/SIGTERM itself and re-raises them when it returns,
which fights with a process that runs several servers and an ARI client in one loop and owns
its own shutdown. `EmbeddedServer` leaves signals to its owner unless asked to handle them;
stop it with ``server.should_exit = True``.

``reuse_port``: the listening socket is bound with ``SO_REUSEPORT``, so the controller a rolling
restart starts can listen on the same port while the one it replaces still serves (the kernel
spreads new connections over both until the old one closes its socket).

uvicorn's own main loop wakes ten times a second to see whether it should exit (and once a
second to renew its ``Date`` header). Every line311 process runs one or two of these servers,
so that polling was most of an idle process's wake-ups. `EmbeddedServer` wakes once a second
for the ``Date`` header, and at once when ``should_exit`` is set (by its owner or a signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator, Sequence
from typing import Any

import uvicorn

__all__ = ["EmbeddedServer", "make_embedded_server"]


TICK_SECONDS = 1.0
"""How often a served process's `EmbeddedServer` wakes when nothing asks it to exit: the
``Date`` header has a resolution of one second."""


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its owner unless asked to handle them, and
    that does not poll for its exit (see the module docstring)."""

    def __init__(
        self, config: uvicorn.Config, *, handle_signals: bool = False, reuse_port: bool = False
    ) -> None:
        self._exit_wanted = False
        self._exit_waker: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        super().__init__(config)
        self._handle_signals = handle_signals
        self._reuse_port = reuse_port

    @property
    def should_exit(self) -> bool:
        return self._exit_wanted

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._exit_wanted = value
        waker = self._exit_waker
        if value and waker is not None:
            loop, event = waker
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing waits
                loop.call_soon_threadsafe(event.set)

    async def main_loop(self) -> None:
        """uvicorn's loop (`on_tick` decides when to exit), woken by ``should_exit`` instead
        of polling for it; ``counter`` advances ten per second as `on_tick` expects."""
        event = asyncio.Event()
        self._exit_waker = (asyncio.get_running_loop(), event)
        try:
            counter = 0
            while not await self.on_tick(counter):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TICK_SECONDS):
                        await event.wait()
                counter = (counter + 10) % 864_000
        finally:
            self._exit_waker = None

    async def serve(self, sockets: Sequence[socket.socket] | None = None) -> None:
        if sockets is None and self._reuse_port:
            sock = _reuse_port_socket(self.config.host, self.config.port)
            try:
                await super().serve(sockets=[sock])
            finally:
                sock.close()
            return
        await super().serve(sockets=list(sockets) if sockets is not None else None)

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
                    raise TimeoutError("the server exited before listening")
                await asyncio.sleep(0.02)


KEEP_ALIVE_SECONDS = 15
"""How long the server keeps an idle HTTP/1.1 connection open: longer than the 5 s for which
line311's own clients (httpx's default ``keepalive_expiry``: the dashboard's proxy to the
controller, the controller's CRM client) reuse one. With both at 5 s a client could send on a
pooled connection just as the server closed it, and the request failed with "server
disconnected" (a supervisor's action answered 503 controller-unavailable)."""


def make_embedded_server(
    app: Any, host: str, port: int, *, handle_signals: bool = False, reuse_port: bool = False
) -> EmbeddedServer:
    """An `EmbeddedServer` for ``app`` with line311's uvicorn settings (our logging, no
    access log, no Server header, a bounded graceful shutdown)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    return EmbeddedServer(config, handle_signals=handle_signals, reuse_port=reuse_port)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` with ``SO_REUSEADDR`` and ``SO_REUSEPORT``."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
