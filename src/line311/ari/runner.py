"""The one driver of every call session: ARI events in, session commands out, REST calls made.

(A little over 400 lines: the per-call loop, its locking and its timers read best in one place;
reconnecting is in `line311.ari.reconcile`, executing commands in `line311.ari.executor`.)

Theory of operation
-------------------
The `AriClient` delivers events in order per channel. For each event the runner::

    ARI event ──translate──▶ NewCall ──▶ kind.start(CallStart) ───────────┐   (kind: accepts)
                        └──▶ Translated(channel, event) ──▶ session.receive ┤
    per-call task: next_deadline passed ─────────────────▶ session.handle_timer
                                                                            ▼
      session.commands() ──▶ Answer/Play/StopPlayback/Hangup: REST ──▶ follow-up events fed
                        └──▶ other commands: kind.handlers / command_handlers    back
      then: store.save(call_id, {kind, state: session.to_dict(), call: facts})
      finished: kind.ended(Ended) (its record), store.delete(call_id)

A call is a `_Call`: its session, the runner's `CallFacts` (dialed number, caller hash, start
and answer times) and one task in the runner's `asyncio.TaskGroup` that sleeps until the
session's ``next_deadline`` and then calls ``handle_timer``. Events and timers step a session
under the call's lock, one at a time. Every ``now`` a session sees comes from the injected
`Clock` (wall-clock epoch seconds), so a state saved here means the same in another process.

A command Asterisk refuses (or nobody can carry out) becomes ``CommandFailed`` and the rest of
that batch (except hang-ups) is dropped: the session decides what next, so a call never hangs
silently. A session that ends without hanging up, without the caller gone and without a
handler having taken the channel over gets its channel hung up.

Session kinds plug in through `line311.ari.kinds.SessionKind` (see there, with how the
queue leg and the supervisor line plug in). What a kind runs besides its calls (the queue
router's task, which feeds its decisions in with `deliver`) is given as ``tasks`` and runs in
the same task group.

After every (re)connect the runner reconciles with Asterisk and resumes stored calls: see
`line311.ari.reconcile`.

On shutdown the calls are left as they are (their state stays in the store) for the next
runner to carry on; a graceful stop first drains (`line311.ari.handover`): it stops taking
calls and freezes each call between steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import Any

from line311.ari.calls import (
    ARI_HANGUP_REASONS,
    BroadcastHandler,
    ClaimedChannels,
    ReactionObserver,
    StasisHandler,
    StasisPlugs,
    ari_hangup_reason,
    outcome_value,
)
from line311.ari.calls import Call as _Call
from line311.ari.executor import Executor
from line311.ari.handover import Handover
from line311.ari.kinds import CallFacts, CallStart, CommandHandler, Ended, SessionKind
from line311.ari.port import AriPort, acting_for
from line311.ari.reconcile import Reconciling
from line311.ari.translate import NewCall, translate
from line311.call.commands import Hangup
from line311.call.events import CallerHungUp, CommandFailed, Event
from line311.call.ports import Clock, Session, SystemClock
from line311.call.store import InMemorySessionStore, SessionStore
from line311.logs import call_logger
from line311.privacy import caller_hash

__all__ = ["ARI_HANGUP_REASONS", "Runner", "ari_hangup_reason"]

logger = logging.getLogger(__name__)

_MAX_COMMANDS_PER_STEP = 64
_ENDED_MEMORY = 4096
_HELD_MAX = 10_000
"""Events kept for calls not resumed yet (until the first re-sync has resumed them)."""


class Runner(Reconciling, Handover):
    """Runs every call of one ARI application. See the module docstring.

    ``monotonic`` is only a stopwatch for the reaction-time ``observer`` (the client stamps
    events with it); sessions never see it.
    """

    def __init__(
        self,
        client: AriPort,
        kinds: Sequence[SessionKind],
        *,
        sounds_uri_prefix: str,
        caller_hash_key: str,
        clock: Clock | None = None,
        store: SessionStore | None = None,
        observer: ReactionObserver | None = None,
        command_handlers: Mapping[type[Any], CommandHandler] | None = None,
        orphan_grace: float = 1.0,
        stasis_handlers: Mapping[str, StasisHandler] | None = None,
        tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
        monotonic: Callable[[], float] = time.monotonic,
        broadcasts: BroadcastHandler | None = None,
        claims: ClaimedChannels | None = None,
        after_resync: Callable[[set[str]], Coroutine[Any, Any, None]] | None = None,
        watchers: Mapping[str, Callable[[dict[str, Any]], None]] | None = None,
    ) -> None:
        self._client = client
        self._kinds = {kind.name: kind for kind in kinds}
        self._key = caller_hash_key
        self._clock: Clock = clock or SystemClock()
        self.store: SessionStore = store if store is not None else InMemorySessionStore()
        self._exec = exe = Executor(
            client,
            sounds_uri_prefix=sounds_uri_prefix,
            clock=self._clock,
            monotonic=monotonic,
            observer=observer,
            handlers=command_handlers or {},
        )
        self._stasis = StasisPlugs(stasis_handlers, exe.hangup_quietly)
        self._tasks = tuple(tasks)
        self._orphan_grace = orphan_grace
        self._monotonic = monotonic
        self._broadcasts = broadcasts
        self._claims = claims
        self._after_resync = after_resync
        self._watchers = dict(watchers or {})
        """ARI event type -> a handler of events about no call (e.g. `line311.ari.phones`)."""
        self._calls: dict[str, _Call] = {}
        self._channels: dict[str, _Call] = {}
        self._synced = False
        self._held: list[tuple[dict[str, Any], float]] = []
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._tg: asyncio.TaskGroup | None = None
        self.calls_handled = 0
        self.accepting = True
        """False once draining (`Handover.drain`): new calls are left for the next runner."""

    # ------------------------------------------------------------------ public
    @property
    def connected(self) -> bool:
        """True while the ARI event websocket is up (for /health)."""
        return self._client.connected

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    def holds(self, call_id: str) -> bool:
        return call_id in self._calls

    async def run(self) -> None:
        """Handle calls until cancelled or the client stops (closed, or its application taken
        over by a newer controller: the calls are then handed over, see `drain`)."""
        async with self.running():
            await self._client.run(self.on_event, self.on_connected)
            await self.drain(save=False)  # whoever has the application now drives them

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Runner]:
        """The task group the calls' tasks run in (`run` uses it; tests feed `on_event`)."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            services = [tg.create_task(task(), name="runner-task") for task in self._tasks]
            try:
                yield self
            finally:
                self._tg = None
                for service in services:
                    service.cancel()
                for call in self._calls.values():
                    if call.task is not None:
                        call.task.cancel()
                if self._calls:
                    logger.info(
                        "runner stopping with %d active call(s); their state stays stored",
                        len(self._calls),
                    )
                self._calls.clear()
                self._channels.clear()

    def attach(self, channel_id: str, call_id: str) -> None:
        """Route ``channel_id``'s events to call ``call_id`` (via its kind's ``adopt``)."""
        call = self._calls.get(call_id)
        if call is not None:
            self._channels[channel_id] = call
            call.attached.add(channel_id)

    def detach(self, channel_id: str) -> None:
        call = self._channels.get(channel_id)
        if call is not None and channel_id != call.channel_id:
            del self._channels[channel_id]
            call.attached.discard(channel_id)

    async def deliver(self, call_id: str, event: Event) -> bool:
        """Feed ``event`` to call ``call_id``'s session as if Asterisk had sent it (a decision
        made elsewhere, e.g. the queue router's offer for a queued call). False when this
        runner holds no such call."""
        call = self._calls.get(call_id)
        if call is None:
            return False
        await self._deliver(call, event, self._monotonic())
        return True

    async def tick(self) -> None:
        """Step every call whose deadline has passed now. Each call's task does this by
        itself; this is for a clock that jumps (tests, simulations)."""
        for call in list(self._calls.values()):
            await self._on_timer(call)

    async def on_event(self, raw: dict[str, Any], received_at: float) -> None:
        """Handle one ARI event (called in order per channel by the client)."""
        if self._broadcasts is not None and raw.get("type") == "CallBroadcast":
            await self._broadcasts(raw)  # an IVR worker's offer of a new call: claim it or not
            return
        watcher = self._watchers.get(raw.get("type"))  # type: ignore[arg-type]
        if watcher is not None:
            watcher(raw)
            return
        result = translate(raw)
        if result is None:
            return
        channel_id = result.channel_id
        call = self._channels.get(channel_id)
        if call is not None and channel_id != call.channel_id:
            event = (
                call.kind.adopt(channel_id, result if isinstance(result, NewCall) else result.event)
                if call.kind.adopt
                else None
            )
            if event is not None:
                await self._deliver(call, event, received_at)
            return
        if isinstance(result, NewCall):
            await self._on_new_call(result, received_at)
        elif call is not None:
            await self._deliver(call, result.event, received_at)
        elif not self._synced and len(self._held) < _HELD_MAX:
            # before the first re-sync has resumed the stored calls (a restart, a rolling
            # takeover): the event may be for one of them (a key pressed meanwhile)
            self._held.append((raw, received_at))
        else:
            logger.debug(
                "%s for channel %s that has no call; ignored",
                type(result.event).__name__,
                channel_id,
            )

    # ------------------------------------------------------------------ starting calls
    async def _on_new_call(self, new: NewCall, received_at: float) -> None:
        if new.channel_id in self._channels or new.channel_id in self._ended:
            logger.debug("StasisStart again for channel %s; ignored", new.channel_id)
            return
        if not self.accepting:
            logger.info("draining: channel %s left for the next controller", new.channel_id)
            return
        kind = next((k for k in self._kinds.values() if k.accepts and k.accepts(new)), None)
        if kind is None:
            await self._stasis.stasis(new, received_at)
            return
        log = call_logger(logger, call_id=new.channel_id)
        now = self._clock.now()
        start = CallStart(
            call_id=new.channel_id,
            channel_id=new.channel_id,
            dialed_number=new.dialed_number,
            now=now,
            args=new.args,
            channel_name=new.channel_name,
        )
        try:
            session = kind.start(start)
        except Exception:
            log.exception("could not create a call session; hanging up")
            await self._exec.hangup_quietly(new.channel_id)
            return
        facts = CallFacts(
            call_id=new.channel_id,
            channel_id=new.channel_id,
            dialed_number=new.dialed_number,
            caller_hash=caller_hash(new.caller_number, self._key),
            started_at=now,
        )
        await self._begin(kind, session, facts, received_at, f"started: dialed {new.dialed_number}")

    async def start_call(self, new: NewCall, received_at: float) -> None:
        """Start a call as if its StasisStart had just come (e.g. a hand-off that was lost:
        its IVR starts again)."""
        await self._on_new_call(new, received_at)

    async def take(self, kind_name: str, start: CallStart, facts: CallFacts) -> bool:
        """Carry on a call that another controller process started (a hand-off from an IVR
        worker): a session of ``kind_name`` from ``start`` (its ``cause``), with the call's own
        ``facts``; then step and save it like any call. False when this runner cannot (not
        running, draining, or it already holds the channel)."""
        if self._tg is None or not self.accepting or start.channel_id in self._channels:
            return False
        kind = self._kinds[kind_name]
        session = kind.start(start)
        await self._begin(kind, session, facts, self._monotonic(), f"taken over: {kind_name}")
        return True

    async def _begin(
        self, kind: SessionKind, session: Session, facts: CallFacts, received_at: float, how: str
    ) -> None:
        """Hold a new call (``how`` it came, for the log) and run its first step."""
        call = self._hold(kind, session, facts)
        self.calls_handled += 1
        call.log.info("call %s", how)
        async with call.lock:
            await self._step(call, None, received_at)

    def _hold(self, kind: SessionKind, session: Session, facts: CallFacts) -> _Call:
        if self._tg is None:
            raise RuntimeError("the runner is not running (use `async with runner.running()`)")
        call = _Call(
            kind=kind, session=session, facts=facts, log=call_logger(logger, call_id=facts.call_id)
        )
        self._calls[facts.call_id] = call
        self._channels[facts.channel_id] = call
        call.task = self._tg.create_task(self._watch(call), name=f"call-{facts.call_id}")
        return call

    # ------------------------------------------------------------------ stepping
    async def _deliver(self, call: _Call, event: Event, received_at: float) -> None:
        async with call.lock:
            if call.finished:
                return
            if isinstance(event, CallerHungUp):
                call.released = True
            await self._step(call, event, received_at)

    async def _step(self, call: _Call, event: Event | None, received_at: float) -> None:
        """Feed ``event`` (None: only run the commands already pending), carry out commands,
        then finish the call (or hand it on) or save it and re-arm its timer.
        Caller holds ``call.lock``."""
        call.handed_off = False
        call.hand_over = None
        try:
            if event is not None:
                call.session.receive(event, self._clock.now())
            await self._drain(call, received_at)
        except Exception:
            call.log.exception("call session step failed; hanging up")
            await self._exec.hangup_quietly(call.channel_id)
            call.released = True
            await self._finish(call, forced_outcome="failed")
            return
        if call.session.finished and call.hand_over is not None:
            await self._hand_over(call, *call.hand_over, received_at)
        elif call.session.finished:
            await self._finish(call)
        else:
            await self._save(call)
            call.wake.set()

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
                follow_up = await self._exec.execute(call, command, received_at)
                if follow_up is not None:
                    call.session.receive(follow_up, self._clock.now())
                    stops = call.kind.stops_batch
                    skipping = (
                        skipping
                        or isinstance(follow_up, CommandFailed)
                        or (stops is not None and stops(command, follow_up))
                    )

    async def _save(self, call: _Call) -> None:
        try:
            entry = {
                "kind": call.kind.name,
                "state": call.session.to_dict(),
                "call": call.facts.to_dict(),
            }
            await self.store.save(call.call_id, entry)
        except Exception as exc:
            call.log.warning("could not save the call's state (%s); it cannot be resumed", exc)

    # ------------------------------------------------------------------ timers
    async def _watch(self, call: _Call) -> None:
        """The call's task: wake the session at its deadline, until the call is over."""
        try:
            while not call.finished:
                call.wake.clear()
                deadline = call.session.next_deadline()
                delay = None if deadline is None else deadline - self._clock.now()
                if delay is not None and delay <= 0:
                    await self._on_timer(call)
                    if not call.finished and call.session.next_deadline() == deadline:
                        raise RuntimeError(f"the session stays at its deadline {deadline}")
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await call.wake.wait()
        except Exception:
            call.log.exception("call task failed; hanging up")
            async with call.lock:
                await self._exec.hangup_quietly(call.channel_id)
                call.released = True
                await self._finish(call, forced_outcome="failed")

    async def _on_timer(self, call: _Call) -> None:
        async with call.lock:
            if call.finished:
                return
            now = self._clock.now()
            deadline = call.session.next_deadline()
            if deadline is None or now < deadline:
                return
            try:
                call.session.handle_timer(now)
            except Exception:
                call.log.exception("call session timer failed; hanging up")
                await self._exec.hangup_quietly(call.channel_id)
                call.released = True
                await self._finish(call, forced_outcome="failed")
                return
            await self._step(call, None, self._monotonic())

    # ------------------------------------------------------------------ ending
    async def _hand_over(
        self, call: _Call, kind_name: str, cause: object, received_at: float
    ) -> None:
        kind = self._kinds.get(kind_name)
        if kind is None:
            call.log.error("hand-over to unknown session kind %r; hanging up", kind_name)
            call.handed_off = False
            await self._finish(call)
            return
        await self._report(call, call.session, None, handed_over=True)
        start = CallStart(
            call_id=call.call_id,
            channel_id=call.channel_id,
            dialed_number=call.facts.dialed_number,
            now=self._clock.now(),
            cause=cause,
        )
        try:
            session = kind.start(start)
        except Exception:
            call.log.exception("could not start the %s session; hanging up", kind_name)
            call.handed_off = False
            await self._finish(call, forced_outcome="failed", report=False)
            return
        call.log.info("call handed over: %s -> %s", call.kind.name, kind_name)
        call.kind, call.session = kind, session
        await self._step(call, None, received_at)

    async def _finish(
        self, call: _Call, forced_outcome: str | None = None, *, report: bool = True
    ) -> None:
        if call.finished:
            return
        call.finished = True
        call.wake.set()
        self._calls.pop(call.call_id, None)
        for channel_id in (call.channel_id, *call.attached):
            self._channels.pop(channel_id, None)
        self._ended[call.channel_id] = None
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        if not call.released and not call.handed_off:
            call.log.warning("session ended without releasing its channel; hanging up")
            await self._exec.hangup_quietly(call.channel_id)
        try:
            await self.store.delete(call.call_id)
        except Exception as exc:
            call.log.warning("could not delete the call's stored state: %s", exc)
        if report:
            await self._report(call, call.session, forced_outcome)

    async def _report(
        self, call: _Call, session: Session, forced: str | None, *, handed_over: bool = False
    ) -> None:
        outcome = forced or outcome_value(session.outcome)
        if not handed_over:
            call.log.info("call ended: outcome %s", outcome)
        if call.kind.ended is None:
            return
        ended = Ended(call.facts, session, outcome, self._clock.now(), handed_over)
        try:
            with acting_for(call.channel_id):  # e.g. the supervisor line deletes its takes
                await call.kind.ended(ended)
        except Exception:
            call.log.exception("the %s session's end hook failed", call.kind.name)
