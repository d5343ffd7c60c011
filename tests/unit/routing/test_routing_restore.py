"""Router.restore_agent: a CCR comes back into a new controller's router as the old one left
them (issue 12 point 1), and the store tells a watcher of every agent record written."""

from __future__ import annotations

from line311.routing.agents import Agent, AgentState
from line311.routing.router import Router
from line311.routing.store import InMemoryRoutingStore
from tests.unit.routing.helpers import ccr, router

EN = "lang:en=5, topic:general=3"


def _saved(build: Router, agent_id: str = "a1") -> dict:
    """The record the old controller wrote (what the journal keeps)."""
    return build.agent(agent_id).to_dict()


def _fresh() -> Router:
    r = router()
    r.register_agent(ccr("a1", EN), now=0)
    return r


def test_given_a_logged_in_ccr_when_restored_then_available_and_offered_a_call():
    old = _fresh()
    old.agent_login("a1", now=10)
    new = _fresh()
    new.restore_agent(_saved(old), now=100)
    agent = new.agent("a1")
    assert agent.state is AgentState.AVAILABLE
    assert agent.state_since == 10
    new.call_arrived("c1", "general", now=101)
    assert [o.agent_id for o in new.decide(now=101)] == ["a1"]


def test_given_a_paused_ccr_when_restored_then_paused_with_the_reason_and_not_offered():
    old = _fresh()
    old.agent_login("a1", now=10)
    old.agent_pause("a1", now=20, reason="lunch")
    new = _fresh()
    new.restore_agent(_saved(old), now=100)
    agent = new.agent("a1")
    assert (agent.state, agent.pause_reason) == (AgentState.PAUSED, "lunch")
    new.call_arrived("c1", "general", now=101)
    assert new.decide(now=101) == []
    new.agent_resume("a1", now=102)
    assert [o.agent_id for o in new.decide(now=102)] == ["a1"]


def _in_wrap_up() -> Router:
    old = _fresh()
    old.agent_login("a1", now=0)
    old.call_arrived("c1", "general", now=1)
    old.decide(now=1)
    old.offer_accepted("c1", "a1", now=2)
    old.call_ended("a1", now=30)  # the queue's wrap-up is 10 s: until 40
    return old


def test_given_a_ccr_in_wrap_up_when_restored_then_wrap_up_ends_at_the_same_time():
    old = _in_wrap_up()
    assert old.agent("a1").wrapup_until == 40
    new = _fresh()
    new.restore_agent(_saved(old), now=35)
    agent = new.agent("a1")
    assert (agent.state, agent.wrapup_until, agent.calls_handled) == (AgentState.WRAP_UP, 40, 1)
    assert new.next_deadline() == 40
    new.tick(now=39)
    assert new.agent("a1").state is AgentState.WRAP_UP
    new.tick(now=40)
    assert new.agent("a1").state is AgentState.AVAILABLE


def test_given_a_ccr_being_offered_a_call_when_restored_then_available_again():
    old = _fresh()
    old.agent_login("a1", now=0)
    old.call_arrived("c1", "general", now=1)
    old.decide(now=1)
    assert old.agent("a1").state is AgentState.RESERVED
    new = _fresh()
    new.restore_agent(_saved(old), now=5)
    agent = new.agent("a1")
    assert (agent.state, agent.call_id) == (AgentState.AVAILABLE, None)


def _on_call() -> Router:
    old = _fresh()
    old.agent_login("a1", now=0)
    old.call_arrived("c1", "general", now=1)
    old.decide(now=1)
    old.offer_accepted("c1", "a1", now=2)
    return old


def test_given_a_ccr_on_a_call_that_goes_on_when_restored_then_still_on_it():
    new = _fresh()
    new.restore_agent(_saved(_on_call()), now=50, live_calls={"c1"})
    agent = new.agent("a1")
    assert (agent.state, agent.call_id, agent.call_started_at) == (AgentState.ON_CALL, "c1", 2)
    new.call_ended("a1", now=60)  # the carried-on call releases them as usual
    assert new.agent("a1").state is AgentState.WRAP_UP


def test_given_a_ccr_on_a_call_that_died_when_restored_then_its_wrap_up_starts_now():
    new = _fresh()
    new.restore_agent(_saved(_on_call()), now=50, live_calls=set())
    agent = new.agent("a1")
    assert (agent.state, agent.wrapup_until, agent.calls_handled) == (AgentState.WRAP_UP, 60, 1)
    new.tick(now=60)
    assert new.agent("a1").state is AgentState.AVAILABLE


def test_given_the_roster_changed_when_restored_then_the_new_profile_and_unknown_ccrs_ignored():
    old = _fresh()
    old.agent_login("a1", now=0)
    saved = _saved(old)
    new = router()
    new.register_agent(ccr("a1", "lang:es=5, topic:general=3"), now=0)
    new.restore_agent(saved, now=5)
    assert new.agent("a1").skills == ccr("a1", "lang:es=5, topic:general=3").skills
    assert new.agent("a1").state is AgentState.AVAILABLE
    assert new.restore_agent({**saved, "agent_id": "gone"}, now=5) is None


def test_given_a_watcher_when_agents_are_written_then_it_sees_each_record():
    store = InMemoryRoutingStore()
    seen: list[tuple[str, AgentState]] = []

    def watch(agent: Agent) -> None:
        seen.append((agent.agent_id, agent.state))

    store.watch_agents(watch)
    r = router(store=store)
    r.register_agent(ccr("a1", EN), now=0)
    r.agent_login("a1", now=1)
    r.agent_pause("a1", now=2, reason="break")
    assert seen == [
        ("a1", AgentState.LOGGED_OUT),
        ("a1", AgentState.AVAILABLE),
        ("a1", AgentState.PAUSED),
    ]


def _held_unreachable(streak: int) -> Router:
    """A CCR whose phone could not be rung ``streak`` times in a row: held from t=2+."""
    old = _fresh()
    old.agent_login("a1", now=0)
    for n in range(streak):
        at = 2 + 1000 * n
        if n:
            old.tick(now=at - 1)  # the previous hold is over
        old.call_arrived(f"c{n}", "general", now=at)
        old.decide(now=at)
        old.offer_unreachable(f"c{n}", "a1", now=at)
        old.call_left(f"c{n}", now=at)
    return old


def test_given_a_ccr_held_unreachable_when_restored_then_the_hold_still_ends_by_itself():
    # the hold's end is a timer of the old controller: without it the CCR stayed paused
    # `unreachable` for good (nothing else resumes them: their phone's registration is no news)
    old = _held_unreachable(1)  # a 10 s hold, from 2 to 12
    new = _fresh()
    new.restore_agent(_saved(old), now=5)
    assert new.next_deadline() == 12
    new.tick(now=11)
    assert new.agent("a1").pause_reason == "unreachable"
    new.tick(now=12)
    assert new.agent("a1").state is AgentState.AVAILABLE
    new.call_arrived("c9", "general", now=13)
    assert [o.agent_id for o in new.decide(now=13)] == ["a1"]


def test_given_a_doubled_unreachable_hold_when_restored_after_it_ended_then_back_at_once():
    old = _held_unreachable(3)  # the third in a row: a 40 s hold from 2002 to 2042
    new = _fresh()
    new.restore_agent(_saved(old), now=2030)
    assert new.next_deadline() == 2042
    later = _fresh()
    later.restore_agent(_saved(old), now=5000)  # restored after it ended: over at once
    later.tick(now=5000)
    agent = later.agent("a1")
    assert (agent.state, agent.unreachable_streak) == (AgentState.AVAILABLE, 3)
