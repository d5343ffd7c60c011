"""Legs in an IVR worker, decisions in the controller (``queue_legs = workers``).

The worker's real `Runner` with the real `WorkerQueue` on the fake ARI; the controller's
real `QueueKind` and `Router`; between them every desk message goes through the wire codec
(JSON and back) in order, as the desk link carries them, delivered by one pump task."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from line311.ari.kinds import Ended, SessionKind
from line311.ari.models import Channel
from line311.ari.queue_kind import QueueKind
from line311.ari.queue_worker import NotAdmittedError, WorkerQueue
from line311.ari.queueing import QueueEventHub, QueueOptions
from line311.ari.runner import Runner
from line311.bootstrap import _follow_desk
from line311.call.commands import Enqueue
from line311.call.events import AgentOffered
from line311.call.record import QueueLeg
from line311.call.store import InMemorySessionStore
from line311.dashboard.metrics import DeskLinkCollector
from line311.live.desk import DeskMessage, decode_message, encode_event, encode_message, new_epoch
from line311.live.errors import LiveAuthError, LiveUnavailableError
from line311.queue.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallEnqueued,
)
from line311.routing.agents import AgentState, AutoPausePolicy
from line311.routing.queues import load_queues
from line311.routing.router import Router
from tests.unit.ari.queue_harness import EN, ES, NUMBER, QUEUES, Clock, FakeAri, _Enqueuing, _raw

CONTROLLER = "line311"
_STARTS = itertools.count(1)
WORKER = "line311-w1"
OPTIONS = QueueOptions(sounds_uri_prefix="sound:/s", announce_first=5, periodic_interval=0)


class Controller:
    """The controller's queue kind alone: its legs are the worker's."""

    def __init__(self, clock: Clock, link: Link, queues: Any = QUEUES) -> None:
        self.epoch = new_epoch(next(_STARTS), "boot")
        """Later harness controllers have greater epochs, as later starts do."""
        self.events: list[object] = []
        self.router = Router(queues, auto_pause=AutoPausePolicy(after_misses=1))
        for p in (EN, ES):
            self.router.register_agent(p, clock.now())
        self.pops: list[dict[str, Any]] = []
        self.runtime = QueueKind(
            FakeAri(),  # type: ignore[arg-type]
            self.router,
            OPTIONS,
            hub=QueueEventHub(sinks=[self.events.append]),
            roster=["agent1", "agent2"],
            clock=clock,
        )
        self.runtime.on_remote_ivr_record = lambda r: self.pops.append(dict(r))
        self.answered: list[Any] = []
        self.runtime.on_answer = self.answered.append
        self.runtime.use_desk(CONTROLLER, link.send, epoch=self.epoch)


class Worker:
    """An IVR worker's runner with the worker queue kind on the fake ARI."""

    def __init__(
        self, clock: Clock, link: Link, store: InMemorySessionStore, queues: Any = QUEUES
    ) -> None:
        self.ari = FakeAri()
        self.ari.app = WORKER
        self.legs: dict[str, QueueLeg] = {}
        self.queue = WorkerQueue(
            self.ari,  # type: ignore[arg-type]
            OPTIONS,
            queues,
            me=WORKER,
            controller=CONTROLLER,
            send=link.send,
            clock=clock,
            leg_sink=self.legs.__setitem__,
            admit_within=1.0,
        )
        self._asked: dict[str, Enqueue] = {}
        entry = SessionKind(
            name="ivr",
            start=lambda start: _Enqueuing(self._asked.pop(start.call_id)),
            resume=lambda state, facts: _Enqueuing(Enqueue()),
            accepts=lambda new: new.kind == "inbound",
            handlers={Enqueue: self.queue.enqueue},
            ended=self._ivr_ended,
        )
        self.runner = Runner(
            self.ari,  # type: ignore[arg-type]
            [entry, self.queue.session_kind()],
            sounds_uri_prefix="sound:/s",
            caller_hash_key="k",
            clock=clock,
            store=store,
            monotonic=lambda: 0.0,
            orphan_grace=0.0,
            after_resync=self.queue.after_resync,
        )
        self.queue.bind(self.runner)

    async def _ivr_ended(self, done: Ended) -> None:
        """The IVR half of the call's record, as the worker's record sink hands it on."""
        if self.queue.in_queue(done.facts.call_id):
            self.queue.remember_ivr(ivr_half(done.facts.call_id))


