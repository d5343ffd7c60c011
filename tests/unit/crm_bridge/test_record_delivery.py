"""The durable record spool and its delivery loop: fake clock, scripted transport."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from line311.crm_bridge.delivery import RecordDelivery, RetryPolicy
from line311.crm_bridge.errors import CrmConflict, CrmRejected, CrmUnavailable
from line311.crm_bridge.spool import RecordSpool, SpooledRecord
from line311.dashboard.metrics import WriteBacklogCollector
from tests.fixtures.polling import until

T0 = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Bridge:
    """Stores by call_id idempotently, like the real bridge; ``up`` toggles an outage."""

    def __init__(self) -> None:
        self.up = True
        self.stored: dict[str, Mapping[str, Any]] = {}
        self.posts: Counter[str] = Counter()
        self.created: Counter[str] = Counter()
        self.refuse: set[str] = set()
        self.tried_while_down: Counter[str] = Counter()
        self.batches: list[int] = []
        self.got_batch = asyncio.Event()

    async def deliver_many(
        self, records: Sequence[Mapping[str, Any]]
    ) -> list[CrmConflict | CrmRejected | None]:
        self.batches.append(len(records))
        self.got_batch.set()
        if not self.up:
            for record in records:
                self.tried_while_down[str(record["call_id"])] += 1
            raise CrmUnavailable("connection refused")
        outcomes: list[CrmConflict | CrmRejected | None] = []
        for record in records:
            call_id = str(record["call_id"])
            self.posts[call_id] += 1
            if call_id in self.refuse:
                outcomes.append(CrmConflict("different content", 409))
                continue
            if call_id not in self.stored:
                self.stored[call_id] = dict(record)
                self.created[call_id] += 1
            outcomes.append(None)
        return outcomes


def record(call_id: str) -> dict[str, Any]:
    return {"call_id": call_id, "outcome": "handled", "path": {"nodes": []}}


def make(tmp_path: Path, bridge: Bridge, clock: Clock, seed: int = 7) -> RecordDelivery:
    return RecordDelivery(
        RecordSpool(tmp_path / "spool.sqlite"),
        bridge,
        policy=RetryPolicy(base=1.0, cap=30.0),
        clock=clock,
        rng=random.Random(seed),
    )


async def test_given_the_bridge_down_for_ten_minutes_while_calls_finish_then_each_record_arrives_exactly_once_after(
    tmp_path: Path,
) -> None:
    bridge, clock = Bridge(), Clock()
    delivery = make(tmp_path, bridge, clock)
    sent = []
    # 2 minutes up, 10 minutes down (restarting the controller in the middle), then up
    for second in range(0, 18 * 60):
        bridge.up = not (120 <= second < 720)
        if second % 3 == 0:
            call_id = f"c{second}"
            delivery.submit(record(call_id))
            sent.append(call_id)
        if second == 400:  # the controller restarts: a new spool object on the same file
            delivery.spool.close()
            delivery = make(tmp_path, bridge, clock, seed=8)
        await delivery.deliver_due()
        clock.now += 1.0

    assert delivery.spool.counts() == {"pending": 0, "dead": 0}
    assert sorted(bridge.stored) == sorted(sent)
    assert set(bridge.created.values()) == {1}  # stored once each
    assert all(bridge.stored[c] == record(c) for c in sent)
    # it kept trying through the outage, backing off (not once a second for every record)
    assert len(bridge.tried_while_down) == len([c for c in sent if 120 <= int(c[1:]) < 720])
    assert 5 <= max(bridge.tried_while_down.values()) < 100


async def test_given_a_record_the_bridge_refuses_then_it_is_kept_dead_with_its_error(
    tmp_path: Path,
) -> None:
    bridge, clock = Bridge(), Clock()
    bridge.refuse.add("bad")
    delivery = make(tmp_path, bridge, clock)
    delivery.submit(record("bad"))
    delivery.submit(record("good"))

    assert await delivery.deliver_due() == 1

    assert delivery.spool.counts() == {"pending": 0, "dead": 1}
    assert "different content" in (delivery.spool.last_error("bad") or "")
    bridge.refuse.clear()
    assert delivery.spool.revive(clock.now) == 1
    assert await delivery.deliver_due() == 1
    assert sorted(bridge.stored) == ["bad", "good"]


async def test_given_the_same_call_submitted_twice_then_it_is_queued_once(tmp_path: Path) -> None:
    bridge, clock = Bridge(), Clock()
    bridge.up = False
    delivery = make(tmp_path, bridge, clock)
    delivery.submit(record("c1"))
    delivery.submit(record("c1"))
    await delivery.deliver_due()

    assert delivery.spool.counts()["pending"] == 1
    next_due = delivery.spool.next_due()
    assert next_due is not None
    assert next_due > clock.now  # backed off


@pytest.mark.parametrize("attempts", [0, 1, 5, 40])
def test_the_backoff_is_capped_and_never_zero(attempts: int) -> None:
    policy = RetryPolicy(base=0.5, cap=30.0, floor=0.05)
    rng = random.Random(1)
    delays = [policy.delay(attempts, rng) for _ in range(200)]
    assert all(0.05 <= d <= 30.0 for d in delays)


def test_given_a_record_then_the_spool_gives_back_the_same_record_its_text_compact_and_sorted(
    tmp_path: Path,
) -> None:
    spool = RecordSpool(tmp_path / "spool.sqlite")
    body = {**record("text.1"), "path": {"z": ["é", 1.5, None, True], "a": ("t", 2**40)}}
    try:
        assert spool.put(body, 0.0)
        ((payload,),) = spool._db.execute("SELECT payload FROM records").fetchall()
        (due,) = spool.due(0.0)
    finally:
        spool.close()
    assert due.record == json.loads(json.dumps(body))  # tuples as lists, as before
    assert payload == json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def test_given_a_payload_with_nan_from_an_older_version_then_the_spool_still_reads_it(
    tmp_path: Path,
) -> None:
    spool = RecordSpool(tmp_path / "spool.sqlite")
    try:
        spool._db.execute(
            "INSERT INTO records (call_id, payload, created_at, next_attempt_at)"
            ' VALUES (\'old.1\', \'{"call_id":"old.1","x":NaN}\', 0, 0)'
        )
        (due,) = spool.due(0.0)
    finally:
        spool.close()
    assert due.call_id == "old.1"
    assert math.isnan(due.record["x"])


def test_given_a_record_with_a_datetime_then_the_spool_refuses_it(tmp_path: Path) -> None:
    spool = RecordSpool(tmp_path / "spool.sqlite")
    try:
        with pytest.raises(TypeError):
            spool.put({**record("dt.1"), "ended_at": datetime(2026, 12, 5, tzinfo=UTC)}, 0.0)
        assert spool.counts() == {"pending": 0, "dead": 0}
    finally:
        spool.close()


def test_given_a_new_spool_then_its_file_and_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "call_records.sqlite"
    spool = RecordSpool(path)
    try:
        spool.put(record("mode.1"), 0.0)
        assert path.parent.stat().st_mode & 0o777 == 0o700
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        spool.close()


async def test_given_calls_ending_while_the_loop_lingers_then_their_records_go_in_one_batch(
    tmp_path: Path,
) -> None:
    bridge, clock = Bridge(), Clock()
    lingering, linger_over = asyncio.Event(), asyncio.Event()

    async def sleep(seconds: float) -> None:
        assert seconds == 0.1
        lingering.set()
        await linger_over.wait()

    delivery = RecordDelivery(
        RecordSpool(tmp_path / "spool.sqlite"), bridge, clock=clock, linger=0.1, sleep=sleep
    )
    async with asyncio.TaskGroup() as tg:
        loop = tg.create_task(delivery.run())
        await until(lambda: delivery.passes, 5.0, "the loop waiting, nothing due", 0.001)
        delivery.submit(record("c1"))
        await lingering.wait()
        delivery.submit(record("c2"))  # two more calls end while it lingers
        delivery.submit(record("c3"))
        linger_over.set()
        await bridge.got_batch.wait()
        await until(lambda: delivery.delivered == 3, 5.0, "the batch settled", 0.001)
        loop.cancel()
    assert bridge.batches == [3]
    assert sorted(bridge.stored) == ["c1", "c2", "c3"]
    assert delivery.spool.counts() == {"pending": 0, "dead": 0}


@pytest.mark.parametrize(("batch", "linger"), [(0, 0.1), (501, 0.1), (10, -1.0)])
def test_given_a_bad_batch_or_linger_then_the_delivery_refuses_to_start(
    tmp_path: Path, batch: int, linger: float
) -> None:
    with pytest.raises(ValueError, match=r"batch|linger"):
        RecordDelivery(RecordSpool(tmp_path / "s.sqlite"), Bridge(), batch=batch, linger=linger)


class WatchedSpool(RecordSpool):
    """Notes the thread of every spool call; ``fail_puts`` writes that raise as a full disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.threads: list[tuple[str, int]] = []
        self.fail_puts = 0

    def put_many(self, rows: Sequence[tuple[str, str, float]]) -> int:
        self.threads.append(("put_many", threading.get_ident()))
        if self.fail_puts:
            self.fail_puts -= 1
            raise sqlite3.OperationalError("database or disk is full")
        return super().put_many(rows)

    def due(self, now: float, limit: int = 100) -> list[SpooledRecord]:
        self.threads.append(("due", threading.get_ident()))
        return super().due(now, limit)

    def settle(self, delivered: Sequence[str], dead: Sequence[tuple[str, str]]) -> None:
        self.threads.append(("settle", threading.get_ident()))
        super().settle(delivered, dead)

    def next_due(self) -> float | None:
        self.threads.append(("next_due", threading.get_ident()))
        return super().next_due()


