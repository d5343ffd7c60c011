"""The call repository against a real database (each test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.engine import Engine

from line311.db import AddOutcome, Call, CallRepository, DbError, InvalidCursor
from line311.db.engine import make_session_factory
from line311.db.errors import DbUnavailable, RecordRefused
from line311.db.outbox import OutboxStore

pytestmark = pytest.mark.integration

T0 = datetime(2025, 1, 27, 14, 0, tzinfo=UTC)


def a_call(call_id: str = "c-1", *, minute: int = 0, **changes: object) -> Call:
    start = T0 + timedelta(minutes=minute)
    call = Call(
        call_id=call_id,
        dialed_number="311",
        caller_hash="0123456789abcdef0123456789abcdef",
        started_at=start,
        answered_at=start + timedelta(seconds=2),
        ended_at=start + timedelta(seconds=90),
        outcome="self_served",
        language="en",
        queue=None,
        agent_id=None,
        path=["greeting", {"menu": "main", "digit": "1"}],
    )
    return dataclasses.replace(call, **changes)  # type: ignore[arg-type]


@pytest.fixture
def repo(engine: Engine) -> CallRepository:
    return CallRepository(make_session_factory(engine))


def test_given_a_new_call_when_added_then_it_is_created_and_readable(repo: CallRepository) -> None:
    result = repo.add_call(a_call())

    assert result.outcome is AddOutcome.CREATED
    stored = repo.get_call("c-1")
    assert stored is not None
    assert stored.same_content(a_call())
    assert stored.received_at is not None
    assert stored.started_at.tzinfo is not None
    assert stored.started_at == T0


def test_given_a_stored_call_when_the_same_call_is_added_again_then_nothing_changes(
    repo: CallRepository,
) -> None:
    first = repo.add_call(a_call())
    again = repo.add_call(a_call())

    assert again.outcome is AddOutcome.DUPLICATE
    assert again.stored.received_at == first.stored.received_at


def test_given_a_stored_call_when_repeated_with_other_offsets_for_the_same_instants_then_duplicate(
    repo: CallRepository,
) -> None:
    repo.add_call(a_call())
    plus_two = timezone(timedelta(hours=2))
    call = a_call()
    shifted = dataclasses.replace(
        call,
        started_at=call.started_at.astimezone(plus_two),
        answered_at=call.answered_at.astimezone(plus_two) if call.answered_at else None,
        ended_at=call.ended_at.astimezone(plus_two),
    )

    assert repo.add_call(shifted).outcome is AddOutcome.DUPLICATE


def test_given_a_stored_call_when_a_different_call_has_its_id_then_conflict_and_first_kept(
    repo: CallRepository,
) -> None:
    repo.add_call(a_call())
    result = repo.add_call(a_call(outcome="handled"))

    assert result.outcome is AddOutcome.CONFLICT
    assert result.stored.outcome == "self_served"
    stored = repo.get_call("c-1")
    assert stored is not None
    assert stored.outcome == "self_served"


def test_given_two_threads_adding_the_same_call_then_exactly_one_creates_it(
    repo: CallRepository,
) -> None:
    outcomes: list[AddOutcome] = []
    barrier = threading.Barrier(2)

    def add() -> None:
        barrier.wait()
        outcomes.append(repo.add_call(a_call("race")).outcome)

    threads = [threading.Thread(target=add) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert sorted(o.value for o in outcomes) == ["created", "duplicate"]


def test_given_no_such_call_when_read_then_none(repo: CallRepository) -> None:
    assert repo.get_call("nope") is None


def test_given_calls_when_listed_then_newest_first_and_filters_combine(
    repo: CallRepository,
) -> None:
    repo.add_call(a_call("a", minute=0, outcome="self_served", language="en"))
    repo.add_call(a_call("b", minute=1, outcome="handled", queue="housing", agent_id="agent1"))
    repo.add_call(a_call("c", minute=2, outcome="handled", queue="housing", language="es"))
    repo.add_call(a_call("d", minute=3, outcome="abandoned", queue="noise"))

    assert [c.call_id for c in repo.list_calls().items] == ["d", "c", "b", "a"]
    assert [c.call_id for c in repo.list_calls(outcome="handled").items] == ["c", "b"]
    assert [c.call_id for c in repo.list_calls(queue="housing", language="es").items] == ["c"]
    assert [c.call_id for c in repo.list_calls(agent="agent1").items] == ["b"]
    window = repo.list_calls(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3))
    assert [c.call_id for c in window.items] == ["c", "b"]
    new_york = timezone(timedelta(hours=-5))
    same_window = repo.list_calls(
        start=(T0 + timedelta(minutes=1)).astimezone(new_york),
        end=(T0 + timedelta(minutes=3)).astimezone(new_york),
    )
    assert [c.call_id for c in same_window.items] == ["c", "b"]


def test_given_many_calls_some_at_the_same_instant_when_paged_then_each_call_once_in_order(
    repo: CallRepository,
) -> None:
    ids = []
    for i in range(25):
        call_id = f"call-{i:02d}"
        ids.append(call_id)
        repo.add_call(a_call(call_id, minute=i // 3))  # three calls share each start time
    expected = sorted(ids, key=lambda cid: (int(cid[5:]) // 3, cid), reverse=True)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = repo.list_calls(limit=10, cursor=cursor)
        seen.extend(c.call_id for c in page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == expected
    assert pages == 3


def test_given_a_forged_cursor_when_listing_then_invalid_cursor(repo: CallRepository) -> None:
    with pytest.raises(InvalidCursor):
        repo.list_calls(cursor="not-a-cursor")


@pytest.mark.parametrize("limit", [0, 1001])
def test_given_a_limit_out_of_range_when_listing_then_refused(
    repo: CallRepository, limit: int
) -> None:
    with pytest.raises(DbError, match="limit"):
        repo.list_calls(limit=limit)


def test_given_a_naive_time_when_adding_then_refused(repo: CallRepository) -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    with pytest.raises((DbError, ValueError)):
        repo.add_call(a_call(started_at=naive))


def test_given_a_batch_of_new_stored_repeated_and_conflicting_calls_then_each_gets_its_outcome(
    repo: CallRepository,
) -> None:
    repo.add_call(a_call("old"))
    batch = [
        a_call("new-1"),
        a_call("old"),
        a_call("old", outcome="abandoned"),
        a_call("new-2", minute=1),
        a_call("new-1"),
        a_call("new-2", outcome="handled"),
    ]

    results = repo.add_calls(batch)

    assert [r.outcome for r in results] == [
        AddOutcome.CREATED,
        AddOutcome.DUPLICATE,
        AddOutcome.CONFLICT,
        AddOutcome.CREATED,
        AddOutcome.DUPLICATE,
        AddOutcome.CONFLICT,
    ]
    assert [r.stored.call_id for r in results] == [c.call_id for c in batch]
    stored = repo.get_call("new-2")
    assert stored is not None
    assert stored.outcome == "self_served"
    assert repo.add_calls([]) == []


def test_given_forwarding_when_a_batch_is_added_then_one_outbox_row_per_new_call_in_order(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    repo = CallRepository(sessions, forward=True)
    repo.add_call(a_call("b"))

    repo.add_calls([a_call("c"), a_call("b"), a_call("a"), a_call("c")])

    keys = [
        item.idempotency_key for item in sorted(OutboxStore(sessions).list(), key=lambda i: i.id)
    ]
    assert keys == ["call:b", "call:c", "call:a"]


# Values the database refuses are the record's fault, not the database's: `RecordRefused`, which
# the bridge answers 422, never `DbUnavailable` (503, "try again": retried forever).
EAST_14 = timezone(timedelta(hours=14))
WEST_14 = timezone(timedelta(hours=-14))
REFUSED = {
    "started in year 1 east of UTC": {"started_at": datetime(1, 1, 1, tzinfo=EAST_14)},
    "ended in year 9999 west of UTC": {
        "ended_at": datetime(9999, 12, 31, 23, 59, 59, tzinfo=WEST_14)
    },
    "agent of 200 characters": {"agent_id": "a" * 200},  # a 64-character column
    "NUL in the queue": {"queue": "general\x00"},
}


@pytest.mark.parametrize("case", REFUSED)
def test_given_values_the_database_refuses_then_record_refused_and_nothing_stored(
    repo: CallRepository, backend: str, case: str
) -> None:
    if backend == "sqlite" and case in ("agent of 200 characters", "NUL in the queue"):
        pytest.skip("SQLite neither enforces VARCHAR lengths nor refuses NUL")
    good = [a_call(f"good-{n}", minute=n) for n in range(3)]
    with pytest.raises(RecordRefused, match="refused by the database"):
        repo.add_calls([*good, a_call("bad", **REFUSED[case])])
    with pytest.raises(RecordRefused):
        repo.add_call(a_call("bad", **REFUSED[case]))
    assert repo.list_calls().items == []
    assert [r.outcome for r in repo.add_calls(good)] == [AddOutcome.CREATED] * 3


def test_record_refused_is_a_db_error_but_not_unavailable() -> None:
    assert issubclass(RecordRefused, DbError)
    assert not issubclass(RecordRefused, DbUnavailable)