def ivr_half(call_id: str) -> dict[str, Any]:
    return {"call_id": call_id, "path": {"queue": "general", "menu": ["main", "noise"]}}


class Link:
    """The desk link in memory: every message through the codec, in order, one pump."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, DeskMessage]] = []
        self._queue: asyncio.Queue[tuple[str, DeskMessage]] = asyncio.Queue()
        self.controller: Controller | None = None
        self.also: list[Controller] = []
        """Controllers reading the same inbox too (a rolling restart's old one)."""
        self.worker: Worker | None = None
        self.down = False
        """Messages to the controller are lost (it is away)."""

    def send(self, to: str, message: DeskMessage) -> None:
        wire = decode_message(json.loads(json.dumps(encode_message(message))))
        self.sent.append((to, wire))
        if not (self.down and to == CONTROLLER):
            self._queue.put_nowait((to, wire))

    def kinds(self, to: str) -> list[str]:
        return [m.kind for t, m in self.sent if t == to]

    async def pump(self) -> None:
        while True:
            to, message = await self._queue.get()
            try:
                if to == CONTROLLER and self.controller is not None:
                    for controller in (self.controller, *self.also):
                        controller.runtime.on_desk(message)
                elif to == WORKER and self.worker is not None:
                    await self.worker.queue.on_desk(message)
            finally:
                self._queue.task_done()

    async def settle(self) -> None:
        await self._queue.join()


class Pair:
    """One controller, one worker, the link between them (``async with Pair() as p``)."""

    def __init__(self, *, queues: Any = QUEUES, store: InMemorySessionStore | None = None) -> None:
        self.clock = Clock(1_700_000_000.0)
        self.link = Link()
        self.store = store if store is not None else InMemorySessionStore()
        self.controller = Controller(self.clock, self.link, queues)
        self.worker = Worker(self.clock, self.link, self.store, queues)
        self.link.controller, self.link.worker = self.controller, self.worker
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Pair:
        await self._stack.enter_async_context(self.worker.runner.running())
        pump = asyncio.create_task(self.link.pump())
        self._stack.callback(pump.cancel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def event(self, raw: dict[str, Any]) -> None:
        await self.worker.runner.on_event({**raw, "application": WORKER}, 0.0)
        await self.settle()

    async def settle(self) -> None:
        """Until nothing moves: the link's messages, and every playback reported finished."""
        for _ in range(20):
            await self.link.settle()
            ari = self.worker.ari
            if not ari.playing:
                return
            while ari.playing:
                channel_id, playback_id = ari.playing.pop(0)
                raw = {
                    "type": "PlaybackFinished",
                    "application": WORKER,
                    "playback": {"id": playback_id, "target_uri": f"channel:{channel_id}"},
                }
                await self.worker.runner.on_event(raw, 0.0)

    async def enqueue(self, call_id: str, language: str = "en") -> None:
        self.worker._asked[call_id] = Enqueue(language=language, topic="general")
        start = _raw("StasisStart", call_id, args=["inbound", "311"])
        await self.event(start | {"channel": {"id": call_id, "caller": {"number": NUMBER}}})

    async def step(self) -> None:
        await self.controller.runtime.step()
        await self.settle()
        await self.worker.runner.tick()
        await self.settle()

    def offered(self) -> list[tuple[Any, ...]]:
        return [c for c in self.worker.ari.did("originate") if c[3][1] == "agent"]

    def facts(self) -> list[type]:
        """The controller's queue facts so far (the CCRs' states left out)."""
        return [type(e) for e in self.controller.events if not isinstance(e, AgentStateChanged)]

    def agent(self, agent_id: str) -> AgentState:
        return self.controller.router.agent(agent_id).state


async def test_a_workers_caller_reaches_a_ccr_and_the_controller_only_decides() -> None:
    async with Pair() as p:
        p.controller.runtime.agent_login("agent1")
        await p.enqueue("c1")
        assert p.worker.queue.in_queue("c1")
        assert p.controller.runtime.remote_calls == 1
        assert p.facts() == [CallEnqueued]
        assert ("start_moh", "c1") in p.worker.ari.calls  # music from the worker's Asterisk app
        await p.step()
        ((_, endpoint, leg, _),) = p.offered()  # the worker rings the CCR
        assert endpoint == "PJSIP/agent1"
        assert p.agent("agent1") is AgentState.RESERVED
        await p.event(_raw("StasisStart", leg, args=["outbound", "agent"]))  # the CCR answers
        assert p.agent("agent1") is AgentState.ON_CALL
        assert [a.agent_id for a in p.controller.answered] == ["agent1"]  # the screen pop
        assert list(p.worker.ari.did("add_channel")[-1][2]) == ["c1", leg]  # bridged, in the worker
        await p.event(_raw("StasisEnd", "c1"))  # the caller hangs up
        await p.settle()
        assert p.facts()[-2:] == [CallAnswered, CallCompleted]
        assert p.agent("agent1") is AgentState.WRAP_UP
        assert p.controller.runtime.remote_calls == 0
        record = p.worker.legs["c1"]  # the worker writes the whole record
        assert record.agent_id == "agent1"
        assert [o.agent_id for o in record.offers] == ["agent1"]
        assert p.link.kinds(CONTROLLER)[0] == "enqueue"
        assert p.link.kinds(CONTROLLER)[-1] == "end"


async def test_the_ivr_half_reaches_the_screen_pop_with_the_accept_and_only_then() -> None:
    async with Pair() as p:
        await p.enqueue("c1")
        await p.enqueue("c2")
        p.controller.runtime.agent_login("agent1")
        await p.step()
        ((_, _, leg, _),) = p.offered()
        assert "ivr" not in p.link.kinds(CONTROLLER)  # nobody needs it yet
        await p.event(_raw("StasisStart", leg, args=["outbound", "agent"]))  # c1 answered
        assert p.controller.pops == [ivr_half("c1")]
        assert [a.call_id for a in p.controller.answered] == ["c1"]
        told = [m for t, m in p.link.sent if t == CONTROLLER]
        (accept,) = [
            i for i, m in enumerate(told) if m.body.get("command", {}).get("t") == "AcceptOffer"
        ]
        assert told[accept - 1].kind == "ivr"  # sent together: the pop's half is read first
        await p.event(_raw("StasisEnd", "c2"))  # c2 hangs up waiting: its half never goes
        assert p.controller.pops == [ivr_half("c1")]
        assert p.link.kinds(CONTROLLER).count("ivr") == 1


async def test_a_leg_rebuilt_by_a_restarted_worker_still_brings_its_ivr_half() -> None:
    store = InMemorySessionStore()
    async with Pair(store=store) as p:
        await p.enqueue("c1")
        worker = Worker(p.clock, p.link, store)  # the worker dies and comes back
        p.link.worker = worker
        async with worker.runner.running():
            worker.ari.channels = [Channel(id="c1")]
            await worker.runner.on_connected()
            await p.settle()
            p.controller.runtime.agent_login("agent1")
            await p.controller.runtime.step()
            await p.settle()
            (offer,) = [c for c in worker.ari.did("originate") if c[3][1] == "agent"]
            raw = _raw("StasisStart", offer[2], args=["outbound", "agent"])
            await worker.runner.on_event({**raw, "application": WORKER}, 0.0)
            await p.settle()
            assert p.controller.pops == [ivr_half("c1")]
            assert [a.call_id for a in p.controller.answered] == ["c1"]


async def test_a_caller_who_hangs_up_waiting_leaves_the_one_line() -> None:
    async with Pair() as p:
        await p.enqueue("c1")
        await p.enqueue("c2")
        await p.event(_raw("StasisEnd", "c1"))
        assert p.facts()[-1] is CallAbandoned
        assert p.controller.router.position("c2") == 1
        p.controller.runtime.agent_login("agent1")
        await p.step()
        ((_, _, _, args),) = p.offered()
        assert args[2] == "c2"


async def test_the_position_is_asked_of_the_controller_and_told_by_the_worker() -> None:
    async with Pair() as p:
        await p.enqueue("c1")
        await p.enqueue("c2")
        p.clock.t += 5  # announce_first
        await p.step()
        told = [c[2] for c in p.worker.ari.did("play") if c[1] == "c2"]
        assert any("queue/position" in uri for uris in told for uri in uris)
        assert any(uri.endswith("/2") or "digits/2" in uri for uris in told for uri in uris)


async def test_a_full_queue_is_refused_and_the_ivr_hears_why() -> None:
    full = load_queues({"general": {"requires": "topic:general", "max_length": 1}})
    async with Pair(queues=full) as p:
        await p.enqueue("c1")
        p.worker._asked["c2"] = Enqueue(language="en", topic="general")
        with pytest.raises(NotAdmittedError):
            await p.worker.queue.enqueue("c2", Enqueue(language="en", topic="general"))
        assert not p.worker.queue.in_queue("c2")


async def test_a_controller_that_does_not_answer_gets_the_caller_moved_instead() -> None:
    async with Pair() as p:
        moved: list[str] = []

        async def move(channel_id: str, command: Enqueue) -> Any:
            moved.append(channel_id)
            return "handoff"

        p.worker.queue._fallback = move
        p.link.down = True
        assert await p.worker.queue.enqueue("c1", Enqueue("en", "general")) == "handoff"
        assert moved == ["c1"]
        assert p.worker.queue.fallbacks == 1


async def test_a_restarted_controller_hears_every_leg_again_and_serves_them_in_order() -> None:
    async with Pair() as p:
        await p.enqueue("c1")
        p.clock.t += 10
        await p.enqueue("c2")
        p.controller.runtime.agent_login("agent1")
        await p.step()
        assert len(p.offered()) == 1  # c1 rings agent1
        # the controller dies; the next one knows nothing of the worker's calls
        fresh = Controller(p.clock, p.link)
        p.link.controller = fresh
        fresh.runtime.agent_login("agent1")
        fresh.runtime.hello([WORKER])
        await p.settle()
        assert fresh.runtime.remote_calls == 2
        assert ("hangup", p.offered()[0][2]) in p.worker.ari.calls  # the stale ring stops
        assert [fresh.router.position(c) for c in ("c1", "c2")] == [1, 2]  # as of entry time
        await fresh.runtime.step()
        await p.settle()
        assert [c[3][2] for c in p.offered()] == ["c1", "c1"]  # c1 first again


async def test_in_a_rolling_restarts_overlap_only_the_new_controller_decides() -> None:
    async with Pair() as p:
        old = p.controller
        await p.enqueue("c1")
        p.clock.t += 10
        await p.enqueue("c2")
        old.runtime.agent_login("agent1")
        await p.step()
        assert [c[3][2] for c in p.offered()] == ["c1"]  # the old one's offer rings
        # the new controller starts beside the old one; both read the controller's inbox
        new = Controller(p.clock, p.link)
        p.link.controller, p.link.also = new, [old]
        new.runtime.agent_login("agent1")
        new.runtime.hello([WORKER])
        await p.settle()
        assert ("hangup", p.offered()[0][2]) in p.worker.ari.calls  # the old offer withdrawn
        told = [m for t, m in p.link.sent if t == CONTROLLER][-3:]
        assert [m.kind for m in told] == ["leg", "leg", "hello"]
        assert {m.body["to"] for m in told} == {new.epoch}
        assert old.epoch < new.epoch
        # the old one read those and stands down: its router would offer c1 again, unheard
        before = len(p.link.sent)
        await old.runtime.step()
        await p.settle()
        assert [m for t, m in p.link.sent[before:] if m.body.get("by") == old.epoch] == []
        await new.runtime.step()
        await p.settle()
        assert [c[3][2] for c in p.offered()] == ["c1", "c1"]  # rung once more, by the new one
        # a decision the old one sent before it stood down, read late, is dropped
        late = {"event": encode_event(AgentOffered("agent2", "PJSIP/agent2")), "by": old.epoch}
        p.link.send(WORKER, DeskMessage("event", "c2", CONTROLLER, late))
        await p.settle()
        assert [c[3][2] for c in p.offered()] == ["c1", "c1"]


async def test_a_worker_heeds_the_newest_controller_it_hears_from_whatever_the_message() -> None:
    async with Pair() as p:
        old = p.controller
        new = Controller(p.clock, p.link)
        p.link.also = [new]  # started, its hello not sent yet: both answer the enqueue
        await p.enqueue("c1")
        admitted = [m for t, m in p.link.sent if t == WORKER and m.kind == "admitted"]
        assert [m.body["by"] for m in admitted] == [old.epoch, new.epoch]
        await p.worker.queue.after_resync()  # any word of the worker's: its hello, say
        await p.settle()
        _, last = p.link.sent[-1]
        assert (last.kind, last.body["to"]) == ("hello", new.epoch)
        await p.event(_raw("StasisEnd", "c1"))  # the caller hangs up: only the new one hears
        assert old.runtime.remote_calls == 1  # it stood down at the worker's hello
        assert new.runtime.remote_calls == 0


async def test_a_controller_without_its_epoch_yet_does_not_stand_down() -> None:
    async with Pair() as p:
        p.controller.runtime.use_epoch("")  # its inbox is open, its epoch not yet taken
        body = {"topic": "general", "language": "en", "priority": 0, "entered_at": p.clock.t}
        newer = new_epoch(99, "boot")
        p.link.send(CONTROLLER, DeskMessage("enqueue", "c1", WORKER, {**body, "to": newer}))
        await p.settle()
        assert p.controller.runtime.remote_calls == 1
        assert p.link.kinds(WORKER) == ["admitted"]


async def test_a_restarted_worker_tells_its_legs_and_a_stale_offer_is_dropped() -> None:
    store = InMemorySessionStore()
    async with Pair(store=store) as p:
        await p.enqueue("c1")
        await p.enqueue("c2")
        p.controller.runtime.agent_login("agent1")
        await p.step()
        assert p.agent("agent1") is AgentState.RESERVED
        # the worker dies (SIGKILL): its state stays stored; a new one resumes from it
        worker = Worker(p.clock, p.link, store)
        p.link.worker = worker
        async with worker.runner.running():
            worker.ari.channels = [Channel(id="c1"), Channel(id="c2")]
            await worker.runner.on_connected()  # its re-sync: the legs resumed, then hello
            await p.settle()
            assert p.link.kinds(CONTROLLER)[-3:] == ["leg", "leg", "hello"]
            assert p.agent("agent1") is AgentState.AVAILABLE  # the lost offer is dropped
            await p.controller.runtime.step()
            await p.settle()
            offers = [c for c in worker.ari.did("originate") if c[3][1] == "agent"]
            assert [c[3][2] for c in offers] == ["c1"]


async def test_a_call_the_worker_no_longer_holds_leaves_the_line_at_its_hello() -> None:
    async with Pair() as p:
        await p.enqueue("c1")
        p.link.send(CONTROLLER, DeskMessage("hello", "", WORKER, {"calls": []}))
        await p.settle()
        assert p.controller.runtime.remote_calls == 0
        assert p.controller.router.store.call("c1") is None


async def test_bad_desk_messages_are_dropped_and_questions_still_answered() -> None:
    async with Pair() as p:
        runtime = p.controller.runtime
        runtime.on_desk(DeskMessage("cmd", "nobody", WORKER, {"command": {"t": "Nope"}}))
        runtime.on_desk(DeskMessage("enqueue", "x", WORKER, {"topic": "general"}))
        runtime.on_desk(
            DeskMessage(
                "cmd", "ghost", WORKER, {"command": {"t": "AcceptOffer", "agent_id": "agent1"}}
            )
        )
        await p.settle()
        replies = [m for t, m in p.link.sent if t == WORKER and m.call_id == "ghost"]
        assert [m.body["event"]["t"] for m in replies] == ["OfferRefused"]
        assert runtime.remote_calls == 0


class _Draining:
    """A runner handing over to the next controller."""

    accepting = False

    async def deliver(self, call_id: str, event: object) -> bool:
        raise AssertionError("nothing is delivered while handing over")

    def attach(self, channel_id: str, call_id: str) -> None: ...

    def detach(self, channel_id: str) -> None: ...


async def test_a_controller_handing_over_leaves_the_workers_calls_to_the_next_one() -> None:
    async with Pair() as p:
        await p.enqueue("c1")
        p.controller.runtime.agent_login("agent1")
        p.controller.runtime.bind(_Draining())  # type: ignore[arg-type]
        sent = len(p.link.sent)
        await p.controller.runtime.step()  # its router would offer c1: it says nothing
        await p.settle()
        p.controller.runtime.on_desk(DeskMessage("end", "c1", WORKER, {"finished": False}))
        assert len(p.link.sent) == sent
        assert p.controller.runtime.remote_calls == 1


@dataclass
class _LinkFigures:
    queued: int = 0
    dropped: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    received: Counter[str] = field(default_factory=Counter)
    entries_written: int = 1
    reads: int = 0


def test_the_desk_link_metrics_read_the_link_at_scrape_time() -> None:
    link = _LinkFigures(queued=3, dropped=1, sent=Counter(cmd=2))
    registry = CollectorRegistry()
    registry.register(DeskLinkCollector(link))
    link.queued = 7
    link.received["event"] += 4
    link.reads = 2
    text = generate_latest(registry).decode()
    assert "line311_desk_link_queued 7.0" in text
    assert "line311_desk_link_dropped_total 1.0" in text
    assert 'line311_desk_messages_total{direction="sent",kind="cmd"} 2.0' in text
    assert 'line311_desk_messages_total{direction="received",kind="event"} 4.0' in text
    assert 'line311_desk_link_entries_total{direction="written"} 1.0' in text
    assert 'line311_desk_link_entries_total{direction="read"} 2.0' in text


async def test_a_call_whose_enqueue_is_on_its_way_is_in_the_workers_hello() -> None:
    async with Pair() as p:
        p.link.down = True  # the enqueue is sent, not yet answered
        asking = asyncio.create_task(p.worker.queue.enqueue("c1", Enqueue("en", "general")))
        await asyncio.sleep(0)
        await p.worker.queue.after_resync()
        (hello,) = [m for t, m in p.link.sent if m.kind == "hello"]
        assert hello.body["calls"] == ["c1"]
        asking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asking


class _FlakyDesk:
    """A desk link whose inbox opens on the third try, then holds two messages."""

    def __init__(self) -> None:
        self.tries = 0

    async def open(self) -> None:
        self.tries += 1
        if self.tries < 3:
            raise LiveUnavailableError("Redis unreachable")

    async def take_epoch(self) -> str:
        return new_epoch(self.tries, "b")

    async def messages(self) -> Any:
        yield DeskMessage("end", "c1", WORKER, {})
        yield DeskMessage("end", "c2", WORKER, {})


async def test_the_desk_link_opens_once_redis_answers_and_a_failing_message_spares_the_next() -> (
    None
):
    desk = _FlakyDesk()
    events: list[str] = []

    def on_message(message: DeskMessage) -> None:
        events.append(message.call_id)
        if message.call_id == "c1":
            raise RuntimeError("a bug")

    await _follow_desk(
        desk,  # type: ignore[arg-type]
        on_message,
        started=lambda: events.append(f"started after {desk.tries} tries"),
        epoch=events.append,
        retry=0.0,
    )
    assert events == [new_epoch(3, "b"), "started after 3 tries", "c1", "c2"]


async def test_refused_credentials_are_not_retried() -> None:
    class _Refused(_FlakyDesk):
        async def open(self) -> None:
            raise LiveAuthError("WRONGPASS")

    with pytest.raises(LiveAuthError):
        await _follow_desk(_Refused(), lambda m: None, retry=0.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the screen pop, in a worker
async def test_a_workers_caller_put_through_from_the_callback_confirmation_pops_as_no_callback() -> (
    None
):
    # the controller's shadow of the call says callback (the router keeps its place as
    # one); the worker's leg put the caller through: the pop goes by the leg, as in the
    # controller (tests/unit/ari/test_queue_kind_pops.py)
    async with Pair() as p:
        await p.enqueue("c1")
        key = _raw("ChannelDtmfReceived", "c1", digit="1")
        await p.worker.runner.on_event({**key, "application": WORKER}, 0.0)
        await p.link.settle()
        assert p.controller.router.waiting_call("c1").callback
        assert p.worker.ari.playing  # the confirmation plays: the caller is on the line
        p.controller.runtime.agent_login("agent1")
        await p.controller.runtime.step()
        await p.link.settle()
        ((_, _, leg, _),) = p.offered()
        answer = _raw("StasisStart", leg, args=["outbound", "agent"])
        await p.worker.runner.on_event({**answer, "application": WORKER}, 0.0)
        await p.link.settle()
        (answered,) = p.controller.answered
        assert (answered.call_id, answered.callback) == ("c1", False)
        await p.settle()
        assert list(p.worker.ari.did("add_channel")[-1][2]) == ["c1", leg]  # put through
        assert not [c for c in p.worker.ari.did("originate") if c[3][1] == "resident"]
