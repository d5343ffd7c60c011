"""IVR workers: several controller processes share the IVR of new calls (edge glue).

With ``ivr_workers = N >= 1`` the dialplan offers each resident's call to every worker with
``StasisBroadcast(timeout, ^<app>-w[0-9])`` (``asterisk_conf/extensions.conf``); worker k runs
the Stasis app ``<app>-w<k>`` (`worker_app`) and claims what it can take (`Claimer`, the
first claim wins, the others get 409). No worker claims in time (all busy, all restarting):
the dialplan hands the call to the controller, ``Stasis(<app>)``, which runs the IVR itself.

The controller (app ``<app>``) keeps what is one for the whole line: the queues and the
router, the CCRs, the supervisor line, the wallboard. A worker's caller who asks for a
representative is moved to it::

    worker: IVR Enqueue ──handler──▶ HandOver("handoff"): the IVR half of the record is kept
            HandoffSession: MoveCall ──▶ handoffs.put(call, {enqueue, record}),
                                         POST /channels/{id}/move?app=<app>&appArgs=handover
    controller: StasisStart handover ──▶ `HandIn`: handoffs.get, queue Enqueue (the router
            ranks it as of now), the IVR record to the recorder, Runner.take("queue", ...),
            handoffs.mark_taken

A worker that dies keeps its calls: Asterisk holds them in its (inactive) app, the
supervisor starts it again under the same app name, and it resumes them from its own
session store like a restarted controller (`line311.ari.reconcile`); a broadcast channel it
claimed but had not saved yet (its claim is in ``handoffs.claimed``) starts the IVR again.
A hand-off in flight when the controller restarts is taken up at its re-sync (`HandIn.sweep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from line311.ari.errors import AriError
from line311.ari.ivr_kind import iso_time
from line311.ari.kinds import CallFacts, CallStart, Ended, HandOver, SessionKind
from line311.ari.port import AriPort
from line311.ari.translate import NewCall
from line311.call.commands import Enqueue
from line311.call.events import CallerHungUp, Event, MoveFailed
from line311.call.handoff import HandoffSession, MoveCall, StartHold
from line311.call.ports import Clock

if TYPE_CHECKING:
    from line311.ari.runner import Runner
    from line311.live.handoffs import Handoffs

LOAD_EVERY = 0.1
"""Seconds between two shares of a worker's load while it changes (`Claimer.run`)."""
LOAD_UNCHANGED_EVERY = 0.5
"""Seconds between two shares of a load that has not changed: a quarter of
`line311.live.handoffs.LOAD_FRESH`, past which the others take the worker for away."""

__all__ = [
    "HANDOFF_KIND",
    "HANDOVER_ARG",
    "Claimer",
    "HandIn",
    "IvrHandoff",
    "Rescuer",
    "worker_app",
]

logger = logging.getLogger(__name__)

HANDOFF_KIND = "handoff"
HANDOVER_ARG = "handover"
"""The first Stasis argument of a channel moved from a worker to the controller."""

RecordSink = Callable[[dict[str, Any]], Awaitable[None]]


def worker_app(app: str, index: int) -> str:
    """The Stasis app of IVR worker ``index`` (1-based): ``line311-w1``."""
    if index < 1:
        raise ValueError(f"IVR worker numbers start at 1, got {index}")
    return f"{app}-w{index}"


