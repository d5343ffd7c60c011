"""The group-commit intake batcher, over a fake repository (no database)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from line311.crm_bridge.intake import IntakeBatcher
from line311.db.calls import AddOutcome, AddResult, Call, CallRepository
from line311.db.errors import DbUnavailable

T0 = datetime(2025, 1, 27, 14, 0, tzinfo=UTC)


def a_call(call_id: str) -> Call:
    return Call(call_id, "311", None, T0, None, T0, "self_served", "en", None, None, [])


class FakeRepo:
    """Stores in memory; a call id starting with ``bad`` fails its whole transaction."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []

    def add_calls(self, records: Sequence[Call]) -> list[AddResult]:
        self.transactions.append([r.call_id for r in records])
        if any(r.call_id.startswith("bad") for r in records):
            raise DbUnavailable("the database refused it")
        return [AddResult(AddOutcome.CREATED, r) for r in records]

    def add_call(self, record: Call) -> AddResult:
        return self.add_calls([record])[0]


def batcher(repo: FakeRepo) -> IntakeBatcher:
    return IntakeBatcher(cast(CallRepository, repo))


async def test_given_concurrent_records_then_they_share_transactions_and_each_gets_its_result() -> (
    None
):
    repo = FakeRepo()
    intake = batcher(repo)

    results = await asyncio.gather(*(intake.add(a_call(f"c{i}")) for i in range(50)))

    assert [r.stored.call_id for r in results] == [f"c{i}" for i in range(50)]
    assert len(repo.transactions) < 50
    assert sorted(c for t in repo.transactions for c in t) == sorted(f"c{i}" for i in range(50))


async def test_given_a_failing_record_in_a_batch_then_only_its_request_fails() -> None:
    repo = FakeRepo()
    intake = batcher(repo)

    outcomes: list[Any] = await asyncio.gather(
        *(intake.add(a_call(name)) for name in ("a", "bad", "b")), return_exceptions=True
    )

    assert isinstance(outcomes[1], DbUnavailable)
    assert [outcomes[0].stored.call_id, outcomes[2].stored.call_id] == ["a", "b"]


def test_given_a_new_event_loop_per_request_then_the_batcher_still_answers() -> None:
    repo = FakeRepo()
    intake = batcher(repo)

    first = asyncio.run(intake.add(a_call("one")))
    second = asyncio.run(intake.add(a_call("two")))

    assert (first.stored.call_id, second.stored.call_id) == ("one", "two")


async def test_given_the_batch_limit_then_larger_loads_are_split() -> None:
    repo = FakeRepo()
    intake = IntakeBatcher(cast(CallRepository, repo), max_batch=4)

    await asyncio.gather(*(intake.add(a_call(f"c{i}")) for i in range(10)))

    assert max(len(t) for t in repo.transactions) <= 4


@pytest.mark.parametrize("count", [1, 3])
async def test_given_a_bug_in_storing_then_every_waiting_request_sees_it(count: int) -> None:
    class Broken(FakeRepo):
        def add_calls(self, records: Sequence[Call]) -> list[AddResult]:
            raise RuntimeError("a bug")

    intake = batcher(Broken())

    outcomes = await asyncio.gather(
        *(intake.add(a_call(f"c{i}")) for i in range(count)), return_exceptions=True
    )

    assert all(isinstance(o, RuntimeError) for o in outcomes)
