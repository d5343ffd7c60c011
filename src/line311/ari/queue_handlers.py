"""The queued call's ARI commands as command handlers (edge of `line311.queue.leg`).

Each handler is ``await handler(call_id, command) -> Event | None`` (the call id is the
caller's channel id), a `line311.ari.kinds.CommandHandler`: the handlers of the ``queue``
session kind (`line311.ari.queue_kind`), which the runner's executor calls in order per call.
What Asterisk refuses comes
back as an event for the leg: an originate that fails as `ChannelGone`, a bridge step as
`CommandFailed` (`stops_batch`: the rest of its batch is dropped), a playback that cannot
start as a failed `PlaybackFinished`. Waiting for a playback's end is not a handler's job (its
end is Asterisk's event; the leg has a deadline for it).

Privacy: `ReadContact` keeps the caller's number and address here (a field hidden from
``repr``), for the one dial string of `Originate(callback=True)`; they are never logged or
handed to the leg. With a `ContactSeal` the contact is also kept sealed (`sealed`): the queue
kind saves that token with the call's state so a restarted controller can still call back
(`restore`); without one it lives in this process's memory only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from line311.ari.contact_seal import Contact, ContactSeal, ContactSealError
from line311.ari.errors import AriError, AriNotFound
from line311.ari.port import AriPort
from line311.call.commands import (
    AddToBridge,
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

__all__ = ["Contact", "LegHandler", "QueueHandlers", "stops_batch"]

logger = logging.getLogger(__name__)

LegHandler = Callable[[str, Any], Awaitable[Event | None]]
"""``handler(call_id, command)``: carry one leg command out; an event for the leg or None."""


def stops_batch(command: object, event: Event | None) -> bool:
    """True when ``event`` (``command``'s answer) means the rest of the batch must not run:
    a critical step failed, or the caller left while being put on hold."""
    return isinstance(event, CommandFailed) or (
        isinstance(command, HoldCaller) and isinstance(event, ChannelGone)
    )


class QueueHandlers:
    """The handlers of every queued call's ARI commands; keeps each call's `Contact`."""

    def __init__(
        self,
        ari: AriPort,
        *,
        sounds_prefix: str,
        callback_dial: str,
        seal: ContactSeal | None = None,
    ) -> None:
        self._ari = ari
        self._prefix = sounds_prefix.rstrip("/")
        self._dial = callback_dial
        self._seal = seal
        self.contacts: dict[str, Contact] = {}
        """call id -> the resident's contact (`ReadContact`), until `forget`."""
        self.sealed: dict[str, str] = {}
        """call id -> the same contact sealed (with a `ContactSeal`), for the saved state."""

    def handlers(self) -> Mapping[type[Any], LegHandler]:
        return {
            HoldCaller: self.hold,
            StartMoh: self.start_moh,
            StopMoh: self.stop_moh,
            PlayPrompts: self.play,
            StopPlayback: self.stop_playback,
            Originate: self.originate,
            HangupChannel: self.hangup,
            DestroyBridge: self.destroy_bridge,
            CreateBridge: self.create_bridge,
            AddToBridge: self.add_to_bridge,
            RemoveFromBridge: self.remove_from_bridge,
            HideIdentity: self.hide,
            ReadContact: self.read_contact,
        }

    def forget(self, call_id: str) -> None:
        """The call is over: drop its contact."""
        self.contacts.pop(call_id, None)
        self.sealed.pop(call_id, None)

    def restore(self, call_id: str, token: str) -> None:
        """A resumed call's contact from its saved ``token``; `ContactSealError` when the
        token does not open (no `ContactSeal`: it cannot open either)."""
        if self._seal is None:
            raise ContactSealError("no callback contact key to open a sealed contact")
        self.contacts[call_id] = self._seal.open(call_id, token)
        self.sealed[call_id] = token

    # ------------------------------------------------------------------ handlers
    async def hold(self, call_id: str, command: HoldCaller) -> Event | None:
        try:
            await self._ari.start_moh(command.channel_id)
        except AriNotFound:
            logger.info("call %s: caller left while being put on hold", call_id)
            return ChannelGone(command.channel_id)
        except AriError as exc:
            logger.warning("call %s: could not put the caller on hold: %s", call_id, exc)
        return None

    async def start_moh(self, call_id: str, command: StartMoh) -> Event | None:
        return await self._quietly(call_id, self._ari.start_moh(command.channel_id))

    async def stop_moh(self, call_id: str, command: StopMoh) -> Event | None:
        return await self._quietly(call_id, self._ari.stop_moh(command.channel_id))

    async def play(self, call_id: str, command: PlayPrompts) -> Event | None:
        """Start the playback (its end arrives as `PlaybackFinished` from Asterisk)."""
        media = [f"{self._prefix}/{command.language}/{p}" for p in command.prompts]
        try:
            await self._ari.play(command.channel_id, media, command.playback_id)
        except AriError as exc:
            if not isinstance(exc, AriNotFound):
                logger.warning("call %s: playback failed: %s", call_id, exc)
            return PlaybackFinished(command.playback_id, failed=True)
        return None

    async def stop_playback(self, call_id: str, command: StopPlayback) -> Event | None:
        with contextlib.suppress(AriError):
            await self._ari.stop_playback(command.playback_id)
        return None

    async def originate(self, call_id: str, command: Originate) -> Event | None:
        endpoint = command.endpoint
        if command.callback:
            contact = self.contacts.get(call_id)
            if contact is None:
                return ChannelGone(command.channel_id)
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
            logger.warning("call %s: could not originate %s: %s", call_id, command.app_args[1], exc)
            return ChannelGone(command.channel_id, unreachable=True)
        if command.callback:
            self.forget(call_id)  # dialled: the contact is needed no more
        return None

    async def hangup(self, call_id: str, command: HangupChannel) -> Event | None:
        return await self._quietly(call_id, self._ari.hangup(command.channel_id, "normal"))

    async def destroy_bridge(self, call_id: str, command: DestroyBridge) -> Event | None:
        return await self._quietly(call_id, self._ari.destroy_bridge(command.bridge_id))

    async def create_bridge(self, call_id: str, command: CreateBridge) -> Event | None:
        return await _critical(self._ari.create_bridge(command.bridge_id, "mixing", command.name))

    async def add_to_bridge(self, call_id: str, command: AddToBridge) -> Event | None:
        ids = command.channel_ids
        target: str | list[str] = ids[0] if len(ids) == 1 else list(ids)
        step = self._ari.add_channel(command.bridge_id, target)
        if command.critical:
            return await _critical(step)
        return await self._quietly(call_id, step)

    async def remove_from_bridge(self, call_id: str, command: RemoveFromBridge) -> Event | None:
        try:
            await self._ari.remove_channel(command.bridge_id, command.channel_id)
        except AriNotFound:
            pass
        except AriError as exc:
            return CommandFailed(type(command).__name__, str(exc))
        return None

    async def hide(self, call_id: str, command: HideIdentity) -> Event | None:
        """Bridging sends each side the other's identity: a resident's number must not reach
        the CCR's phone, so the channel gets a neutral caller id first, name and number in
        one request (``CALLERID(all)``: ``"name" <number>``)."""
        name = command.name.replace('"', "").replace("\\", "")
        try:
            await self._ari.set_channel_var(
                command.channel_id, "CALLERID(all)", f'"{name}" <{command.number}>'
            )
        except AriNotFound as exc:
            return CommandFailed(type(command).__name__, str(exc))
        except AriError as exc:
            logger.warning("call %s: could not set its neutral caller id: %s", call_id, exc)
        return None

    async def read_contact(self, call_id: str, command: ReadContact) -> Event | None:
        contact = await self._read_contact(command.channel_id)
        self.forget(call_id)
        if contact is not None:
            self.contacts[call_id] = contact
            if self._seal is not None:
                self.sealed[call_id] = self._seal.seal(call_id, contact)
        return ContactRead(contact is not None)

    # ------------------------------------------------------------------ helpers
    async def _read_contact(self, channel_id: str) -> Contact | None:
        try:
            channel = await self._ari.get_channel(channel_id)
            address = await self._ari.get_channel_var(channel_id, "CHANNEL(pjsip,remote_addr)")
        except AriError:
            return None
        if not channel.caller_number or not address:
            return None
        return Contact(number=channel.caller_number, address=address)

    async def _quietly(self, call_id: str, step: Coroutine[Any, Any, object]) -> Event | None:
        """A step whose failure the leg need not hear of (logged unless the channel is gone)."""
        try:
            await step
        except AriNotFound:
            pass
        except AriError as exc:
            logger.warning("call %s: %s", call_id, exc)
        return None


async def _critical(step: Coroutine[Any, Any, object]) -> Event | None:
    try:
        await step
    except AriError as exc:
        return CommandFailed("bridge", str(exc))
    return None
