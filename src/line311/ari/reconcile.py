"""What the runner does after every (re)connect of the ARI websocket (edge).

``GET /channels``, then: held calls whose channel vanished end as a caller hang-up, or as
lost with their media server when the Asterisk that held the channel started after the call
did (``GET /asterisk/info``'s ``startup_time``, asked once per server per re-sync: the
``CallerHungUp`` then says ``media_server_lost`` and the record ``media_server_lost``); a
channel attached to a call that vanished, e.g. a CCR's, is hung up for it; every
stored call whose channel still exists and that this runner does not hold is rebuilt
(``kind.resume`` + ``Resumed``: the IVR replays the interrupted prompt, a queued caller takes
their place again and hears music); all are rebuilt before any is told, queued calls in the
order they entered their queue, so the router ranks them as before; a stored call whose
channel is gone is rebuilt and ended as a hang-up, or as lost, told apart the same way (so
its record is written). After a short grace (a StasisStart in flight may claim its channel),
channels nobody holds that are talking (in a mixing bridge with someone else: a caller and
their CCR) are left in their conversation;
a caller channel (``inbound``) still in our app with no state starts the IVR afresh (a defined
outcome, never silence); other channels nobody holds are hung up.
Events that come for channels nobody holds before this process's first re-sync has resumed
its stored calls (a key pressed during a restart or a rolling takeover) are kept and handled
once it has, in order; after that, such events are dropped as before.
One runner per store: leases across processes are issue 12.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

from line311.ari.calls import Call, ClaimedChannels, StasisPlugs
from line311.ari.errors import AriError
from line311.ari.executor import Executor
from line311.ari.kinds import CallFacts, SessionKind
from line311.ari.port import AriPort
from line311.ari.translate import NewCall
from line311.call.events import CallerHungUp, Event, Resumed
from line311.call.ports import Session
from line311.call.store import SessionStore

__all__ = ["Reconciling"]

logger = logging.getLogger("line311.ari.runner")


class Reconciling:
    """The reconnect half of `line311.ari.runner.Runner` (which provides what is declared here)."""

    _client: AriPort
    _kinds: dict[str, SessionKind]
    _calls: dict[str, Call]
    _channels: dict[str, Call]
    _ended: OrderedDict[str, None]
    _stasis: StasisPlugs
    _orphan_grace: float
    _monotonic: Callable[[], float]
    _exec: Executor
    _tg: asyncio.TaskGroup | None
    _claims: ClaimedChannels | None
    _synced: bool
    _held: list[tuple[dict[str, Any], float]]
    _after_resync: Callable[[set[str]], Coroutine[Any, Any, None]] | None
    store: SessionStore

    async def on_event(self, raw: dict[str, Any], received_at: float) -> None:
        raise NotImplementedError

    async def _deliver(self, call: Call, event: Event, received_at: float) -> None:
        raise NotImplementedError

    async def _on_new_call(self, new: NewCall, received_at: float) -> None:
        raise NotImplementedError

    def _hold(self, kind: SessionKind, session: Session, facts: CallFacts) -> Call:
        raise NotImplementedError

    async def on_connected(self) -> None:
        """Reconcile with Asterisk after a (re)connect. See `line311.ari.reconcile`."""
        try:
            await self._reconcile()
        finally:
            await self._release_held()

    async def _release_held(self) -> None:
        """Once the stored calls are resumed (the first re-sync of this process), the events
        that came for them meanwhile are handled, in the order they came; the others are
        dropped as before."""
        if self._synced:
            return
        self._synced = True
        held, self._held = self._held, []
        for raw, received_at in held:
            await self.on_event(raw, received_at)

    async def _reconcile(self) -> None:
        channels = await self._client.list_channels()
        listed = {c.id: c for c in channels}
        starts: dict[str, datetime | None] = {}
        for call in [c for c in self._calls.values() if c.channel_id not in listed]:
            event = await self._vanished(call, starts)
            if not event.media_server_lost:
                call.log.warning("channel vanished while ARI was away: ending as a hang-up")
            await self._deliver(call, event, self._monotonic())
        await self._attached_gone(list(self._calls.values()), set(listed))
        await self._resume_stored(set(listed), starts)
        if self._after_resync is not None:
            try:  # e.g. the controller takes up hand-offs a restart left in flight
                await self._after_resync(set(listed))
            except Exception:
                logger.exception("the re-sync's follow-up failed")
        await self._release_held()  # before any orphan's grace: the resumed calls go on now
        orphans = [
            c
            for c in channels
            if c.stasis_args(self._client.app) is not None and c.id not in self._channels
        ]
        if orphans and self._claims is not None and any(c.broadcast for c in orphans):
            try:  # of the broadcast channels, only the ones this process claimed are its own
                claimed = await self._claims()
            except Exception as exc:
                logger.warning("cannot read the claimed channels (%s): none taken up", exc)
                claimed = set()
            orphans = [c for c in orphans if not c.broadcast or c.id in claimed]
        if not orphans:
            return
        await asyncio.sleep(self._orphan_grace)
        talking = await self._talking()
        for channel in orphans:
            if channel.id in self._channels or channel.id in self._ended:
                continue
            if channel.id in talking:
                logger.warning(
                    "channel %s has no call session but is talking: left in its conversation",
                    channel.id, extra={"channel_id": channel.id},
                )  # fmt: skip
                continue
            args = channel.stasis_args(self._client.app) or ()
            if args[:1] == ("inbound",) and self._tg is not None:
                logger.warning(
                    "channel %s is in app %s with no stored state: starting its IVR again",
                    channel.id, self._client.app, extra={"channel_id": channel.id},
                )  # fmt: skip
                new = NewCall(
                    channel_id=channel.id,
                    kind="inbound",
                    dialed_number=args[1] if len(args) > 1 and args[1] else channel.dialplan_exten,
                    caller_number=channel.caller_number or None,
                    args=tuple(args[1:]),
                    channel_name=channel.name,
                )
                await self._on_new_call(new, self._monotonic())
                continue
            logger.warning(
                "hanging up channel %s: it is in app %s but has no call session",
                channel.id, self._client.app, extra={"channel_id": channel.id},
            )  # fmt: skip
            await self._exec.hangup_quietly(channel.id)

    async def _talking(self) -> set[str]:
        """Channels in a mixing bridge with at least one other channel (a conversation)."""
        try:
            bridges = await self._client.list_bridges()
        except AriError as exc:
            logger.warning("could not list bridges (%s): treating no channel as talking", exc)
            return set()
        return {
            channel
            for bridge in bridges
            if bridge.bridge_type == "mixing" and len(bridge.channels) >= 2
            for channel in bridge.channels
        }

    async def _vanished(self, call: Call, starts: dict[str, datetime | None]) -> CallerHungUp:
        """How ``call``'s vanished channel went: lost with its Asterisk if that server started
        after the call did, else a hang-up. ``starts`` caches each server's start time for
        this re-sync (one ``GET /asterisk/info`` per server, not per call)."""
        try:
            server = self._client.media_server_of(call.channel_id)
        except AriError as exc:
            call.log.warning("cannot tell whether its media server restarted (%s)", exc)
            return CallerHungUp()
        if server not in starts:
            try:
                starts[server] = await self._client.media_server_started(server)
            except AriError as exc:
                logger.warning(
                    "cannot tell whether media server %s restarted (%s): its vanished calls"
                    " end as hang-ups", server, exc, extra={"server": server},
                )  # fmt: skip
                starts[server] = None
        started = starts[server]
        if started is None or started.timestamp() <= call.facts.started_at:
            return CallerHungUp()
        call.log.warning(
            "call %s: media server %s restarted at %s, after the call began: lost with it",
            call.call_id, server, started.isoformat(), extra={"server": server},
        )  # fmt: skip
        return CallerHungUp(media_server_lost=True)

    async def _resume_stored(self, listed: set[str], starts: dict[str, datetime | None]) -> None:
        """Rebuild every stored call this runner does not hold: all of them first (in the
        order they started, queued calls in the order they entered their queue), then each
        is told (``Resumed``, or a hang-up if its channel is gone)."""
        try:
            call_ids = await self.store.call_ids()
        except Exception as exc:
            logger.warning("cannot list stored calls (%s); none resumed", exc)
            return
        entries: list[tuple[str, dict[str, Any]]] = []
        for call_id in call_ids:
            if call_id in self._calls or self._tg is None:
                continue
            try:
                entry = await self.store.load(call_id)
            except Exception as exc:
                logger.warning("cannot load call %s (%s); not resumed", call_id, exc)
                continue
            if entry is not None:
                entries.append((call_id, dict(entry)))
        entries.sort(key=_resume_order)
        resumed: list[Call] = []
        for call_id, entry in entries:
            if call_id in self._calls or self._tg is None:
                continue
            try:
                kind = self._kinds[entry["kind"]]
                facts = CallFacts.from_dict(entry["call"])
                session = kind.resume(entry["state"], facts)
            except Exception as exc:
                logger.warning("cannot resume call %s (%s); its state is dropped", call_id, exc)
                with contextlib.suppress(Exception):
                    await self.store.delete(call_id)
                continue
            resumed.append(self._hold(kind, session, facts))
        for call in resumed:
            gone = call.channel_id not in listed
            call.log.info(
                "call resumed (%s)%s", call.kind.name, ": its channel is gone" if gone else ""
            )
            event = await self._vanished(call, starts) if gone else Resumed()
            await self._deliver(call, event, self._monotonic())
        await self._attached_gone(resumed, listed)

    async def _attached_gone(self, calls: list[Call], listed: set[str]) -> None:
        """The attached channels (a CCR's, a callback's) that vanished while nobody listened
        are hung up for their calls (their hang-up event was lost)."""
        for call in calls:
            adopt = call.kind.adopt
            for channel_id in sorted(call.attached):
                if channel_id in listed or call.finished or adopt is None:
                    continue
                event = adopt(channel_id, CallerHungUp())
                call.log.warning("channel %s vanished while ARI was away", channel_id)
                self.detach(channel_id)
                if event is not None:
                    await self._deliver(call, event, self._monotonic())

    def detach(self, channel_id: str) -> None:
        raise NotImplementedError


def _resume_order(item: tuple[str, Mapping[str, Any]]) -> tuple[float, str]:
    """Stored calls in the order they started; a queued call by when it entered its queue."""
    call_id, entry = item
    state = entry.get("state")
    leg = state.get("leg") if isinstance(state, Mapping) else None
    at = leg.get("entered_at") if isinstance(leg, Mapping) else None
    if at is None:
        call = entry.get("call")
        at = call.get("started_at") if isinstance(call, Mapping) else None
    try:
        return (float(at) if at is not None else 0.0, call_id)
    except (TypeError, ValueError):
        return (0.0, call_id)
