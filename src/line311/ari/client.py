"""A thin, typed, async ARI client: httpx for REST, websockets for events.

Theory of operation
-------------------
REST calls go through one pooled `httpx.AsyncClient` (basic auth) and return typed models
(`line311.ari.models`). Ids are chosen by the caller wherever ARI allows it (channels,
playbacks, bridges, recordings), so a waiter for the event an id will produce can be
registered *before* the request: Asterisk may send PlaybackStarted before the ``POST /play``
response arrives::

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

When the websocket drops or Asterisk restarts, `run` reconnects with capped exponential
backoff plus jitter (never a busy loop, also when a connection drops right after opening),
logging WARNING while Asterisk is away and INFO when it is back. After every (re)connect it
runs ``on_connected`` (re-sync with ``GET /channels``) in a task of its own, concurrently with
the reader, so events keep flowing while the re-sync waits on REST.

`map_exceptions` is the one boundary where httpx, websockets and json exceptions become
`line311.ari.errors.AriError`s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import websockets
import websockets.asyncio.client
import websockets.exceptions

from line311.ari.errors import (
    AriAuthError,
    AriClosed,
    AriError,
    AriProtocolError,
    AriTimeout,
    AriUnreachable,
    http_error_for_status,
)
from line311.ari.models import (
    AsteriskInfo,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    StoredRecording,
    target_of,
)
from line311.ari.port import ConnectedHandler, EventHandler

__all__ = [
    "AriClient",
    "ConnectedHandler",
    "EventHandler",
    "backoff_delay",
    "dispatch_key",
    "map_exceptions",
]

logger = logging.getLogger(__name__)


_GLOBAL_LANE = ""
_STABLE_AFTER = 2.0
"""A connection that lived at least this long resets the backoff; shorter ones keep growing it."""


# ---------------------------------------------------------------------- the error boundary
@contextlib.contextmanager
def map_exceptions(what: str) -> Iterator[None]:
    """Turn httpx / websockets / json / socket exceptions raised inside into `AriError`s.

    ``what`` (e.g. ``"ARI POST /channels/x/answer"``) starts the message of the mapped error.
    """
    try:
        yield
    except AriError:
        raise
    except httpx.TimeoutException as exc:
        raise AriTimeout(f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.DecodingError as exc:
        raise AriProtocolError(f"{what}: undecodable response ({exc})") from exc
    except httpx.RequestError as exc:
        raise AriUnreachable(f"{what}: {type(exc).__name__}: {exc}") from exc
    except websockets.exceptions.InvalidStatus as exc:
        response = exc.response
        body = response.body.decode("utf-8", "replace") if response.body else ""
        raise http_error_for_status(response.status_code, "GET", "/ari/events", body) from exc
    except websockets.exceptions.ConnectionClosed as exc:
        raise AriUnreachable(f"{what}: websocket closed ({_describe_close(exc)})") from exc
    except websockets.exceptions.InvalidURI as exc:
        raise AriUnreachable(f"{what}: invalid URI ({exc})") from exc
    except websockets.exceptions.InvalidHandshake as exc:
        raise AriProtocolError(f"{what}: websocket handshake failed ({exc})") from exc
    except TimeoutError as exc:
        raise AriTimeout(f"{what}: timed out") from exc
    except OSError as exc:
        raise AriUnreachable(f"{what}: {type(exc).__name__}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AriProtocolError(f"{what}: malformed JSON ({exc})") from exc


def _describe_close(exc: websockets.exceptions.ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "no close frame"
    return f"code {frame.code}{' ' + frame.reason if frame.reason else ''}"


# ---------------------------------------------------------------------- pure helpers
def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): exponential, capped, with
    "equal jitter" (between half and all of the exponential value) so that many controllers
    do not hammer a restarting Asterisk in lockstep."""
    base = min(cap, initial * (2.0 ** min(attempt, 32)))
    return base / 2.0 + rng.uniform(0.0, base / 2.0)


