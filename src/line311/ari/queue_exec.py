"""Carrying out a queued call's ARI commands (edge of `line311.queue.leg`).

One `LegWorker` per call runs that call's command batches in order, so REST sequences on one
caller's media never interleave. A command that Asterisk refuses is fed back to the leg:
an originate that fails as `ChannelGone`, a bridge step as `CommandFailed` (the rest of its
batch is dropped), a playback always ends in `PlaybackFinished` (bounded wait; the waiting
runs in its own task so the call's next commands are not held up).

Privacy: `ReadContact` keeps the caller's number and address here, in memory only (a field
hidden from ``repr``), for the one dial string of `Originate(callback=True)`; they are never
logged, stored, or handed to the leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from line311.ari.errors import AriError, AriNotFound
from line311.ari.port import AriPort
from line311.call.commands import (
    AddToBridge,
    Command,
    CreateBridge,
    DestroyBridge,
    HangupChannel,
    HideIdentity,
    HoldCaller,
    Originate,
    PlayPrompts,
    ReadContact,
    RemoveFromBridge,
    StartMoh,
    StopMoh,
    StopPlayback,
)
from line311.call.events import (
    ChannelGone,
    CommandFailed,
    ContactRead,
    Event,
    PlaybackFinished,
)

__all__ = ["Contact", "LegWorker"]

logger = logging.getLogger(__name__)

Feed = Callable[[str, Event], None]
"""``feed(call_id, event)``: hand an event back to the call's leg (synchronous)."""
Spawn = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(slots=True)
class Contact:
    """Where to call a resident back. Memory only; never logged (hence repr=False)."""

    number: str = field(repr=False)
    address: str = field(repr=False)


class _Failed(Exception):
    """A critical step failed: the rest of the batch is dropped."""