# ---------------------------------------------------------------------- worker side
class Claimer:
    """A worker's answer to ``CallBroadcast``: claim the call while below ``max_calls``.

    The least loaded worker claims first: each shares its load every `LOAD_EVERY` seconds
    (`run`) and learns the least load of the others, and one busier than that waits
    ``spread`` seconds per call of difference (at most ``max_wait``) before it claims, so the
    call goes to the idler one without a shared counter per call. A worker that does not
    answer (restarting, stuck) simply never wins. The claim is written down once won
    (``handoffs.claim``), in a task of its own so that the call's greeting never waits on
    Redis: a restarted worker takes its claimed channels for its own.
    """

    def __init__(
        self,
        client: AriPort,
        handoffs: Handoffs,
        *,
        load: Callable[[], int],
        accepting: Callable[[], bool],
        max_calls: int,
        clock: Clock,
        spread: float = 0.002,
        max_wait: float = 0.05,
        on_claimed: Callable[[], object] | None = None,
    ) -> None:
        self._client = client
        self._handoffs = handoffs
        self._load = load
        self._accepting = accepting
        self._max = max_calls
        self._clock = clock
        self._spread = spread
        self._max_wait = max_wait
        self._on_claimed = on_claimed
        self.least = 0
        """The least load among the workers, as last shared."""
        self.claimed = 0
        self.lost = 0
        self._claimed_since = asyncio.Event()
        """Set by each claim won: `run` shares the new load without waiting."""
        self._writing: dict[str, asyncio.Task[None]] = {}
        """Claims won and being written down (`forget` waits for its call's)."""

    def wait_for(self, load: int) -> float:
        """Seconds to let a less loaded worker claim first."""
        return min(max(0, load - self.least) * self._spread, self._max_wait)

    async def run(
        self, every: float = LOAD_EVERY, unchanged_every: float = LOAD_UNCHANGED_EVERY
    ) -> None:
        """Share this worker's load and learn the least one, for ever: at most once every
        ``every`` seconds, at once after a claim (what the others must hear of soon), and
        every ``unchanged_every`` seconds otherwise (a call that ended, or nothing: an idle
        worker still says it is there, well within ``LOAD_FRESH``, and sleeps meanwhile)."""
        shared: int | None = None
        shared_at = float("-inf")
        while True:
            load, now = self._load(), self._clock.now()
            if load != shared or now - shared_at >= unchanged_every:
                try:
                    self.least = await self._handoffs.share_load(self._client.app, load, now)
                except Exception as exc:
                    logger.debug("worker load not shared (%s)", exc)
                    self.least = 0
                    shared = None
                else:
                    shared, shared_at = load, now
                await asyncio.sleep(every)
                continue
            self._claimed_since.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, unchanged_every - (now - shared_at))):
                    await self._claimed_since.wait()

    async def on_broadcast(self, event: Mapping[str, Any]) -> None:
        channel = event.get("channel")
        channel_id = channel.get("id") if isinstance(channel, Mapping) else None
        if not isinstance(channel_id, str) or not channel_id:
            logger.warning("dropping a CallBroadcast without a channel id")
            return
        load = self._load()
        if not self._accepting() or load >= self._max:
            return  # another worker, or the controller after the timeout, takes it
        pause = self.wait_for(load)
        if pause > 0:
            await asyncio.sleep(pause)
        try:
            won = await self._client.claim(channel_id)
        except AriError as exc:
            logger.warning("could not claim channel %s: %s", channel_id, exc)
            won = False
        if not won:
            self.lost += 1
            return
        self.claimed += 1
        self._claimed_since.set()
        if self._on_claimed is not None:
            self._on_claimed()
        # written down beside the call, not before it: the call's StasisStart waits in this
        # channel's lane behind this handler, so a slow or absent Redis would hold its greeting
        write = asyncio.create_task(self._write_claim(channel_id), name=f"claim-{channel_id}")
        self._writing[channel_id] = write
        write.add_done_callback(lambda _t: self._writing.pop(channel_id, None))

    async def _write_claim(self, channel_id: str) -> None:
        try:
            await self._handoffs.claim(self._client.app, channel_id, self._clock.now())
        except Exception as exc:
            logger.warning("claim of channel %s not written down: %s", channel_id, exc)

    async def forget(self, channel_id: str) -> None:
        """The call ended (or was handed off): its claim goes, after it was written down."""
        writing = self._writing.get(channel_id)
        if writing is not None:
            await asyncio.wait([writing])
        try:
            await self._handoffs.unclaim(self._client.app, channel_id)
        except Exception as exc:
            logger.warning("could not drop the claim of channel %s: %s", channel_id, exc)

    async def settle(self, within: float) -> None:
        """Wait up to ``within`` seconds for the claims being written down (at shutdown: a
        restarted worker finds its calls by their claims)."""
        if self._writing:
            await asyncio.wait(list(self._writing.values()), timeout=within)

    async def claimed_channels(self) -> set[str]:
        return await self._handoffs.claimed(self._client.app)


