"""The one ARI port: everything the controller's edges ask of Asterisk.

`line311.ari.client.AriClient` is the implementation; tests pass fakes with the methods
they need. Every edge (runner, queue, hand-offs, supervisor line) is typed against this one
Protocol, so there is one place that says what the product needs of ARI.

With several Asterisks (`line311.ari.fleet.AriFleet`) a REST call on an existing resource goes
to the server that holds it, and one that *creates* a resource for a call (a bridge, a CCR
leg, a callback) goes to the server of that call's channel. The executor names that call for
everything it carries out (`acting_for`); a single `AriClient` ignores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from line311.ari.models import Bridge, Channel, LiveRecording, Playback, StoredRecording

__all__ = ["AriPort", "ConnectedHandler", "EventHandler", "acting_channel", "acting_for"]

EventHandler = Callable[[dict[str, Any], float], Awaitable[None]]
"""``on_event(event, received_at)``: one ARI event (decoded JSON) and the client clock's time
at which it was read off the websocket (for reaction-time measurements)."""
ConnectedHandler = Callable[[], Awaitable[None]]

_acting_for: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "line311_ari_acting_for", default=None
)


@contextlib.contextmanager
def acting_for(channel_id: str) -> Iterator[None]:
    """REST calls made inside (and in tasks started inside) act for the call whose channel is
    ``channel_id``: what they create is created on that channel's Asterisk."""
    token = _acting_for.set(channel_id)
    try:
        yield
    finally:
        _acting_for.reset(token)


def acting_channel() -> str | None:
    """The channel of the call the current REST calls act for (None outside any call)."""
    return _acting_for.get()


class AriPort(Protocol):
    app: str

    @property
    def connected(self) -> bool: ...

    async def run(
        self, on_event: EventHandler, on_connected: ConnectedHandler | None = None
    ) -> None: ...

    def expect(
        self,
        type: str | Iterable[str],  # noqa: A002 - reads like the ARI field it matches
        *,
        channel_id: str | None = None,
        playback_id: str | None = None,
        recording_name: str | None = None,
        bridge_id: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[asyncio.Future[dict[str, Any]]]: ...

    # the media servers
    def media_server_of(self, channel_id: str) -> str:
        """The name of the Asterisk that holds (or held) ``channel_id``: a fleet's systemname,
        a single client's base URL. `AriUnknownResource` if no server is known to."""
        ...

    async def media_server_started(self, server: str) -> datetime | None:
        """When that Asterisk (named by `media_server_of`) last started (``GET
        /asterisk/info``), None if it does not say. A single client ignores ``server``."""
        ...

    # channels
    async def list_channels(self) -> list[Channel]: ...

    async def get_channel(self, channel_id: str) -> Channel: ...

    async def answer(self, channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None: ...

    async def stop_moh(self, channel_id: str) -> None: ...

    async def set_channel_var(self, channel_id: str, variable: str, value: str) -> None: ...

    async def get_channel_var(self, channel_id: str, variable: str) -> str | None: ...

    async def redirect(self, channel_id: str, endpoint: str) -> None: ...

    async def ring(self, channel_id: str) -> None: ...

    async def claim(self, channel_id: str) -> bool: ...

    async def move(self, channel_id: str, app: str, app_args: Iterable[str] = ()) -> None: ...

    async def ring_stop(self, channel_id: str) -> None: ...

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
    ) -> Channel: ...

    # playbacks
    async def play(
        self,
        channel_id: str,
        media: str | Iterable[str],
        playback_id: str,
        lang: str | None = None,
    ) -> Playback: ...

    async def stop_playback(self, playback_id: str) -> None: ...

    # bridges
    async def list_bridges(self) -> list[Bridge]: ...

    async def create_bridge(
        self,
        bridge_id: str,
        type: str = "mixing",  # noqa: A002 - ARI's own parameter name
        name: str | None = None,
    ) -> Bridge: ...

    async def add_channel(
        self, bridge_id: str, channel_id: str | Iterable[str], *, role: str | None = None
    ) -> None: ...

    async def remove_channel(self, bridge_id: str, channel_id: str | Iterable[str]) -> None: ...

    async def destroy_bridge(self, bridge_id: str) -> None: ...

    # recordings
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
    ) -> LiveRecording: ...

    async def stop_recording(self, name: str) -> None: ...

    async def get_stored_recording(self, name: str) -> StoredRecording: ...

    async def get_stored_recording_file(self, name: str) -> bytes: ...

    async def delete_stored_recording(self, name: str) -> None: ...
