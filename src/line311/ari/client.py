"""A thin, typed, async ARI client: httpx for REST, websockets for events.

(A little over 400 lines: the event socket's life — connect, read, re-sync, reconnect with
backoff — is one piece; the REST calls, lanes and REST-over-websocket pool live apart.)

Theory of operation
-------------------
REST calls go over a small pool of ARI websockets (``rest_transport="websocket"``, Asterisk
22.4+, `line311.ari.ws_rest`; HTTP while no socket is up) or through one pooled
`httpx.AsyncClient` (basic auth), and return typed models (`line311.ari.models`). Ids are
chosen by the caller wherever ARI allows it (channels, playbacks, bridges, recordings), so a
waiter for the event an id will produce can be registered *before* the request: Asterisk may
send PlaybackStarted before the ``POST /play`` response arrives::

    async with client.expect("PlaybackFinished", playback_id=pid) as finished:
        await client.play(channel_id, "sound:hello", pid)
        event = await asyncio.wait_for(finished, timeout=30)

Events arrive on one websocket (``/ari/events?app=<app>``) read by `AriClient.run`::

    websocket ──▶ reader ──▶ waiters (resolved at once, in arrival order)
                        └──▶ lanes: one FIFO per channel ──▶ on_event(event, received_at)

Each lane is drained by its own task, so events of one channel are handled strictly in order
while different channels progress concurrently; a lane's task exists only while the lane has
work. Playback and recording events travel in the lane of the channel in their ``target_uri``;
bridge events in a lane per bridge; anything else in one shared lane. A handler that raises is
logged with its channel id and the lane goes on.

When another connection registers the same application (a new controller of a rolling
restart), Asterisk sends ``ApplicationReplaced`` here and routes every event to the new socket
(verified on Asterisk 22: this socket stays open but silent, and closing it later does not
deactivate the application for its new owner). `run` then returns without reconnecting, so
two controllers never fight over the application; `replaced` says why it returned.

When the websocket drops or Asterisk restarts, `run` reconnects with capped exponential
backoff plus jitter (never a busy loop, also when a connection drops right after opening),
logging WARNING while Asterisk is away and INFO when it is back. After every (re)connect it
runs ``on_connected`` (re-sync with ``GET /channels``) in a task of its own, concurrently with
the reader, so events keep flowing while the re-sync waits on REST.

`map_exceptions` (in `line311.ari.rest`, with the REST calls `AriClient` inherits from
`AriRest`) is the one boundary where httpx, websockets and json exceptions become
`line311.ari.errors.AriError`s; lanes, waiters and backoff live in `line311.ari.lanes`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets
import websockets.asyncio.client
import websockets.exceptions

from line311.ari.errors import AriAuthError, AriClosed, AriError, AriUnreachable
from line311.ari.lanes import _decode_event, _Lanes, _Waiter, backoff_delay, dispatch_key
from line311.ari.port import ConnectedHandler, EventHandler
from line311.ari.rest import AriRest, _normalise_base, map_exceptions
from line311.ari.traffic import AriTraffic
from line311.ari.ws_rest import WsRestPool

__all__ = [
    "AriClient",
    "ConnectedHandler",
    "EventHandler",
    "backoff_delay",
    "dispatch_key",
    "map_exceptions",
]

logger = logging.getLogger(__name__)


_STABLE_AFTER = 2.0
"""A connection that lived at least this long resets the backoff; shorter ones keep growing it."""


# ---------------------------------------------------------------------- the client
class AriClient(AriRest):
    """REST calls and the event loop of one ARI application. Use as an async context manager.

    ``base_url`` is Asterisk's HTTP root (``http://127.0.0.1:8088``; a trailing ``/ari`` is
    accepted). ``connect_timeout`` bounds TCP/websocket connection set-up, ``request_timeout``
    each REST call. ``clock`` stamps received events (monotonic seconds). ``events``: the
    event types to ask Asterisk for after every connect (its application event filter;
    None: every type). An Asterisk that refuses the filter is logged and sends everything.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        connect_timeout: float = 5.0,
        request_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        max_connections: int = 32,
        ping_interval: float | None = 20.0,
        rest_transport: str = "http",
        rest_sockets: int = 4,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        events: Iterable[str] | None = None,
        traffic: AriTraffic | None = None,
    ) -> None:
        if not app:
            raise ValueError("ARI application name must not be empty")
        root = _normalise_base(base_url)
        self.app = app
        self.base_url = root
        self._events = None if events is None else tuple(events)
        self.traffic = traffic if traffic is not None else AriTraffic()
        """Events heard and requests sent (`line311.ari.traffic`; shared by a process's clients)."""
        self._connect_timeout = connect_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._ping_interval = ping_interval
        self._rng = rng or random.Random()
        self._clock = clock
        self._http = httpx.AsyncClient(
            base_url=f"{root}/ari",
            auth=httpx.BasicAuth(username, password),
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            trust_env=False,
        )
        ws_root = "wss" + root[len("https") :] if root.startswith("https") else "ws" + root[4:]
        query = urlencode({"app": app, "subscribeAll": "false"})
        self._ws_url = f"{ws_root}/ari/events?{query}"
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._ws_headers = {"Authorization": f"Basic {token}"}
        if rest_transport not in ("http", "websocket"):
            raise ValueError(f"rest_transport must be http or websocket, got {rest_transport!r}")
        self._ws_rest_pool = (
            WsRestPool(
                ws_root,
                self._ws_headers,
                app,
                size=rest_sockets,
                connect_timeout=connect_timeout,
                request_timeout=request_timeout,
                backoff_max=backoff_max,
            )
            if rest_transport == "websocket"
            else None
        )
        self._ws_rest = self._ws_rest_pool
        self._ws: websockets.asyncio.client.ClientConnection | None = None
        self._waiters: list[_Waiter] = []
        self._closing = asyncio.Event()
        self._closed = False
        self._run_task: asyncio.Task[Any] | None = None
        self._connected = False
        self.reconnects = 0
        """How many times the event websocket was re-established after a loss."""
        self.replaced = False
        """True once Asterisk said another connection took the application over."""

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        """True while the event websocket is open."""
        return self._connected

    @property
    def rest_pool(self) -> WsRestPool | None:
        """The REST-over-websocket pool (None with ``rest_transport="http"``)."""
        return self._ws_rest_pool

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        """Stop `run` (if running), fail pending waiters and release all connections."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        task = self._run_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            _, pending = await asyncio.wait({task}, timeout=self._connect_timeout + 1.0)
            if pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.cancel()
        self._waiters.clear()
        if self._ws_rest_pool is not None:
            await self._ws_rest_pool.close()
        await self._http.aclose()

    # ------------------------------------------------------------------ waiters
    @contextlib.asynccontextmanager
    async def expect(
        self,
        type: str | Iterable[str],  # noqa: A002 - reads like the ARI field it matches
        *,
        channel_id: str | None = None,
        playback_id: str | None = None,
        recording_name: str | None = None,
        bridge_id: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> AsyncIterator[asyncio.Future[dict[str, Any]]]:
        """Register a waiter for the first event of ``type`` matching the given ids, *before*
        the REST call that causes it; yields a future resolved with the event. Await the
        future inside the ``async with`` block (leaving the block forgets the waiter)."""
        types = frozenset([type] if isinstance(type, str) else type)
        match: list[tuple[str, str, str]] = []
        if channel_id is not None:
            match.append(("channel", "id", channel_id))
        if playback_id is not None:
            match.append(("playback", "id", playback_id))
        if recording_name is not None:
            match.append(("recording", "name", recording_name))
        if bridge_id is not None:
            match.append(("bridge", "id", bridge_id))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(types, tuple(match), predicate, future)
        self._waiters.append(waiter)
        try:
            yield future
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if not future.done():
                future.cancel()

    def _resolve_waiters(self, event: dict[str, Any]) -> None:
        for waiter in list(self._waiters):
            if waiter.future.done():
                continue
            try:
                hit = waiter.matches(event)
            except Exception:
                logger.exception("ARI waiter predicate failed on %s", event.get("type"))
                continue
            if hit:
                waiter.future.set_result(event)

    # ------------------------------------------------------------------ event loop
    async def run(
        self, on_event: EventHandler, on_connected: ConnectedHandler | None = None
    ) -> None:
        """Read events until `close` (or cancellation, or ``ApplicationReplaced``: see
        `replaced`), reconnecting whenever the websocket drops. Raises `AriAuthError` if
        Asterisk refuses our credentials on the first connect (a configuration error: retrying
        would not help; later refusals are logged at ERROR and retried) and `AriClosed` if the
        client is already closed."""
        if self._closed:
            raise AriClosed("ARI client is closed")
        if self._run_task is not None and not self._run_task.done():
            raise AriError("AriClient.run is already running")
        self._run_task = asyncio.current_task()
        lanes = _Lanes(on_event)
        attempt = 0
        down_since: float | None = None
        ever_connected = False
        try:
            while not self._closing.is_set():
                try:
                    ws = await self._connect()
                except AriAuthError as exc:
                    if not ever_connected:
                        logger.error("ARI refused our credentials at %s: %s", self.base_url, exc)
                        raise
                    # we were connected before: Asterisk came back with other credentials.
                    # Keep trying (slowly) so an operator can fix it without restarting us.
                    logger.error("ARI refused our credentials at %s; retrying", self.base_url)
                    await self._sleep_unless_closing(self._backoff_max)
                    continue
                except AriError as exc:
                    if self._closing.is_set():
                        break
                    down_since = down_since if down_since is not None else self._clock()
                    delay = self._backoff(attempt)
                    attempt += 1
                    logger.warning(
                        "ARI at %s unreachable (%s); retrying in %.2f s (attempt %d)",
                        self.base_url,
                        exc,
                        delay,
                        attempt,
                    )
                    await self._sleep_unless_closing(delay)
                    continue
                if self._closing.is_set():  # close() ran while we were connecting
                    with contextlib.suppress(Exception):
                        await ws.close()
                    break
                if down_since is not None:
                    self.reconnects += 1
                    logger.info(
                        "ARI connection to %s back after %.1f s (app %s)",
                        self.base_url,
                        self._clock() - down_since,
                        self.app,
                    )
                else:
                    logger.info("ARI connected to %s (app %s)", self.base_url, self.app)
                down_since = None
                ever_connected = True
                up_at = self._clock()
                reason = await self._serve_connection(ws, lanes, on_connected)
                if self._closing.is_set() or self.replaced:
                    break
                down_since = self._clock()
                if down_since - up_at >= _STABLE_AFTER:
                    attempt = 0
                delay = self._backoff(attempt)
                attempt += 1
                logger.warning("ARI connection lost (%s); reconnecting in %.2f s", reason, delay)
                await self._sleep_unless_closing(delay)
        finally:
            self._connected = False
            await lanes.close()
            self._run_task = None

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self._backoff_initial, self._backoff_max, self._rng)

    async def _connect(self) -> websockets.asyncio.client.ClientConnection:
        with map_exceptions(f"ARI websocket {self.base_url}"):
            return await websockets.asyncio.client.connect(
                self._ws_url,
                additional_headers=self._ws_headers,
                open_timeout=self._connect_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_interval,
                close_timeout=2.0,
                proxy=None,
                compression=None,
                max_size=8 * 1024 * 1024,
            )

    async def _serve_connection(
        self,
        ws: websockets.asyncio.client.ClientConnection,
        lanes: _Lanes,
        on_connected: ConnectedHandler | None,
    ) -> str:
        """Read one connection until it drops; return why it dropped. The re-sync after the
        connect (``on_connected``) runs beside the reader, in one task group with it."""
        self._ws = ws
        self._connected = True
        if self._ws_rest_pool is not None:
            self._ws_rest_pool.start()
        try:
            async with asyncio.TaskGroup() as tg:
                resync = (
                    tg.create_task(self._call_connected(on_connected), name="ari-resync")
                    if on_connected is not None or self._events is not None
                    else None
                )
                try:
                    return await self._read_events(ws, lanes)
                finally:
                    if resync is not None:
                        resync.cancel()
        finally:
            self._connected = False
            self._ws = None
            with contextlib.suppress(Exception):
                await ws.close()

    async def _read_events(
        self, ws: websockets.asyncio.client.ClientConnection, lanes: _Lanes
    ) -> str:
        while True:
            try:
                with map_exceptions("ARI events"):
                    message = await ws.recv()
            except AriUnreachable as exc:
                return str(exc)
            received_at = self._clock()
            event = _decode_event(message)
            if event is None:
                continue
            self.traffic.heard(event["type"])
            if event.get("type") == "ApplicationReplaced":
                # a newer controller has the application: no event comes here any more,
                # and reconnecting would take it back from that controller
                logger.warning(
                    "another connection took over ARI application %s; not reconnecting",
                    self.app,
                )
                self.replaced = True
                return "application replaced"
            self._resolve_waiters(event)
            lanes.submit(dispatch_key(event), event, received_at)

    async def _filter_events(self) -> None:
        """Ask Asterisk for the events we use only (see ``events``); never fatal."""
        if self._events is None:
            return
        try:
            allowed = await self.filter_events(self.app, self._events)
        except AriError as exc:
            logger.warning("ARI event filter not set (%s): Asterisk sends every event", exc)
            return
        if set(allowed) != set(self._events):
            logger.warning(
                "ARI event filter: asked for %s, Asterisk allows %s",
                sorted(self._events), sorted(allowed),
            )  # fmt: skip

    async def _call_connected(self, on_connected: ConnectedHandler | None) -> None:
        await self._filter_events()
        if on_connected is None:
            return
        try:
            await on_connected()
        except AriError as exc:
            logger.warning("ARI re-sync after connect failed: %s", exc)
        except Exception:
            logger.exception("ARI on_connected handler failed")

    async def _sleep_unless_closing(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=delay)