class IvrHandoff:
    """A worker's side of the hand-off: the IVR's ``Enqueue`` handler, the IVR record sink
    (the record of a handed-off call travels with it; the others go to ``record_sink``), and
    the ``handoff`` session kind that moves the channel to the controller's ``target_app``."""

    def __init__(
        self,
        client: AriPort,
        handoffs: Handoffs,
        *,
        target_app: str,
        record_sink: RecordSink,
        clock: Clock,
        on_handed_off: Callable[[], object] | None = None,
    ) -> None:
        self._client = client
        self._handoffs = handoffs
        self._on_handed_off = on_handed_off
        self._target = target_app
        self._sink = record_sink
        self._clock = clock
        self._pending: dict[str, dict[str, Any]] = {}
        self.handed_off = 0

    async def enqueue(self, channel_id: str, command: Enqueue) -> HandOver:
        self._pending[channel_id] = {
            "enqueue": {
                "language": command.language,
                "topic": command.topic,
                "priority": command.priority,
            },
            "record": None,
        }
        return HandOver(HANDOFF_KIND)

    async def record_sink(self, record: dict[str, Any]) -> None:
        pending = self._pending.get(str(record.get("call_id")))
        if pending is not None:
            pending["record"] = record
            return
        await self._sink(record)

    def session_kind(self) -> SessionKind:
        return SessionKind(
            name=HANDOFF_KIND,
            start=lambda start: HandoffSession(
                start.call_id, self._target, (HANDOVER_ARG,), start.now
            ),
            resume=lambda state, facts: HandoffSession.from_dict(state),
            handlers={MoveCall: self._move, StartHold: self._hold},
            ended=self._ended,
        )

    async def _move(self, channel_id: str, command: MoveCall) -> Event | None:
        call_id = command.channel_id
        payload = self._pending.get(call_id)
        try:
            if payload is not None:  # kept until stored: a failed put is tried again with it
                await self._handoffs.put(call_id, {**payload, "at": self._clock.now()})
                del self._pending[call_id]
            elif await self._handoffs.taken(call_id):
                return CallerHungUp()  # the controller has it already (we restarted mid-move)
            elif await self._handoffs.get(call_id) is None:
                logger.warning(
                    "call %s: its hand-off was lost with a restart; the controller starts its"
                    " IVR again", call_id, extra={"call_id": call_id},
                )  # fmt: skip
        except Exception as exc:  # the live state is away: music, and another try in a second
            logger.warning(
                "call %s: hand-off not stored (%s); trying again", call_id, exc,
                extra={"call_id": call_id},
            )  # fmt: skip
            return MoveFailed()
        await self._client.move(call_id, command.app, command.args)
        return None

    async def _hold(self, channel_id: str, command: StartHold) -> Event | None:
        await self._client.start_moh(command.channel_id)
        return None

    async def _ended(self, done: Ended) -> None:
        call_id = done.facts.call_id
        pending = self._pending.pop(call_id, None)
        if done.outcome != "failed":
            self.handed_off += 1
            if self._on_handed_off is not None:
                self._on_handed_off()
            return
        # never reached the controller: the IVR half is the call's record (still here when
        # the hand-off was never stored)
        payload = pending
        if payload is None:
            try:
                payload = await self._handoffs.get(call_id)
                await self._handoffs.drop(call_id)
            except Exception as exc:
                logger.warning("call %s: its record is lost (%s)", call_id, exc)
                return
        record = (payload or {}).get("record")
        if isinstance(record, dict):
            record = {**record, "outcome": "failed", "ended_at": iso_time(self._clock.now())}
            await self._sink(record)


