"""The call record refuses what does not hold together, and says which field is wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from line311.call.record import (
    Announcement,
    CallRecord,
    LegEnd,
    Offered,
    Outcome,
    QueueLeg,
    RecordError,
    final_outcome,
    parse_time,
)

T = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def leg(**kw: Any) -> QueueLeg:
    values: dict[str, Any] = {
        "queue": "general",
        "enqueued_at": T,
        "end": LegEnd.TIMED_OUT,
        "ended_at": T + timedelta(seconds=60),
        "timed_out_at": T + timedelta(seconds=60),
    }
    return QueueLeg(**(values | kw))


def leg_dict(**kw: Any) -> dict[str, Any]:
    return leg().to_dict() | kw


def record(**kw: Any) -> CallRecord:
    values: dict[str, Any] = {
        "call_id": "c1",
        "dialed_number": "311",
        "started_at": T - timedelta(seconds=20),
        "ended_at": T + timedelta(seconds=60),
        "outcome": Outcome.QUEUED,
    }
    return CallRecord(**(values | kw))


# ------------------------------------------------------------------ times
def test_parse_time_takes_an_aware_datetime_or_iso_text() -> None:
    assert parse_time(T, "at") is T
    assert parse_time("2026-12-04T10:00:00+00:00", "at") == T


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "at is not an ISO-8601 time"),
        (1_790_000_000, "at must be an ISO-8601 time"),
        (None, "at must be an ISO-8601 time"),
        (datetime(2026, 12, 4, 10, 0), "at must carry a timezone"),
    ],
)
def test_parse_time_refuses_what_is_not_an_aware_time(value: object, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        parse_time(value, "at")


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+14:00",  # moved to UTC: before year 1, OverflowError
        "9999-12-31T23:59:59-14:00",  # moved to UTC: after year 9999, OverflowError
        "1899-12-31T23:59:59+00:00",
        "9999-01-01T00:00:00+00:00",
    ],
)
def test_parse_time_refuses_times_outside_the_years_stored(value: str) -> None:
    with pytest.raises(RecordError, match="at must lie between the years 1900 and 9998"):
        parse_time(value, "at")


def test_parse_time_takes_the_first_and_last_years_stored() -> None:
    assert parse_time("1900-01-01T00:00:00+00:00", "at").year == 1900
    assert parse_time("9998-12-31T23:59:59+00:00", "at").year == 9998


def test_a_queue_leg_takes_names_like_the_records_top_level_fields() -> None:
    parsed = QueueLeg.from_dict(leg_dict(queue="q" * 64, agent_id="ccr.1:desk@east-2"))
    assert (parsed.queue, parsed.agent_id) == ("q" * 64, "ccr.1:desk@east-2")


# ------------------------------------------------------------------ announcements, offers
def test_announcement_and_offer_round_trip() -> None:
    announcement = Announcement(T, 3, 120.0)
    offer = Offered(T, "agent1", step=2, answered=True)
    unreachable = Offered(T, "agent2", unreachable=True)
    assert Announcement.from_dict(announcement.to_dict()) == announcement
    assert Offered.from_dict(offer.to_dict()) == offer
    assert Offered.from_dict(unreachable.to_dict()) == unreachable
    assert "unreachable" not in offer.to_dict()  # said only when true: older bridges read it
    # a record kept before offers said whether the phone could be rung reads as rung
    assert Offered.from_dict({"at": T.isoformat(), "agent_id": "a"}) == Offered(T, "a")


@pytest.mark.parametrize("position", [-1, True, 1.5, None])
def test_an_announcement_position_must_be_a_whole_number(position: object) -> None:
    with pytest.raises(RecordError, match=r"announcement\.position"):
        Announcement.from_dict({"at": T.isoformat(), "position": position})


def test_an_announcement_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(RecordError, match="announcement: unknown field"):
        Announcement.from_dict({"at": T.isoformat(), "position": 1, "caller": "x"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"step": -1}, r"offer\.step must be a whole number"),
        ({"step": False}, r"offer\.step must be a whole number"),
        ({"answered": "yes"}, r"offer\.answered must be true or false"),
        ({"unreachable": 1}, r"offer\.unreachable must be true or false"),
        ({"agent_id": 7}, r"offer\.agent_id must be a string"),
    ],
)
def test_a_bad_offer_is_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        Offered.from_dict({"at": T.isoformat(), "agent_id": "a"} | change)


# ------------------------------------------------------------------ the queue leg
def test_a_leg_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(RecordError, match="ended_at is before enqueued_at"):
        leg(ended_at=T - timedelta(seconds=1))


def test_an_abandoned_leg_needs_its_abandon_time() -> None:
    with pytest.raises(RecordError, match="abandoned leg needs abandoned_at"):
        leg(end=LegEnd.ABANDONED)


def test_every_leg_time_must_carry_a_timezone() -> None:
    naive = datetime(2026, 12, 4, 10, 0, 30)
    with pytest.raises(RecordError, match="timed_out_at must carry a timezone"):
        leg(timed_out_at=naive)


def test_a_leg_round_trips_through_a_dict() -> None:
    full = leg(
        skills=("topic:general",),
        announcements=(Announcement(T, 1),),
        offers=(Offered(T, "a"),),
        transfers=("housing",),
        callback_requested_at=T,
        callback_kept=False,
    )
    assert QueueLeg.from_dict(full.to_dict()) == full


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"enqueued_at": None}, r"queue_leg\.enqueued_at is required"),
        ({"skills": "topic:general"}, r"queue_leg\.skills must be a list of strings"),
        ({"transfers": [1]}, r"queue_leg\.transfers must be a list of strings"),
        ({"offers": {"agent_id": "a"}}, r"queue_leg\.offers must be a list"),
        ({"announcements": ["x"]}, r"queue_leg\.announcements\[\] must be an object"),
        ({"priority": "high"}, r"queue_leg\.priority must be a whole number"),
        ({"escalation_step": True}, r"queue_leg\.escalation_step must be a whole number"),
        ({"callback_kept": "no"}, r"queue_leg\.callback_kept must be true or false"),
        ({"interpreter": 1}, r"queue_leg\.interpreter must be true or false"),
        ({"talk_seconds": "60"}, r"queue_leg\.talk_seconds must be a number"),
        ({"talk_seconds": True}, r"queue_leg\.talk_seconds must be a number"),
        ({"queue": None}, r"queue_leg\.queue must be a string"),
        ({"surprise": 1}, "queue_leg: unknown field"),
        # the leg's queue and CCR go into 64-character indexed columns
        ({"queue": "q" * 65}, r"queue_leg\.queue must be 1-64 letters"),
        ({"queue": "general\n"}, r"queue_leg\.queue must be 1-64 letters"),
        ({"queue": ""}, r"queue_leg\.queue must be 1-64 letters"),
        ({"agent_id": "a" * 200}, r"queue_leg\.agent_id must be 1-64 letters"),
        ({"agent_id": "jane doe"}, r"queue_leg\.agent_id must be 1-64 letters"),
        # an integer literal past float's range, and what is not finite
        ({"wait_seconds": 10**400}, r"queue_leg\.wait_seconds is too large"),
        ({"talk_seconds": float("inf")}, r"queue_leg\.talk_seconds must be a finite number"),
        ({"hold_seconds": float("nan")}, r"queue_leg\.hold_seconds must be a finite number"),
        # times outside the years a database stores (year 1 west of UTC overflows)
        ({"enqueued_at": "0001-01-01T00:00:00+14:00"}, r"queue_leg\.enqueued_at must lie"),
        ({"ended_at": "9999-12-31T23:59:59-14:00"}, r"queue_leg\.ended_at must lie"),
    ],
)
def test_a_bad_leg_dict_names_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        QueueLeg.from_dict(leg_dict(**change))


def test_a_leg_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(RecordError, match="queue_leg must be an object"):
        QueueLeg.from_dict(["general"])  # type: ignore[arg-type]


# ------------------------------------------------------------------ final outcome
@pytest.mark.parametrize(
    ("end", "callback", "outcome"),
    [
        (LegEnd.TIMED_OUT, False, Outcome.QUEUE_TIMEOUT),
        (LegEnd.INTERRUPTED, False, Outcome.FAILED),
        (LegEnd.INTERRUPTED, True, Outcome.FAILED),
    ],
)
def test_a_leg_that_was_not_answered_or_abandoned_gives_its_outcome(
    end: LegEnd, callback: bool, outcome: Outcome
) -> None:
    the_leg = leg(end=end, callback_requested_at=T if callback else None)
    assert final_outcome(Outcome.QUEUED, the_leg) is outcome


def test_without_a_leg_the_ivr_outcome_stands() -> None:
    assert final_outcome(Outcome.SELF_SERVED, None) is Outcome.SELF_SERVED


# ------------------------------------------------------------------ the record
def test_the_answer_must_lie_within_the_call() -> None:
    with pytest.raises(RecordError, match="answered_at must lie between"):
        record(answered_at=T + timedelta(hours=1))
    with pytest.raises(RecordError, match="answered_at must lie between"):
        record(answered_at=T - timedelta(hours=1))


def test_the_record_takes_queue_and_agent_from_its_leg() -> None:
    joined = record(queue_leg=leg())
    assert (joined.queue, joined.agent_id) == ("general", None)
    with pytest.raises(RecordError, match=r"agent_id differs from queue_leg\.agent_id"):
        record(queue_leg=leg(), agent_id="someone")


def test_joining_a_leg_that_ends_later_extends_the_call() -> None:
    late = leg(ended_at=T + timedelta(minutes=5), timed_out_at=T + timedelta(minutes=5))
    joined = record().with_leg(late)
    assert joined.ended_at == T + timedelta(minutes=5)
    assert joined.outcome is Outcome.QUEUE_TIMEOUT
    assert joined.queue == "general"


def test_a_record_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(RecordError, match="record must be an object"):
        CallRecord.from_dict("c1")  # type: ignore[arg-type]
