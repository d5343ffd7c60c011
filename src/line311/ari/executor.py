"""Carrying out one session command (edge): the runner's hands.

The commands every kind shares (``Answer``, ``Play``, ``StopPlayback``, ``Hangup``, and the
recording ones ``Record``, ``StopRecording``, ``PlayRecording``) are REST calls made here;
any other command goes to the handler registered for its type (the session kind's first,
then the runner-wide ones). Whatever goes wrong comes back as a ``CommandFailed`` event for
the session to decide on; nothing raises out of `execute`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from line311.ari.calls import Call, ReactionObserver, ari_hangup_reason
from line311.ari.errors import AriError, AriNotFound
from line311.ari.kinds import CommandHandler, HandOver, SessionKind
from line311.ari.port import AriPort, acting_for
from line311.call.commands import (
    Answer,
    Hangup,
    Play,
    PlayRecording,
    Record,
    StopPlayback,
    StopRecording,
)
from line311.call.events import Answered, CommandFailed, Event
from line311.call.ports import Clock

__all__ = ["Executor"]

logger = logging.getLogger(__name__)


class Executor:
    """See the module docstring. ``monotonic`` times reactions for ``observer`` only."""

    def __init__(
        self,
        client: AriPort,
        *,
        sounds_uri_prefix: str,
        clock: Clock,
        monotonic: Callable[[], float],
        observer: ReactionObserver | None,
        handlers: Mapping[type[Any], CommandHandler],
    ) -> None:
        self._client = client
        self._prefix = sounds_uri_prefix.rstrip("/")
        self._clock = clock
        self._monotonic = monotonic
        self._observer = observer
        self._handlers = dict(handlers)

    async def execute(self, call: Call, command: object, received_at: float) -> Event | None:
        """Carry out one command; return the event to feed back (Answered, CommandFailed).
        Every REST call it makes acts for the call (`acting_for`: with several Asterisks,
        what it creates is created on the server of the call's channel)."""
        with acting_for(call.channel_id):
            return await self._execute(call, command, received_at)

    async def _execute(self, call: Call, command: object, received_at: float) -> Event | None:
        name = type(command).__name__
        follow_up: Event | None = None
        channel_id = call.channel_id
        try:
            if isinstance(command, Answer):
                await self._client.answer(channel_id)
                call.facts.answered_at = call.facts.answered_at or self._clock.now()
                follow_up = Answered()
            elif isinstance(command, Play):
                # one media list: played in turn, one PlaybackFinished after the last
                prompts = ((command.prompt_id, command.language), *command.then)
                uris = [f"{self._prefix}/{language}/{prompt}" for prompt, language in prompts]
                await self._client.play(
                    channel_id, uris[0] if len(uris) == 1 else uris, command.playback_id
                )
            elif isinstance(command, StopPlayback):
                try:
                    await self._client.stop_playback(command.playback_id)
                except AriNotFound:
                    call.log.debug("playback %s already over", command.playback_id)
            elif isinstance(command, PlayRecording):
                media = f"recording:{command.name}"
                await self._client.play(channel_id, media, command.playback_id)
            elif isinstance(command, Record):
                await self._client.record(
                    channel_id,
                    command.name,
                    "wav",
                    max_duration=command.max_seconds,
                    beep=command.beep,
                    if_exists="overwrite",
                    terminate_on=command.terminate_on,
                )
            elif isinstance(command, StopRecording):
                await self._client.stop_recording(command.name)
            elif isinstance(command, Hangup):
                try:
                    await self._client.hangup(channel_id, ari_hangup_reason(command.reason))
                except AriNotFound:
                    call.log.debug("channel already gone at hang-up")
                call.released = True
            elif (handler := self._handler_for(call.kind, command)) is not None:
                answer = await handler(channel_id, command)
                call.handed_off = True
                if isinstance(answer, HandOver):
                    call.hand_over = (answer.kind, command)
                else:
                    follow_up = answer
            else:
                call.log.error("the ARI edge cannot carry out %s; failing it", name)
                return CommandFailed(command=name, reason="unsupported-command")
        except AriError as exc:
            call.log.warning("%s failed: %s", name, exc)
            return CommandFailed(command=name, reason=exc.error_id)
        except Exception:
            call.log.exception("handler for %s failed", name)
            return CommandFailed(command=name, reason="handler-error")
        self._observe(name.lower(), self._monotonic() - received_at)
        return follow_up

    async def hangup_quietly(self, channel_id: str) -> None:
        """Hang ``channel_id`` up; a channel already gone is fine, other errors are logged."""
        try:
            await self._client.hangup(channel_id, "normal")
        except AriNotFound:
            pass
        except AriError as exc:
            logger.warning("could not hang up channel %s: %s", channel_id, exc)

    def _handler_for(self, kind: SessionKind, command: object) -> CommandHandler | None:
        for table in (kind.handlers, self._handlers):
            for cls in type(command).__mro__:
                handler = table.get(cls)
                if handler is not None:
                    return handler
        return None

    def _observe(self, operation: str, seconds: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer(operation, seconds)
        except Exception:
            logger.exception("reaction-time observer failed")
