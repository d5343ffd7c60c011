"""The desk's screen-pop streams: each pop reaches its own CCR's streams only, a slow client
never holds a publisher up, and a client that goes away is forgotten."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from line311.dashboard.pops import PopDesk
from line311.queue.pops import AnsweredCall, ScreenPop, build_screen_pop
from line311.routing.queues import load_queues

T0 = 1_700_000_000.0
QUEUES = load_queues({"general": {"requires": "topic:general"}})


def pop(agent_id: str, call_id: str) -> ScreenPop:
    answered = AnsweredCall(call_id, agent_id, "general", "en", "general", T0, T0 + 5)
    return build_screen_pop(answered, None, ("lang:en", "topic:general"))


async def next_event(stream: AsyncIterator[bytes]) -> tuple[str, Any]:
    """The next SSE event of a stream (heartbeats skipped): (event name, decoded data)."""
    while True:
        chunk = (await asyncio.wait_for(anext(stream), 5)).decode()
        fields = dict(
            line.split(": ", 1) for line in chunk.splitlines() if ": " in line and line[0] != ":"
        )
        if "data" in fields:
            return fields.get("event", "message"), json.loads(fields["data"])


async def test_given_a_desk_stream_then_it_first_gets_the_current_pop_then_each_new_one() -> None:
    desk = PopDesk(QUEUES)
    desk.publish(pop("agent1", "c0"))
    stream = desk.stream("agent1")
    kind, data = await next_event(stream)
    assert (kind, data["pop"]["call_id"]) == ("current", "c0")
    desk.publish(pop("agent1", "c1"))
    kind, data = await next_event(stream)
    assert (kind, data["call_id"], data["agent_id"]) == ("pop", "c1", "agent1")
    await stream.aclose()


async def test_a_pop_fans_out_to_every_stream_of_its_ccr_and_to_no_other_ccr() -> None:
    desk = PopDesk(QUEUES)
    first, second, other = desk.stream("agent1"), desk.stream("agent1"), desk.stream("agent2")
    for stream in (first, second, other):
        assert (await next_event(stream)) == ("current", {"pop": None})
    assert (desk.streams("agent1"), desk.streams("agent2")) == (2, 1)
    desk.publish(pop("agent1", "c1"))
    desk.publish(pop("agent2", "c2"))
    assert (await next_event(first))[1]["call_id"] == "c1"
    assert (await next_event(second))[1]["call_id"] == "c1"
    assert (await next_event(other))[1]["call_id"] == "c2"  # agent1's pop never reached it
    assert desk.last("agent1") == pop("agent1", "c1")
    for stream in (first, second, other):
        await stream.aclose()


async def test_given_a_slow_client_then_publishing_never_waits_and_it_keeps_only_the_newest() -> (
    None
):
    desk = PopDesk(QUEUES, buffer=3)
    slow, fast = desk.stream("agent1"), desk.stream("agent1")
    await next_event(slow)
    await next_event(fast)
    seen = []
    for n in range(10):
        desk.publish(pop("agent1", f"c{n}"))  # synchronous: nothing to wait for
        seen.append((await next_event(fast))[1]["call_id"])
    assert seen == [f"c{n}" for n in range(10)]
    late = [(await next_event(slow))[1]["call_id"] for _ in range(3)]
    assert late == ["c7", "c8", "c9"]  # the older ones were dropped for this client only
    await slow.aclose()
    await fast.aclose()


async def test_given_a_client_that_goes_away_then_its_stream_is_forgotten() -> None:
    desk = PopDesk(QUEUES, max_streams_per_agent=1)
    stream = desk.stream("agent1")
    await next_event(stream)
    assert desk.full("agent1")
    await stream.aclose()
    assert desk.streams("agent1") == 0
    assert not desk.full("agent1")
    desk.publish(pop("agent1", "c1"))  # nobody listening: still kept as the last pop
    assert desk.last("agent1") is not None


async def test_an_idle_stream_sends_heartbeats() -> None:
    desk = PopDesk(QUEUES, heartbeat_every=0.01)
    stream = desk.stream("agent1")
    await next_event(stream)
    assert await asyncio.wait_for(anext(stream), 5) == b": heartbeat\n\n"
    await stream.aclose()


def test_the_answer_hook_joins_the_ivr_path_of_the_call_record_and_forgets_it() -> None:
    desk = PopDesk(QUEUES)
    got: list[ScreenPop] = []
    desk.add_listener(got.append)
    record = {
        "call_id": "c1",
        "caller_hash": "h" * 64,
        "path": {
            "nodes": [{"node": "main", "at": T0}],
            "sr_lookups": [{"sr_number": "311000000019", "result": "found", "status": "open"}],
            "queue": {"topic": "general", "at": T0},
        },
    }
    desk.remember_record(record)
    desk.remember_record({"call_id": "c9", "path": {"queue": None}})  # never queued: ignored
    desk.on_answer(AnsweredCall("c1", "agent1", "general", "es", "general", T0, T0 + 7))
    (made,) = got
    assert made.ivr.nodes == ("main",)
    assert made.ivr.sr_lookups[0].status == "open"
    assert made.skills == ("lang:es", "topic:general")
    assert made.wait_seconds == 7
    assert "h" * 64 not in json.dumps(made.to_json())
    desk.on_answer(AnsweredCall("c1", "agent2", "general", "es", "general", T0, T0 + 9))
    assert got[-1].ivr.nodes == ()  # the context was used once


def test_the_answer_hook_never_raises_and_a_failing_listener_does_not_stop_the_pop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    desk = PopDesk(QUEUES)

    def broken(_: ScreenPop) -> None:
        raise RuntimeError("forwarder down")

    desk.add_listener(broken)
    desk.on_answer(AnsweredCall("c1", "agent1", "general", "en", "general", T0, T0 + 1))
    assert desk.last("agent1") is not None
    assert desk.published == 1
    desk.on_answer(AnsweredCall("c2", "agent1", "general", "en", "general", T0, T0, requires=(("bad skill!", 1),)))  # fmt: skip
    assert desk.published == 1  # refused by the skill check, logged, the call goes on
    assert "screen pop for call c2 failed" in caplog.text


def test_the_ivr_contexts_kept_are_bounded() -> None:
    desk = PopDesk(QUEUES, max_contexts=2)
    for n in range(3):
        desk.remember_record({"call_id": f"c{n}", "path": {"queue": {}, "nodes": [{"node": "x"}]}})
    desk.on_answer(AnsweredCall("c0", "agent1", "general", "en", "general", T0, T0))
    assert desk.last("agent1") is not None
    assert desk.last("agent1").ivr.nodes == ()  # type: ignore[union-attr]
    desk.on_answer(AnsweredCall("c2", "agent1", "general", "en", "general", T0, T0))
    assert desk.last("agent1").ivr.nodes == ("x",)  # type: ignore[union-attr]
