"""A small external CRM for the outbox tests: real HTTP (uvicorn + starlette) on an ephemeral
port, behind a TCP proxy that can be down (nothing listening), reset connections, or pass.

The receiver honours idempotency keys (a repeated key is acknowledged and ignored), checks
every signature, and in flaky mode answers some requests with 500 or holds them past the
client's timeout *after* storing them (the case that makes at-least-once deliver twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from line311.crm_bridge.outbox import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from line311.http_server import EmbeddedServer, make_embedded_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """The receiving CRM's state and behaviour."""

    def __init__(self, secret: str, *, slow_seconds: float = 1.5, seed: int = 7) -> None:
        self.secret = secret
        self.slow_seconds = slow_seconds
        self.rng = random.Random(seed)
        self.flaky = False
        self.gate: asyncio.Event | None = None
        """When set to an unset Event, requests are stored, then held until it is set."""
        self.stored: dict[str, Any] = {}
        self.requests: Counter[str] = Counter()
        self.effects: Counter[str] = Counter()
        """How many times each key changed the receiver's state (must be 1)."""
        self.faults: Counter[str] = Counter()
        self.bad_signatures = 0
        self.held = 0

    async def endpoint(self, request: Request) -> JSONResponse:
        body = await request.body()
        ok = verify_signature(
            self.secret,
            request.headers.get(TIMESTAMP_HEADER, ""),
            body,
            request.headers.get(SIGNATURE_HEADER, ""),
        )
        if not ok:
            self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        key = request.headers["idempotency-key"]
        self.requests[key] += 1
        if self.flaky:
            roll = self.rng.random()
            if roll < 0.25:
                self.faults["500"] += 1
                return JSONResponse({"error": "boom"}, status_code=500)
            if roll < 0.4:
                self._store(key, body)
                self.faults["timeout"] += 1
                await asyncio.sleep(self.slow_seconds)
                return JSONResponse({"ok": True})
        self._store(key, body)
        if self.gate is not None:
            self.held += 1
            await self.gate.wait()
        return JSONResponse({"ok": True})

    def _store(self, key: str, body: bytes) -> None:
        if key in self.stored:
            return
        self.stored[key] = json.loads(body)
        self.effects[key] += 1

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.endpoint, methods=["POST"])])


class Proxy:
    """A TCP proxy on ``port`` to the receiver; ``reset_rate`` of data chunks get an RST."""

    def __init__(self, port: int, upstream: int, *, seed: int = 11) -> None:
        self.port = port
        self.upstream = upstream
        self.reset_rate = 0.0
        self.resets = 0
        self.rng = random.Random(seed)
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def _reset(self, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            self._reset(writer)
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, inbound: bool) -> None:
            try:
                while data := await src.read(65536):
                    if inbound and self.rng.random() < self.reset_rate:
                        self.resets += 1
                        self._reset(writer)
                        up_writer.transport.abort()
                        return
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))


@contextlib.asynccontextmanager
async def running(receiver: Receiver) -> AsyncIterator[EmbeddedServer]:
    """The receiver served on an ephemeral port for the duration of the block."""
    server = make_embedded_server(receiver.app(), "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    try:
        await server.wait_started()
        yield server
    finally:
        if receiver.gate is not None:
            receiver.gate.set()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
