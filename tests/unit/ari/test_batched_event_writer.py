"""`BatchedEventWriter`: events stored in batches, and no wake-up while nothing is pending."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from line311.ari.queue_edge import BatchedEventWriter
from line311.queue.events import CallAnswered, CallEnqueued, QueueEvent


class Store:
    def __init__(self) -> None:
        self.batches: list[list[QueueEvent]] = []

    def write(self, events: Sequence[QueueEvent]) -> int:
        self.batches.append(list(events))
        return len(events)


async def _until(predicate: object, tries: int = 200) -> None:
    for _ in range(tries):
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


async def test_given_no_event_then_the_writer_does_not_wake_and_the_first_events_go_in_one_batch():
    store = Store()
    writer = BatchedEventWriter(store.write, interval=0.05)
    flushes: list[int] = []
    flush = writer.flush

    async def counted() -> None:
        flushes.append(writer.pending)
        await flush()

    writer.flush = counted  # type: ignore[method-assign]
    task = asyncio.create_task(writer.run())
    try:
        await asyncio.sleep(0.3)  # six intervals: the loop polled six times before
        assert flushes == []
        writer(CallEnqueued("c1", "general", 1.0))
        writer(CallAnswered("c1", "general", 2.0, "1001"))
        writer("not a queue event")
        await _until(lambda: writer.written == 2)
        assert store.batches == [
            [CallEnqueued("c1", "general", 1.0), CallAnswered("c1", "general", 2.0, "1001")]
        ]
        assert flushes == [2]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_given_a_failing_store_then_the_events_wait_and_are_written_once_it_works():
    store = Store()
    failures = [RuntimeError("database away")]

    def write(events: Sequence[QueueEvent]) -> int:
        if failures:
            raise failures.pop()
        return store.write(events)

    writer = BatchedEventWriter(write, interval=0.01)
    task = asyncio.create_task(writer.run())
    try:
        writer(CallEnqueued("c1", "general", 1.0))
        await _until(lambda: writer.written == 1)
        assert store.batches == [[CallEnqueued("c1", "general", 1.0)]]
        assert writer.pending == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
