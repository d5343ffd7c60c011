"""A controller carries on the queued calls another one saved (issue 12 point 4): the runner
rebuilds them from its session store after it connects; two harnesses share one store as two
processes share Redis."""

from __future__ import annotations

from pathlib import Path

from line311.call.commands import Enqueue
from line311.call.store import InMemorySessionStore
from line311.queue.events import CallAnswered, CallCompleted
from line311.queue.queue_log import parse_lines
from tests.unit.ari.queue_harness import Harness, channels


async def _three_waiting(store: InMemorySessionStore) -> Harness:
    """c1, c2, c3 enqueued 10 s apart (c3 asked for a callback), then the process dies."""
    old = Harness(store=store)
    async with old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
        old.now += 10
        await old.enqueue("c2", Enqueue(language="en", topic="general", priority=0))
        old.now += 10
        await old.enqueue("c3", Enqueue(language="en", topic="general"))
        await old.key("c3", "1")
        saved = old.saved("c3")
        assert saved is not None
        assert saved["callback"] is True
    return old


async def test_given_stored_queued_calls_when_a_new_controller_connects_then_they_keep_their_order_and_reach_ccrs(
    tmp_path: Path,
) -> None:
    store = InMemorySessionStore()
    old = await _three_waiting(store)
    store._entries = dict(reversed(store._entries.items()))  # Redis lists them in any order
    new = Harness(tmp_path, store=store, now=old.now + 30)
    new.ari.channels = channels("c1", "c2")  # c3's caller was let go: a callback keeps its place
    async with new:
        await new.runner.on_connected()
        await new.settle()
        assert [new.router.position(c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
        assert ("start_moh", "c1") in new.ari.calls  # music again
        assert new.runner.holds("c1")
        assert new.runner.holds("c3")
        new.runtime.agent_login("agent1")
        await new.step()
        ((_, endpoint, leg, args),) = new.offered()
        assert (endpoint, args) == ("PJSIP/agent1", ("outbound", "agent", "c1"))
        await new.answer(leg)
        (answered,) = new.of(CallAnswered)
        assert (answered.call_id, answered.at - old.now) == ("c1", 30)
        assert ("add_channel", "conn-c1", ["c1", leg]) in new.ari.calls
        new.runtime.agent_login("agent2")
        await new.step()
        assert [c[3][2] for c in new.offered()] == ["c1", "c2"]
        await new.hang("c1")
        assert new.saved("c1") is None  # forgotten when its leg ended
        assert new.legs["c1"].wait_seconds == 50  # from the original enqueue time
        assert new.log is not None
        new.log.close()
        lines = parse_lines((tmp_path / "queue_log").read_text().splitlines())
        assert [(r.event, r.call_id, r.data[0]) for r in lines if r.event == "CONNECT"] == [
            ("CONNECT", "c1", "50")
        ]


async def test_a_call_saved_while_ringing_is_resumed_waiting_and_rings_again() -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.ring()
        saved = old.saved("c1")
        assert saved is not None
        assert saved["phase"] == "ringing"

    new = Harness(store=store, now=old.now + 2)
    new.ari.channels = channels("c1", "c1-a1")
    async with new:
        await new.runner.on_connected()
        assert ("hangup", "c1-a1") in new.ari.calls  # the old process's ring
        saved = new.saved("c1")
        assert saved is not None
        assert saved["phase"] == "waiting"
        new.runtime.agent_login("agent1")
        await new.step()
        ((_, _, leg, _),) = new.offered()
        assert leg == "c1-a2"


async def test_given_a_caller_talking_to_a_ccr_when_a_new_controller_resumes_the_call_then_the_record_has_the_full_talk_time(
    tmp_path: Path,
) -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        leg = await old.ring()
        old.now += 5
        await old.answer(leg)
        answered_at = old.now
        saved = old.saved("c1")
        assert saved is not None
        assert saved["phase"] == "connected"

    new = Harness(tmp_path, store=store, now=old.now + 40)
    new.ari.channels = channels("c1", leg)
    async with new:
        await new.runner.on_connected()
        # still bridged: nothing hung up, nothing re-bridged; the CCR is on the call again
        assert not new.ari.did("hangup")
        assert not new.ari.did("add_channel")
        assert new.router.agent("agent1").state.value == "on_call"
        assert new.holds(leg)
        new.now += 20
        await new.hang("c1")
        (done,) = new.of(CallCompleted)
        assert (done.talk_seconds, done.ended_by) == (60, "caller")
        assert ("hangup", leg) in new.ari.calls
        record = new.legs["c1"]
        assert (record.talk_seconds, record.agent_id) == (60, "agent1")
        assert record.answered_at is not None
        assert record.answered_at.timestamp() == answered_at
        assert new.router.agent("agent1").state.value == "wrap_up"
        assert new.log is not None
        new.log.close()  # the new controller's queue_log goes on with the call it resumed
        lines = parse_lines((tmp_path / "queue_log").read_text().splitlines())
        (completed,) = [r for r in lines if r.event == "COMPLETECALLER"]
        assert (completed.call_id, completed.data[:2]) == ("c1", ("5", "60"))


async def test_a_caller_who_hung_up_while_no_controller_listened_is_an_abandon() -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
    new = Harness(store=store, now=old.now + 9)
    async with new:  # c1 is not listed any more
        await new.runner.on_connected()
        assert new.legs["c1"].end.value == "abandoned"
        assert not new.runtime.in_queue("c1")
        assert len(store) == 0


async def test_a_resumed_call_keeps_its_priority() -> None:
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.enqueue("c1", Enqueue(language="en", topic="general"))
        old.now += 10
        await old.enqueue("c2", Enqueue(language="en", topic="general", priority=1))
        assert [old.router.position(c) for c in ("c1", "c2")] == [2, 1]
    new = Harness(store=store, now=old.now + 120)
    new.ari.channels = channels("c1", "c2")
    async with new:
        await new.runner.on_connected()
        assert [new.router.position(c) for c in ("c1", "c2")] == [2, 1]
        assert new.router.waiting_call("c2").priority == 1


async def test_given_the_ccr_hung_up_while_no_controller_listened_when_the_call_is_resumed_then_it_ends_as_ended_by_the_agent() -> (
    None
):
    store = InMemorySessionStore()
    async with Harness(store=store) as old:
        await old.connect()
    new = Harness(store=store, now=old.now + 30)
    new.ari.channels = channels("c1")  # the CCR's channel is gone
    async with new:
        await new.runner.on_connected()
        (done,) = new.of(CallCompleted)
        assert (done.ended_by, done.talk_seconds) == ("agent", 30)
        assert ("hangup", "c1") in new.ari.calls  # the caller is not left alone in the bridge
        assert not new.runner.holds("c1")
        assert new.router.agent("agent1").state.value == "wrap_up"


async def test_given_a_reconnect_when_the_ccrs_channel_vanished_meanwhile_then_the_call_ends() -> (
    None
):
    async with Harness() as h:
        await h.connect()
        h.ari.channels = channels("c1")  # the websocket was away; the CCR hung up
        await h.runner.on_connected()
        (done,) = h.of(CallCompleted)
        assert done.ended_by == "agent"
        assert not h.runner.holds("c1")
