"""The queue leg gathered from its facts: edge cases the happy paths do not reach."""

from __future__ import annotations

from line311.call.assembler import RecordAssembler
from line311.call.commands import AcceptOffer, EmitQueueEvent, NoteInterpreterJoined, RingOut
from line311.call.events import AgentOffered, OfferAccepted, PositionTold
from line311.call.record import LegEnd, from_timestamp
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.leg_facts import LegBuilder

T0 = 1_790_000_000.0


def builder() -> LegBuilder:
    return LegBuilder(CallEnqueued("c1", "general", T0), skills=["b", "a", "a"])


def test_skills_are_kept_sorted_and_once() -> None:
    assert builder().skills == ("a", "b")


def test_facts_of_other_calls_are_ignored() -> None:
    b = builder()
    b.feed(CallAbandoned("c2", "general", T0 + 5))
    assert not b.ended


def test_the_first_end_wins_and_later_facts_are_ignored() -> None:
    b = builder()
    b.feed(CallTimedOut("c1", "general", T0 + 30))
    b.feed(CallAbandoned("c1", "general", T0 + 40))
    leg = b.build()
    assert leg.end is LegEnd.TIMED_OUT
    assert leg.ended_at == from_timestamp(T0 + 30)
    assert leg.abandoned_at is None


def test_an_answer_marks_only_the_latest_offer_to_that_agent() -> None:
    b = builder()
    b.offered("a1", T0 + 5)
    b.offered("a2", T0 + 10, step=1)
    b.offered("a1", T0 + 15, step=1)
    b.offered("a3", T0 + 20, step=2)
    b.feed(CallAnswered("c1", "general", T0 + 25, "a1"))
    b.feed(CallCompleted("c1", "general", T0 + 90, 60.0))
    leg = b.build()
    assert [(o.agent_id, o.answered) for o in leg.offers] == [
        ("a1", False),
        ("a2", False),
        ("a1", True),
        ("a3", False),
    ]
    assert leg.escalation_step == 2
    assert leg.wait_seconds == 25.0


def test_an_answer_by_an_agent_never_offered_marks_no_offer() -> None:
    b = builder()
    b.offered("a1", T0 + 5)
    b.feed(CallAnswered("c1", "general", T0 + 25, "a9"))
    assert [o.answered for o in b.build(now=T0 + 30).offers] == [False]


def test_completed_without_an_answer_is_kept_as_interrupted() -> None:
    b = builder()
    b.feed(CallCompleted("c1", "general", T0 + 60, 30.0))
    leg = b.build()
    assert leg.end is LegEnd.INTERRUPTED
    assert leg.wait_seconds is None


def test_an_open_leg_is_built_as_interrupted_at_now_or_its_last_fact() -> None:
    b = builder()
    b.interpreter_joined(T0 + 40)
    assert b.build().ended_at == from_timestamp(T0 + 40)
    assert b.build(now=T0 + 100).ended_at == from_timestamp(T0 + 100)
    assert b.build(now=T0 + 100).end is LegEnd.INTERRUPTED
    assert not b.ended  # building does not change the builder


def test_past_the_bound_the_oldest_held_leg_is_dropped() -> None:
    asm = RecordAssembler(max_held=1)
    first, second = builder(), builder()
    first.feed(CallAbandoned("c1", "general", T0 + 1))
    second.feed(CallAbandoned("c1", "general", T0 + 2))
    assert asm.leg_ended("x1", first.build()) == []
    assert asm.leg_ended("x2", second.build()) == []
    assert asm.held == 1


def test_transfers_are_kept_in_order_and_other_facts_change_nothing() -> None:
    b = builder()
    b.feed(CallEnqueued("c1", "housing", T0 + 3))  # not a fact the leg keeps
    b.transferred("housing")
    b.transferred("noise")
    leg = b.build()
    assert leg.transfers == ("housing", "noise")
    assert leg.queue == "general"


def test_the_legs_commands_and_the_routers_answers_say_what_the_record_needs() -> None:
    b = builder()
    b.note(EmitQueueEvent(CallAnswered("c1", "general", T0 + 9, "1001")), T0 + 9)
    b.note(NoteInterpreterJoined(), T0 + 12)
    b.note(AcceptOffer("1001"), T0 + 8)  # says nothing of the call
    b.heard(AgentOffered("1001", "PJSIP/1001", 2, True), T0 + 7)
    b.heard(PositionTold(3, 45.0), T0 + 5)
    b.heard(PositionTold(None), T0 + 6)  # nothing to announce
    b.heard(OfferAccepted(), T0 + 8)
    leg = b.build(T0 + 20)
    assert (b.answered_at, b.agent_id, b.interpreter_joined_at) == (T0 + 9, "1001", T0 + 12)
    assert [(o.agent_id, o.step) for o in leg.offers] == [("1001", 2)]
    assert (b.escalation_step, b.interpreter) == (2, True)
    assert [(a.position, a.ewt_seconds) for a in b.announcements] == [(3, 45.0)]


def test_an_offer_whose_phone_could_not_be_rung_is_marked_so_and_a_ring_out_is_not() -> None:
    b = builder()
    b.heard(AgentOffered("1001", "PJSIP/1001"), T0 + 1)
    b.note(RingOut("1001", unreachable=True), T0 + 1.2)
    b.heard(AgentOffered("1002", "PJSIP/1002"), T0 + 2)
    b.note(RingOut("1002"), T0 + 17)  # rang its whole ring time: a miss, not unreachable
    b.heard(AgentOffered("1001", "PJSIP/1001"), T0 + 20)
    b.note(EmitQueueEvent(CallAnswered("c1", "general", T0 + 23, "1001")), T0 + 23)
    offers = b.build(T0 + 30).offers
    assert [(o.agent_id, o.unreachable, o.answered) for o in offers] == [
        ("1001", True, False),
        ("1002", False, False),
        ("1001", False, True),
    ]
