"""The CCR ids in a call record's offers are ones the CRM bridge takes, by construction.

`Offered` is made in one place, `LegBuilder.offered`, from the router's `AgentOffered`: in
the controller, or carried unchanged over the desk link to a worker (`decode_event` gives
back the text it was sent, ``tests/unit/live/test_desk_wire.py``). The router offers calls
only to CCRs it knows, and it knows a CCR only through an `AgentProfile` (the roster at
start-up, a login with a profile, an agent restored from saved state), whose id follows the
records' name rule. So `Offered.agent_id` needs no check of its own: these tests hold the
links of that chain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from line311.call.events import AgentOffered
from line311.call.outcome import RecordError
from line311.call.queue_leg import Offered
from line311.call.values import NAME_PATTERN
from line311.crm_bridge.schemas import CallRecord
from line311.queue.events import CallAnswered, CallCompleted, CallEnqueued
from line311.queue.leg_facts import LegBuilder
from line311.routing.agents import Agent, AgentProfile
from line311.routing.errors import RoutingConfigError, UnknownAgentError
from tests.unit.routing.helpers import ccr, router

T0 = 1_790_000_000.0
EN = "lang:en=5, topic:general=3"


def record_body(leg: dict[str, Any]) -> dict[str, Any]:
    """A finished call's record as the controller posts it, around its queue leg."""
    started = datetime.fromtimestamp(T0 - 30, tz=UTC).isoformat()
    return {
        "call_id": "1790000000.1",
        "dialed_number": "311",
        "started_at": started,
        "ended_at": leg["ended_at"],
        "outcome": "handled",
        "queue_leg": leg,
    }


def bridge_takes_as_ccr_id(agent_id: str) -> bool:
    """Whether the CRM bridge takes a record whose CCR (top level and queue leg) is
    ``agent_id``."""
    leg = LegBuilder(CallEnqueued("c1", "general", T0))
    leg.offered(agent_id, T0 + 1)
    leg.feed(CallAnswered("c1", "general", T0 + 2, agent_id))
    leg.feed(CallCompleted("c1", "general", T0 + 60, 58.0))
    try:
        CallRecord.model_validate(record_body(leg.build().to_dict()) | {"agent_id": agent_id})
    except ValidationError:
        return False
    return True


@given(st.one_of(st.from_regex(NAME_PATTERN), st.text(max_size=70)))
@example("jane doe")
@example("ccr-1001\n")
@example("a" * 64)
@example("a" * 65)
@example("_ccr")
@example("josé")
def test_the_roster_takes_exactly_the_ccr_ids_the_crm_bridge_takes(agent_id: str) -> None:
    try:
        AgentProfile(agent_id, "x", "PJSIP/x")
    except RoutingConfigError:
        roster_takes = False
    else:
        roster_takes = True
    assert roster_takes == bridge_takes_as_ccr_id(agent_id)


def test_an_agent_restored_from_saved_state_has_its_id_checked_like_the_roster() -> None:
    saved = Agent(ccr("a1", EN), seq=1, now=0).to_dict()
    assert Agent.from_dict(saved).agent_id == "a1"
    with pytest.raises(RoutingConfigError, match="agent id must be"):
        Agent.from_dict(saved | {"agent_id": "jane doe"})


def test_given_a_roster_when_a_call_is_offered_then_its_record_names_only_roster_ccrs() -> None:
    r = router()
    roster = {"ccr.1:desk@east-2", "a2"}
    for agent_id in sorted(roster):
        r.agent_login(ccr(agent_id, EN), now=0)
    # a CCR the router was not given a profile for cannot log in, so is never offered a call
    with pytest.raises(UnknownAgentError):
        r.agent_login("jane doe", now=0)

    r.call_arrived("c1", "general", now=T0)
    leg = LegBuilder(CallEnqueued("c1", "general", T0))
    now = T0
    for _ in range(3):  # two offers ring out, the third is answered
        [offer] = r.decide(now)
        # as the queue router hands it to the leg (`QueueRouter.offers`)
        leg.heard(AgentOffered(offer.agent_id, offer.endpoint, offer.step), now)
        now += 15
        if len(leg.offers) < 3:
            r.offer_timeout("c1", offer.agent_id, now)
            r.agent_resume(offer.agent_id, now)  # auto-paused after one miss
    r.offer_accepted("c1", offer.agent_id, now)
    leg.feed(CallAnswered("c1", "general", now, offer.agent_id))
    leg.feed(CallCompleted("c1", "general", now + 60, 58.0))
    built = leg.build()

    assert len(built.offers) == 3
    assert {o.agent_id for o in built.offers} <= roster
    record = CallRecord.model_validate(record_body(built.to_dict()))
    assert record.agent_id == offer.agent_id


@pytest.mark.parametrize("bad", ["jane doe", "_agent", "a" * 65, "agent1\n", ""])
def test_a_record_whose_offer_names_no_ccr_id_is_refused_naming_the_field(bad: str) -> None:
    offer = {"at": "2026-12-07T10:00:00+00:00", "agent_id": bad, "step": 0, "answered": False}
    with pytest.raises(RecordError, match=r"offer\.agent_id"):
        Offered.from_dict(offer)