def dispatch_key(event: Mapping[str, Any]) -> str:
    """The lane an event belongs to: its channel id, ``bridge:<id>``, or the shared lane."""
    kind = event.get("type")
    if isinstance(kind, str):
        for prefix, field in (("Playback", "playback"), ("Recording", "recording")):
            if kind.startswith(prefix):
                resource = event.get(field)
                uri = resource.get("target_uri") if isinstance(resource, Mapping) else None
                target = target_of(uri) if isinstance(uri, str) else None
                if target is None:
                    return _GLOBAL_LANE
                return target[1] if target[0] == "channel" else f"{target[0]}:{target[1]}"
    channel = event.get("channel")
    if isinstance(channel, Mapping) and isinstance(channel.get("id"), str):
        return str(channel["id"])
    bridge = event.get("bridge")
    if isinstance(bridge, Mapping) and isinstance(bridge.get("id"), str):
        return f"bridge:{bridge['id']}"
    return _GLOBAL_LANE


def _q(segment: str) -> str:
    if not segment:
        raise ValueError("an ARI resource id must not be empty")
    return quote(segment, safe="")


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return response.text[:200]


def _normalise_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"ARI base URL must be http(s)://host:port, got {base_url!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/ari"):
        path = path[: -len("/ari")]
    return f"{parts.scheme}://{parts.netloc}{path}"


# ---------------------------------------------------------------------- waiters
@dataclass(slots=True)
class _Waiter:
    types: frozenset[str]
    match: tuple[tuple[str, str, str], ...]
    predicate: Callable[[dict[str, Any]], bool] | None
    future: asyncio.Future[dict[str, Any]]

    def matches(self, event: dict[str, Any]) -> bool:
        if event.get("type") not in self.types:
            return False
        for obj, key, wanted in self.match:
            resource = event.get(obj)
            if not isinstance(resource, Mapping) or resource.get(key) != wanted:
                return False
        return self.predicate is None or bool(self.predicate(event))


