"""The per-call edge loop: ARI events in, `CallSession` decisions out, REST calls made.

Theory of operation
-------------------
The `AriClient` delivers events in order per channel. For each event the controller::

    ARI event ──translate──▶ NewCall ──▶ session_factory(call_id, dialed, now) ──┐
                        └──▶ Translated(channel, event) ──▶ session.receive ──────┤
    timer (next_deadline passed) ──────────────────────────▶ session.handle_timer ┤
                                                                                  ▼
                     session.commands() ──▶ REST (answer/play/stop/hangup) ──▶ follow-up
                                            events fed back: Answered, CommandFailed

All work for one call happens under that call's lock, so an event and a timer never step the
same session at once. A command that Asterisk refuses (or that the edge cannot carry out)
becomes ``CommandFailed`` and the rest of that batch (except hang-ups) is dropped: the session
decides what to do next, so a call never hangs silently. When the session is finished the
controller builds the call record (times as ISO-8601 UTC wall clock, a keyed hash of the
caller's number, never the number) and hands it to ``record_sink``. That is the IVR half of
the call: `line311.ari.records.CallRecorder` holds it, for a call handed to a queue, until the
queue leg ends, and writes one record for the whole call.

Command types the controller does not know (``SrLookup``, ``Enqueue``, ``Transfer`` ...) go to
``command_handlers`` registered by type; without one they fail (ERROR log, ``CommandFailed``).
A session that ends without hanging up, without the caller gone and without a handler having
taken the channel over gets its channel hung up, so nobody is left in silence.

Channels that are not IVR sessions belong to *channel owners* (`ChannelOwner`, e.g. the queue
runtime, which takes a caller over with ``Enqueue`` and originates CCR legs): events for a
channel with no session go to the owner that ``owns`` it. StasisStarts whose first argument is
not ``inbound`` go to ``stasis_handlers`` by that argument (``outbound``: channels we
originated; ``agent-feature``: ``*NN`` codes dialled from CCR phones); a kind without a handler
is hung up.

After every (re)connect the controller reconciles with ``GET /channels``: sessions whose
channel vanished while ARI was away end as a caller hang-up; channels sitting in our app with
no session (left over from a previous controller) are hung up after a short grace period,
which lets a StasisStart still in flight claim its channel first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from line311.ari.errors import AriError, AriNotFound
from line311.ari.models import Channel
from line311.ari.translate import NewCall, translate
from line311.call.commands import Answer, Hangup, Play, StopPlayback
from line311.call.events import Answered, CallerHungUp, CommandFailed, Event
from line311.call.record import path_on_wall_clock
from line311.logs import CallLogger, call_logger
from line311.privacy import caller_hash

__all__ = [
    "ARI_HANGUP_REASONS",
    "AriPort",
    "ChannelOwner",
    "CommandHandler",
    "Controller",
    "RawListener",
    "ReactionObserver",
    "RecordSink",
    "SessionFactory",
    "SessionPort",
    "StasisHandler",
]

logger = logging.getLogger(__name__)

ARI_HANGUP_REASONS = frozenset(
    {
        "normal",
        "busy",
        "congestion",
        "no_answer",
        "timeout",
        "rejected",
        "unallocated",
        "normal_unspecified",
        "number_incomplete",
        "codec_mismatch",
        "interworking",
        "failure",
        "answered_elsewhere",
    }
)
"""Values ARI's ``DELETE /channels/{id}?reason=`` accepts; any other session reason -> normal."""

_MAX_COMMANDS_PER_STEP = 64
_ENDED_MEMORY = 4096


