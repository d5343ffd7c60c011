"""The agent state machine: one table, clear errors, figures."""

from __future__ import annotations

import pytest

from line311.routing.agents import (
    TRANSITIONS,
    Agent,
    AgentEvent,
    AgentProfile,
    AgentState,
    AutoPausePolicy,
)
from line311.routing.errors import AgentStateError, RoutingConfigError
from line311.routing.skills import SkillSet

S, E = AgentState, AgentEvent


def agent() -> Agent:
    return Agent(AgentProfile("a1", "Ana", "PJSIP/a1", SkillSet({"lang:en": 5})), seq=1, now=0)


@pytest.mark.parametrize("state", list(AgentState))
@pytest.mark.parametrize("event", list(AgentEvent))
def test_every_state_event_pair_either_transitions_by_the_table_or_raises(state, event):
    a = agent()
    a.state = state
    if (state, event) in TRANSITIONS:
        assert a.apply(event, 1.0) is TRANSITIONS[(state, event)]
    else:
        with pytest.raises(AgentStateError, match=f"cannot {event.value} while {state.value}"):
            a.apply(event, 1.0)
        assert a.state is state


def test_the_happy_path_and_its_figures():
    a = agent()
    a.apply(E.LOGIN, 0)
    assert (a.state, a.idle_since) == (S.AVAILABLE, 0)
    a.apply(E.RESERVE, 10)
    a.apply(E.ACCEPT, 12)
    assert a.call_started_at == 12
    a.apply(E.HANG_UP, 72)
    a.apply(E.WRAP_UP_DONE, 102)
    a.apply(E.PAUSE, 110, reason="lunch")
    figures = a.figures(now=170)
    assert figures.state is S.PAUSED
    assert figures.pause_reason == "lunch"
    assert figures.idle_since == 102
    assert dict(figures.time_in_state) == {
        S.LOGGED_OUT: 0,
        S.AVAILABLE: 18,
        S.RESERVED: 2,
        S.ON_CALL: 60,
        S.WRAP_UP: 30,
        S.PAUSED: 60,
    }


def test_a_pause_for_another_reason_starts_a_new_pause_and_keeps_the_time_paused():
    a = agent()
    a.apply(E.LOGIN, 0)
    a.apply(E.PAUSE, 10, reason="unreachable")
    a.apply(E.PAUSE, 40, reason="unreachable")  # the same reason: the same pause
    assert (a.state_since, a.pause_reason) == (10, "unreachable")
    a.apply(E.PAUSE, 70, reason="phone-offline")
    assert (a.state_since, a.pause_reason) == (70, "phone-offline")
    assert a.figures(now=100).time_in_state[S.PAUSED] == 90


def test_a_returned_offer_does_not_reset_idle_time():
    a = agent()
    a.apply(E.LOGIN, 0)
    a.apply(E.RESERVE, 50)
    a.apply(E.CANCEL, 55)
    assert a.idle_since == 0
    a.apply(E.LOGOUT, 60)
    assert a.idle_since is None


def test_an_agent_round_trips_through_a_dict():
    a = agent()
    a.apply(E.LOGIN, 0)
    a.apply(E.RESERVE, 5)
    a.call_id = "c1"
    a.unreachable_streak = 3
    b = Agent.from_dict(a.to_dict())
    assert b.to_dict() == a.to_dict()
    with pytest.raises(RoutingConfigError, match="cannot restore"):
        Agent.from_dict({"agent_id": "x"})
    # a state saved before the streak was kept: none
    older = {k: v for k, v in a.to_dict().items() if k != "unreachable_streak"}
    assert Agent.from_dict(older).unreachable_streak == 0


def test_profiles_and_policies_refuse_nonsense():
    with pytest.raises(RoutingConfigError):
        AgentProfile("", "x", "PJSIP/x")
    with pytest.raises(RoutingConfigError, match="endpoint"):
        AgentProfile("a", "x", "")
    # an id a call record could not carry: the CRM bridge would refuse the CCR's every call
    for bad in ("jane doe", "_ccr", "ccr|7", "ccr/7", "josé", "a" * 65):
        with pytest.raises(RoutingConfigError, match="agent id must be"):
            AgentProfile(bad, "x", "PJSIP/x")
    for good in ("ccr-1001", "agent.one@site-2", "a" * 64):
        assert AgentProfile(good, "x", "PJSIP/x").agent_id == good
    assert AgentProfile("a", "x", "PJSIP/a", {"lang:en": 3}).skills == SkillSet({"lang:en": 3})  # type: ignore[arg-type]
    with pytest.raises(RoutingConfigError):
        AutoPausePolicy(after_misses=-1)
