"""The changes as values: arguments and reply readers, without a Redis."""

from __future__ import annotations

import hashlib

import pytest

from line311.live.ops import SCRIPTS, SHAS, Ops, Refusal, Reserved
from line311.routing.agents import AgentEvent, AgentState
from line311.routing.waiting import WaitingCall


def test_every_op_starts_with_prefix_journal_and_now() -> None:
    ops = Ops("p:", 500, offer_ttl=20.0)
    op = ops.reserve("c1", "ana", 100.0, in_order=True)
    assert op.script == "reserve"
    assert op.argv == ("p:", "500", "100.0", "c1", "ana", 20000, "120.0", "1")
    assert op.parse([1, "c1", "ana", "general"]) == Reserved("c1", "ana", "general", 120.0)
    assert op.parse([0, "agent-busy"]) is Refusal.AGENT_BUSY


def test_script_shas_are_sha1_of_their_text() -> None:
    for name, text in SCRIPTS.items():
        assert SHAS[name] == hashlib.sha1(text.encode()).hexdigest()


def test_agent_events_name_their_target_and_allowed_sources() -> None:
    ops = Ops("p:", 0, 30.0)
    op = ops.agent_event("ana", AgentEvent.HANG_UP, 5.0)  # no wrap-up: straight back
    assert op.argv[3:] == ("ana", "available", "", "", "on_call")
    op = ops.agent_event("ana", AgentEvent.HANG_UP, 5.0, wrapup_until=15.0)
    assert op.argv[4] == "wrap_up"
    assert op.argv[6] == "15.0"
    assert op.parse([1, "on_call", ""]) == (AgentState.ON_CALL, None)
    assert op.parse([0, "paused"]) == "paused"
    with pytest.raises(ValueError, match="reserve"):
        ops.agent_event("ana", AgentEvent.ACCEPT, 5.0)


def test_accept_and_remove_read_the_call_back() -> None:
    ops = Ops("p:", 0, 30.0)
    call = WaitingCall("c1", "general", 10.0, 3, 10.0)
    from line311.live import codec

    record = codec.call_record(call)
    assert ops.accept("c1", "ana", 11.0).parse([1, record, "2"]) == WaitingCall(
        "c1", "general", 10.0, 3, 10.0, offered_to="ana", offers=2
    )
    assert ops.accept("c1", "ana", 11.0).parse([0, "expired"]) is None
    assert ops.remove_call("c1", 11.0).parse([1, record, "0", ""]) == (call, None)
    assert ops.remove_call("c1", 11.0).parse([0]) is None
    assert ops.expire_due(11.0, 10).parse(["c1", "ana", "c2", "bob"]) == [
        ("c1", "ana"),
        ("c2", "bob"),
    ]
    assert ops.pop_due(11.0, 10).parse(["step|c1", "5.5"]) == [(5.5, "step", "c1")]
