"""ARI over REST: the one error boundary (`map_exceptions`) and the typed REST calls.

(A little over 400 lines: one short method per ARI resource operation line311 uses, kept
together so the whole REST surface is read in one place.)

`AriRest` holds every REST call of `line311.ari.client.AriClient` (which adds the event
websocket on top); each goes over ARI REST-over-websocket when the client has a socket pool up
(`line311.ari.ws_rest`), else through one pooled `httpx.AsyncClient`, and returns typed
models (`line311.ari.models`). `map_exceptions` is the one boundary where httpx, websockets and json
exceptions become `line311.ari.errors.AriError`s.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import orjson
import websockets
import websockets.exceptions

from line311.ari.errors import (
    AriClosed,
    AriConflict,
    AriError,
    AriNotFound,
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
)
from line311.ari.traffic import AriTraffic

__all__ = ["AriRest", "map_exceptions"]

_T = TypeVar("_T")
logger = logging.getLogger(__name__)


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


def _q(segment: str) -> str:
    if not segment:
        raise ValueError("an ARI resource id must not be empty")
    return quote(segment, safe="")


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_message(content: bytes) -> str:
    text = content.decode("utf-8", "replace")[:200]
    try:
        body = orjson.loads(content)
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return text


class Reply(NamedTuple):
    """A REST answer, however it travelled: HTTP status and body bytes."""

    status_code: int
    content: bytes


class RestSocket(Protocol):
    """REST over a websocket (`line311.ari.ws_rest.WsRestPool`): None when it cannot send."""

    async def request(
        self, method: str, path: str, query: Mapping[str, str], body: Mapping[str, Any] | None
    ) -> tuple[int, bytes] | None: ...


def _normalise_base(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"ARI base URL must be http(s)://host:port, got {base_url!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/ari"):
        path = path[: -len("/ari")]
    return f"{parts.scheme}://{parts.netloc}{path}"


class AriRest:
    """The REST half of the ARI client; `AriClient` sets ``app``, ``_http`` and ``_closed``."""

    app: str
    base_url: str
    _http: httpx.AsyncClient
    _closed: bool
    _ws_rest: RestSocket | None = None
    traffic: AriTraffic

    # ------------------------------------------------------------------ REST plumbing
    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, object | None] | None = None,
        body: Mapping[str, Any] | None = None,
        *,
        http: bool = False,
    ) -> Reply:
        """One REST call: over the websocket pool when it is up (and ``http`` is False: binary
        answers need HTTP), else over HTTP."""
        if self._closed:
            raise AriClosed(f"ARI client is closed ({method} {path})")
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        self.traffic.sent(method, path)
        sent = None
        if self._ws_rest is not None and not http:
            sent = await self._ws_rest.request(method, path, query, body)
        if sent is not None:
            reply = Reply(*sent)
        else:
            with map_exceptions(f"ARI {method} {path}"):
                response = await self._http.request(
                    method, path, params=query, json=dict(body) if body is not None else None
                )
            reply = Reply(response.status_code, response.content)
        logger.debug("ARI %s %s -> %s", method, path, reply.status_code)
        if reply.status_code >= 400:
            raise http_error_for_status(
                reply.status_code, method, path, _error_message(reply.content)
            )
        return reply

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
            return orjson.loads(response.content)

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

    async def _list(self, path: str, parse: Callable[[Any], _T], what: str) -> list[_T]:
        """``GET path`` as a list; a malformed item is logged and skipped, not fatal."""
        data = await self._request("GET", path)
        if not isinstance(data, list):
            raise AriProtocolError(f"ARI GET {path}: expected a JSON list")
        items: list[_T] = []
        for item in data:
            try:
                items.append(parse(item))
            except AriProtocolError as exc:
                logger.warning("ignoring a malformed %s in GET %s: %s", what, path, exc)
        return items

    # ------------------------------------------------------------------ applications
    async def filter_events(self, app: str, allowed: Iterable[str]) -> list[str]:
        """Have Asterisk send application ``app`` only events of the ``allowed`` types
        (``PUT /applications/{app}/eventFilter``); returns the types Asterisk now allows.
        The filter lives as long as the application does in Asterisk (set it after every
        connect)."""
        body = {"allowed": [{"type": kind} for kind in allowed]}
        data = await self._request_obj("PUT", f"/applications/{_q(app)}/eventFilter", body=body)
        return [
            str(item["type"])
            for item in data.get("events_allowed") or ()
            if isinstance(item, Mapping) and "type" in item
        ]

    async def subscribe(self, app: str, sources: Iterable[str]) -> None:
        """Have application ``app`` hear the events of ``sources`` (``POST
        /applications/{app}/subscription``), e.g. ``deviceState:PJSIP/agent1``. Like the
        filter, a subscription lives as long as the application does (renew it after every
        connect)."""
        wanted = ",".join(sources)
        if wanted:
            await self._send(
                "POST", f"/applications/{_q(app)}/subscription", {"eventSource": wanted}
            )

    # ------------------------------------------------------------------ endpoints
    async def endpoint_states(self) -> dict[str, str]:
        """Every endpoint's state, ``"PJSIP/agent1" -> "online" | "offline" | "unknown"``
        (``GET /endpoints``); a malformed entry is skipped."""
        data = await self._request("GET", "/endpoints")
        if not isinstance(data, list):
            raise AriProtocolError("ARI GET /endpoints: expected a JSON list")
        states: dict[str, str] = {}
        for item in data:
            if not isinstance(item, Mapping):
                continue
            tech, resource, state = item.get("technology"), item.get("resource"), item.get("state")
            if isinstance(tech, str) and isinstance(resource, str) and isinstance(state, str):
                states[f"{tech}/{resource}"] = state
        return states

    # ------------------------------------------------------------------ asterisk
    async def asterisk_info(self) -> AsteriskInfo:
        return AsteriskInfo.from_json(await self._request_obj("GET", "/asterisk/info"))

    def media_server_of(self, channel_id: str) -> str:
        """This client's one Asterisk (named by its base URL): every channel is on it."""
        return self.base_url

    async def media_server_started(self, server: str) -> datetime | None:
        """When this client's Asterisk last started (``server`` is ignored: there is one)."""
        return (await self.asterisk_info()).startup_time

    # ------------------------------------------------------------------ channels
    async def list_channels(self) -> list[Channel]:
        return await self._list("/channels", Channel.from_json, "channel")

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self._request_obj("GET", f"/channels/{_q(channel_id)}"))

    async def answer(self, channel_id: str) -> None:
        await self._send("POST", f"/channels/{_q(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._send("DELETE", f"/channels/{_q(channel_id)}", {"reason": reason})

    async def ring(self, channel_id: str) -> None:
        await self._send("POST", f"/channels/{_q(channel_id)}/ring")

    async def claim(self, channel_id: str) -> bool:
        """Claim for this app a channel `StasisBroadcast` offers (``CallBroadcast``). True: it
        enters our app (its StasisStart follows); False: another app claimed it first (409)
        or the offer is over (404)."""
        try:
            await self._send(
                "POST", "/events/claim", {"channelId": channel_id, "application": self.app}
            )
        except (AriConflict, AriNotFound):
            return False
        return True

    async def move(self, channel_id: str, app: str, app_args: Iterable[str] = ()) -> None:
        """Move a channel in Stasis to application ``app`` (it gets StasisEnd here and a
        StasisStart with ``app_args`` there; ``ApplicationMoveFailed`` when ``app`` is not
        there to take it, and the channel stays)."""
        args = ",".join(app_args)
        await self._send(
            "POST", f"/channels/{_q(channel_id)}/move", {"app": app, "appArgs": args or None}
        )

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
    async def list_bridges(self) -> list[Bridge]:
        return await self._list("/bridges", Bridge.from_json, "bridge")

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
        reply = await self._send("GET", f"/recordings/stored/{_q(name)}/file", http=True)
        return reply.content

    async def delete_stored_recording(self, name: str) -> None:
        await self._send("DELETE", f"/recordings/stored/{_q(name)}")
