"""The queue edge assembled: the queue kind, CCR desk, queue_log, database writer, HTTP routes.

`build_queue_edge` is what `line311.bootstrap` calls: it reads the roster and the queue
definitions, builds the `Router`, the `QueueKind` (the ``queue`` session kind of the runner,
its router task and the desk's figures) and the `AgentDesk`, and connects every queue event
to its destinations::

    QueueKind ──emit──▶ QueueEventHub ──▶ IntervalAccumulator (live SL, GET /api/desk/queues)
                                        ├──▶ QueueLogWriter  <state_dir>/queue_log (Asterisk format)
                                        ├──▶ BatchedEventWriter ──▶ queue_events table (reports)
                                        └──▶ subscribers (the dashboard's live hub ...)

`running` runs the writer's flush loop, and on exit flushes what is left and closes the file
and the engine (the router's task runs in the runner's task group: `QueueEdge.tasks`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from line311.ari.agents import AgentDesk
from line311.ari.contact_seal import ContactSeal
from line311.ari.controller import CommandHandler, StasisHandler
from line311.ari.kinds import SessionKind
from line311.ari.port import AriPort
from line311.ari.queue_kind import QueueKind
from line311.ari.queueing import EventSink, QueueEventHub, QueueOptions
from line311.call.ports import Clock
from line311.logs import LineFile
from line311.queue.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
    RingFact,
)
from line311.queue.intervals import KEEP_CALLS, IntervalAccumulator
from line311.queue.queue_log import QueueLogTranslator, format_line
from line311.routing.agents import AutoPausePolicy
from line311.routing.queues import QueueSet, default_queues, load_queues_yaml
from line311.routing.roster import load_roster_file
from line311.routing.router import Router

__all__ = [
    "BatchedEventWriter",
    "QueueEdge",
    "QueueLogWriter",
    "build_queue_edge",
    "configured_queues",
    "contact_seal",
    "queue_options",
    "running",
]

logger = logging.getLogger(__name__)

_QUEUE_EVENT_TYPES = (
    CallEnqueued,
    CallAnswered,
    CallAbandoned,
    CallTimedOut,
    CallbackRequested,
    CallCompleted,
    AgentStateChanged,
)


class QueueLogWriter:
    """Appends Asterisk-format queue_log lines (whole seconds, as Asterisk writes them).

    One short line per event, written and flushed by a writer thread (`line311.logs.LineFile`)
    so that tools tailing the file see it at once and a stuck disk never holds up a call.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._translator = QueueLogTranslator()
        self._file = LineFile(path)

    def __call__(self, event: object) -> None:
        if not isinstance(event, _QUEUE_EVENT_TYPES):
            return
        member = event.agent_id if isinstance(event, CallAnswered) else ""
        for record in self._translator.records_for(event, member_uniqueid=member):
            self._file.write(format_line(record))

    def flush(self) -> None:
        """Return once every line so far is in the file (blocks: for tests and tools)."""
        self._file.flush()

    @property
    def dropped(self) -> int:
        """Lines dropped while the disk was not taking them."""
        return self._file.dropped

    def follow(self, hub: QueueEventHub) -> None:
        """Write the lines of ``hub``'s events, of its resumed calls and of its offers'
        ringing."""
        hub.subscribe(self)
        hub.on_resumed.append(self.resumed)
        hub.on_ring.append(self.ring)

    def ring(self, fact: RingFact) -> None:
        """An offer rang out or could not ring (``RINGNOANSWER``), the caller hung up while
        it rang (``RINGCANCELED``): its line; or it was answered (CONNECT's ring time)."""
        for record in self._translator.ring(fact):
            self._file.write(format_line(record))

    def resumed(
        self, event: CallEnqueued, answered_at: float | None, agent_id: str | None = None
    ) -> None:
        """A call resumed from another controller's state (see `QueueLogTranslator.resume`)."""
        self._translator.resume(event, answered_at, agent_id)

    def close(self) -> None:
        self._file.close()