async def test_given_records_then_no_spool_work_runs_on_the_event_loops_thread(
    tmp_path: Path,
) -> None:
    bridge, clock = Bridge(), Clock()
    spool = WatchedSpool(tmp_path / "spool.sqlite")
    delivery = RecordDelivery(spool, bridge, clock=clock, linger=0.0)
    async with asyncio.TaskGroup() as tg:
        loop = tg.create_task(delivery.run())
        for n in range(5):
            delivery.submit(record(f"c{n}"))
            await asyncio.sleep(0)
        # a pass ends with next_due
        await until(lambda: delivery.delivered == 5 and delivery.passes, 5.0, "all stored", 0.001)
        loop.cancel()
    spool.close()

    assert sorted(bridge.stored) == [f"c{n}" for n in range(5)]
    assert {what for what, _ in spool.threads} == {"put_many", "due", "settle", "next_due"}
    assert threading.get_ident() not in {thread for _, thread in spool.threads}


async def test_given_a_full_disk_then_records_wait_in_memory_logged_once_and_go_when_it_frees(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="line311.crm_bridge.delivery")
    bridge, clock = Bridge(), Clock()
    spool = WatchedSpool(tmp_path / "spool.sqlite")
    spool.fail_puts = 3
    delivery = RecordDelivery(spool, bridge, clock=clock)
    try:
        delivery.submit(record("c1"))
        delivery.submit(record("c2"))
        await delivery.flush()
        assert delivery.unspooled == 2
        delivery.submit(record("c3"))
        assert await delivery.deliver_due() == 0  # the second try fails too
        assert await delivery.deliver_due() == 0  # and the third
        assert delivery.unspooled == 3

        assert await delivery.deliver_due() == 3  # the disk has room again
    finally:
        spool.close()
    assert delivery.unspooled == 0
    assert sorted(bridge.stored) == ["c1", "c2", "c3"]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "disk is full" in errors[0].getMessage()
    assert any("written to the spool again" in r.getMessage() for r in caplog.records)


