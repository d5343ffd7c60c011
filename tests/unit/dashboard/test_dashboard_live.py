"""The live hub: publishing applies facts, flushes are coalesced, slow clients never block."""

from __future__ import annotations

import asyncio
import json

from line311.dashboard.live import LiveHub, encode_sse
from line311.dashboard.state import LiveState, QueueConfigured, WaitMeasured
from line311.queue.events import CallAnswered, CallEnqueued

T0 = 1_700_000_100.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def parse(message: bytes) -> dict:
    text = message.decode()
    data = "\n".join(
        line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")
    )
    return json.loads(data)


async def next_snapshot(stream) -> dict:
    while True:
        chunk = await anext(stream)
        if b"data: " in chunk:
            return parse(chunk)


def test_encode_sse_splits_data_lines_and_names_event_and_id() -> None:
    assert encode_sse("a\nb", event="snapshot", event_id="7") == (
        b"event: snapshot\nid: 7\ndata: a\ndata: b\n\n"
    )


def test_given_no_loop_when_a_fact_is_published_then_the_next_snapshot_has_it() -> None:
    hub = LiveHub(LiveState(), clock=FakeClock())
    hub.publish(QueueConfigured("housing", goal=0.9))
    assert [q["name"] for q in hub.snapshot()["queues"]] == ["housing"]


async def test_given_a_client_when_a_change_is_published_then_it_receives_the_new_snapshot() -> (
    None
):
    clock = FakeClock()
    async with LiveHub(LiveState(), clock=clock, min_interval=0.01) as hub:
        stream = hub.stream()
        first = await next_snapshot(stream)
        assert first["queues"] == []
        assert hub.clients == 1
        hub.publish(CallEnqueued("c1", "general", T0))
        second = await next_snapshot(stream)
        assert second["queues"][0]["waiting"] == 1
        assert second["clients"] == 1
        await stream.aclose()
        assert hub.clients == 0


async def test_given_a_burst_of_changes_then_they_are_coalesced_into_one_flush() -> None:
    async with LiveHub(LiveState(), clock=FakeClock(), min_interval=0.05) as hub:
        stream = hub.stream()
        await next_snapshot(stream)
        for i in range(200):
            hub.publish(CallEnqueued(f"c{i}", "general", T0 + i))
        snap = await next_snapshot(stream)
        assert snap["queues"][0]["waiting"] == 200
        assert hub.flushes == 1
        await stream.aclose()


async def test_given_a_slow_client_then_others_are_served_and_it_gets_only_the_latest() -> None:
    async with LiveHub(LiveState(), clock=FakeClock(), min_interval=0.0) as hub:
        slow = hub.stream()
        fast = hub.stream()
        await next_snapshot(slow)
        await next_snapshot(fast)
        for i in range(5):
            hub.publish(CallEnqueued(f"c{i}", "general", T0 + i))
            snap = await next_snapshot(fast)
            assert snap["queues"][0]["waiting"] == i + 1
        latest = await next_snapshot(slow)  # the intermediate ones were dropped
        assert latest["queues"][0]["waiting"] == 5
        await slow.aclose()
        await fast.aclose()


async def test_given_no_change_then_heartbeats_and_periodic_refreshes_keep_the_stream_alive() -> (
    None
):
    clock = FakeClock()
    async with LiveHub(LiveState(), clock=clock, heartbeat_every=0.01, refresh_every=3600) as hub:
        stream = hub.stream()
        await next_snapshot(stream)
        assert await anext(stream) == b": heartbeat\n\n"
        await stream.aclose()
    async with LiveHub(LiveState(), clock=clock, refresh_every=0.01) as hub:
        stream = hub.stream()
        first = await next_snapshot(stream)
        clock.now += 5
        second = await next_snapshot(stream)
        assert second["now"] > first["now"]
        await stream.aclose()


async def test_listeners_get_measurements_and_a_failing_listener_does_not_stop_publishing() -> None:
    seen = []

    def broken(fact, measurements) -> None:
        raise RuntimeError("boom")

    hub = LiveHub(LiveState(), clock=FakeClock())
    hub.add_listener(broken)
    hub.add_listener(lambda fact, measurements: seen.extend(measurements))
    hub.publish(CallEnqueued("c1", "general", T0))
    hub.publish(CallAnswered("c1", "general", T0 + 4, agent_id="a"))
    assert seen == [WaitMeasured("general", 4.0, "answered")]
    await hub.stop()


async def test_publish_threadsafe_applies_the_fact_in_the_loop() -> None:
    async with LiveHub(LiveState(), clock=FakeClock(), min_interval=0.0) as hub:
        stream = hub.stream()
        await next_snapshot(stream)
        await asyncio.to_thread(hub.publish_threadsafe, QueueConfigured("parking"))
        snap = await next_snapshot(stream)
        assert snap["queues"][0]["name"] == "parking"
        await stream.aclose()


async def test_given_no_client_then_no_snapshot_is_encoded_but_one_is_computed_on_demand() -> None:
    async with LiveHub(LiveState(), clock=FakeClock(), min_interval=0.0, refresh_every=0.01) as hub:
        for i in range(3):
            hub.publish(CallEnqueued(f"c{i}", "general", T0 + i))
            await asyncio.sleep(0.02)  # flushes and refreshes come due
        assert hub.flushes == 0  # nobody streams: nothing computed or encoded
        assert hub.snapshot()["queues"][0]["waiting"] == 3
        stream = hub.stream()
        assert (await next_snapshot(stream))["queues"][0]["waiting"] == 3
        hub.publish(CallEnqueued("c3", "general", T0 + 3))
        assert (await next_snapshot(stream))["queues"][0]["waiting"] == 4
        assert hub.flushes >= 1
        await stream.aclose()


async def test_given_no_client_then_the_periodic_refresh_does_not_wake_until_one_streams() -> None:
    clock = FakeClock()
    async with LiveHub(LiveState(), clock=clock, refresh_every=0.01) as hub:
        refreshes: list[int] = []
        flush = hub._flush

        def counted() -> None:
            refreshes.append(hub.clients)
            flush()

        hub._flush = counted  # type: ignore[method-assign]
        await asyncio.sleep(0.1)  # ten refresh periods with nobody streaming
        assert refreshes == []
        stream = hub.stream()
        first = await next_snapshot(stream)
        clock.now += 5
        second = await next_snapshot(stream)  # the clock moved: a refresh sent it
        assert second["now"] > first["now"]
        assert refreshes
        assert set(refreshes) == {1}
        await stream.aclose()