class SessionPort(Protocol):
    """What the controller needs of a call session (`line311.ivr.session.CallSession`)."""

    @property
    def finished(self) -> bool: ...

    @property
    def outcome(self) -> object: ...

    def receive(self, event: Event, now: float) -> None: ...

    def commands(self) -> Sequence[object]: ...

    def next_deadline(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def record(self) -> dict[str, Any]: ...


class AriPort(Protocol):
    """The part of `line311.ari.client.AriClient` the controller uses."""

    app: str

    @property
    def connected(self) -> bool: ...

    async def run(
        self,
        on_event: Callable[[dict[str, Any], float], Awaitable[None]],
        on_connected: Callable[[], Awaitable[None]] | None = None,
    ) -> None: ...

    async def list_channels(self) -> list[Channel]: ...

    async def answer(self, channel_id: str) -> None: ...

    async def play(
        self, channel_id: str, media: str | Iterable[str], playback_id: str, lang: str | None = None
    ) -> object: ...

    async def stop_playback(self, playback_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...


SessionFactory = Callable[[str, str, float], SessionPort]
"""``session_factory(call_id, dialed_number, now)``."""
RecordSink = Callable[[dict[str, Any]], Awaitable[None]]
CommandHandler = Callable[[str, Any], Awaitable[Event | None]]
"""``handler(channel_id, command)`` for a command type the controller does not know itself
(e.g. ``SrLookup``, ``Enqueue``): returns an event to feed back (or None). An `AriError` or any
other exception becomes ``CommandFailed``. A handler that succeeds for the command that ends a
session is taken to have handed the channel off (the controller will not hang it up)."""
StasisHandler = Callable[[NewCall, float], Awaitable[None]]
RawListener = Callable[[dict[str, Any]], Awaitable[None]]
"""Sees every raw ARI event first (e.g. the supervisor line, which needs recording events)."""
"""``handler(new_call, received_at)`` for a StasisStart of a kind other than ``inbound``."""
ReactionObserver = Callable[[str, float], None]
"""``observer(operation, seconds)``: time from the ARI event (or timer) to the REST call done."""


class ChannelOwner(Protocol):
    """Something other than an IVR session that handles channels (the queue runtime)."""

    def owns(self, channel_id: str) -> bool: ...

    async def on_channel_event(self, channel_id: str, event: Event, received_at: float) -> None: ...

    def reconcile(self, listed: set[str]) -> None:
        """After a (re)connect: ``listed`` are the channels Asterisk still has."""


@dataclass(eq=False, slots=True)
class _Call:
    channel_id: str
    dialed_number: str
    caller_hash: str | None = field(repr=False)
    session: SessionPort
    log: CallLogger
    started_at: float
    clock_offset: float = 0.0
    """Wall clock minus the session's clock: the record's path times go onto the wall clock."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    answered_at: float | None = None
    timer: asyncio.TimerHandle | None = None
    finished: bool = False
    released: bool = False
    """The channel is hung up or gone: nothing left to clean up in Asterisk."""
    handed_off: bool = False
    """A command handler took the channel over in the current step (e.g. ``Enqueue``)."""


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def ari_hangup_reason(reason: str) -> str:
    """The ARI hang-up reason for a session's (descriptive) reason."""
    return reason if reason in ARI_HANGUP_REASONS else "normal"


class Controller:
    """Runs every call of one ARI application. See the module docstring."""

    def __init__(
        self,
        client: AriPort,
        session_factory: SessionFactory,
        *,
        sounds_uri_prefix: str,
        caller_hash_key: str,
        record_sink: RecordSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        observer: ReactionObserver | None = None,
        command_handlers: Mapping[type[Any], CommandHandler] | None = None,
        orphan_grace: float = 1.0,
        stasis_handlers: Mapping[str, StasisHandler] | None = None,
        channel_owners: Sequence[ChannelOwner] = (),
        raw_listeners: Sequence[RawListener] = (),
    ) -> None:
        self._client = client
        self._factory = session_factory
        self._prefix = sounds_uri_prefix.rstrip("/")
        self._key = caller_hash_key
        self._sink = record_sink
        self._clock = clock
        self._wall = wall_clock
        self._observer = observer
        self._handlers = dict(command_handlers or {})
        self._orphan_grace = orphan_grace
        self._stasis = dict(stasis_handlers or {})
        self._owners = list(channel_owners)
        self._raw_listeners = list(raw_listeners)
        self._calls: dict[str, _Call] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls_handled = 0

    # ------------------------------------------------------------------ public
    @property
    def connected(self) -> bool:
        """True while the ARI event websocket is up (for /health)."""
        return self._client.connected

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def run(self) -> None:
        """Handle calls until cancelled or the client is closed."""
        try:
            await self._client.run(self.on_event, self.on_connected)
        finally:
            await self._shutdown()

    async def on_event(self, raw: dict[str, Any], received_at: float) -> None:
        """Handle one ARI event (called in order per channel by the client)."""
        for listener in self._raw_listeners:
            try:
                await listener(raw)
            except Exception:
                logger.exception("raw ARI event listener %r failed", listener)
        result = translate(raw)
        if result is None:
            return
        if isinstance(result, NewCall):
            await self._on_new_call(result, received_at)
            return
        call = self._calls.get(result.channel_id)
        if call is None:
            owner = self._owner_of(result.channel_id)
            if owner is not None:
                await owner.on_channel_event(result.channel_id, result.event, received_at)
                return
            logger.debug(
                "%s for channel %s that has no call; ignored",
                type(result.event).__name__,
                result.channel_id,
            )
            return
        await self._deliver(call, result.event, received_at)

    async def on_connected(self) -> None:
        """Reconcile with Asterisk after a (re)connect. See the module docstring."""
        before = set(self._calls)
        channels = await self._client.list_channels()
        listed = {c.id for c in channels}
        for owner in self._owners:
            try:
                owner.reconcile(listed)
            except Exception:
                logger.exception("channel owner %r failed to reconcile", owner)
        for channel_id in sorted(before - listed):
            call = self._calls.get(channel_id)
            if call is not None:
                call.log.warning("channel vanished while ARI was away: ending as a hang-up")
                await self._deliver(call, CallerHungUp(), self._clock())
        orphans = [
            c.id
            for c in channels
            if c.stasis_args(self._client.app) is not None
            and c.id not in self._calls
            and self._owner_of(c.id) is None
        ]
        if not orphans:
            return
        await asyncio.sleep(self._orphan_grace)
        for channel_id in orphans:
            if channel_id in self._calls or channel_id in self._ended or self._owner_of(channel_id):
                continue
            logger.warning(
                "hanging up channel %s: it is in app %s but has no call session",
                channel_id,
                self._client.app,
                extra={"channel_id": channel_id},
            )
            await self._hangup_quietly(channel_id)

    # ------------------------------------------------------------------ calls
    async def _on_new_call(self, new: NewCall, received_at: float) -> None:
        if new.channel_id in self._calls or new.channel_id in self._ended:
            logger.debug("StasisStart again for channel %s; ignored", new.channel_id)
            return
        handler = self._stasis.get(new.kind)
        if handler is not None:
            try:
                await handler(new, received_at)
            except Exception:
                logger.exception("StasisStart handler for %r failed; hanging up", new.kind)
                await self._hangup_quietly(new.channel_id)
            return
        if new.kind == "outbound":
            logger.debug("StasisStart of our own outbound channel %s", new.channel_id)
            return
        log = call_logger(logger, call_id=new.channel_id)
        if new.kind != "inbound":
            log.warning("no handler for Stasis calls of kind %r; hanging up", new.kind)
            await self._hangup_quietly(new.channel_id)
            return
        now = self._clock()
        try:
            session = self._factory(new.channel_id, new.dialed_number, now)
        except Exception:
            log.exception("could not create a call session; hanging up")
            await self._hangup_quietly(new.channel_id)
            return
        wall = self._wall()
        call = _Call(
            channel_id=new.channel_id,
            dialed_number=new.dialed_number,
            caller_hash=caller_hash(new.caller_number, self._key),
            session=session,
            log=log,
            started_at=wall,
            clock_offset=wall - now,
        )
        self._calls[new.channel_id] = call
        self.calls_handled += 1
        log.info("call started: dialed %s", new.dialed_number)
        async with call.lock:
            await self._step(call, None, received_at)

    async def _deliver(self, call: _Call, event: Event, received_at: float) -> None:
        async with call.lock:
            if call.finished:
                return
            if isinstance(event, CallerHungUp):
                call.released = True
            await self._step(call, event, received_at)

    async def _step(self, call: _Call, event: Event | None, received_at: float) -> None:
        """Feed ``event`` (None: only run the commands already pending), carry out commands,
        then finish the call or re-arm its timer. Caller holds ``call.lock``."""
        call.handed_off = False
        try:
            if event is not None:
                call.session.receive(event, self._clock())
            await self._drain(call, received_at)
        except Exception:
            call.log.exception("call session step failed; hanging up")
            await self._hangup_quietly(call.channel_id)
            call.released = True
            await self._finish(call, forced_outcome="failed")
            return
        if call.session.finished:
            await self._finish(call)
        else:
            self._arm_timer(call)

    async def _drain(self, call: _Call, received_at: float) -> None:
        executed = 0
        while batch := list(call.session.commands()):
            skipping = False
            for command in batch:
                if skipping and not isinstance(command, Hangup):
                    call.log.debug("dropping %s after a failed command", type(command).__name__)
                    continue
                executed += 1
                if executed > _MAX_COMMANDS_PER_STEP:
                    raise RuntimeError(f"session emitted over {_MAX_COMMANDS_PER_STEP} commands")
                follow_up = await self._execute(call, command, received_at)
                if follow_up is not None:
                    call.session.receive(follow_up, self._clock())
                    skipping = skipping or isinstance(follow_up, CommandFailed)

    async def _execute(self, call: _Call, command: object, received_at: float) -> Event | None:
        """Carry out one command; return the event to feed back (Answered, CommandFailed)."""
        name = type(command).__name__
        follow_up: Event | None = None
        try:
            if isinstance(command, Answer):
                await self._client.answer(call.channel_id)
                call.answered_at = self._wall()
                follow_up = Answered()
            elif isinstance(command, Play):
                media = f"{self._prefix}/{command.language}/{command.prompt_id}"
                await self._client.play(call.channel_id, media, command.playback_id)
            elif isinstance(command, StopPlayback):
                try:
                    await self._client.stop_playback(command.playback_id)
                except AriNotFound:
                    call.log.debug("playback %s already over", command.playback_id)
            elif isinstance(command, Hangup):
                try:
                    await self._client.hangup(call.channel_id, ari_hangup_reason(command.reason))
                except AriNotFound:
                    call.log.debug("channel already gone at hang-up")
                call.released = True
            elif (handler := self._handler_for(command)) is not None:
                follow_up = await handler(call.channel_id, command)
                call.handed_off = True
            else:
                call.log.error("the ARI edge cannot carry out %s; failing it", name)
                return CommandFailed(command=name, reason="unsupported-command")
        except AriError as exc:
            call.log.warning("%s failed: %s", name, exc)
            return CommandFailed(command=name, reason=exc.error_id)
        except Exception:
            call.log.exception("handler for %s failed", name)
            return CommandFailed(command=name, reason="handler-error")
        self._observe(name.lower(), self._clock() - received_at)
        return follow_up

    def _owner_of(self, channel_id: str) -> ChannelOwner | None:
        for owner in self._owners:
            if owner.owns(channel_id):
                return owner
        return None

    def _handler_for(self, command: object) -> CommandHandler | None:
        for cls in type(command).__mro__:
            handler = self._handlers.get(cls)
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

    # ------------------------------------------------------------------ timers
    def _arm_timer(self, call: _Call) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        deadline = call.session.next_deadline()
        if deadline is None:
            return
        delay = max(0.0, deadline - self._clock())
        call.timer = asyncio.get_running_loop().call_later(delay, self._fire_timer, call)

    def _fire_timer(self, call: _Call) -> None:
        call.timer = None
        task = asyncio.create_task(self._on_timer(call), name=f"call-timer-{call.channel_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_timer(self, call: _Call) -> None:
        async with call.lock:
            if call.finished:
                return
            now = self._clock()
            deadline = call.session.next_deadline()
            if deadline is not None and now < deadline:
                self._arm_timer(call)  # woken early (clock skew between loop and clock)
                return
            try:
                call.session.handle_timer(now)
            except Exception:
                call.log.exception("call session timer failed; hanging up")
                await self._hangup_quietly(call.channel_id)
                call.released = True
                await self._finish(call, forced_outcome="failed")
                return
            await self._step(call, None, now)

    # ------------------------------------------------------------------ ending
    async def _finish(self, call: _Call, forced_outcome: str | None = None) -> None:
        if call.finished:
            return
        call.finished = True
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        self._calls.pop(call.channel_id, None)
        self._ended[call.channel_id] = None
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        if not call.released and not call.handed_off:
            call.log.warning("session ended without releasing its channel; hanging up")
            await self._hangup_quietly(call.channel_id)
        record = self._build_record(call, forced_outcome)
        call.log.info("call ended: outcome %s", record["outcome"])
        if self._sink is None:
            return
        try:
            await self._sink(record)
        except Exception as exc:
            call.log.warning("could not deliver the call record: %s", exc)

    def _build_record(self, call: _Call, forced_outcome: str | None) -> dict[str, Any]:
        try:
            path = call.session.record()
        except Exception:
            call.log.exception("session record() failed")
            path = {}
        outcome = call.session.outcome
        if forced_outcome is not None:
            outcome_value = forced_outcome
        elif outcome is None:
            outcome_value = "failed"
        else:
            outcome_value = str(getattr(outcome, "value", outcome))
        path = path_on_wall_clock(path, call.clock_offset)
        language = path.get("language") if isinstance(path, dict) else None
        return {
            "call_id": call.channel_id,
            "dialed_number": call.dialed_number,
            "caller_hash": call.caller_hash,
            "started_at": _iso(call.started_at),
            "answered_at": _iso(call.answered_at),
            "ended_at": _iso(self._wall()),
            "outcome": outcome_value,
            "language": language if isinstance(language, str) and language else "en",
            "path": path,
        }

    async def _hangup_quietly(self, channel_id: str) -> None:
        try:
            await self._client.hangup(channel_id, "normal")
        except AriNotFound:
            pass
        except AriError as exc:
            logger.warning("could not hang up channel %s: %s", channel_id, exc)

    async def _shutdown(self) -> None:
        for call in self._calls.values():
            if call.timer is not None:
                call.timer.cancel()
                call.timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._calls:
            logger.info(
                "controller stopping with %d active call(s); a restarted controller hangs them up",
                len(self._calls),
            )
