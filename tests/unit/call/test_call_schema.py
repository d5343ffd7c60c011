"""One record schema: the API body, the API answer, the stored call and the table row all
carry the fields of `line311.call.schema`, derived from the one `CallRecord`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from line311.call.record import CallRecord, LegEnd, Outcome, QueueLeg
from line311.call.schema import LEG_FACTS, RECORD_FIELDS, STORED_FIELDS, leg_facts
from line311.crm_bridge import schemas
from line311.db.calls import Call
from line311.db.models import CallRow

T0 = datetime(2026, 1, 27, 12, 0, tzinfo=UTC)


def answered_leg() -> QueueLeg:
    return QueueLeg(
        queue="general",
        enqueued_at=T0 + timedelta(seconds=30),
        end=LegEnd.ANSWERED,
        ended_at=T0 + timedelta(seconds=300),
        answered_at=T0 + timedelta(seconds=50),
        agent_id="agent1",
        wait_seconds=20.0,
        talk_seconds=250.0,
    )


def record(leg: QueueLeg | None = None) -> CallRecord:
    return CallRecord(
        call_id="c1",
        dialed_number="311",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=300),
        outcome=Outcome.HANDLED if leg else Outcome.SELF_SERVED,
        path=["greeting", "menu:main"],
        queue_leg=leg,
    )


def test_every_form_of_a_call_carries_the_fields_of_the_one_record_schema() -> None:
    assert set(schemas.CallRecord.model_fields) == set(RECORD_FIELDS)
    assert set(schemas.CallOut.model_fields) == set(STORED_FIELDS)
    assert set(Call.__dataclass_fields__) == set(STORED_FIELDS)
    assert set(CallRow.__table__.columns.keys()) == set(STORED_FIELDS)
    assert set(STORED_FIELDS) == {*RECORD_FIELDS, "received_at", *LEG_FACTS}


def test_given_a_queued_call_when_stored_then_the_leg_facts_are_columns() -> None:
    leg = answered_leg()
    call = Call.from_record(record(leg))
    assert (call.queue, call.agent_id, call.received_at) == ("general", "agent1", None)
    assert call.queue_leg == leg.to_dict()
    assert (call.queue_answered_at, call.wait_seconds, call.talk_seconds) == (
        leg.answered_at,
        20.0,
        250.0,
    )
    assert call.abandoned_at is None


def test_given_an_ivr_only_call_then_it_has_no_leg_facts() -> None:
    assert leg_facts(None) == dict.fromkeys(LEG_FACTS)
    call = Call.from_record(record())
    assert call.queue_leg is None
    assert all(getattr(call, name) is None for name in LEG_FACTS)


def test_given_a_posted_body_when_turned_into_the_record_then_nothing_is_lost() -> None:
    one = record(answered_leg())
    body = schemas.CallRecord.model_validate(one.to_dict())
    assert body.to_record() == one
    out = schemas.CallOut.from_call(Call.from_record(one))
    assert out.call_id == "c1"
    assert out.talk_seconds == 250.0
    assert schemas.call_json(Call.from_record(one)) == out.model_dump_json().encode()