class BatchedEventWriter:
    """A sink that stores queue events in batches from a background task.

    `__call__` only appends to memory (never blocks a call); `run` writes what has gathered
    ``interval`` seconds after the first event (or sooner past ``batch`` events) in a worker
    thread, and sleeps while nothing is pending. A failed write is retried with the next
    batch (WARNING); past ``max_pending`` events the oldest are dropped (ERROR), so a dead
    database cannot exhaust memory.
    """

    def __init__(
        self,
        write: Callable[[Sequence[QueueEvent]], int],
        *,
        interval: float = 0.5,
        batch: int = 500,
        max_pending: int = 200_000,
    ) -> None:
        self._write = write
        self._interval = interval
        self._batch = batch
        self._max = max_pending
        self._pending: deque[QueueEvent] = deque()
        self._more = asyncio.Event()
        """Set past ``batch`` pending events: write now."""
        self._queued = asyncio.Event()
        """Set by every event: `run` wakes from idle."""
        self.written = 0
        self.dropped = 0

    def __call__(self, event: object) -> None:
        if not isinstance(event, _QUEUE_EVENT_TYPES):
            return
        self._pending.append(event)
        self._queued.set()
        if len(self._pending) > self._max:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                logger.error("queue event store is behind: %d events dropped", self.dropped)
        if len(self._pending) >= self._batch:
            self._more.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        """Write everything pending now (raises if the store fails)."""
        while self._pending:
            batch = [self._pending[i] for i in range(min(self._batch, len(self._pending)))]
            await asyncio.to_thread(self._write, batch)
            for _ in batch:
                self._pending.popleft()
            self.written += len(batch)

    async def run(self) -> None:
        """Flush periodically until cancelled; a final flush is `flush`'s job."""
        failing = False
        while True:
            if not self._pending:
                self._queued.clear()
                await self._queued.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):  # no task per turn, as wait_for makes
                    await self._more.wait()
            self._more.clear()
            try:
                await self.flush()
            except Exception as exc:
                if not failing:
                    logger.warning("cannot store queue events (will retry): %s", exc)
                failing = True
                await asyncio.sleep(min(5.0, self._interval * 4))
            else:
                if failing:
                    logger.info("queue events stored again")
                failing = False


@dataclass
class QueueEdge:
    """Everything the controller needs from the queues."""

    runtime: QueueKind
    """The queued calls' kind, the router's task and the desk's figures."""
    desk: AgentDesk
    log_writer: QueueLogWriter | None
    store_writer: BatchedEventWriter | None
    engine: Engine | None
    policy: Any

    def command_handler(self) -> CommandHandler:
        """The ``Enqueue`` handler."""
        return self.runtime.enqueue

    def stasis_handlers(self) -> dict[str, StasisHandler]:
        """The CCR feature codes other than the supervisor line's (``*71``..``*74``)."""
        return {"agent-feature": self.desk.on_feature}

    def session_kind(self) -> SessionKind:
        """The ``queue`` session kind (register it on the runner, then `bind` the runner)."""
        return self.runtime.session_kind()

    def tasks(self) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        """What runs in the runner's task group: the router's task."""
        return [self.runtime.run]

    def subscribe(self, sink: EventSink) -> None:
        """Have ``sink`` called with every queue event (e.g. a dashboard hub)."""
        self.runtime.hub.subscribe(sink)


def configured_queues(settings: Any) -> QueueSet:
    """The queues of ``settings`` (its queues_file, else the built-in set)."""
    if settings.queues_file is not None:
        return load_queues_yaml(Path(settings.queues_file).read_text(encoding="utf-8"))
    return default_queues()


def queue_options(settings: Any, sounds_uri_prefix: str) -> QueueOptions:
    """The queued calls' options from ``settings`` (wherever their legs run)."""
    return QueueOptions(
        sounds_uri_prefix=sounds_uri_prefix,
        ring_timeout=settings.queue_ring_timeout,
        announce_first=settings.queue_announce_first,
        announce_interval=settings.queue_announce_interval,
        periodic_interval=settings.queue_periodic_interval,
        whisper_language=settings.queue_whisper_language,
        max_wait_offer_timeout=settings.queue_max_wait_offer_timeout,
        interpreter_endpoint=f"PJSIP/{settings.interpreter_endpoint}",
        callback_dial=settings.callback_dial,
        callback_dial_timeout=settings.callback_dial_timeout,
        topic_queues={"sr_status": "general"},
    )


