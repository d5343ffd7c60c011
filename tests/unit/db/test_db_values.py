"""Pure parts of the storage layer: cursors, content comparison, the UTC column type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from line311.db.calls import Call, InvalidCursor, canonical_json, decode_cursor, encode_cursor
from line311.db.coltypes import UtcDateTime
from line311.db.engine import make_engine, safe_url
from line311.db.errors import DbError

T0 = datetime(2025, 1, 27, 14, 0, tzinfo=UTC)


def a_call(**changes: object) -> Call:
    base = {
        "call_id": "c",
        "dialed_number": "311",
        "caller_hash": None,
        "started_at": T0,
        "answered_at": None,
        "ended_at": T0 + timedelta(seconds=5),
        "outcome": "abandoned_in_ivr",
        "language": "en",
        "queue": None,
        "agent_id": None,
        "path": [],
    }
    base.update(changes)
    return Call(**base)  # type: ignore[arg-type]


@settings(max_examples=200)
@given(
    when=st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]
        ),
    ),
    call_id=st.text(min_size=1, max_size=128),
)
def test_property_a_cursor_round_trips_to_the_same_instant_and_id(
    when: datetime, call_id: str
) -> None:
    decoded_when, decoded_id = decode_cursor(encode_cursor(when, call_id))
    assert decoded_when == when
    assert decoded_id == call_id


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "bm90IGpzb24", "WzEsMl0", "WyIyMDI1LTAxLTAxIiwgIngiXQ"]
)
def test_a_cursor_we_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_received_at_is_not_part_of_a_calls_content() -> None:
    assert a_call().same_content(a_call(received_at=T0 + timedelta(hours=1)))
    assert not a_call().same_content(a_call(outcome="abandoned"))
    assert a_call().same_content(a_call(started_at=T0.astimezone(timezone(timedelta(hours=2)))))


def test_to_dict_writes_iso_times_with_offsets() -> None:
    assert a_call().to_dict()["started_at"] == "2025-01-27T14:00:00+00:00"


def test_utc_column_refuses_naive_times_and_stores_utc() -> None:
    col = UtcDateTime()
    with pytest.raises(ValueError, match="naive"):
        col.process_bind_param(datetime(2025, 1, 1), sqlite.dialect())
    est = datetime(2025, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert col.process_bind_param(est, sqlite.dialect()) == datetime(2025, 1, 1, 14, 0)
    assert col.process_bind_param(est, postgresql.dialect()) == datetime(
        2025, 1, 1, 14, 0, tzinfo=UTC
    )
    naive_from_sqlite = datetime(2025, 1, 1, 14, 0)
    assert col.process_result_value(naive_from_sqlite, sqlite.dialect()) == datetime(
        2025, 1, 1, 14, 0, tzinfo=UTC
    )


def test_safe_url_masks_the_password() -> None:
    assert "s3cret" not in safe_url("postgresql+psycopg://u:s3cret@db/x")


@pytest.mark.parametrize("url", ["mysql://x/y", "not a url"])
def test_unsupported_or_bad_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(DbError):
        make_engine(url)


# PostgreSQL's JSONB keeps numbers as numeric: 1e23 comes back as the integer 10**23, which is
# not the float Python parsed from "1e23" (99999999999999991611392), nor is 1e300's integer.
@pytest.mark.parametrize(
    ("posted", "read_back"),
    [
        (1e23, 10**23),
        (1e300, 10**300),
        (123456789.12345679, Decimal("123456789.12345679")),
        (0.1, Decimal("0.1")),
        (2.0, 2),
        (2**64, 2**64),
    ],
)
def test_a_json_number_read_back_as_an_integer_or_decimal_is_the_same_content(
    posted: float, read_back: object
) -> None:
    leg = {"queue": "general", "wait_seconds": posted}
    assert a_call(path=[{"x": posted}], queue_leg=leg).same_content(
        a_call(path=[{"x": read_back}], queue_leg=leg | {"wait_seconds": read_back})
    )
    assert canonical_json({"x": [posted]}) == canonical_json({"x": [read_back]})


@pytest.mark.parametrize(
    ("one", "other"),
    [(1e23, 10**23 + 1), (True, 1), (False, 0), (0.1, 0.2), ("1", 1), ([1], {"0": 1})],
)
def test_different_json_values_stay_different_content(one: object, other: object) -> None:
    assert not a_call(path=[one]).same_content(a_call(path=[other]))
