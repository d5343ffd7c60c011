"""The supervisor phone line's ARI edge: runs a `SupervisorSession` on a channel.

The controller hands over channels that entered Stasis as ``agent-feature`` with the
supervisor feature code (``*80``) and forwards their raw ARI events::

    line = SupervisorLine(ari, service, sounds_uri_prefix=..., clock=clock, save=..., forget=...)
    async with line:                                     # or a task running line.run()
        await line.start(channel_id, line=channel_name)  # on StasisStart
        await line.on_event(raw_event)                   # every ARI event
        await line.resume(channel_id, saved_state)       # a call another process ran

Each call is one task in the line's `asyncio.TaskGroup`, driving its session the way every
session kind is driven: execute its commands (feeding back the events they answer with),
save its `to_dict`, then wait for the next translated event until its deadline (then
`handle_timer`). The generic commands (answer, play, record, hang up) go to ARI here; the
supervisor line's own (`CheckPin`, `CheckAudio`, `SubmitAlert`) to
`line311.messaging.phone_steps`. When the call ends its state is forgotten and the stored
recordings it made are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from line311.ari.errors import AriError
from line311.ari.port import AriPort
from line311.ari.translate import translate_phone_event
from line311.call.commands import (
    Answer,
    Hangup,
    Play,
    PlayRecording,
    Record,
    StopPlayback,
    StopRecording,
)
from line311.call.events import CallerHungUp, CommandFailed, Event
from line311.call.ports import Clock, SystemClock
from line311.messaging.alert_service import AlertService
from line311.messaging.errors import MessagingError
from line311.messaging.phone import SupervisorSession
from line311.messaging.phone_steps import CommandHandler, SupervisorSteps

__all__ = ["SUPERVISOR_FEATURE_CODE", "SupervisorLine"]

logger = logging.getLogger(__name__)

SUPERVISOR_FEATURE_CODE = "*80"


def _no_save(call_id: str, state: dict[str, Any]) -> None:
    """The default `save`: states are not kept."""


def _no_forget(call_id: str) -> None:
    """The default `forget`."""


@dataclass(eq=False, slots=True)
class _Call:
    channel_id: str
    session: SupervisorSession
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)


class SupervisorLine:
    """Supervisor calls in progress (see the module docstring).

    ``save(call_id, state)`` is called with the session's `to_dict` after every step and
    ``forget(call_id)`` when the call ends (the shared session store); both default to
    doing nothing.
    """

    def __init__(
        self,
        ari: AriPort,
        service: AlertService,
        *,
        sounds_uri_prefix: str,
        max_failures: int = 3,
        lockout_seconds: float = 900,
        max_record_seconds: int = 180,
        clock: Clock | None = None,
        save: Callable[[str, dict[str, Any]], None] = _no_save,
        forget: Callable[[str], None] = _no_forget,
    ) -> None:
        self._ari = ari
        self._prefix = sounds_uri_prefix.rstrip("/")
        self._max_failures = max_failures
        self._max_record = max_record_seconds
        self._clock = clock or SystemClock()
        self._save = save
        self._forget = forget
        steps = SupervisorSteps(
            ari,
            service,
            max_failures=max_failures,
            lockout_seconds=lockout_seconds,
            clock=self._clock,
        )
        self._handlers: dict[type, CommandHandler] = steps.handlers()
        self._calls: dict[str, _Call] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._closing = asyncio.Event()

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    # ------------------------------------------------------------------ lifetime
    async def __aenter__(self) -> SupervisorLine:
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leaves every call still in progress (cancels its task; its channel and saved
        state stay for the next process) and waits for them."""
        group, self._group = self._group, None
        for task in list(self._tasks.values()):
            task.cancel()
        assert group is not None
        await group.__aexit__(exc_type, exc, tb)

    async def run(self) -> None:
        """Serve calls until `close` (or until cancelled)."""
        async with self:
            await self._closing.wait()

    async def close(self) -> None:
        """Stop `run`: the calls in progress are left as they are (see `__aexit__`)."""
        self._closing.set()
        for task in list(self._tasks.values()):
            task.cancel()

    # ------------------------------------------------------------------ calls
    async def start(self, channel_id: str, *, line: str) -> None:
        """Answer ``channel_id`` and run the supervisor line on it. ``line`` is the calling
        endpoint; a channel name (``PJSIP/agent3-0000001a``) is reduced to the endpoint
        (``PJSIP/agent3``) so failed sign-ins count per phone across calls."""
        if line.startswith("PJSIP/") and "-" in line:
            line = line.rsplit("-", 1)[0]
        session = SupervisorSession(
            channel_id,
            self._clock.now(),
            line=line,
            max_failures=self._max_failures,
            max_record_seconds=self._max_record,
        )
        self._spawn(_Call(channel_id, session))

    async def resume(self, channel_id: str, state: dict[str, Any]) -> None:
        """Carry on a call whose session state another controller process saved."""
        self._spawn(_Call(channel_id, SupervisorSession.from_dict(state)))

    def _spawn(self, call: _Call) -> None:
        if self._group is None:
            raise MessagingError("the supervisor line is not running")
        self._calls[call.channel_id] = call
        task = self._group.create_task(self._drive(call), name=f"supervisor-line-{call.channel_id}")
        self._tasks[call.channel_id] = task

    # -- the controller's ChannelOwner protocol: supervisor-line channels are ours, so the
    # controller neither treats them as orphans after a reconnect nor logs their events.
    def owns(self, channel_id: str) -> bool:
        return channel_id in self._calls

    async def on_channel_event(self, channel_id: str, event: object, received_at: float) -> None:
        """Translated events are not needed: `on_event` sees the raw ones first."""

    def reconcile(self, listed: set[str]) -> None:
        for channel_id, call in list(self._calls.items()):
            if channel_id not in listed:
                call.events.put_nowait(CallerHungUp())

    async def on_event(self, raw: dict[str, Any]) -> None:
        """Feed one raw ARI event; events of other channels are ignored."""
        translated = translate_phone_event(raw)
        if translated is None:
            return
        call = self._calls.get(translated.channel_id)
        if call is not None:
            call.events.put_nowait(translated.event)

    # ------------------------------------------------------------------ one call
    async def _drive(self, call: _Call) -> None:
        """event -> receive -> execute the commands -> save -> wait until the deadline."""
        session = call.session
        handed_over = False
        try:
            await self._step(call)
            while not session.finished:
                deadline = session.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self._clock.now())
                try:
                    async with asyncio.timeout(timeout):
                        event = await call.events.get()
                except TimeoutError:
                    session.handle_timer(self._clock.now())
                else:
                    session.receive(event, self._clock.now())
                await self._step(call)
        except asyncio.CancelledError:
            # the controller stops: the call lives on in Asterisk, its saved state (and its
            # recordings) for the next process to `resume`
            handed_over = True
            raise
        except Exception:
            logger.exception("supervisor line failed on %s; hanging up", call.channel_id)
            with contextlib.suppress(Exception):
                await self._ari.hangup(call.channel_id)
        finally:
            self._calls.pop(call.channel_id, None)
            self._tasks.pop(call.channel_id, None)
            if handed_over:
                logger.info("supervisor line call left running: %s", _summary(session))
            else:
                self._forget(call.channel_id)
                for name in session.recordings:
                    with contextlib.suppress(Exception):
                        await self._ari.delete_stored_recording(name)
                logger.info("supervisor line call ended: %s", _summary(session))

    async def _step(self, call: _Call) -> None:
        """Execute what the session asks (and what the answers lead to), then save it."""
        session = call.session
        while batch := session.commands():
            for command in batch:
                follow = await self._execute(call.channel_id, command)
                if follow is not None:
                    session.receive(follow, self._clock.now())
                    if session.finished:
                        break  # the rest of this batch is moot; the hang-up comes next
        if not session.finished:
            try:
                self._save(call.channel_id, session.to_dict())
            except Exception as exc:  # the call goes on; only a restart would lose it
                logger.warning("cannot save supervisor line call %s: %s", call.channel_id, exc)

    async def _execute(self, channel_id: str, command: object) -> Event | None:
        """Carry out one command; the event it answers with (or `CommandFailed`)."""
        ari = self._ari
        name = type(command).__name__
        try:
            if isinstance(command, Answer):
                await ari.answer(channel_id)
            elif isinstance(command, Play):
                media = f"{self._prefix}/{command.language}/{command.prompt_id}"
                await ari.play(channel_id, [media], command.playback_id)
            elif isinstance(command, PlayRecording):
                await ari.play(channel_id, [f"recording:{command.name}"], command.playback_id)
            elif isinstance(command, StopPlayback):
                await ari.stop_playback(command.playback_id)
            elif isinstance(command, Record):
                await ari.record(
                    channel_id,
                    command.name,
                    "wav",
                    max_duration=command.max_seconds,
                    beep=command.beep,
                    if_exists="overwrite",
                    terminate_on=command.terminate_on,
                )
            elif isinstance(command, StopRecording):
                await ari.stop_recording(command.name)
            elif isinstance(command, Hangup):
                await ari.hangup(channel_id, command.reason)
            elif (handler := self._handlers.get(type(command))) is not None:
                return await handler(channel_id, command)
            else:
                logger.error("the supervisor line cannot carry out %s", name)
                return CommandFailed(command=name, reason="unsupported-command")
        except AriError as exc:
            logger.debug("%s on %s failed: %s", name, channel_id, exc)
            return CommandFailed(command=name, reason=exc.error_id)
        return None


def _summary(session: SupervisorSession) -> dict[str, Any]:
    """What happened (for logs): never the PIN, nor the whole state."""
    state = session.to_dict()
    keys = ("call_id", "state", "username", "outcome", "alert_id", "takes", "failures")
    return {key: state[key] for key in keys}