def contact_seal(settings: Any) -> ContactSeal | None:
    """What seals a kept callback's contact in the saved state (None: no key set)."""
    key = settings.callback_contact_key.get_secret_value()
    return ContactSeal(key) if key else None


def build_queue_edge(
    settings: Any,
    ari: AriPort,
    *,
    sounds_uri_prefix: str,
    engine: Engine | None = None,
    sinks: Sequence[EventSink] = (),
    clock: Clock | Callable[[], float] = time.time,
) -> QueueEdge:
    """The queue edge for ``settings`` (a `line311.config.Settings`). ``clock``: the POSIX
    wall clock of every queue time (the controller's, so a call record has one clock)."""
    wall = clock if not callable(clock) else _FnClock(clock)
    queues = configured_queues(settings)
    profiles = load_roster_file(Path(settings.agents_file))
    router = Router(
        queues,
        auto_pause=AutoPausePolicy(
            after_misses=settings.queue_auto_pause_after,
            unreachable_hold=settings.queue_unreachable_hold,
            unreachable_hold_max=settings.queue_unreachable_hold_max,
        ),
        interpreter_language="en",
    )
    started = wall.now()
    for profile in profiles:
        router.register_agent(profile, started)  # logged out since start-up
    policy = settings.sl_policies()  # each queue's own sl_threshold / sl_goal honoured
    # runs for weeks: each call is forgotten two days after it entered (as the wallboard's)
    hub = QueueEventHub(IntervalAccumulator(policy, keep=KEEP_CALLS))
    log_writer = QueueLogWriter(Path(settings.state_dir) / "queue_log")
    log_writer.follow(hub)
    store_writer = None
    if engine is not None:
        from line311.db.queue_models import insert_events

        bound = engine

        def write(events: Sequence[QueueEvent]) -> int:
            return insert_events(bound, events)

        store_writer = BatchedEventWriter(write)
        hub.subscribe(store_writer)
    for sink in sinks:
        hub.subscribe(sink)
    options = queue_options(settings, sounds_uri_prefix)
    runtime = QueueKind(
        ari, router, options, hub=hub, roster=[p.agent_id for p in profiles],
        clock=wall,
        contact_seal=contact_seal(settings),
    )  # fmt: skip
    desk = AgentDesk(
        ari, runtime, profiles, sounds_uri_prefix=sounds_uri_prefix,
        language=settings.queue_whisper_language,
    )  # fmt: skip
    logger.info(
        "queues: %d queues, %d CCRs in the roster; queue_log at %s",
        len(queues),
        len(profiles),
        log_writer.path,
    )
    return QueueEdge(runtime, desk, log_writer, store_writer, engine, policy)


@contextlib.asynccontextmanager
async def running(edge: QueueEdge) -> AsyncIterator[QueueEdge]:
    """Run the event writer (one task group); flush and close all on exit."""
    try:
        async with asyncio.TaskGroup() as tg:
            writer = None
            if edge.store_writer is not None:
                writer = tg.create_task(edge.store_writer.run(), name="queue-events-writer")
            try:
                yield edge
            finally:
                if writer is not None:
                    writer.cancel()
    finally:
        if edge.store_writer is not None:
            try:
                await edge.store_writer.flush()
            except Exception as exc:
                logger.error(
                    "could not store %d queue events at shutdown: %s",
                    edge.store_writer.pending,
                    exc,
                )
        if edge.log_writer is not None:
            edge.log_writer.close()
        if edge.engine is not None:
            edge.engine.dispose()


class _FnClock:
    """A `Clock` over a plain time function (e.g. `time.time`)."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[], float]) -> None:
        self._fn = fn

    def now(self) -> float:
        return self._fn()