# ---------------------------------------------------------------------- controller side
class HandIn:
    """The controller's side: a channel moved in by a worker (StasisStart ``handover``)
    joins its queue with the worker's ``Enqueue`` and record (`on_stasis`); `sweep` takes up
    hand-offs left in flight by a restart."""

    def __init__(
        self,
        handoffs: Handoffs,
        *,
        enqueue: Callable[[str, Enqueue], Awaitable[object]],
        record_sink: RecordSink,
        runner: Callable[[], Runner],
        queue_kind: str,
        restart_ivr: Callable[[NewCall, float], Awaitable[None]],
        clock: Clock,
    ) -> None:
        self._handoffs = handoffs
        self._enqueue = enqueue
        self._sink = record_sink
        self._runner = runner
        self._queue_kind = queue_kind
        self._restart_ivr = restart_ivr
        self._clock = clock
        self.taken = 0

    async def on_stasis(self, new: NewCall, received_at: float) -> None:
        try:
            payload = await self._handoffs.get(new.channel_id)
        except Exception as exc:
            logger.warning("call %s: cannot read its hand-off (%s)", new.channel_id, exc)
            payload = None
        if payload is not None:
            try:
                command, record, facts = _read(new.channel_id, payload, self._clock.now())
            except (KeyError, TypeError, ValueError) as exc:
                logger.error(
                    "call %s: unreadable hand-off (%s): starting its IVR again",
                    new.channel_id, exc, extra={"call_id": new.channel_id},
                )  # fmt: skip
                with contextlib.suppress(Exception):
                    await self._handoffs.drop(new.channel_id)
            else:
                await self._take(new.channel_id, command, record, facts)
                return
        else:
            logger.warning(
                "call %s was moved here without a hand-off: starting its IVR again",
                new.channel_id, extra={"call_id": new.channel_id},
            )  # fmt: skip
        await self._restart_ivr(
            NewCall(
                channel_id=new.channel_id,
                kind="inbound",
                dialed_number=new.dialed_number,
                caller_number=new.caller_number,
                channel_name=new.channel_name,
            ),
            received_at,
        )

    async def take(self, call_id: str, payload: Mapping[str, Any]) -> bool:
        """Put the call in line as if its IVR had run here; False when it could not be."""
        try:
            command, record, facts = _read(call_id, payload, self._clock.now())
        except (KeyError, TypeError, ValueError) as exc:
            logger.error("call %s: unreadable hand-off (%s); dropped", call_id, exc)
            with contextlib.suppress(Exception):
                await self._handoffs.drop(call_id)
            return False
        return await self._take(call_id, command, record, facts)

    async def _take(
        self, call_id: str, command: Enqueue, record: dict[str, Any] | None, facts: CallFacts
    ) -> bool:
        runner = self._runner()
        if not runner.accepting or runner.holds(call_id):  # before the queue hears of it
            logger.warning("call %s: not taken (draining or held already)", call_id)
            return False
        answer = await self._enqueue(call_id, command)
        if record is not None:
            await self._sink(record)  # held by the recorder until the queue leg ends
        start = CallStart(
            call_id=call_id,
            channel_id=call_id,
            dialed_number=facts.dialed_number,
            now=self._clock.now(),
            cause=command,
        )
        kind = answer.kind if isinstance(answer, HandOver) else self._queue_kind
        if not await runner.take(kind, start, facts):
            logger.warning("call %s: not taken (draining or held already)", call_id)
            return False
        try:
            await self._handoffs.mark_taken(call_id)
        except Exception as exc:
            logger.warning("call %s: hand-off not marked taken (%s)", call_id, exc)
        self.taken += 1
        return True

    async def sweep(self, listed: set[str], held: Callable[[str], bool], *, older: float) -> None:
        """Hand-offs nobody took (the controller restarted mid-move): a call whose channel
        is still up is taken now; one whose caller left has its IVR record written."""
        try:
            entries = await self._handoffs.all()
        except Exception as exc:
            logger.warning("cannot read the hand-offs in flight (%s)", exc)
            return
        now = self._clock.now()
        for call_id, payload in entries.items():
            if held(call_id):
                continue
            at = payload.get("at")
            if isinstance(at, int | float) and now - float(at) < older:
                continue  # a move in flight right now
            if call_id in listed:
                logger.warning("call %s: taking up its hand-off after a restart", call_id)
                await self.take(call_id, payload)
                continue
            record = payload.get("record")
            with contextlib.suppress(Exception):
                await self._handoffs.drop(call_id)
            if isinstance(record, dict):
                logger.warning("call %s: the caller left during the hand-off", call_id)
                await self._sink({**record, "outcome": "caller_hung_up", "ended_at": iso_time(now)})


