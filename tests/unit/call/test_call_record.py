"""The call record (pure): the queue leg gathered from facts, the join, the outcome, round trips."""

from __future__ import annotations

from typing import Any

import pytest

from line311.call.assembler import RecordAssembler
from line311.call.record import (
    CallRecord,
    LegEnd,
    Outcome,
    QueueLeg,
    RecordError,
    final_outcome,
    from_timestamp,
)
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.leg_facts import LegBuilder

T0 = 1_790_000_000.0


def ivr(call_id: str = "c1", outcome: str = "queued", **kw: Any) -> dict[str, Any]:
    record = {
        "call_id": call_id,
        "dialed_number": "311",
        "caller_hash": "ab" * 16,
        "started_at": from_timestamp(T0).isoformat(),
        "answered_at": from_timestamp(T0 + 0.2).isoformat(),
        "ended_at": from_timestamp(T0 + 20).isoformat(),
        "outcome": outcome,
        "language": "es",
        "path": {"nodes": [{"node": "main"}], "sr_lookups": []},
    }
    return record | kw


def leg(call_id: str = "c1") -> LegBuilder:
    return LegBuilder(
        CallEnqueued(call_id, "general", T0 + 20, "es", "general", 0),
        skills=["topic:general", "lang:es"],
    )


def answered_leg(call_id: str = "c1") -> QueueLeg:
    b = leg(call_id)
    b.announced(T0 + 22, 3, 120.0)
    b.offered("agent1", T0 + 30, step=0)
    b.offered("agent2", T0 + 45, step=1, interpreter=True)
    b.feed(CallAnswered(call_id, "general", T0 + 50, "agent2"))
    b.interpreter_joined(T0 + 52)
    b.feed(CallCompleted(call_id, "general", T0 + 110, 60.0, 0.0, 1.0, "agent"))
    assert b.ended
    return b.build()


def test_given_an_answered_leg_when_built_then_it_has_queue_agent_wait_talk_and_escalation() -> (
    None
):
    got = answered_leg()

    assert (got.end, got.queue, got.agent_id) == (LegEnd.ANSWERED, "general", "agent2")
    assert got.wait_seconds == 30.0
    assert (got.talk_seconds, got.wrapup_seconds, got.ended_by) == (60.0, 1.0, "agent")
    assert got.escalation_step == 1
    assert [(o.agent_id, o.answered) for o in got.offers] == [("agent1", False), ("agent2", True)]
    assert got.announcements[0].position == 3
    assert got.announcements[0].ewt_seconds == 120.0
    assert got.skills == ("lang:es", "topic:general")
    assert got.interpreter
    assert got.interpreter_joined_at == from_timestamp(T0 + 52)
    assert got.callback_kept is None


def test_given_a_caller_who_hangs_up_waiting_then_the_leg_has_the_abandon_time() -> None:
    b = leg()
    b.feed(CallAbandoned("c1", "general", T0 + 35))
    b.feed(CallAnswered("c1", "general", T0 + 40, "agent1"))  # after the end: ignored
    got = b.build()

    assert got.end is LegEnd.ABANDONED
    assert got.abandoned_at == from_timestamp(T0 + 35)
    assert got.wait_seconds == 15.0
    assert got.agent_id is None


def test_given_a_caller_lost_with_their_asterisk_then_the_leg_and_record_name_the_loss() -> None:
    b = leg()
    b.feed(CallAbandoned("c1", "general", T0 + 62, media_server_lost=True))
    got = b.build()
    assert got.end is LegEnd.MEDIA_SERVER_LOST
    assert got.abandoned_at is None  # not a caller who gave up
    assert got.wait_seconds == 42.0  # they waited until the loss
    asm = RecordAssembler()
    asm.ivr_ended(ivr(), leg_open=True)
    (record,) = asm.leg_ended("c1", got)
    assert record.outcome is Outcome.MEDIA_SERVER_LOST
    data = record.to_dict()
    assert (data["outcome"], data["queue_leg"]["end"]) == ("media_server_lost",) * 2
    assert CallRecord.from_dict(data) == record


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([CallAnswered("c1", "general", T0 + 30, "a"), CallCompleted("c1", "general", T0 + 40, 10.0)],
         Outcome.HANDLED),
        ([CallAbandoned("c1", "general", T0 + 30)], Outcome.ABANDONED_IN_QUEUE),
        ([CallTimedOut("c1", "general", T0 + 30)], Outcome.QUEUE_TIMEOUT),
        ([CallbackRequested("c1", "general", T0 + 25), CallAnswered("c1", "general", T0 + 90, "a"),
          CallCompleted("c1", "general", T0 + 99, 9.0)], Outcome.CALLBACK_HANDLED),
        ([CallbackRequested("c1", "general", T0 + 25), CallAbandoned("c1", "general", T0 + 90)],
         Outcome.CALLBACK_FAILED),
        ([CallAbandoned("c1", "general", T0 + 30, media_server_lost=True)],
         Outcome.MEDIA_SERVER_LOST),
        ([], Outcome.FAILED),
    ],
)  # fmt: skip
def test_given_how_the_leg_ended_then_the_final_outcome_says_so(
    events: list[object], expected: Outcome
) -> None:
    b = leg()
    for event in events:
        b.feed(event)
    built = b.build()
    assert final_outcome(Outcome.QUEUED, built) is expected
    if built.callback_requested_at is not None:
        assert built.callback_kept is (expected is Outcome.CALLBACK_HANDLED)