class LegWorker:
    """Runs one call's command batches in order. See the module docstring."""

    def __init__(
        self,
        call_id: str,
        ari: AriPort,
        *,
        sounds_prefix: str,
        callback_dial: str,
        feed: Feed,
        spawn: Spawn,
    ) -> None:
        self.call_id = call_id
        self._ari = ari
        self._prefix = sounds_prefix.rstrip("/")
        self._dial = callback_dial
        self._feed = feed
        self._spawn = spawn
        self.contact: Contact | None = None
        self.submitted = 0
        self.batches: asyncio.Queue[list[Command] | None] = asyncio.Queue()
        self.done = 0
        """Batches carried out so far."""
        self._ran = asyncio.Event()

    def submit(self, batch: list[Command]) -> int:
        """Queue a batch; returns its number (see `wait_for`)."""
        self.batches.put_nowait(batch)
        self.submitted += 1
        return self.submitted

    async def wait_for(self, number: int) -> None:
        """Return once batch ``number`` has been carried out."""
        while self.done < number:
            self._ran.clear()
            await self._ran.wait()

    def close(self) -> None:
        """No more batches: the worker ends when it has run the ones queued."""
        self.batches.put_nowait(None)

    async def run(self, done: Callable[[], None]) -> None:
        """Run batches until `close`; ``done()`` after each one."""
        while True:
            batch = await self.batches.get()
            if batch is None:
                return
            try:
                for command in batch:
                    await self._execute(command)
            except _Failed:
                pass
            except Exception:
                logger.exception("call %s: queue command failed", self.call_id)
            finally:
                self.done += 1
                self._ran.set()
                done()

    # ------------------------------------------------------------------ commands
    async def _execute(self, command: Command) -> None:
        ari = self._ari
        if isinstance(command, HoldCaller):
            try:
                await ari.create_bridge(command.bridge_id, "holding", command.name)
                await ari.add_channel(command.bridge_id, command.channel_id)
                await ari.start_moh(command.channel_id)
            except AriNotFound:
                logger.info("call %s: caller left while being put on hold", self.call_id)
                self._feed(self.call_id, ChannelGone(command.channel_id))
                raise _Failed from None
            except AriError as exc:
                logger.warning("call %s: could not put the caller on hold: %s", self.call_id, exc)
        elif isinstance(command, StartMoh):
            await self._quietly(ari.start_moh(command.channel_id))
        elif isinstance(command, StopMoh):
            await self._quietly(ari.stop_moh(command.channel_id))
        elif isinstance(command, PlayPrompts):
            await self._play(command)
        elif isinstance(command, StopPlayback):
            with contextlib.suppress(AriError):
                await ari.stop_playback(command.playback_id)
        elif isinstance(command, Originate):
            await self._originate(command)
        elif isinstance(command, HangupChannel):
            await self._quietly(ari.hangup(command.channel_id, "normal"))
        elif isinstance(command, DestroyBridge):
            await self._quietly(ari.destroy_bridge(command.bridge_id))
        elif isinstance(command, CreateBridge):
            await self._critical(ari.create_bridge(command.bridge_id, "mixing", command.name))
        elif isinstance(command, AddToBridge):
            ids = command.channel_ids
            target: str | list[str] = ids[0] if len(ids) == 1 else list(ids)
            if command.critical:
                await self._critical(ari.add_channel(command.bridge_id, target))
            else:
                await self._quietly(ari.add_channel(command.bridge_id, target))
        elif isinstance(command, RemoveFromBridge):
            try:
                await ari.remove_channel(command.bridge_id, command.channel_id)
            except AriNotFound:
                pass
            except AriError as exc:
                self._fail(command, exc)
        elif isinstance(command, HideIdentity):
            await self._hide(command)
        elif isinstance(command, ReadContact):
            self.contact = await self._read_contact(command.channel_id)
            self._feed(self.call_id, ContactRead(self.contact is not None))
        else:  # pragma: no cover - the leg emits router commands only to the runtime
            logger.error("call %s: no executor for %r", self.call_id, command)

    def _fail(self, command: object, exc: AriError) -> None:
        self._feed(self.call_id, CommandFailed(type(command).__name__, str(exc)))
        raise _Failed from exc

    async def _critical(self, step: Coroutine[Any, Any, object]) -> None:
        try:
            await step
        except AriError as exc:
            self._feed(self.call_id, CommandFailed("bridge", str(exc)))
            raise _Failed from exc

    async def _quietly(self, step: Coroutine[Any, Any, object]) -> None:
        try:
            await step
        except AriNotFound:
            pass
        except AriError as exc:
            logger.warning("call %s: %s", self.call_id, exc)

    async def _originate(self, command: Originate) -> None:
        endpoint = command.endpoint
        if command.callback:
            contact = self.contact
            if contact is None:
                self._feed(self.call_id, ChannelGone(command.channel_id))
                return
            endpoint = self._dial.format(number=contact.number, address=contact.address)
        try:
            await self._ari.originate(
                endpoint,
                command.channel_id,
                app_args=command.app_args,
                caller_id=command.caller_id,
                dial_timeout=command.dial_timeout,
            )
        except AriError as exc:
            logger.warning(
                "call %s: could not originate %s: %s", self.call_id, command.app_args[1], exc
            )
            self._feed(self.call_id, ChannelGone(command.channel_id))

    async def _play(self, command: PlayPrompts) -> None:
        """Start the playback here (in order); wait for its end in another task."""
        media = [f"{self._prefix}/{command.language}/{p}" for p in command.prompts]
        expecting = self._ari.expect("PlaybackFinished", playback_id=command.playback_id)
        finished = await expecting.__aenter__()
        try:
            await self._ari.play(command.channel_id, media, command.playback_id)
        except BaseException as exc:
            await expecting.__aexit__(None, None, None)
            if not isinstance(exc, AriError):
                raise
            if not isinstance(exc, AriNotFound):
                logger.warning("call %s: playback failed: %s", self.call_id, exc)
            self._feed(self.call_id, PlaybackFinished(command.playback_id, failed=True))
            return
        self._spawn(self._await_playback(command, finished, expecting))

    async def _await_playback(
        self,
        command: PlayPrompts,
        finished: asyncio.Future[dict[str, Any]],
        expecting: contextlib.AbstractAsyncContextManager[Any],
    ) -> None:
        failed = False
        try:
            event = await asyncio.wait_for(finished, command.max_wait)
        except TimeoutError:
            logger.warning(
                "playback %s did not finish in %.0f s", command.playback_id, command.max_wait
            )
        else:
            failed = (event.get("playback") or {}).get("state") == "failed"
            if failed:
                logger.warning("playback %s failed (missing prompt?)", command.playback_id)
        finally:
            await expecting.__aexit__(None, None, None)
        self._feed(self.call_id, PlaybackFinished(command.playback_id, failed=failed))

    async def _hide(self, command: HideIdentity) -> None:
        """Bridging sends each side the other's identity: a resident's number must not reach
        the CCR's phone, so the channel gets a neutral caller id first."""
        for variable, value in (
            ("CALLERID(name)", command.name),
            ("CALLERID(num)", command.number),
        ):
            try:
                await self._ari.set_channel_var(command.channel_id, variable, value)
            except AriNotFound as exc:
                self._fail(command, exc)
            except AriError as exc:
                logger.warning("call %s: could not set %s: %s", self.call_id, variable, exc)

    async def _read_contact(self, channel_id: str) -> Contact | None:
        try:
            channel = await self._ari.get_channel(channel_id)
            address = await self._ari.get_channel_var(channel_id, "CHANNEL(pjsip,remote_addr)")
        except AriError:
            return None
        if not channel.caller_number or not address:
            return None
        return Contact(number=channel.caller_number, address=address)
