"""ARI REST over websockets (Asterisk 20.14+ / 21.9+ / 22.4+): a small pool of sockets.

A REST call over HTTP costs the controller an httpx request (~0.3 ms of Python per call);
the same request as one websocket text message costs a fraction of that. Asterisk handles
the requests of one socket one at a time (an ``answer`` waits for the channel's thread), so
the pool keeps ``size`` sockets and sends each request on the one with the fewest in flight::

    {"type": "RESTRequest", "request_id": "7", "method": "POST",
     "uri": "channels/c1/play/p1", "query_strings": [{"name": "media", "value": "sound:x"}]}
    -> {"type": "RESTResponse", "request_id": "7", "status_code": 201,
        "message_body": "{...}", ...}

Every socket registers an application of its own (``<app>-rest-<pid>-<n>``) with nothing
subscribed, so it receives no events and never replaces the controller's event socket;
REST calls are not scoped by application. Each socket is kept by a task that connects,
probes with ``GET asterisk/info`` and reconnects with backoff when dropped. An Asterisk that
does not answer the probe (older than REST over websocket) disables the pool for good.
`request` returns None while no socket is up (or when the chosen one closed before the
request left): the caller then uses HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson
import websockets.asyncio.client
import websockets.exceptions

from line311.ari.errors import AriError, AriTimeout, AriUnreachable
from line311.ari.rest import map_exceptions

__all__ = ["WsRestPool"]

logger = logging.getLogger(__name__)

_PROBE_TIMEOUT = 3.0


@dataclass(eq=False)
class _Socket:
    index: int
    ws: websockets.asyncio.client.ClientConnection | None = None
    pending: dict[str, asyncio.Future[tuple[int, bytes]]] = field(default_factory=dict)


class WsRestPool:
    """``size`` REST sockets to ``ws_root`` (``ws://host:port``); see the module docstring."""

    def __init__(
        self,
        ws_root: str,
        headers: Mapping[str, str],
        app: str,
        *,
        size: int = 4,
        connect_timeout: float = 5.0,
        request_timeout: float = 10.0,
        backoff_max: float = 10.0,
        probe_timeout: float = _PROBE_TIMEOUT,
    ) -> None:
        if size < 1:
            raise ValueError("a REST socket pool needs at least one socket")
        self._urls = [
            f"{ws_root}/ari/events?"
            + urlencode({"app": f"{app}-rest-{os.getpid()}-{i}", "subscribeAll": "false"})
            for i in range(size)
        ]
        self._headers = dict(headers)
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._backoff_max = backoff_max
        self._probe_timeout = probe_timeout
        self._sockets = [_Socket(i) for i in range(size)]
        self._tasks: list[asyncio.Task[None]] = []
        self._next_id = 0
        self.unsupported = False
        """True once Asterisk ignored the probe: REST over websocket is not available."""
        self.sent = 0
        """Requests sent over the pool (for tests and benchmarks)."""

    @property
    def up(self) -> int:
        """How many sockets are connected and probed."""
        return sum(1 for s in self._sockets if s.ws is not None)

    def start(self) -> None:
        """Start keeping the sockets (idempotent; needs a running loop)."""
        if self._tasks or self.unsupported:
            return
        self._tasks = [
            asyncio.create_task(self._keep(s), name=f"ari-rest-ws-{s.index}") for s in self._sockets
        ]

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        body: Mapping[str, Any] | None,
    ) -> tuple[int, bytes] | None:
        """Send one request; (status, body) or None when no socket is up (use HTTP)."""
        live = [s for s in self._sockets if s.ws is not None]
        if not live:
            return None
        sock = min(live, key=lambda s: len(s.pending))
        ws = sock.ws
        assert ws is not None
        self._next_id += 1
        self.sent += 1
        request_id = str(self._next_id)
        message: dict[str, Any] = {
            "type": "RESTRequest",
            "request_id": request_id,
            "method": method,
            "uri": path.lstrip("/"),
        }
        if query:
            message["query_strings"] = [{"name": k, "value": v} for k, v in query.items()]
        if body is not None:
            message["content_type"] = "application/json"
            message["message_body"] = orjson.dumps(body).decode()
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        sock.pending[request_id] = future
        try:
            try:
                await ws.send(orjson.dumps(message).decode())
            except websockets.exceptions.ConnectionClosed:
                return None  # never sent: the caller goes over HTTP
            async with asyncio.timeout(self._request_timeout):
                return await future
        except TimeoutError as exc:
            raise AriTimeout(f"ARI {method} {path}: timed out (websocket)") from exc
        finally:
            sock.pending.pop(request_id, None)

    # ------------------------------------------------------------------ one socket
    async def _keep(self, sock: _Socket) -> None:
        failures = 0
        while True:
            try:
                ws = await self._open(sock)
            except AriError as exc:  # unreachable, or refused: HTTP carries on meanwhile
                failures += 1
                delay = min(self._backoff_max, 0.25 * 2 ** min(failures, 6))
                logger.debug("ARI REST socket %d: %s; retrying in %.1f s", sock.index, exc, delay)
                await asyncio.sleep(delay)
                continue
            if ws is None:  # the probe went unanswered: this Asterisk has no REST over WS
                if not self.unsupported:
                    logger.info("Asterisk does not take ARI REST over websocket; using HTTP")
                self.unsupported = True
                return
            failures = 0
            await self._serve(sock, ws)
            await asyncio.sleep(0.25)

    async def _open(self, sock: _Socket) -> websockets.asyncio.client.ClientConnection | None:
        with map_exceptions("ARI REST websocket"):
            ws = await websockets.asyncio.client.connect(
                self._urls[sock.index],
                additional_headers=self._headers,
                open_timeout=self._connect_timeout,
                ping_interval=20.0,
                ping_timeout=20.0,
                close_timeout=2.0,
                proxy=None,
                compression=None,
                max_size=8 * 1024 * 1024,
            )
        probe = orjson.dumps(
            {"type": "RESTRequest", "request_id": "probe", "method": "GET", "uri": "asterisk/info"}
        ).decode()
        try:
            with map_exceptions("ARI REST websocket probe"):
                await ws.send(probe)
                async with asyncio.timeout(self._probe_timeout):
                    while True:
                        reply = orjson.loads(await ws.recv())
                        if isinstance(reply, dict) and reply.get("type") == "RESTResponse":
                            break
        except (AriTimeout, TimeoutError):
            with contextlib.suppress(Exception):
                await ws.close()
            return None
        except (AriUnreachable, orjson.JSONDecodeError):
            with contextlib.suppress(Exception):
                await ws.close()
            raise AriUnreachable("ARI REST websocket closed during the probe") from None
        return ws

    async def _serve(self, sock: _Socket, ws: websockets.asyncio.client.ClientConnection) -> None:
        sock.ws = ws
        reason = "closed"
        try:
            async for message in ws:
                try:
                    reply = orjson.loads(message)
                except orjson.JSONDecodeError:
                    logger.warning("ARI REST socket %d: dropping malformed JSON", sock.index)
                    continue
                if not isinstance(reply, dict) or reply.get("type") != "RESTResponse":
                    continue
                future = sock.pending.get(str(reply.get("request_id")))
                if future is None or future.done():
                    continue
                status = reply.get("status_code")
                text = reply.get("message_body")
                future.set_result(
                    (
                        status if isinstance(status, int) else 500,
                        text.encode() if isinstance(text, str) else b"",
                    )
                )
        except websockets.exceptions.ConnectionClosed as exc:
            reason = str(exc)
        finally:
            sock.ws = None
            pending, sock.pending = sock.pending, {}
            for future in pending.values():
                if not future.done():
                    future.set_exception(AriUnreachable(f"ARI REST websocket lost ({reason})"))
            with contextlib.suppress(Exception):
                await ws.close()
        logger.warning("ARI REST socket %d lost (%s); reconnecting", sock.index, reason)
