"""The router's decisions handed out as (call id, event) for the legs: what the router task
delivers, and what happens to a call the router holds but no leg does."""

from __future__ import annotations

from pathlib import Path

from line311.call.commands import Enqueue
from line311.call.events import AgentOffered
from line311.queue.events import AgentActivity, AgentStateChanged, CallTimedOut
from line311.queue.queue_log import parse_lines
from line311.routing.queues import load_queues
from tests.unit.ari.queue_harness import Harness


async def test_an_offer_for_a_call_with_a_leg_is_an_agent_offered_for_it() -> None:
    async with Harness() as h:
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        h.runtime.agent_login("agent1")
        decided = h.runtime.offers(h.now)
        assert [(c, type(e)) for c, e in decided] == [("c1", AgentOffered)]


async def test_a_call_the_router_holds_without_a_leg_is_released_or_timed_out() -> None:
    queues = load_queues({"general": {"requires": "topic:general", "max_wait": 30}})
    async with Harness(queues=queues) as h:
        h.router.call_arrived("ghost", "general", h.now, language="en", topic="general")
        h.runtime.agent_login("agent1")
        assert h.runtime.offers(h.now) == []
        assert h.router.queue_stats("general", h.now).waiting == 0
        h.router.call_arrived("ghost2", "general", h.now, language="en", topic="general")
        h.now += 31
        assert h.runtime.expiries(h.now) == []
        assert [e.call_id for e in h.of(CallTimedOut)] == ["ghost2"]


async def test_a_ccr_whose_phone_is_not_registered_is_paused_phone_offline_until_it_registers(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.runtime.phone_state("agent1", False)
        h.runtime.agent_login("agent1")
        await h.runtime.enqueue("c1", Enqueue(language="en", topic="general"))
        assert h.runtime.offers(h.now) == []
        assert [(e.agent_id, e.state, e.reason) for e in h.of(AgentStateChanged)] == [
            ("agent1", AgentActivity.PAUSED, "phone-offline")
        ]
        h.now += 5
        h.runtime.phone_state("agent1", True)
        assert h.of(AgentStateChanged)[-1].state is AgentActivity.AVAILABLE
        assert [(c, type(e)) for c, e in h.runtime.offers(h.now)] == [("c1", AgentOffered)]
    lines = parse_lines((tmp_path / "queue_log").read_text().splitlines())
    assert [(r.event, r.agent, r.data[:1]) for r in lines if "PAUSE" in r.event] == [
        ("PAUSEALL", "agent1", ("phone-offline",)),  # as app_queue pauses a member everywhere
        ("UNPAUSEALL", "agent1", ("",)),
    ]


async def test_a_new_pause_reason_alone_is_reported_and_written_as_a_pause_again(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path) as h:
        h.runtime.agent_login("agent1")
        h.runtime.agent_pause("agent1", "break")
        h.now += 60
        h.runtime.agent_pause("agent1", "lunch")
        h.runtime.agent_pause("agent1", "lunch")  # the same again: nothing new
        paused = [(e.reason, e.at) for e in h.of(AgentStateChanged) if e.reason]
        assert paused == [("break", h.now - 60), ("lunch", h.now)]
    lines = parse_lines((tmp_path / "queue_log").read_text().splitlines())
    assert [(r.event, r.data[:1]) for r in lines if "PAUSE" in r.event] == [
        ("PAUSEALL", ("break",)),
        ("PAUSEALL", ("lunch",)),  # app_queue writes a PAUSE for each pause with its reason
    ]