def test_given_the_ivr_part_first_when_the_leg_ends_then_one_joined_record_comes_out() -> None:
    asm = RecordAssembler()

    assert asm.ivr_ended(ivr(), leg_open=True) == []
    (record,) = asm.leg_ended("c1", answered_leg())

    assert record.outcome is Outcome.HANDLED
    assert (record.queue, record.agent_id) == ("general", "agent2")
    assert record.ended_at == from_timestamp(T0 + 110)  # the call ends with its leg
    assert record.path["nodes"] == [{"node": "main"}]
    assert asm.held == 0


def test_given_the_leg_ending_first_when_the_ivr_part_comes_then_they_are_joined() -> None:
    asm = RecordAssembler()
    b = leg()
    b.feed(CallAbandoned("c1", "general", T0 + 20.5))

    assert asm.leg_ended("c1", b.build()) == []
    (record,) = asm.ivr_ended(ivr(), leg_open=False)

    assert record.outcome is Outcome.ABANDONED_IN_QUEUE
    assert record.queue_leg is not None
    assert record.queue_leg.abandoned_at is not None


def test_given_an_ivr_only_call_then_its_record_comes_out_at_once() -> None:
    (record,) = RecordAssembler().ivr_ended(ivr(outcome="self_served"), leg_open=False)
    assert (record.outcome, record.queue, record.queue_leg) == (Outcome.SELF_SERVED, None, None)


def test_given_calls_still_queued_at_shutdown_when_drained_then_they_are_recorded_as_interrupted() -> (
    None
):
    open_legs = {"c1": leg().build()}
    asm = RecordAssembler(open_leg=open_legs.get)
    asm.ivr_ended(ivr("c1"), leg_open=True)
    asm.ivr_ended(ivr("c2"), leg_open=True)

    records = {r.call_id: r for r in asm.drain()}

    assert records["c1"].outcome is Outcome.FAILED
    assert records["c1"].queue_leg is not None
    assert records["c1"].queue_leg.end is LegEnd.INTERRUPTED
    assert records["c2"].outcome is Outcome.QUEUED  # no leg known: the IVR's view
    assert asm.held == 0


def test_given_more_held_than_the_bound_then_the_oldest_ivr_part_is_released_not_lost() -> None:
    asm = RecordAssembler(max_held=1)
    assert asm.ivr_ended(ivr("c1"), leg_open=True) == []
    (released,) = asm.ivr_ended(ivr("c2"), leg_open=True)
    assert released.call_id == "c1"


def test_given_a_joined_record_when_round_tripped_through_a_dict_then_it_is_equal() -> None:
    asm = RecordAssembler()
    asm.ivr_ended(ivr(), leg_open=True)
    (record,) = asm.leg_ended("c1", answered_leg())

    assert CallRecord.from_dict(record.to_dict()) == record
    assert QueueLeg.from_dict(answered_leg().to_dict()) == answered_leg()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcome": "sr_filed"}, "outcome must be one of"),
        ({"started_at": "2026-12-04T10:00:00"}, "timezone"),
        ({"caller_number": "2125550100"}, "unknown field"),
        ({"queue": "housing", "queue_leg": answered_leg().to_dict()}, "queue differs"),
        ({"queue_leg": answered_leg().to_dict() | {"end": "sideways"}}, "queue_leg.end"),
        ({"queue_leg": answered_leg().to_dict() | {"wait_seconds": -1}}, "must not be negative"),
        ({"queue_leg": answered_leg().to_dict() | {"agent_id": None}}, "needs answered_at"),
        ({"ended_at": from_timestamp(T0 - 1).isoformat()}, "before started_at"),
    ],
)
def test_given_a_bad_record_then_a_clear_error_names_what_is_wrong(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(RecordError, match=message):
        CallRecord.from_dict(ivr() | change)


def test_the_ivr_session_uses_the_one_outcome_vocabulary() -> None:
    from line311.dashboard.feeds import RESOLVED_OUTCOMES
    from line311.ivr import session

    assert session.Outcome is Outcome
    assert {"self_served", "sr_lookup", "referred"} == RESOLVED_OUTCOMES


def test_given_a_path_on_the_session_clock_when_moved_then_every_time_is_on_the_wall_clock() -> (
    None
):
    from line311.call.record import path_on_wall_clock

    path = {
        "started_at": 100.0,
        "ended_at": 130.5,
        "nodes": [{"node": "greeting", "at": 100.0}, {"node": "main", "at": 112.25}],
        "digits": [{"digit": "1", "at": 111.0, "node": "language"}],
        "queue": {"at": 130.5, "priority": 0},
        "flow_version": 2,
        "sr_lookups": [{"found": True, "digits": 12}],
        "hidden": True,
    }
    moved = path_on_wall_clock(path, 1_764_800_000.0)
    assert moved["started_at"] == 1_764_800_100.0
    assert [n["at"] for n in moved["nodes"]] == [1_764_800_100.0, 1_764_800_112.25]
    assert moved["digits"][0]["at"] == 1_764_800_111.0
    assert moved["queue"] == {"at": 1_764_800_130.5, "priority": 0}
    assert moved["flow_version"] == 2  # not a time
    assert moved["sr_lookups"] == path["sr_lookups"]
    assert moved["hidden"] is True
    assert path["started_at"] == 100.0  # the input is left as it was
