"""One ARI port over several Asterisks: the controller sees one stream and one REST surface.

(A little over 400 lines: one short forwarding method per operation of `AriPort`, kept beside
the routing rules they follow so the whole fleet reads in one place.)

Theory of operation
-------------------
With ``asterisks >= 2`` Kamailio spreads calls over N Asterisks, and one controller drives
them all through `AriFleet`, an `line311.ari.port.AriPort` over one `AriClient` per server::

    Asterisk 1 ── AriClient ──┐                     ┌──▶ on_event (runner, queue, ...)
    Asterisk 2 ── AriClient ──┼── learn owners ─────┤
    ...                       ┘                     └──  REST: to the owner of the resource

* **Events**: every client's run loop runs in one task group; each event is passed on as it
  comes (per channel in order, as each client keeps it) after the fleet has noted which
  server sent the channels, bridge, playback and recording it names. One server's websocket
  dropping and reconnecting does not touch the others.
* **REST on an existing resource** goes to the server that owns it: learnt from events, from
  what this fleet created, from ``list_channels``/``list_bridges``, and for channel ids Asterisk
  chose, from their prefix (``<systemname>-<time>.<n>``: each server has its own systemname).
  A resource no server is known to hold raises `AriUnknownResource` (an `AriNotFound`):
  nothing is ever sent to a guessed server.
* **Creating** a resource for a call (a bridge, a CCR leg or a callback, a recording) happens
  on the server of that call's channel, named by `line311.ari.port.acting_for` (the
  executor sets it for every command it carries out; tasks started inside inherit it). A
  channel-scoped call (``play``, ``record``) simply goes where its channel is; an originate
  with ``other_channel_id`` goes where that channel is. Creating outside any call raises
  `AriNoServer`. A CCR leg created on the caller's server reaches the CCR through Kamailio.
* **Stored recordings** (the supervisor line's takes) are read and deleted on the server that
  recorded them.
* ``connected`` is True only while *every* server's event socket is up: a server whose events
  are not heard has deaf calls, and ``/health`` should say so.
* ``on_connected`` runs after each server's (re)connect, one at a time (the runner's re-sync
  looks at every server: ``list_channels`` lists them all, and fails if one cannot answer, so
  a re-sync never takes a silent server's calls for gone).
* ``run`` returns once every client's loop has returned; ``replaced`` is True once a newer
  controller took over any server.

Owners are remembered in bounded most-recently-used maps: ids are unique across servers
(systemnames; the controller's own ids derive from channel ids), so a stale entry is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from line311.ari.errors import AriNoServer, AriUnknownResource
from line311.ari.models import (
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    StoredRecording,
)
from line311.ari.port import AriPort, ConnectedHandler, EventHandler, acting_channel

__all__ = ["AriFleet", "FleetMember", "Server"]

logger = logging.getLogger(__name__)

_Listed = TypeVar("_Listed", Channel, Bridge)
"""What a server lists (each with the ``id`` its owner is noted under)."""
_MEMORY = 1 << 16
"""Ids remembered per kind (channel, bridge, playback, recording); least recently used go."""
_CHANNEL_KEYS = ("channel", "peer", "replace_channel")


class FleetMember(AriPort, Protocol):
    """What the fleet needs of each server's client (`AriClient` is one)."""

    @property
    def replaced(self) -> bool: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Server:
    """One Asterisk of the fleet: its ``systemname`` (the prefix of the channel ids it makes)
    and its ARI client."""

    name: str
    client: FleetMember


class _Owners:
    """id -> server index, most recently used last, bounded."""

    def __init__(self, limit: int) -> None:
        self._map: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    def note(self, resource_id: str, server: int) -> None:
        self._map[resource_id] = server
        self._map.move_to_end(resource_id)
        while len(self._map) > self._limit:
            self._map.popitem(last=False)

    def get(self, resource_id: str) -> int | None:
        server = self._map.get(resource_id)
        if server is not None:
            self._map.move_to_end(resource_id)
        return server


