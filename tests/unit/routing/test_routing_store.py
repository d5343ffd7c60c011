"""The in-memory store: indexes, the reserve compare-and-set, timers, handle times."""

from __future__ import annotations

from line311.routing.agents import Agent, AgentEvent, AgentProfile, AgentState
from line311.routing.skills import SkillSet
from line311.routing.store import InMemoryRoutingStore, RoutingStore, bucket_of
from line311.routing.waiting import WaitingCall


def agent(agent_id: str, skills: dict[str, int], seq: int = 1) -> Agent:
    return Agent(
        AgentProfile(agent_id, agent_id, f"PJSIP/{agent_id}", SkillSet(skills)), seq=seq, now=0
    )


def test_it_satisfies_the_protocol():
    store: RoutingStore = InMemoryRoutingStore()
    assert store.next_seq() < store.next_seq()


def test_agents_are_indexed_by_state_and_skill_and_reindexed_on_change():
    s = InMemoryRoutingStore()
    a = agent("a", {"lang:en": 5, "topic:noise": 2})
    s.put_agent(a)
    assert (list(s.available()), s.logged_in_with("lang:en")) == ([], 0)
    a.apply(AgentEvent.LOGIN, 0)
    s.put_agent(a)
    assert list(s.available_with("topic:noise")) == [a]
    assert set(s.available_skills()) == {"lang:en", "topic:noise"}
    a.profile = AgentProfile("a", "a", "PJSIP/a", SkillSet({"lang:es": 3}))
    s.put_agent(a)
    assert list(s.available_with("topic:noise")) == []
    assert list(s.available_with("lang:es")) == [a]
    assert (s.logged_in_with("lang:en"), s.logged_in_with("lang:es")) == (0, 1)
    a.apply(AgentEvent.PAUSE, 1)
    s.put_agent(a)
    assert list(s.available()) == []
    assert set(s.available_skills()) == set()
    assert list(s.logged_in()) == [a]
    a.apply(AgentEvent.LOGOUT, 2)
    s.put_agent(a)
    assert (list(s.logged_in()), s.logged_in_with("lang:es")) == ([], 0)
    assert list(s.agents()) == [a]


def test_reserve_is_a_compare_and_set():
    s = InMemoryRoutingStore()
    a = agent("a", {"lang:en": 5})
    a.apply(AgentEvent.LOGIN, 0)
    s.put_agent(a)
    s.add_call(WaitingCall("c1", "q", 0.0, 1, 0.0))
    s.add_call(WaitingCall("c2", "q", 1.0, 2, 1.0))
    assert s.reserve("nope", "a", 1) is False
    assert s.reserve("c1", "ghost", 1) is False
    assert s.reserve("c1", "a", 1) is True
    assert (a.state, a.call_id, s.call("c1").offered_to) == (AgentState.RESERVED, "c1", "a")
    assert s.reserve("c1", "a", 1) is False
    assert s.reserve("c2", "a", 1) is False
    assert bucket_of(s.call("c1")) is None
    assert s.bucket_first(("q", "en", 0, ())) == s.call("c2")
    assert [b for _, b in s.bucket_heads()] == [("q", "en", 0, ())]
    assert s.remove_call("c1").call_id == "c1"
    assert s.remove_call("c1") is None


def test_timers_fire_once_in_order_and_can_be_replaced_or_cancelled():
    s = InMemoryRoutingStore()
    s.schedule(10, "step", "c1")
    s.schedule(5, "wrapup", "a1")
    s.schedule(7, "step", "c1")  # replaces the one at 10
    s.schedule(3, "maxwait", "c2")
    s.cancel("maxwait", "c2")
    s.cancel("maxwait", "never")
    assert s.next_timer() == 5
    assert s.pop_due(6) == [(5, "wrapup", "a1")]
    assert s.pop_due(100) == [(7, "step", "c1")]
    assert s.next_timer() is None


def test_handle_time_is_a_recent_average():
    s = InMemoryRoutingStore(handle_time_alpha=0.5)
    assert s.handle_time("q") is None
    s.record_handle_time("q", 100)
    s.record_handle_time("q", 200)
    assert s.handle_time("q") == 150
