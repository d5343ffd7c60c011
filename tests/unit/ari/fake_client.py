"""A scripted stand-in for `AriClient` (pure asyncio, no network) and ARI event builders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from line311.ari.errors import AriError
from line311.ari.models import Channel

CALLER_NUMBER = "2125550123"


class FakeMediaServer:
    """The media-server half of the `AriPort` fakes: ``started`` is when the fake Asterisk
    last started (None: unknown); ``fail`` injects an error by method name."""

    fail: dict[str, Exception]
    started: datetime | None
    info_requests: int

    def media_server_of(self, channel_id: str) -> str:
        exc = self.fail.get("media_server_of")
        if exc is not None:
            raise exc
        return "asterisk"

    async def media_server_started(self, server: str) -> datetime | None:
        self.info_requests += 1
        exc = self.fail.get("media_server_started")
        if exc is not None:
            raise exc
        return self.started


class ScriptedAri(FakeMediaServer):
    """Records every REST call; ``fail[method] = error`` makes that method raise."""

    app = "line311"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: dict[str, AriError] = {}
        self.channels: list[Channel] = []
        self.started: datetime | None = None
        self.info_requests = 0
        self.connected = False
        self._stop = asyncio.Event()

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def _do(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        exc = self.fail.get(name)
        if exc is not None:
            raise exc

    async def run(
        self,
        on_event: Callable[[dict[str, Any], float], Awaitable[None]],
        on_connected: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.connected = True
        try:
            await self._stop.wait()
        finally:
            self.connected = False

    def stop(self) -> None:
        self._stop.set()

    async def list_bridges(self) -> list[Any]:
        return list(getattr(self, "bridges", []))

    async def list_channels(self) -> list[Channel]:
        self._do("list_channels")
        return list(self.channels)

    async def answer(self, channel_id: str) -> None:
        self._do("answer", channel_id)

    async def play(
        self, channel_id: str, media: str | Iterable[str], playback_id: str, lang: str | None = None
    ) -> None:
        self._do("play", channel_id, media, playback_id)

    async def stop_playback(self, playback_id: str) -> None:
        self._do("stop_playback", playback_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._do("hangup", channel_id, reason)


def stasis_start(
    cid: str, dialed: str = "311", kind: str = "inbound", number: str = CALLER_NUMBER
) -> dict[str, Any]:
    return {
        "type": "StasisStart",
        "application": "line311",
        "args": [kind, dialed],
        "channel": {
            "id": cid,
            "name": f"PJSIP/carrier-{cid}",
            "state": "Ring",
            "caller": {"name": "", "number": number},
            "dialplan": {"context": "from-carrier", "exten": dialed, "priority": 2},
        },
    }


def channel_event(kind: str, cid: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "channel": {"id": cid, "name": f"PJSIP/x-{cid}"}, **extra}


def playback_event(kind: str, cid: str, pid: str, state: str = "done") -> dict[str, Any]:
    return {
        "type": kind,
        "playback": {"id": pid, "target_uri": f"channel:{cid}", "state": state, "media_uri": "x"},
    }


def in_app_channel(cid: str, app: str = "line311") -> Channel:
    return Channel(
        id=cid, state="Up", dialplan_app="Stasis", dialplan_app_data=f"{app},inbound,311"
    )
