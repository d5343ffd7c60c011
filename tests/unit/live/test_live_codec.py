"""The pure half of the live store: members, lanes, records, agent transitions."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from line311.live import codec
from line311.live.routing import Refusal
from line311.routing.agents import AgentEvent, AgentState
from line311.routing.store import bucket_of
from line311.routing.waiting import WaitingCall


def call(**kw: object) -> WaitingCall:
    base = WaitingCall(
        "ch-1.23", "housing", 100.0, 7, 40.0, language="es", step=1, requires=(("topic:heat", 2),)
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@given(st.lists(st.tuples(st.integers(0, 2**63), st.text(min_size=1, max_size=8)), min_size=2))
def test_members_sort_by_seq_like_the_order_key(pairs: list[tuple[int, str]]) -> None:
    calls = [call(seq=seq, call_id=cid) for seq, cid in pairs]
    by_member = sorted(calls, key=codec.member_of)
    assert [c.seq for c in by_member] == sorted(c.seq for c in calls)
    for c in calls:
        assert codec.call_id_of(codec.member_of(c)) == c.call_id


def test_a_negative_seq_has_no_member() -> None:
    with pytest.raises(ValueError, match="out of range"):
        codec.member_of(call(seq=-1))


def test_a_lane_is_the_routers_bucket_and_ignores_the_offer() -> None:
    c = call()
    assert codec.bucket_of_lane(codec.lane_of(c)) == bucket_of(c)
    assert codec.lane_of(c.offered("ana")) == codec.lane_of(c)
    assert codec.lane_of(replace(c, step=2)) != codec.lane_of(c)
    assert codec.lane_of(replace(c, language=None)) != codec.lane_of(c)


def test_a_record_round_trips_with_the_offer_kept_apart() -> None:
    c = call(callback=True, callback_since=120.0, topic="heat", priority=2)
    back = codec.call_from_record(codec.call_record(c.offered("ana")), "ana", 1)
    assert back == c.offered("ana")
    assert codec.call_from_record(codec.call_record(c), "", 0) == c


def test_agent_events_come_from_the_one_transition_table() -> None:
    assert codec.sources(AgentEvent.PAUSE) == ["available", "paused", "wrap_up"]
    assert codec.target_of(AgentEvent.LOGOUT) is AgentState.LOGGED_OUT
    assert codec.target_of(AgentEvent.HANG_UP) is AgentState.WRAP_UP
    assert {codec.target_of(e) for e in AgentEvent} <= set(AgentState)  # one target each


def test_refusals_name_the_scripts_reasons() -> None:
    from line311.live import scripts

    for refusal in Refusal:
        assert f"'{refusal.value}'" in scripts.RESERVE + scripts.RESERVE_HEAD