# ---------------------------------------------------------------------- lanes
class _Lanes:
    """Per-key FIFOs, each drained by a task that exists only while the FIFO has work."""

    def __init__(self, handler: EventHandler) -> None:
        self._handler = handler
        self._queues: dict[str, deque[tuple[dict[str, Any], float]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, key: str, event: dict[str, Any], received_at: float) -> None:
        queue = self._queues.get(key)
        if queue is not None:
            queue.append((event, received_at))
            return
        self._queues[key] = deque([(event, received_at)])
        task = asyncio.create_task(self._drain(key), name=f"ari-lane-{key or 'global'}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, key: str) -> None:
        queue = self._queues[key]
        while queue:
            event, received_at = queue.popleft()
            try:
                await self._handler(event, received_at)
            except Exception:
                logger.exception(
                    "ARI event handler failed for %s on channel %s",
                    event.get("type"),
                    key or "-",
                    extra={"channel_id": key or None},
                )
        del self._queues[key]

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._queues.clear()


# ---------------------------------------------------------------------- the client
class AriClient:
    """REST calls and the event loop of one ARI application. Use as an async context manager.

    ``base_url`` is Asterisk's HTTP root (``http://127.0.0.1:8088``; a trailing ``/ari`` is
    accepted). ``connect_timeout`` bounds TCP/websocket connection set-up, ``request_timeout``
    each REST call. ``clock`` stamps received events (monotonic seconds).
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
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not app:
            raise ValueError("ARI application name must not be empty")
        root = _normalise_base(base_url)
        self.app = app
        self.base_url = root
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
        self._ws: websockets.asyncio.client.ClientConnection | None = None
        self._waiters: list[_Waiter] = []
        self._closing = asyncio.Event()
        self._closed = False
        self._run_task: asyncio.Task[Any] | None = None
        self._connected = False
        self.reconnects = 0
        """How many times the event websocket was re-established after a loss."""

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
        """Read events until `close` (or cancellation), reconnecting whenever the websocket
        drops. Raises `AriAuthError` if Asterisk refuses our credentials on the first connect
        (a configuration error: retrying would not help; later refusals are logged at ERROR
        and retried) and `AriClosed` if the client is already closed."""
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
                if self._closing.is_set():
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
        """Read one connection until it drops; return why it dropped."""
        self._ws = ws
        self._connected = True
        resync: asyncio.Task[None] | None = None
        if on_connected is not None:
            resync = asyncio.create_task(self._call_connected(on_connected), name="ari-resync")
        try:
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
                if event.get("type") == "ApplicationReplaced":
                    logger.error("another process took over ARI application %s", self.app)
                self._resolve_waiters(event)
                lanes.submit(dispatch_key(event), event, received_at)
        finally:
            self._connected = False
            self._ws = None
            if resync is not None and not resync.done():
                resync.cancel()
            if resync is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await resync
            with contextlib.suppress(Exception):
                await ws.close()

    async def _call_connected(self, on_connected: ConnectedHandler) -> None:
        try:
            await on_connected()
        except AriError as exc:
            logger.warning("ARI re-sync after connect failed: %s", exc)
        except Exception:
            logger.exception("ARI on_connected handler failed")

    async def _sleep_unless_closing(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=delay)

    # ------------------------------------------------------------------ REST plumbing
    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, object | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        if self._closed:
            raise AriClosed(f"ARI client is closed ({method} {path})")
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        with map_exceptions(f"ARI {method} {path}"):
            response = await self._http.request(
                method, path, params=query, json=dict(body) if body is not None else None
            )
        logger.debug("ARI %s %s -> %s", method, path, response.status_code)
        if response.status_code >= 400:
            raise http_error_for_status(
                response.status_code, method, path, _error_message(response)
            )
        return response

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, object | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        response = await self._send(method, path, params, body)
        if not response.content:
            return None
        with map_exceptions(f"ARI {method} {path}"):
            return json.loads(response.content)

    async def _request_obj(
        self,
        method: str,
        path: str,
        params: Mapping[str, object | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        data = await self._request(method, path, params, body)
        if not isinstance(data, dict):
            raise AriProtocolError(f"ARI {method} {path}: expected a JSON object")
        return data

    # ------------------------------------------------------------------ asterisk
    async def asterisk_info(self) -> AsteriskInfo:
        return AsteriskInfo.from_json(await self._request_obj("GET", "/asterisk/info"))

    # ------------------------------------------------------------------ channels
    async def list_channels(self) -> list[Channel]:
        data = await self._request("GET", "/channels")
        if not isinstance(data, list):
            raise AriProtocolError("ARI GET /channels: expected a JSON list")
        channels: list[Channel] = []
        for item in data:
            try:
                channels.append(Channel.from_json(item))
            except AriProtocolError as exc:
                logger.warning("ignoring a malformed channel in GET /channels: %s", exc)
        return channels

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self._request_obj("GET", f"/channels/{_q(channel_id)}"))

    async def answer(self, channel_id: str) -> None:
        await self._send("POST", f"/channels/{_q(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._send("DELETE", f"/channels/{_q(channel_id)}", {"reason": reason})

    async def ring(self, channel_id: str) -> None:
        await self._send("POST", f"/channels/{_q(channel_id)}/ring")

    async def ring_stop(self, channel_id: str) -> None:
        await self._send("DELETE", f"/channels/{_q(channel_id)}/ring")

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self._send("POST", f"/channels/{_q(channel_id)}/moh", {"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self._send("DELETE", f"/channels/{_q(channel_id)}/moh")

    async def send_dtmf(self, channel_id: str, dtmf: str, *, duration_ms: int = 100) -> None:
        """Send DTMF digits *to* a channel (useful to drive Local channels in tests)."""
        await self._send(
            "POST", f"/channels/{_q(channel_id)}/dtmf", {"dtmf": dtmf, "duration": duration_ms}
        )

    async def set_channel_var(self, channel_id: str, variable: str, value: str) -> None:
        await self._send(
            "POST",
            f"/channels/{_q(channel_id)}/variable",
            {"variable": variable, "value": value},
        )

    async def get_channel_var(self, channel_id: str, variable: str) -> str | None:
        data = await self._request_obj(
            "GET", f"/channels/{_q(channel_id)}/variable", {"variable": variable}
        )
        value = data.get("value")
        return value if isinstance(value, str) else None

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        await self._send(
            "POST",
            f"/channels/{_q(channel_id)}/continue",
            {"context": context, "extension": extension, "priority": priority, "label": label},
        )

    async def redirect(self, channel_id: str, endpoint: str) -> None:
        """Redirect a (not yet answered) channel to another endpoint, e.g. ``PJSIP/x@trunk``."""
        await self._send("POST", f"/channels/{_q(channel_id)}/redirect", {"endpoint": endpoint})

    async def originate(
        self,
        endpoint: str,
        channel_id: str,
        *,
        app_args: str | Iterable[str] | None = None,
        caller_id: str | None = None,
        dial_timeout: int = 30,
        variables: Mapping[str, str] | None = None,
        app: str | None = None,
        other_channel_id: str | None = None,
    ) -> Channel:
        """Create channel ``channel_id`` dialling ``endpoint`` into our app. Mark channels we
        originate with ``app_args`` (e.g. ``("outbound", ...)``) so StasisStart can tell them
        apart from inbound calls. ``dial_timeout``: seconds to ring (-1: no limit)."""
        args = app_args if app_args is None or isinstance(app_args, str) else ",".join(app_args)
        body = {"variables": dict(variables)} if variables else None
        data = await self._request_obj(
            "POST",
            f"/channels/{_q(channel_id)}",
            {
                "endpoint": endpoint,
                "app": app or self.app,
                "appArgs": args,
                "callerId": caller_id,
                "timeout": dial_timeout,
                "otherChannelId": other_channel_id,
            },
            body,
        )
        return Channel.from_json(data)

    # ------------------------------------------------------------------ playbacks
    async def play(
        self,
        channel_id: str,
        media: str | Iterable[str],
        playback_id: str,
        lang: str | None = None,
    ) -> Playback:
        """Play ``media`` (``sound:...``, ``recording:...``; several are played in turn)."""
        uris = [media] if isinstance(media, str) else list(media)
        if not uris:
            raise ValueError("play needs at least one media URI")
        data = await self._request_obj(
            "POST",
            f"/channels/{_q(channel_id)}/play/{_q(playback_id)}",
            {"media": ",".join(uris), "lang": lang},
        )
        return Playback.from_json(data)

    async def stop_playback(self, playback_id: str) -> None:
        await self._send("DELETE", f"/playbacks/{_q(playback_id)}")

    # ------------------------------------------------------------------ bridges
    async def create_bridge(
        self,
        bridge_id: str,
        type: str = "mixing",  # noqa: A002 - ARI's own parameter name
        name: str | None = None,
    ) -> Bridge:
        data = await self._request_obj(
            "POST", f"/bridges/{_q(bridge_id)}", {"type": type, "name": name}
        )
        return Bridge.from_json(data)

    async def add_channel(
        self, bridge_id: str, channel_id: str | Iterable[str], *, role: str | None = None
    ) -> None:
        ids = channel_id if isinstance(channel_id, str) else ",".join(channel_id)
        await self._send(
            "POST", f"/bridges/{_q(bridge_id)}/addChannel", {"channel": ids, "role": role}
        )

    async def remove_channel(self, bridge_id: str, channel_id: str | Iterable[str]) -> None:
        ids = channel_id if isinstance(channel_id, str) else ",".join(channel_id)
        await self._send("POST", f"/bridges/{_q(bridge_id)}/removeChannel", {"channel": ids})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._send("DELETE", f"/bridges/{_q(bridge_id)}")

    # ------------------------------------------------------------------ recordings
    async def record(
        self,
        channel_id: str,
        name: str,
        format: str = "wav",  # noqa: A002 - ARI's own parameter name
        *,
        max_duration: int = 0,
        max_silence: int = 0,
        beep: bool = False,
        if_exists: str = "fail",
        terminate_on: str = "none",
    ) -> LiveRecording:
        """Record the channel into stored recording ``name`` (RecordingStarted/Finished follow).
        Asterisk needs its ``recording`` spool directory, else it answers 500."""
        data = await self._request_obj(
            "POST",
            f"/channels/{_q(channel_id)}/record",
            {
                "name": name,
                "format": format,
                "maxDurationSeconds": max_duration,
                "maxSilenceSeconds": max_silence,
                "ifExists": if_exists,
                "beep": beep,
                "terminateOn": terminate_on,
            },
        )
        return LiveRecording.from_json(data)

    async def stop_recording(self, name: str) -> None:
        await self._send("POST", f"/recordings/live/{_q(name)}/stop")

    async def get_stored_recording(self, name: str) -> StoredRecording:
        return StoredRecording.from_json(
            await self._request_obj("GET", f"/recordings/stored/{_q(name)}")
        )

    async def get_stored_recording_file(self, name: str) -> bytes:
        response = await self._send("GET", f"/recordings/stored/{_q(name)}/file")
        return response.content

    async def delete_stored_recording(self, name: str) -> None:
        await self._send("DELETE", f"/recordings/stored/{_q(name)}")


def _decode_event(message: str | bytes) -> dict[str, Any] | None:
    """Decode one websocket message; malformed ones are logged and dropped (None)."""
    try:
        with map_exceptions("ARI event"):
            event = json.loads(message)
    except AriProtocolError as exc:
        logger.warning("dropping a malformed ARI event: %s", exc)
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        logger.warning("dropping an ARI event without a type (%s)", type(event).__name__)
        return None
    return event