async def test_given_the_spool_still_failing_at_shutdown_then_the_lost_records_are_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = WatchedSpool(tmp_path / "spool.sqlite")
    spool.fail_puts = 10
    delivery = RecordDelivery(spool, Bridge(), clock=Clock())
    try:
        delivery.submit(record("lost.1"))
        assert await delivery.drain(within=1.0) == 0
    finally:
        spool.close()
    assert "1 call record(s) could not be written to the spool and are lost: lost.1" in [
        r.getMessage() for r in caplog.records if r.levelname == "ERROR"
    ]


async def test_given_a_record_that_is_not_json_then_submit_refuses_it_and_the_others_go(
    tmp_path: Path,
) -> None:
    bridge = Bridge()
    delivery = RecordDelivery(RecordSpool(tmp_path / "spool.sqlite"), bridge, clock=Clock())
    try:
        with pytest.raises(TypeError):
            delivery.submit({**record("dt.1"), "ended_at": datetime(2026, 12, 5, tzinfo=UTC)})
        with pytest.raises(KeyError):
            delivery.submit({"outcome": "handled"})
        delivery.submit(record("ok.1"))
        assert await delivery.deliver_due() == 1
    finally:
        delivery.spool.close()
    assert sorted(bridge.stored) == ["ok.1"]


def test_given_many_rows_then_put_many_queues_each_call_once_keeping_the_first(
    tmp_path: Path,
) -> None:
    spool = RecordSpool(tmp_path / "spool.sqlite")
    try:
        assert spool.put(record("a"), 1.0)
        first_b = {**record("b"), "outcome": "first"}
        rows = [
            (*RecordSpool.encode(r), 2.0)
            for r in (record("a"), first_b, {**record("b"), "outcome": "second"}, record("c"))
        ]
        assert spool.put_many(rows) == 2
        due = {r.call_id: r.record for r in spool.due(5.0)}
    finally:
        spool.close()
    assert sorted(due) == ["a", "b", "c"]
    assert due["b"] == first_b


async def test_given_a_full_disk_then_metrics_show_the_records_waiting_and_the_lines_dropped(
    tmp_path: Path,
) -> None:
    spool = WatchedSpool(tmp_path / "spool.sqlite")
    spool.fail_puts = 1
    delivery = RecordDelivery(spool, Bridge(), clock=Clock())
    queue_log_dropped = 0
    registry = CollectorRegistry()
    registry.register(
        WriteBacklogCollector(
            unspooled=lambda: delivery.unspooled,
            dropped={"log": lambda: 3, "queue_log": lambda: queue_log_dropped},
        )
    )
    try:
        delivery.submit(record("c1"))
        delivery.submit(record("c2"))
        await delivery.flush()  # the disk is full
        assert registry.get_sample_value("line311_call_records_unspooled") == 2
        queue_log_dropped = 7
        assert await delivery.deliver_due() == 2  # it has room again
    finally:
        spool.close()
    assert registry.get_sample_value("line311_call_records_unspooled") == 0
    assert registry.get_sample_value("line311_output_lines_dropped_total", {"output": "log"}) == 3
    assert (
        registry.get_sample_value("line311_output_lines_dropped_total", {"output": "queue_log"})
        == 7
    )
