"""The call recorder: one record per call, written when the call really ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from line311.ari.records import CallRecorder
from line311.call.record import from_timestamp
from line311.queue.events import CallAnswered, CallCompleted, CallEnqueued
from line311.queue.leg_facts import LegBuilder

T0 = 1_790_000_000.0


class Sink:
    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []

    def submit(self, record: Mapping[str, Any]) -> None:
        self.records.append(record)


def ivr(call_id: str, outcome: str) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "dialed_number": "311",
        "caller_hash": None,
        "started_at": from_timestamp(T0).isoformat(),
        "answered_at": from_timestamp(T0 + 0.1).isoformat(),
        "ended_at": from_timestamp(T0 + 15).isoformat(),
        "outcome": outcome,
        "language": "en",
        "path": {"queue": {"topic": "general"}},
    }


async def test_given_a_queued_call_then_one_record_is_written_after_the_leg_with_the_final_outcome() -> (
    None
):
    sink, seen = Sink(), []
    queued = {"c1"}
    recorder = CallRecorder(sink, in_queue=queued.__contains__, listeners=[seen.append])

    await recorder.on_ivr_record(ivr("c1", "queued"))
    await recorder.on_ivr_record(ivr("c2", "self_served"))
    assert [r["call_id"] for r in sink.records] == ["c2"]

    b = LegBuilder(CallEnqueued("c1", "general", T0 + 15, "en", "general"))
    b.feed(CallAnswered("c1", "general", T0 + 25, "agent1"))
    b.feed(CallCompleted("c1", "general", T0 + 85, 60.0, 0.0, 1.0))
    queued.discard("c1")
    recorder.on_leg("c1", b.build())

    (c1,) = [r for r in sink.records if r["call_id"] == "c1"]
    assert c1["outcome"] == "handled"
    assert (c1["queue"], c1["agent_id"]) == ("general", "agent1")
    assert c1["queue_leg"]["wait_seconds"] == 10.0
    assert c1["queue_leg"]["talk_seconds"] == 60.0
    assert seen == sink.records
    assert recorder.held == 0


async def test_given_calls_still_queued_at_shutdown_then_close_writes_them() -> None:
    sink = Sink()
    legs = {"c1": LegBuilder(CallEnqueued("c1", "general", T0 + 15)).build(T0 + 40)}
    recorder = CallRecorder(sink, in_queue=lambda _c: True, open_leg=legs.get)
    await recorder.on_ivr_record(ivr("c1", "queued"))
    assert sink.records == []

    recorder.close()

    (c1,) = sink.records
    assert c1["outcome"] == "failed"
    assert c1["queue_leg"]["end"] == "interrupted"


async def test_given_calls_still_queued_at_shutdown_with_shared_state_then_close_leaves_them() -> (
    None
):
    # their state is in Redis: the controller that resumes them writes each record once
    sink = Sink()
    legs = {"c1": LegBuilder(CallEnqueued("c1", "general", T0 + 15)).build(T0 + 40)}
    recorder = CallRecorder(sink, in_queue=lambda _c: True, open_leg=legs.get)
    await recorder.on_ivr_record(ivr("c1", "queued"))

    recorder.close(calls_go_on=True)

    assert sink.records == []
    assert recorder.held == 0


async def test_given_an_invalid_ivr_record_then_it_is_still_written_as_is() -> None:
    sink = Sink()
    recorder = CallRecorder(sink)
    bad = ivr("c1", "not-an-outcome")
    await recorder.on_ivr_record(bad)
    assert sink.records == [bad]
