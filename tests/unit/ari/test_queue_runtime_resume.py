"""A runtime carries on the queued calls another runtime saved (the restart path)."""

from __future__ import annotations

import json

from line311.call.commands import Enqueue
from line311.call.events import DtmfReceived
from line311.queue.events import CallAnswered
from tests.unit.ari.test_queue_runtime import Harness


async def test_given_saved_states_when_a_new_runtime_resumes_them_then_the_calls_keep_their_order_and_reach_ccrs() -> (
    None
):
    async with Harness() as old:
        await old.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        old.now += 10
        await old.runtime.enqueue("c2", Enqueue(language="en", topic="general"))
        old.now += 10
        await old.runtime.enqueue("c3", Enqueue(language="en", topic="general"))
        await old.runtime.on_channel_event("c3", DtmfReceived(digit="1"), old.now)
        await old.settle()
        assert list(old.saved) == ["c1", "c2", "c3"]
        assert old.saved["c3"]["callback"] is True
        # what a state store would keep: JSON, in any order
        saved = [json.loads(json.dumps(old.saved[c])) for c in ("c3", "c1", "c2")]

    async with Harness() as new:
        new.now = old.now + 30
        new.runtime.resume(saved)
        assert [new.router.position(c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
        assert set(new.saved) == {"c1", "c2", "c3"}
        assert new.runtime.owns("c1")
        new.runtime.agent_login("agent1")
        new.step()
        await new.settle()
        ((_, endpoint, leg, args),) = new.offered()
        assert (endpoint, args) == ("PJSIP/agent1", ("outbound", "agent", "c1"))
        await new.answer(leg)
        (answered,) = new.of(CallAnswered)
        assert (answered.call_id, answered.at - old.clock.t) == ("c1", 30)
        assert ("add_channel", "conn-c1", ["c1", leg]) in new.ari.calls
        new.runtime.agent_login("agent2")
        new.step()
        await new.settle()
        assert [c[3][2] for c in new.offered()] == ["c1", "c2"]
        await new.hang("c1")
        assert "c1" not in new.saved  # forgotten when its leg ended
        assert "c1" in new.legs


async def test_a_call_saved_while_ringing_is_resumed_waiting_and_rings_again() -> None:
    async with Harness() as old:
        old.runtime.agent_login("agent1")
        await old.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        old.step()
        await old.settle()
        assert old.saved["c1"]["phase"] == "ringing"
        saved = [old.saved["c1"]]

    async with Harness() as new:
        new.runtime.resume(saved)
        await new.settle()
        assert ("hangup", "c1-a1") in new.ari.calls  # the old process's ring
        assert new.saved["c1"]["phase"] == "waiting"
        new.runtime.agent_login("agent1")
        new.step()
        await new.settle()
        ((_, _, leg, _),) = new.offered()
        assert leg == "c1-a2"


async def test_calls_go_on_when_the_runtime_is_run_again() -> None:
    h = Harness()
    async with h:
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
    async with h:  # e.g. the pump restarted
        h.runtime.agent_login("agent1")
        h.step()
        await h.settle()
        ((_, _, leg, _),) = h.offered()
        await h.answer(leg)
        assert ("add_channel", "conn-c1", ["c1", leg]) in h.ari.calls