class Rescuer:
    """The controller's watch over broadcast channels nobody owns: one a worker won but died
    before it wrote its claim down, or whose claim and state Redis lost. Every ``every``
    seconds, a channel that entered through the broadcast more than ``older`` seconds ago,
    that no worker claims or has state for (``owned``) and that this controller does not
    hold, is moved into the controller's app as a new call: its IVR starts again (a defined
    outcome, never silence). Such a channel is looked at again ``confirm`` seconds later and
    moved only if it is still there and still unowned: a call that was ending at the first
    look (its worker had dropped its claim and state, Asterisk not yet its channel) is left
    alone. ``hand_offs`` (the controller's `HandIn.sweep`) is given the
    same look's channel ids first, so one ``GET /channels`` serves both."""

    def __init__(
        self,
        client: AriPort,
        *,
        worker: str,
        owned: Callable[[], Awaitable[set[str]]],
        held: Callable[[str], bool],
        clock: Clock,
        older: float = 10.0,
        every: float = 30.0,
        confirm: float = 1.0,
        hand_offs: Callable[[set[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._client = client
        self._worker = worker
        self._owned = owned
        self._held = held
        self._clock = clock
        self._older = older
        self._every = every
        self._confirm = confirm
        self._hand_offs = hand_offs
        self.rescued = 0

    async def once(self) -> int:
        """One look; the number of channels moved to the controller."""
        channels = await self._client.list_channels()
        if self._hand_offs is not None:  # a hand-off it takes up is held: not rescued below
            try:
                await self._hand_offs({c.id for c in channels})
            except Exception as exc:
                logger.warning("could not look for hand-offs left behind (%s)", exc)
        now = self._clock.now()
        candidates = [
            c
            for c in channels
            if c.broadcast
            and c.stasis_args(self._worker) is not None
            and not self._held(c.id)
            and c.creationtime is not None
            and now - c.creationtime.timestamp() > self._older
        ]
        if not candidates:
            return 0
        owned = await self._owned()
        unowned = {c.id for c in candidates if c.id not in owned and not self._held(c.id)}
        if not unowned:
            return 0
        # a second look: a call ending in the first one (its claim and state already gone,
        # its channel not yet) is gone by now; an orphan is still there and still unowned
        await asyncio.sleep(self._confirm)
        owned = await self._owned()
        still = [
            c
            for c in await self._client.list_channels()
            if c.id in unowned and c.id not in owned and not self._held(c.id)
        ]
        moved = 0
        for channel in still:
            args = channel.stasis_args(self._worker) or ()
            dialed = args[1] if len(args) > 1 and args[1] else channel.dialplan_exten
            logger.warning(
                "channel %s entered through the IVR workers' broadcast but no worker owns it:"
                " starting its IVR here", channel.id, extra={"channel_id": channel.id},
            )  # fmt: skip
            try:
                await self._client.move(channel.id, self._client.app, ("inbound", dialed))
            except AriError as exc:
                logger.warning("channel %s not moved here: %s", channel.id, exc)
                continue
            moved += 1
        self.rescued += moved
        return moved

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.once()
            except Exception as exc:
                logger.warning("could not look for channels nobody owns (%s)", exc)


def _read(
    call_id: str, payload: Mapping[str, Any], now: float
) -> tuple[Enqueue, dict[str, Any] | None, CallFacts]:
    """A stored hand-off's ``Enqueue``, IVR record and call facts (KeyError, TypeError or
    ValueError when it cannot be read)."""
    raw = payload["enqueue"]
    command = Enqueue(str(raw["language"]), str(raw["topic"]), int(raw["priority"]))
    record = payload.get("record")
    record = dict(record) if isinstance(record, Mapping) else None
    return command, record, _facts(call_id, record, now)


def _facts(call_id: str, record: Mapping[str, Any] | None, now: float) -> CallFacts:
    """The call's facts from the IVR half of its record (the worker's own facts)."""
    record = record or {}

    def when(key: str) -> float | None:
        value = record.get(key)
        if not isinstance(value, str):
            return None
        return datetime.fromisoformat(value).timestamp()

    caller_hash = record.get("caller_hash")
    return CallFacts(
        call_id=call_id,
        channel_id=call_id,
        dialed_number=str(record.get("dialed_number") or ""),
        caller_hash=caller_hash if isinstance(caller_hash, str) else None,
        started_at=when("started_at") or now,
        answered_at=when("answered_at"),
    )
