"""`CallRecord` validation: strict, no raw caller numbers, times in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from line311.call.values import OTHER_LANGUAGE
from line311.crm_bridge.schemas import (
    MAX_PATH_BYTES,
    CallRecord,
    looks_like_caller_number_field,
)
from line311.db.calls import Call
from line311.privacy import caller_hash

T0 = datetime(2025, 1, 27, 14, 0, tzinfo=UTC)


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "call_id": "1737986400.17",
        "dialed_number": "2126399675",
        "caller_hash": caller_hash("+1 212 555 0123", "k" * 32),
        "started_at": T0.isoformat(),
        "answered_at": (T0 + timedelta(seconds=1)).isoformat(),
        "ended_at": (T0 + timedelta(minutes=2)).isoformat(),
        "outcome": "handled",
        "language": "es",
        "queue": "housing",
        "agent_id": "agent3",
        "path": ["greeting", "lang:es", "menu:main"],
    }
    base.update(changes)
    return base


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        CallRecord.model_validate(data)
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in info.value.errors()]


def test_a_complete_record_validates_and_converts_to_a_stored_call() -> None:
    record = CallRecord.model_validate(body())
    call = Call.from_record(record.to_record())

    assert call.call_id == "1737986400.17"
    assert call.started_at == T0
    assert call.path == ["greeting", "lang:es", "menu:main"]
    assert call.received_at is None


def test_a_call_lost_with_its_media_server_is_accepted_and_stored_as_such() -> None:
    record = CallRecord.model_validate(
        body(outcome="media_server_lost", queue=None, agent_id=None, path={"end_reason": "x"})
    )
    call = Call.from_record(record.to_record())
    assert call.outcome == "media_server_lost"


def test_an_other_language_call_is_accepted_and_stored_with_its_language() -> None:
    """0 at the language menu: the record says ``und``, a CCR with the interpreter took it."""
    record = CallRecord.model_validate(body(language=OTHER_LANGUAGE))
    assert Call.from_record(record.to_record()).language == OTHER_LANGUAGE


def test_a_minimal_record_gets_defaults() -> None:
    record = CallRecord.model_validate(
        {
            "call_id": "x1",
            "dialed_number": "311",
            "started_at": "2025-01-27T09:00:00-05:00",
            "ended_at": "2025-01-27T09:00:12-05:00",
            "outcome": "abandoned_in_ivr",
        }
    )
    assert (record.caller_hash, record.language, record.queue, record.path) == (
        None,
        "en",
        None,
        [],
    )


@pytest.mark.parametrize(
    "field", ["caller_number", "caller_id", "CallerID", "from", "ani", "phone", "caller-phone"]
)
def test_given_a_raw_caller_number_field_then_refused_with_a_reason(field: str) -> None:
    messages = errors_of(body(**{field: "2125550123"}))
    assert any("raw caller number" in m for m in messages)
    assert not any("2125550123" in m for m in messages)


def test_given_an_unknown_field_then_refused() -> None:
    assert any("extra" in m.lower() for m in errors_of(body(colour="blue")))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("caller_hash", "2125550123"),  # a phone number is not a keyed hash
        ("caller_hash", "ABCDEF0123456789ABCDEF0123456789"),
        ("call_id", 17),
        ("call_id", ""),
        ("call_id", "has space"),
        ("dialed_number", "311; drop"),
        ("dialed_number", 311),
        ("outcome", "Filed SR"),
        ("language", "english"),
        ("started_at", "2025-01-27T14:00:00"),  # naive
        ("started_at", "not a date"),
        ("path", "greeting"),
        ("queue", ""),
        ("agent_id", "agent 1"),
    ],
)
def test_given_a_bad_value_then_the_field_is_named(field: str, value: Any) -> None:
    assert any(m.startswith(field) for m in errors_of(body(**{field: value})))


def test_given_an_end_before_the_start_then_refused() -> None:
    messages = errors_of(body(ended_at=(T0 - timedelta(seconds=1)).isoformat()))
    assert any("ended_at is before started_at" in m for m in messages)


def test_given_an_answer_outside_the_call_then_refused() -> None:
    messages = errors_of(body(answered_at=(T0 + timedelta(hours=1)).isoformat()))
    assert any("answered_at" in m for m in messages)


def test_given_an_oversized_path_then_refused() -> None:
    messages = errors_of(body(path=["x" * 100] * (MAX_PATH_BYTES // 100)))
    assert any("path" in m and "limit" in m for m in messages)


def test_path_may_be_an_object() -> None:
    record = CallRecord.model_validate(body(path={"steps": ["greeting"], "alerts": ["a1"]}))
    assert record.path == {"steps": ["greeting"], "alerts": ["a1"]}


@settings(max_examples=200)
@given(
    st.sampled_from(["caller", "Caller_", "phone", "x_phone_y", "caller_number_", "CALLER"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", max_size=8),
)
def test_property_any_field_named_like_a_caller_or_phone_is_refused(prefix: str, rest: str) -> None:
    name = prefix + rest
    if name.lower() == "caller_hash":
        return
    assert looks_like_caller_number_field(name)
    with pytest.raises(ValidationError, match="raw caller number"):
        CallRecord.model_validate(body(**{name: "2125550123"}))


@settings(max_examples=200)
@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC]),
    ),
    ring=st.integers(0, 600),
    talk=st.integers(0, 7200),
)
def test_property_ordered_times_are_accepted_and_survive_conversion(
    start: datetime, ring: int, talk: int
) -> None:
    answered = start + timedelta(seconds=ring)
    ended = answered + timedelta(seconds=talk)
    record = CallRecord.model_validate(
        body(
            started_at=start.isoformat(),
            answered_at=answered.isoformat(),
            ended_at=ended.isoformat(),
        )
    )
    call = Call.from_record(record.to_record())
    assert (call.started_at, call.answered_at, call.ended_at) == (start, answered, ended)


def test_caller_hash_is_not_mistaken_for_a_caller_number_field() -> None:
    assert not looks_like_caller_number_field("caller_hash")
    assert not looks_like_caller_number_field("dialed_number")