class AriFleet:
    """An `AriPort` over several Asterisks (see the module docstring). Use as an async
    context manager: leaving it closes every client."""

    def __init__(self, servers: Sequence[Server], *, memory: int = _MEMORY) -> None:
        if len(servers) < 1:
            raise ValueError("a fleet needs at least one Asterisk")
        apps = {server.client.app for server in servers}
        if len(apps) != 1:
            raise ValueError(f"every Asterisk of a fleet must serve one ARI app, got {apps}")
        names = [server.name for server in servers]
        if len(set(names)) != len(names):
            raise ValueError(f"every Asterisk of a fleet needs its own systemname, got {names}")
        self.servers = tuple(servers)
        self.app = servers[0].client.app
        self._channels = _Owners(memory)
        self._bridges = _Owners(memory)
        self._playbacks = _Owners(memory)
        self._recordings = _Owners(memory)
        self._resync = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> AriFleet:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        for server in self.servers:
            try:
                await server.client.close()
            except Exception:
                logger.exception("closing the ARI client of %s failed", server.name)

    @property
    def connected(self) -> bool:
        """True while every server's event websocket is up."""
        return all(server.client.connected for server in self.servers)

    @property
    def replaced(self) -> bool:
        """True once a newer controller took the application over on any server."""
        return any(server.client.replaced for server in self.servers)

    def server_of_channel(self, channel_id: str) -> str:
        """The systemname of the server holding ``channel_id`` (`AriUnknownResource` if none)."""
        return self.servers[self._channel_owner(channel_id)].name

    def media_server_of(self, channel_id: str) -> str:
        """`server_of_channel`: the owner learnt from events, else the id's systemname prefix."""
        return self.server_of_channel(channel_id)

    async def media_server_started(self, server: str) -> datetime | None:
        """When the server named ``server`` last started (`AriUnknownResource` if none is)."""
        for member in self.servers:
            if member.name == server:
                return await member.client.media_server_started(server)
        raise AriUnknownResource("server", server)

    # ------------------------------------------------------------------ events
    async def run(
        self, on_event: EventHandler, on_connected: ConnectedHandler | None = None
    ) -> None:
        """Run every client's event loop until all have returned (closed, or replaced). An
        error that ends one (ARI refusing our credentials at the first connect) stops all and
        is raised as it is."""
        try:
            async with asyncio.TaskGroup() as tg:
                for index, server in enumerate(self.servers):
                    tg.create_task(
                        server.client.run(
                            self._learning(index, on_event),
                            self._serialised(on_connected) if on_connected else None,
                        ),
                        name=f"ari-{server.name}",
                    )
        except BaseExceptionGroup as group:
            for extra in group.exceptions[1:]:
                logger.error("ARI event loop also failed: %r", extra)
            raise group.exceptions[0] from None

    def _learning(self, index: int, on_event: EventHandler) -> EventHandler:
        async def handler(event: dict[str, Any], received_at: float) -> None:
            self._learn(index, event)
            await on_event(event, received_at)

        return handler

    def _serialised(self, on_connected: ConnectedHandler) -> ConnectedHandler:
        async def handler() -> None:
            async with self._resync:
                await on_connected()

        return handler

    def _learn(self, index: int, event: Mapping[str, Any]) -> None:
        for key in _CHANNEL_KEYS:
            channel = event.get(key)
            if isinstance(channel, Mapping) and isinstance(channel.get("id"), str):
                self._channels.note(channel["id"], index)
        bridge = event.get("bridge")
        if isinstance(bridge, Mapping) and isinstance(bridge.get("id"), str):
            self._bridges.note(bridge["id"], index)
        playback = event.get("playback")
        if isinstance(playback, Mapping) and isinstance(playback.get("id"), str):
            self._playbacks.note(playback["id"], index)
        recording = event.get("recording")
        if isinstance(recording, Mapping) and isinstance(recording.get("name"), str):
            self._recordings.note(recording["name"], index)

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
        """A waiter on every server: the future has the first matching event from any."""
        types = [type] if isinstance(type, str) else list(type)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def forward(part: asyncio.Future[dict[str, Any]]) -> None:
            if not future.done() and not part.cancelled() and part.exception() is None:
                future.set_result(part.result())

        async with contextlib.AsyncExitStack() as stack:
            for server in self.servers:
                part = await stack.enter_async_context(
                    server.client.expect(
                        types,
                        channel_id=channel_id,
                        playback_id=playback_id,
                        recording_name=recording_name,
                        bridge_id=bridge_id,
                        predicate=predicate,
                    )
                )
                part.add_done_callback(forward)
            try:
                yield future
            finally:
                if not future.done():
                    future.cancel()

    # ------------------------------------------------------------------ owners
    def _channel_owner(self, channel_id: str) -> int:
        index = self._channels.get(channel_id)
        if index is not None:
            return index
        for index, server in enumerate(self.servers):
            if channel_id.startswith(f"{server.name}-"):
                return index
        raise AriUnknownResource("channel", channel_id)

    def _owner(self, owners: _Owners, kind: str, resource_id: str) -> int:
        index = owners.get(resource_id)
        if index is None:
            raise AriUnknownResource(kind, resource_id)
        return index

    def _call_server(self, what: str) -> int:
        """The server of the call the current REST calls act for (`acting_for`)."""
        channel_id = acting_channel()
        if channel_id is None:
            raise AriNoServer(f"{what} outside any call: which Asterisk should hold it?")
        return self._channel_owner(channel_id)

    def _on_channel(self, channel_id: str) -> FleetMember:
        return self.servers[self._channel_owner(channel_id)].client

    def _on_bridge(self, bridge_id: str) -> FleetMember:
        return self.servers[self._owner(self._bridges, "bridge", bridge_id)].client

    def _recording_owner(self, name: str) -> int:
        index = self._recordings.get(name)
        if index is not None:
            return index
        with contextlib.suppress(AriNoServer):  # after a restart: the call recorded it
            return self._call_server(f"stored recording {name!r}")
        raise AriUnknownResource("recording", name)

    async def _list_all(
        self,
        fetch: Callable[[FleetMember], Coroutine[Any, Any, list[_Listed]]],
        owners: _Owners,
    ) -> list[_Listed]:
        """Every server's answer, in server order, each item's owner noted in ``owners``.
        Any server failing fails the whole (its error, not a group): a partial list would
        make the re-sync take that server's live resources for gone."""
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(fetch(server.client)) for server in self.servers]
        except BaseExceptionGroup as group:
            raise group.exceptions[0] from None
        listed: list[_Listed] = []
        for index, task in enumerate(tasks):
            for item in task.result():
                owners.note(item.id, index)
            listed.extend(task.result())
        return listed

    # ------------------------------------------------------------------ channels
    async def list_channels(self) -> list[Channel]:
        """Every server's channels. Raises if one server cannot answer: a partial list would
        make the re-sync take that server's live calls for gone."""
        return await self._list_all(lambda client: client.list_channels(), self._channels)

    async def get_channel(self, channel_id: str) -> Channel:
        return await self._on_channel(channel_id).get_channel(channel_id)

    async def answer(self, channel_id: str) -> None:
        await self._on_channel(channel_id).answer(channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._on_channel(channel_id).hangup(channel_id, reason)

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self._on_channel(channel_id).start_moh(channel_id, moh_class)

    async def stop_moh(self, channel_id: str) -> None:
        await self._on_channel(channel_id).stop_moh(channel_id)

    async def set_channel_var(self, channel_id: str, variable: str, value: str) -> None:
        await self._on_channel(channel_id).set_channel_var(channel_id, variable, value)

    async def get_channel_var(self, channel_id: str, variable: str) -> str | None:
        return await self._on_channel(channel_id).get_channel_var(channel_id, variable)

    async def redirect(self, channel_id: str, endpoint: str) -> None:
        await self._on_channel(channel_id).redirect(channel_id, endpoint)

    async def ring(self, channel_id: str) -> None:
        await self._on_channel(channel_id).ring(channel_id)

    async def ring_stop(self, channel_id: str) -> None:
        await self._on_channel(channel_id).ring_stop(channel_id)

    async def claim(self, channel_id: str) -> bool:
        return await self._on_channel(channel_id).claim(channel_id)

    async def move(self, channel_id: str, app: str, app_args: Iterable[str] = ()) -> None:
        await self._on_channel(channel_id).move(channel_id, app, app_args)

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
        """On the server of ``other_channel_id`` if given, else of the call acted for."""
        index = (
            self._channel_owner(other_channel_id)
            if other_channel_id is not None
            else self._call_server(f"originate {channel_id!r}")
        )
        self._channels.note(channel_id, index)
        return await self.servers[index].client.originate(
            endpoint,
            channel_id,
            app_args=app_args,
            caller_id=caller_id,
            dial_timeout=dial_timeout,
            variables=variables,
            app=app,
            other_channel_id=other_channel_id,
        )

    # ------------------------------------------------------------------ playbacks
    async def play(
        self,
        channel_id: str,
        media: str | Iterable[str],
        playback_id: str,
        lang: str | None = None,
    ) -> Playback:
        index = self._channel_owner(channel_id)
        self._playbacks.note(playback_id, index)
        return await self.servers[index].client.play(channel_id, media, playback_id, lang)

    async def stop_playback(self, playback_id: str) -> None:
        index = self._owner(self._playbacks, "playback", playback_id)
        await self.servers[index].client.stop_playback(playback_id)

    # ------------------------------------------------------------------ bridges
    async def list_bridges(self) -> list[Bridge]:
        return await self._list_all(lambda client: client.list_bridges(), self._bridges)

    async def create_bridge(
        self,
        bridge_id: str,
        type: str = "mixing",  # noqa: A002 - ARI's own parameter name
        name: str | None = None,
    ) -> Bridge:
        """On the server of the call acted for (its caller's channel)."""
        index = self._call_server(f"bridge {bridge_id!r}")
        self._bridges.note(bridge_id, index)
        return await self.servers[index].client.create_bridge(bridge_id, type, name)

    async def add_channel(
        self, bridge_id: str, channel_id: str | Iterable[str], *, role: str | None = None
    ) -> None:
        await self._on_bridge(bridge_id).add_channel(bridge_id, channel_id, role=role)

    async def remove_channel(self, bridge_id: str, channel_id: str | Iterable[str]) -> None:
        await self._on_bridge(bridge_id).remove_channel(bridge_id, channel_id)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._on_bridge(bridge_id).destroy_bridge(bridge_id)

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
        index = self._channel_owner(channel_id)
        self._recordings.note(name, index)
        return await self.servers[index].client.record(
            channel_id,
            name,
            format,
            max_duration=max_duration,
            max_silence=max_silence,
            beep=beep,
            if_exists=if_exists,
            terminate_on=terminate_on,
        )

    async def stop_recording(self, name: str) -> None:
        await self.servers[self._recording_owner(name)].client.stop_recording(name)

    async def get_stored_recording(self, name: str) -> StoredRecording:
        return await self.servers[self._recording_owner(name)].client.get_stored_recording(name)

    async def get_stored_recording_file(self, name: str) -> bytes:
        client = self.servers[self._recording_owner(name)].client
        return await client.get_stored_recording_file(name)

    async def delete_stored_recording(self, name: str) -> None:
        await self.servers[self._recording_owner(name)].client.delete_stored_recording(name)
