"""The desk link on a real Redis: a controller and a worker talk both ways, in order, once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from line311.call.commands import EmitQueueEvent
from line311.call.events import AgentOffered
from line311.live.client import connect
from line311.live.desk import (
    DeskLink,
    DeskMessage,
    decode_command,
    decode_event,
    encode_command,
    encode_event,
)
from line311.live.server import RedisServer
from line311.queue.events import CallEnqueued
from tests.fixtures.polling import until
from tests.fixtures.redis_server import running_redis

pytestmark = pytest.mark.integration

CONTROLLER, WORKER = "line311", "line311-w1"


@contextlib.asynccontextmanager
async def linked(link: DeskLink) -> AsyncIterator[list[DeskMessage]]:
    """``link``'s writer running and its inbox read into the list yielded (opened first)."""
    await link.open()
    got: list[DeskMessage] = []

    async def read() -> None:
        async for message in link.messages():
            got.append(message)

    tasks = [asyncio.create_task(link.run()), asyncio.create_task(read())]
    try:
        yield got
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def numbered(kind: str, sender: str, i: int) -> DeskMessage:
    return DeskMessage(kind, f"c{i % 7}", sender, {"i": i})


async def test_given_a_controller_and_a_worker_when_a_thousand_messages_go_each_way_then_all_arrive_in_order(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    other = connect(redis_server.url)
    controller = DeskLink(redis_client, me=CONTROLLER)
    worker = DeskLink(other, me=WORKER)
    try:
        async with linked(controller) as at_controller, linked(worker) as at_worker:
            for i in range(1_000):
                controller.send(WORKER, numbered("event", CONTROLLER, i))
                worker.send(CONTROLLER, numbered("cmd", WORKER, i))
                if i % 100 == 0:
                    await asyncio.sleep(0)  # the writers run between bursts
            offer = encode_event(AgentOffered("1001", "PJSIP/1001", 1, True))
            controller.send(WORKER, DeskMessage("event", "c1", CONTROLLER, {"event": offer}))
            fact = EmitQueueEvent(CallEnqueued("c1", "general", 1_700_000_000.5, "es", "noise", 2))
            worker.send(
                CONTROLLER, DeskMessage("cmd", "c1", WORKER, {"command": encode_command(fact)})
            )
            await until(lambda: len(at_worker) == 1_001, 20.0, "the controller's messages")
            await until(lambda: len(at_controller) == 1_001, 20.0, "the worker's messages")
            assert await controller.flush(5.0)
            assert await worker.flush(5.0)
    finally:
        await other.aclose()

    assert [m.body["i"] for m in at_worker[:-1]] == list(range(1_000))
    assert [m.body["i"] for m in at_controller[:-1]] == list(range(1_000))
    assert {(m.kind, m.sender) for m in at_worker[:-1]} == {("event", CONTROLLER)}
    assert {(m.kind, m.sender) for m in at_controller[:-1]} == {("cmd", WORKER)}
    assert at_worker[5] == DeskMessage("event", "c5", CONTROLLER, {"i": 5})
    assert decode_event(at_worker[-1].body["event"]) == AgentOffered("1001", "PJSIP/1001", 1, True)
    assert decode_command(at_controller[-1].body["command"]) == fact
    assert controller.dropped == worker.dropped == 0
    entries = await redis_client.xlen(controller.inbox(WORKER))
    assert 1 <= entries < 1_001  # batched: many messages per entry
    assert controller.entries_written == entries
    assert (controller.sent, worker.received) == ({"event": 1_001}, {"event": 1_001})
    assert (worker.sent, controller.received) == ({"cmd": 1_001}, {"cmd": 1_001})
    assert 1 <= worker.reads <= entries  # one read may bring several entries


async def test_given_open_then_only_messages_written_after_it_are_read(
    redis_client: aioredis.Redis,
) -> None:
    sender = DeskLink(redis_client, me=WORKER)
    reader = DeskLink(redis_client, me=CONTROLLER)
    writer = asyncio.create_task(sender.run())
    try:
        sender.send(CONTROLLER, DeskMessage("hello", "", WORKER, {"n": "before"}))
        assert await sender.flush(5.0)
        await reader.open()
        sender.send(CONTROLLER, DeskMessage("hello", "", WORKER, {"n": "after"}))
        assert await sender.flush(5.0)
        inbox = reader.messages()
        first = await asyncio.wait_for(anext(inbox), 5.0)
        await inbox.aclose()

        late = DeskLink(redis_client, me=CONTROLLER)  # messages() opens by itself
        inbox = late.messages()
        pending = asyncio.ensure_future(anext(inbox))
        await until(lambda: late._last is not None, 5.0, "the implicit open")  # (no public sign)
        sender.send(CONTROLLER, DeskMessage("hello", "", WORKER, {"n": "later"}))
        second = await asyncio.wait_for(pending, 5.0)
        await inbox.aclose()
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer

    assert first == DeskMessage("hello", "", WORKER, {"n": "after"})
    assert second == DeskMessage("hello", "", WORKER, {"n": "later"})


async def test_given_malformed_entries_and_messages_then_they_are_skipped_and_the_rest_delivered(
    redis_client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="line311.live.desk")
    worker = DeskLink(redis_client, me=WORKER)
    controller = DeskLink(redis_client, me=CONTROLLER)
    key = worker.inbox(WORKER)
    async with linked(worker) as got, linked(controller):
        await redis_client.xadd(key, {"m": "not json", "from": "x", "boot": "b", "n": "1"})
        await redis_client.xadd(key, {"m": "[]"})  # no writer, no sequence number
        await redis_client.xadd(key, {"m": '{"kind":"cmd"}', "from": "x", "boot": "b", "n": "2"})
        good = '{"kind":"event","call_id":"c2","sender":"x","body":{}}'
        shout = '{"kind":"shout","call_id":"c1","sender":"x","body":{}}'
        long = '"' + "x" * 300 + '"'
        entry = {"m": f"[{shout},{good},{long}]", "from": "x", "boot": "b", "n": "5"}
        await redis_client.xadd(key, entry)  # type: ignore[arg-type]
        controller.send(WORKER, DeskMessage("event", "c3", CONTROLLER, {"told": True}))
        await until(lambda: len(got) == 2, 10.0, "the good messages")

    assert got == [
        DeskMessage("event", "c2", "x", {}),
        DeskMessage("event", "c3", CONTROLLER, {"told": True}),
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5
    assert sum("malformed entry" in w for w in warnings) == 3
    assert sum("malformed message" in w for w in warnings) == 2
    assert any("unknown kind 'shout'" in w for w in warnings)
    assert max(len(w) for w in warnings) < 500  # the content is cut at 200 characters


async def test_given_an_entry_written_twice_or_overlapping_then_each_message_is_delivered_once(
    redis_client: aioredis.Redis,
) -> None:
    reader = DeskLink(redis_client, me=CONTROLLER)
    key = reader.inbox(CONTROLLER)

    def entry(boot: str, first: int, *names: str) -> dict[str, str]:
        items = ",".join(
            f'{{"kind":"cmd","call_id":"{n}","sender":"{WORKER}","body":{{}}}}' for n in names
        )
        return {"from": WORKER, "boot": boot, "n": str(first), "m": f"[{items}]"}

    async with linked(reader) as got:
        # a write whose reply was lost lands after its retry (which took newer messages too)
        for fields in (
            entry("b1", 1, "a", "b"),
            entry("b1", 1, "a", "b", "c"),
            entry("b1", 1, "a", "b"),
            entry("b1", 3, "c", "d"),
            entry("b2", 1, "a"),  # the worker restarted: its numbers start again
            entry("b1", 5, "e"),
        ):
            await redis_client.xadd(key, fields)  # type: ignore[arg-type]
        await until(lambda: got and got[-1].call_id == "e", 10.0, "the last message")

    assert [m.call_id for m in got] == ["a", "b", "c", "d", "a", "e"]
    assert reader.received == {"cmd": 6}  # duplicates are not counted


async def test_given_a_stalled_redis_when_messages_are_sent_then_they_wait_and_arrive_in_order_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="line311.live.desk")
    with running_redis(tmp_path, f"desk{os.getpid()}") as server:
        clients = [connect(server.url) for _ in range(2)]  # 2-s timeouts: a stall shows
        worker = DeskLink(clients[0], me=WORKER, retry=0.05, retry_max=0.2, block_ms=500)
        controller = DeskLink(clients[1], me=CONTROLLER, retry=0.05, retry_max=0.2, block_ms=500)

        def logged(text: str) -> int:
            return sum(text in r.getMessage() for r in caplog.records)

        try:
            async with linked(controller) as got, linked(worker):
                for i in range(10):
                    worker.send(CONTROLLER, numbered("cmd", WORKER, i))
                assert await worker.flush(10.0)
                await until(lambda: len(got) == 10, 10.0, "the messages before the stall")
                pid = server.read_pid()
                assert pid is not None
                os.kill(pid, signal.SIGSTOP)  # stalled, not dead: connections hang
                try:
                    for i in range(10, 200):
                        worker.send(CONTROLLER, numbered("cmd", WORKER, i))
                        if i % 50 == 0:
                            await asyncio.sleep(0)
                    assert not await worker.flush(0.5)
                    # both links' writes and reads time out: one WARNING each
                    await until(lambda: logged("not written") == 1, 20.0, "the writer's warning")
                    await until(lambda: logged("not read") == 2, 20.0, "the readers' warnings")
                    assert worker.queued == 190
                finally:
                    os.kill(pid, signal.SIGCONT)
                assert await worker.flush(20.0)
                await until(lambda: len(got) >= 200, 20.0, "the messages after the stall")
                # anything written twice (a write whose reply was lost) has arrived by now
                worker.send(CONTROLLER, numbered("cmd", WORKER, 200))
                await until(lambda: got[-1].body["i"] == 200, 20.0, "the last message")
                await until(lambda: logged("read again") == 2, 20.0, "both inboxes read again")
        finally:
            for client in clients:
                await client.aclose()

    assert [m.body["i"] for m in got] == list(range(201))
    assert worker.dropped == 0
    assert logged("not written") == 1  # one WARNING per outage
    assert logged("written again") == 1
    assert logged("not read") == 2
    assert logged("read again") == 2


async def test_given_epochs_taken_then_each_is_greater_whether_the_clock_steps_back_or_redis_forgets(
    redis_client: aioredis.Redis,
) -> None:
    first = DeskLink(redis_client, me=CONTROLLER)
    second = DeskLink(redis_client, me=CONTROLLER)
    now = 1_790_000_000_000  # ms
    taken = [await first.take_epoch(now)]
    taken.append(await second.take_epoch(now - 3_600_000))  # the clock stepped back an hour
    taken.append(await second.take_epoch(now))  # the same millisecond again
    await redis_client.delete(f"{first.prefix}desk:epoch")  # Redis lost its data
    taken.append(await first.take_epoch(now + 5))  # the clock carries on

    assert taken == sorted(taken)
    assert len(set(taken)) == 4
    assert [int(e.split("-")[0]) for e in taken] == [now, now + 1, now + 2, now + 5]
    assert taken[1].endswith(f"-{second.boot}")
