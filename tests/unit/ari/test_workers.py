"""IVR workers (`line311.ari.workers`): the claim and the shared loads, the worker's
hand-off, the controller's hand-in and its rescue of channels nobody owns; on a scripted ARI,
`InMemoryHandoffs` and a fake runner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from line311.ari.errors import AriServerError, AriUnreachable
from line311.ari.kinds import CallFacts, CallStart, Ended, HandOver
from line311.ari.models import Channel
from line311.ari.port import AriPort
from line311.ari.runner import Runner
from line311.ari.translate import NewCall
from line311.ari.workers import (
    HANDOFF_KIND,
    HANDOVER_ARG,
    Claimer,
    HandIn,
    IvrHandoff,
    Rescuer,
    _facts,
    worker_app,
)
from line311.asterisk.render import ivr_worker_filter as worker_filter
from line311.call.commands import Enqueue
from line311.call.events import CallerHungUp, MoveFailed
from line311.call.handoff import HandoffSession, MoveCall, StartHold
from line311.live.errors import LiveUnavailableError
from line311.live.handoffs import LOAD_FRESH, InMemoryHandoffs, least_load

T0 = 1_700_000_000.0
ENQUEUE = Enqueue("es", "noise", 2)


class FixedClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


class WorkerAri:
    """What workers use of ARI, recorded: claim (``wins`` decides), move, music on hold;
    ``fail[method] = error`` makes that method raise."""

    app = "line311-w1"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: dict[str, Exception] = {}
        self.wins = True
        self.channels: list[Channel] = []

    def _do(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        exc = self.fail.get(name)
        if exc is not None:
            raise exc

    async def claim(self, channel_id: str) -> bool:
        self._do("claim", channel_id)
        return self.wins

    async def move(self, channel_id: str, app: str, app_args: Iterable[str] = ()) -> None:
        self._do("move", channel_id, app, tuple(app_args))

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        self._do("start_moh", channel_id)

    async def list_channels(self) -> list[Channel]:
        self._do("list_channels")
        return list(self.channels)


def port(ari: WorkerAri) -> AriPort:
    return cast(AriPort, ari)


def broadcast(cid: str = "c1") -> dict[str, Any]:
    return {"type": "CallBroadcast", "channel": {"id": cid, "name": f"PJSIP/x-{cid}"}}


# ---------------------------------------------------------------------------- names
def test_given_worker_numbers_then_each_has_its_app_and_the_filter_matches_only_workers() -> None:
    assert worker_app("line311", 1) == "line311-w1"
    assert worker_app("line311", 12) == "line311-w12"
    assert worker_filter("line311") == "^line311-w[0-9]"
    assert "," not in worker_filter("line311")  # a dialplan argument of its own


@pytest.mark.parametrize("index", [0, -1])
def test_given_worker_number_below_one_then_value_error(index: int) -> None:
    with pytest.raises(ValueError, match="start at 1"):
        worker_app("line311", index)


# ---------------------------------------------------------------------------- Claimer
class ClaimerHarness:
    def __init__(
        self, *, load: int = 0, accepting: bool = True, max_calls: int = 3, spread: float = 0.0
    ) -> None:
        self.ari = WorkerAri()
        self.handoffs = InMemoryHandoffs()
        self.load = load
        self.accepting = accepting
        self.claimed_events = 0
        self.order: list[str] = []
        real_claim = self.handoffs.claim

        async def claim(app: str, channel_id: str, at: float) -> None:
            self.order.append(f"written {channel_id}")
            await real_claim(app, channel_id, at)

        self.handoffs.claim = claim  # type: ignore[method-assign]
        self.ari_claim = self.ari.claim

        async def ari_claim(channel_id: str) -> bool:
            self.order.append(f"claimed {channel_id}")
            return await self.ari_claim(channel_id)

        self.ari.claim = ari_claim  # type: ignore[method-assign]
        self.claimer = Claimer(
            port(self.ari),
            self.handoffs,
            load=lambda: self.load,
            accepting=lambda: self.accepting,
            max_calls=max_calls,
            clock=FixedClock(),
            spread=spread,
            on_claimed=self.on_claimed,
        )

    def on_claimed(self) -> None:
        self.claimed_events += 1


async def test_given_a_worker_below_its_max_when_a_call_is_broadcast_then_it_claims_then_writes_its_claim() -> (
    None
):
    h = ClaimerHarness(load=2, max_calls=3)
    await h.claimer.on_broadcast(broadcast("c1"))
    await h.claimer.settle(within=1.0)
    assert h.order == ["claimed c1", "written c1"]
    assert h.ari.calls == [("claim", "c1")]
    assert h.handoffs.claims == {"line311-w1": {"c1": T0}}
    assert await h.claimer.claimed_channels() == {"c1"}
    assert (h.claimer.claimed, h.claimer.lost, h.claimed_events) == (1, 0, 1)


@pytest.mark.parametrize(
    ("load", "accepting"), [(3, True), (7, True), (0, False)], ids=["full", "over", "draining"]
)
async def test_given_a_full_or_draining_worker_when_a_call_is_broadcast_then_it_leaves_it(
    load: int, accepting: bool
) -> None:
    h = ClaimerHarness(load=load, accepting=accepting, max_calls=3)
    await h.claimer.on_broadcast(broadcast("c1"))
    assert h.ari.calls == []
    assert h.handoffs.claims == {}
    assert (h.claimer.claimed, h.claimer.lost, h.claimed_events) == (0, 0, 0)


async def test_given_another_worker_claims_first_when_the_claim_is_lost_then_nothing_is_written() -> (
    None
):
    h = ClaimerHarness()
    h.ari.wins = False
    await h.claimer.on_broadcast(broadcast("c1"))
    assert h.order == ["claimed c1"]
    assert await h.claimer.claimed_channels() == set()
    assert (h.claimer.claimed, h.claimer.lost, h.claimed_events) == (0, 1, 0)


async def test_given_asterisk_refuses_the_claim_then_it_counts_as_lost_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = ClaimerHarness()
    h.ari.fail["claim"] = AriServerError(500, "POST", "/events/claim", "boom")
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        await h.claimer.on_broadcast(broadcast("c1"))
    assert "could not claim channel c1" in caplog.text
    assert await h.claimer.claimed_channels() == set()
    assert (h.claimer.claimed, h.claimer.lost, h.claimed_events) == (0, 1, 0)


async def test_given_the_live_state_is_away_when_a_claim_is_won_then_the_call_is_still_ours(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = ClaimerHarness()

    async def away(app: str, channel_id: str, at: float) -> None:
        raise LiveUnavailableError("redis down")

    h.handoffs.claim = away  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        await h.claimer.on_broadcast(broadcast("c1"))
        await h.claimer.settle(within=1.0)
    assert h.ari.calls == [("claim", "c1")]
    assert "claim of channel c1 not written down" in caplog.text
    assert (h.claimer.claimed, h.claimer.lost, h.claimed_events) == (1, 0, 1)


@pytest.mark.parametrize(
    "event",
    [{"type": "CallBroadcast"}, {"channel": "c1"}, {"channel": {"id": ""}}, {"channel": {"id": 7}}],
)
async def test_given_a_malformed_broadcast_then_it_is_dropped_with_a_warning(
    event: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    h = ClaimerHarness()
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        await h.claimer.on_broadcast(event)
    assert h.ari.calls == []
    assert "without a channel id" in caplog.text


def test_given_the_least_load_of_the_workers_then_a_busier_worker_waits_per_call_of_difference_up_to_a_cap() -> (
    None
):
    claimer = Claimer(
        port(WorkerAri()), InMemoryHandoffs(), load=lambda: 0, accepting=lambda: True,
        max_calls=100, clock=FixedClock(), spread=0.002, max_wait=0.05,
    )  # fmt: skip
    assert claimer.least == 0
    assert claimer.wait_for(0) == 0
    assert claimer.wait_for(3) == pytest.approx(0.006)
    assert claimer.wait_for(1000) == 0.05
    claimer.least = 4
    assert claimer.wait_for(4) == 0  # the least loaded: at once
    assert claimer.wait_for(2) == 0  # less than the least shared (its share is older)
    assert claimer.wait_for(6) == pytest.approx(0.004)


async def test_given_a_busier_worker_when_a_call_is_broadcast_then_it_pauses_and_still_claims() -> (
    None
):
    h = ClaimerHarness(load=2, max_calls=10, spread=0.001)
    assert h.claimer.wait_for(2) > 0
    await h.claimer.on_broadcast(broadcast("c1"))
    assert h.ari.calls == [("claim", "c1")]
    assert h.claimer.claimed == 1


async def test_given_workers_sharing_their_loads_then_each_learns_the_least_and_an_error_resets_it() -> (
    None
):
    handoffs = InMemoryHandoffs()
    await handoffs.share_load("line311-w2", 1, T0)
    load = {"now": 5}
    claimer = Claimer(
        port(WorkerAri()), handoffs, load=lambda: load["now"], accepting=lambda: True,
        max_calls=100, clock=FixedClock(),
    )  # fmt: skip
    task = asyncio.create_task(claimer.run(every=0.001))
    try:
        async with asyncio.timeout(5):
            while "line311-w1" not in handoffs.loads:  # noqa: ASYNC110 - the task's own pace
                await asyncio.sleep(0.001)
        assert claimer.least == 1
        assert handoffs.loads["line311-w1"] == f"5:{T0!r}"

        async def away(app: str, calls: int, now: float) -> int:
            raise LiveUnavailableError("redis down")

        handoffs.share_load = away  # type: ignore[method-assign]
        load["now"] = 6  # a changed load is shared at the next tick
        async with asyncio.timeout(5):
            while claimer.least != 0:  # noqa: ASYNC110 - the task's own pace
                await asyncio.sleep(0.001)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert claimer.least == 0  # no shared loads: nobody waits


async def test_given_an_unchanged_load_then_it_is_shared_again_only_after_unchanged_every() -> None:
    handoffs = InMemoryHandoffs()
    shares: list[tuple[int, float]] = []
    share = handoffs.share_load

    async def counted(app: str, calls: int, now: float) -> int:
        shares.append((calls, now))
        return await share(app, calls, now)

    handoffs.share_load = counted  # type: ignore[method-assign]
    clock = FixedClock()
    claimer = Claimer(
        port(WorkerAri()), handoffs, load=lambda: 0, accepting=lambda: True, max_calls=100,
        clock=clock,
    )  # fmt: skip
    task = asyncio.create_task(claimer.run(every=0.001, unchanged_every=0.5))
    try:
        await asyncio.sleep(0.05)  # about fifty ticks at the same instant, the same load
        assert shares == [(0, T0)]
        clock.t = T0 + 0.5
        async with asyncio.timeout(5):
            while len(shares) < 2:  # noqa: ASYNC110 - the task's own pace
                await asyncio.sleep(0.001)
        assert shares == [(0, T0), (0, T0 + 0.5)]  # still there, well within LOAD_FRESH
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("raw", "own", "least"),
    [
        ({}, 4, 4),
        ({"w1": f"2:{T0!r}", "w2": f"7:{T0 - 1!r}"}, 4, 2),
        ({"w1": f"0:{T0 - LOAD_FRESH - 1!r}"}, 4, 4),  # stale: that worker is away
        ({"w1": "garbage", "w2": "x:y", "w3": f"3:{T0!r}"}, 9, 3),
        ({"w1": f"8:{T0!r}"}, 1, 1),
    ],
)
def test_given_shared_loads_then_the_least_fresh_one_counts_own_included(
    raw: dict[str, str], own: int, least: int
) -> None:
    assert least_load(raw, T0, own) == least


async def test_given_redis_slow_when_a_claim_is_won_then_the_handler_returns_at_once_and_forget_waits_for_the_write() -> (
    None
):
    h = ClaimerHarness()
    redis_answers = asyncio.Event()
    real_claim = h.handoffs.claim

    async def slow(app: str, channel_id: str, at: float) -> None:
        await redis_answers.wait()
        await real_claim(app, channel_id, at)

    h.handoffs.claim = slow  # type: ignore[method-assign]
    await h.claimer.on_broadcast(broadcast("c1"))  # the call's StasisStart is next in its lane
    assert (h.claimer.claimed, h.claimed_events) == (1, 1)
    assert await h.claimer.claimed_channels() == set()  # not written yet
    forgetting = asyncio.create_task(h.claimer.forget("c1"))  # a very short call
    await asyncio.sleep(0)
    assert not forgetting.done()  # the claim is written before it is dropped, never after
    redis_answers.set()
    await forgetting
    assert await h.claimer.claimed_channels() == set()
    assert h.handoffs.claims.get("line311-w1", {}) == {}


async def test_given_a_claim_being_written_when_the_worker_stops_then_settle_waits_a_bounded_time() -> (
    None
):
    h = ClaimerHarness()
    never = asyncio.Event()

    async def stuck(app: str, channel_id: str, at: float) -> None:
        await never.wait()

    h.handoffs.claim = stuck  # type: ignore[method-assign]
    await h.claimer.on_broadcast(broadcast("c1"))
    await h.claimer.settle(within=0.01)  # returns although the write never ends
    assert h.claimer.claimed == 1
    never.set()
    await h.claimer.settle(within=1.0)
    assert (h.claimer.claimed, h.claimer.lost) == (1, 0)


async def test_given_a_claimed_call_when_it_ends_then_forget_drops_its_claim_and_survives_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = ClaimerHarness()
    await h.claimer.on_broadcast(broadcast("c1"))
    await h.claimer.forget("c1")
    assert await h.claimer.claimed_channels() == set()

    async def away(app: str, channel_id: str) -> None:
        raise LiveUnavailableError("redis down")

    h.handoffs.unclaim = away  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        await h.claimer.forget("c2")
    assert "could not drop the claim of channel c2" in caplog.text


# ---------------------------------------------------------------------------- IvrHandoff
class HandoffHarness:
    def __init__(self) -> None:
        self.ari = WorkerAri()
        self.handoffs = InMemoryHandoffs()
        self.sunk: list[dict[str, Any]] = []
        self.handed = 0
        self.clock = FixedClock()

        async def sink(record: dict[str, Any]) -> None:
            self.sunk.append(record)

        def on_handed_off() -> None:
            self.handed += 1

        self.handoff = IvrHandoff(
            port(self.ari),
            self.handoffs,
            target_app="line311",
            record_sink=sink,
            clock=self.clock,
            on_handed_off=on_handed_off,
        )
        self.kind = self.handoff.session_kind()

    async def move(self, call_id: str = "c1") -> Any:
        handler = self.kind.handlers[MoveCall]
        return await handler(call_id, MoveCall(call_id, "line311", (HANDOVER_ARG,)))


def ivr_record(call_id: str = "c1") -> dict[str, Any]:
    return {
        "call_id": call_id,
        "dialed_number": "311",
        "caller_hash": "h" * 16,
        "started_at": "2023-11-14T22:13:20.000+00:00",
        "answered_at": "2023-11-14T22:13:21.000+00:00",
        "outcome": "queued",
        "language": "es",
    }


def ended(outcome: str, call_id: str = "c1") -> Ended:
    facts = CallFacts(call_id, call_id, "311", None, T0)
    return Ended(facts, HandoffSession(call_id, "line311", (), T0), outcome, T0 + 5)


async def test_given_an_ivr_enqueue_then_the_call_is_handed_over_to_the_handoff_kind() -> None:
    h = HandoffHarness()
    assert await h.handoff.enqueue("c1", ENQUEUE) == HandOver(HANDOFF_KIND)
    assert h.kind.name == HANDOFF_KIND
    session = h.kind.start(CallStart("c1", "c1", "311", T0, cause=ENQUEUE))
    assert isinstance(session, HandoffSession)
    assert session.commands() == [MoveCall("c1", "line311", (HANDOVER_ARG,))]
    resumed = h.kind.resume(session.to_dict(), CallFacts("c1", "c1", "311", None, T0))
    assert isinstance(resumed, HandoffSession)
    assert resumed.to_dict() == session.to_dict()


async def test_given_a_pending_hand_off_then_its_ivr_record_travels_with_it_and_others_go_to_the_sink() -> (
    None
):
    h = HandoffHarness()
    await h.handoff.enqueue("c1", ENQUEUE)
    await h.handoff.record_sink(ivr_record("c1"))
    await h.handoff.record_sink(ivr_record("c2"))
    assert [r["call_id"] for r in h.sunk] == ["c2"]
    assert await h.move("c1") is None
    assert await h.handoffs.get("c1") == {
        "enqueue": {"language": "es", "topic": "noise", "priority": 2},
        "record": ivr_record("c1"),
        "at": T0,
    }
    assert h.ari.calls == [("move", "c1", "line311", (HANDOVER_ARG,))]


async def test_given_the_hand_off_stored_when_the_move_runs_then_the_payload_is_written_before_the_move() -> (
    None
):
    h = HandoffHarness()
    seen: list[object] = []
    real_move = h.ari.move

    async def move(channel_id: str, app: str, app_args: Iterable[str] = ()) -> None:
        seen.append(await h.handoffs.get(channel_id))
        await real_move(channel_id, app, app_args)

    h.ari.move = move  # type: ignore[method-assign]
    await h.handoff.enqueue("c1", ENQUEUE)
    await h.move("c1")
    assert seen
    assert isinstance(seen[0], dict)
    assert seen[0]["at"] == T0


async def test_given_the_controller_took_the_call_when_a_resumed_move_runs_then_it_is_over_without_moving() -> (
    None
):
    h = HandoffHarness()
    await h.handoffs.put("c1", {"enqueue": {}, "record": None, "at": T0})
    await h.handoffs.mark_taken("c1")
    assert await h.move("c1") == CallerHungUp()
    assert h.ari.calls == []


async def test_given_a_resumed_move_with_its_payload_stored_then_it_moves_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = HandoffHarness()
    await h.handoffs.put("c1", {"enqueue": {}, "record": None, "at": T0})
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        assert await h.move("c1") is None
    assert h.ari.calls == [("move", "c1", "line311", (HANDOVER_ARG,))]
    assert "lost" not in caplog.text


async def test_given_a_resumed_move_whose_payload_was_lost_then_it_warns_and_still_moves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = HandoffHarness()
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        assert await h.move("c1") is None
    assert "hand-off was lost" in caplog.text
    assert h.ari.calls == [("move", "c1", "line311", (HANDOVER_ARG,))]


async def test_given_the_live_state_fails_at_the_first_move_when_tried_again_then_the_payload_is_not_lost() -> (
    None
):
    h = HandoffHarness()
    await h.handoff.enqueue("c1", ENQUEUE)
    await h.handoff.record_sink(ivr_record("c1"))
    real_put = h.handoffs.put

    async def away(call_id: str, payload: Any) -> None:
        raise LiveUnavailableError("redis down")

    h.handoffs.put = away  # type: ignore[method-assign]
    assert await h.move("c1") == MoveFailed()  # the session tries again, on hold
    assert h.ari.calls == []
    h.handoffs.put = real_put  # type: ignore[method-assign]
    assert await h.move("c1") is None
    stored = await h.handoffs.get("c1")
    assert stored is not None
    assert stored["record"] == ivr_record("c1")
    assert h.ari.calls == [("move", "c1", "line311", (HANDOVER_ARG,))]


async def test_given_a_move_refused_then_the_caller_hears_music() -> None:
    h = HandoffHarness()
    handler = h.kind.handlers[StartHold]
    assert await handler("c1", StartHold("c1")) is None
    assert h.ari.calls == [("start_moh", "c1")]


async def test_given_a_hand_off_done_when_it_ends_then_it_counts_and_writes_no_record() -> None:
    h = HandoffHarness()
    assert h.kind.ended is not None
    await h.handoff.enqueue("c1", ENQUEUE)
    await h.kind.ended(ended("handed_off"))
    assert (h.handed, h.handoff.handed_off, h.sunk) == (1, 1, [])


async def test_given_a_hand_off_that_failed_when_it_ends_then_the_ivr_record_is_written_failed() -> (
    None
):
    h = HandoffHarness()
    assert h.kind.ended is not None
    await h.handoff.enqueue("c1", ENQUEUE)
    await h.handoff.record_sink(ivr_record("c1"))
    await h.move("c1")
    await h.kind.ended(ended("failed"))
    [record] = h.sunk
    assert record == {
        **ivr_record("c1"),
        "outcome": "failed",
        "ended_at": datetime.fromtimestamp(T0, tz=UTC).isoformat(timespec="milliseconds"),
    }
    assert await h.handoffs.get("c1") is None  # dropped
    assert (h.handed, h.handoff.handed_off) == (0, 0)


async def test_given_a_failed_hand_off_without_a_record_then_nothing_is_written() -> None:
    h = HandoffHarness()
    assert h.kind.ended is not None
    await h.kind.ended(ended("failed"))
    assert h.sunk == []


async def test_given_the_live_state_away_when_a_failed_hand_off_ends_then_a_warning_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = HandoffHarness()
    assert h.kind.ended is not None

    async def away(call_id: str) -> None:
        raise LiveUnavailableError("redis down")

    h.handoffs.get = away  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        await h.kind.ended(ended("failed"))
    assert "its record is lost" in caplog.text
    assert h.sunk == []


# ---------------------------------------------------------------------------- HandIn
class FakeRunner:
    """What HandIn uses of a `Runner`: `accepting`, `holds` and `take` (``accept``: what
    `take` answers, e.g. False when the runner started draining meanwhile)."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.accepting = True
        self.held: set[str] = set()
        self.taken: list[tuple[str, CallStart, CallFacts]] = []

    def holds(self, call_id: str) -> bool:
        return call_id in self.held

    async def take(self, kind_name: str, start: CallStart, facts: CallFacts) -> bool:
        self.taken.append((kind_name, start, facts))
        return self.accept


class HandInHarness:
    def __init__(self, *, answer: object = None, accept: bool = True) -> None:
        self.handoffs = InMemoryHandoffs()
        self.runner = FakeRunner(accept)
        self.enqueued: list[tuple[str, Enqueue]] = []
        self.sunk: list[dict[str, Any]] = []
        self.restarted: list[tuple[NewCall, float]] = []
        self.clock = FixedClock(T0 + 60)

        async def enqueue(call_id: str, command: Enqueue) -> object:
            self.enqueued.append((call_id, command))
            return answer

        async def sink(record: dict[str, Any]) -> None:
            self.sunk.append(record)

        async def restart_ivr(new: NewCall, received_at: float) -> None:
            self.restarted.append((new, received_at))

        self.hand_in = HandIn(
            self.handoffs,
            enqueue=enqueue,
            record_sink=sink,
            runner=lambda: cast(Runner, self.runner),
            queue_kind="queue",
            restart_ivr=restart_ivr,
            clock=self.clock,
        )


def payload(call_id: str = "c1", at: float = T0) -> dict[str, Any]:
    return {
        "enqueue": {"language": "es", "topic": "noise", "priority": 2},
        "record": ivr_record(call_id),
        "at": at,
    }


def moved_in(cid: str = "c1") -> NewCall:
    return NewCall(
        channel_id=cid, kind=HANDOVER_ARG, dialed_number="311", caller_number="2125550123",
        channel_name=f"PJSIP/x-{cid}",
    )  # fmt: skip


async def test_given_a_channel_moved_in_with_its_hand_off_then_it_joins_the_queue_with_its_worker_facts() -> (
    None
):
    h = HandInHarness(answer=HandOver("queue"))
    await h.handoffs.put("c1", payload("c1"))
    await h.hand_in.on_stasis(moved_in("c1"), 5.0)
    assert h.enqueued == [("c1", ENQUEUE)]
    assert h.sunk == [ivr_record("c1")]
    [(kind, start, facts)] = h.runner.taken
    assert kind == "queue"
    assert start == CallStart("c1", "c1", "311", T0 + 60, cause=ENQUEUE)
    assert facts == CallFacts(
        call_id="c1",
        channel_id="c1",
        dialed_number="311",
        caller_hash="h" * 16,
        started_at=datetime.fromisoformat(ivr_record()["started_at"]).timestamp(),
        answered_at=datetime.fromisoformat(ivr_record()["answered_at"]).timestamp(),
    )
    assert await h.handoffs.get("c1") is None
    assert await h.handoffs.taken("c1")
    assert h.hand_in.taken == 1
    assert h.restarted == []


async def test_given_the_enqueue_answers_no_hand_over_then_the_queue_kind_is_used() -> None:
    h = HandInHarness(answer=None)
    assert await h.hand_in.take("c1", payload("c1"))
    assert h.runner.taken[0][0] == "queue"


async def test_given_the_enqueue_answers_another_kind_then_that_kind_takes_the_call() -> None:
    h = HandInHarness(answer=HandOver("priority-queue"))
    assert await h.hand_in.take("c1", payload("c1"))
    assert h.runner.taken[0][0] == "priority-queue"


async def test_given_a_hand_off_without_a_record_then_the_call_is_taken_with_facts_of_now() -> None:
    h = HandInHarness()
    assert await h.hand_in.take("c1", {"enqueue": payload()["enqueue"], "record": None})
    assert h.sunk == []
    facts = h.runner.taken[0][2]
    assert (facts.dialed_number, facts.caller_hash, facts.started_at, facts.answered_at) == (
        "", None, T0 + 60, None,
    )  # fmt: skip


async def test_given_a_channel_moved_in_without_a_hand_off_then_its_ivr_starts_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = HandInHarness()
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        await h.hand_in.on_stasis(moved_in("c1"), 5.0)
    [(new, received_at)] = h.restarted
    assert received_at == 5.0
    assert new == NewCall(
        channel_id="c1", kind="inbound", dialed_number="311", caller_number="2125550123",
        channel_name="PJSIP/x-c1",
    )  # fmt: skip
    assert h.runner.taken == []
    assert "without a hand-off" in caplog.text


async def test_given_the_hand_offs_cannot_be_read_then_the_moved_channel_starts_its_ivr_again() -> (
    None
):
    h = HandInHarness()

    async def away(call_id: str) -> None:
        raise LiveUnavailableError("redis down")

    h.handoffs.get = away  # type: ignore[method-assign]
    await h.hand_in.on_stasis(moved_in("c1"), 5.0)
    assert [new.channel_id for new, _ in h.restarted] == ["c1"]


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"enqueue": None},
        {"enqueue": {"language": "en", "topic": "noise"}},
        {"enqueue": {"language": "en", "topic": "noise", "priority": "high"}},
        {**payload(), "record": {**ivr_record(), "started_at": "yesterday"}},
    ],
)
async def test_given_an_unreadable_hand_off_then_it_is_dropped_and_not_taken(
    bad: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    h = HandInHarness()
    await h.handoffs.put("c1", bad)
    with caplog.at_level(logging.ERROR, logger="line311.ari.workers"):
        assert await h.hand_in.take("c1", bad) is False
    assert "unreadable hand-off" in caplog.text
    assert await h.handoffs.get("c1") is None
    assert (h.enqueued, h.sunk, h.runner.taken, h.hand_in.taken) == ([], [], [], 0)


async def test_given_a_channel_moved_in_with_an_unreadable_hand_off_then_its_ivr_starts_again_not_left_silent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = HandInHarness()
    await h.handoffs.put("c1", {"enqueue": {"language": "en"}, "record": ivr_record("c1")})
    with caplog.at_level(logging.ERROR, logger="line311.ari.workers"):
        await h.hand_in.on_stasis(moved_in("c1"), 5.0)
    assert "unreadable hand-off" in caplog.text
    assert [(new.channel_id, new.kind) for new, _ in h.restarted] == [("c1", "inbound")]
    assert await h.handoffs.get("c1") is None
    assert (h.enqueued, h.runner.taken) == ([], [])


async def test_given_the_runner_refuses_the_call_then_the_hand_off_stays_for_the_next_controller() -> (
    None
):
    h = HandInHarness(accept=False)
    await h.handoffs.put("c1", payload("c1"))
    assert await h.hand_in.take("c1", payload("c1")) is False
    assert await h.handoffs.get("c1") is not None
    assert not await h.handoffs.taken("c1")
    assert h.hand_in.taken == 0


@pytest.mark.parametrize("why", ["draining", "held"])
async def test_given_a_runner_that_cannot_take_the_call_then_neither_the_queue_nor_the_recorder_hear_of_it(
    why: str,
) -> None:
    h = HandInHarness()
    if why == "draining":
        h.runner.accepting = False
    else:
        h.runner.held.add("c1")
    await h.handoffs.put("c1", payload("c1"))
    assert await h.hand_in.take("c1", payload("c1")) is False
    assert (h.enqueued, h.sunk, h.runner.taken) == ([], [], [])
    assert await h.handoffs.get("c1") is not None  # for the next controller's sweep


async def test_given_mark_taken_fails_then_the_call_is_still_taken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = HandInHarness()

    async def away(call_id: str) -> None:
        raise LiveUnavailableError("redis down")

    h.handoffs.mark_taken = away  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        assert await h.hand_in.take("c1", payload("c1")) is True
    assert "not marked taken" in caplog.text
    assert h.hand_in.taken == 1


async def test_given_hand_offs_left_by_a_restart_when_swept_then_each_is_taken_skipped_or_recorded() -> (
    None
):
    h = HandInHarness()
    now = h.clock.now()
    await h.handoffs.put("fresh", payload("fresh", at=now - 1))
    await h.handoffs.put("listed", payload("listed", at=now - 30))
    await h.handoffs.put("gone", payload("gone", at=now - 30))
    await h.handoffs.put("held", payload("held", at=now - 30))
    await h.handoffs.put("no-at", {"enqueue": payload()["enqueue"], "record": None})
    await h.hand_in.sweep({"listed", "fresh", "held"}, lambda cid: cid == "held", older=5.0)
    assert [call_id for _, start, _ in h.runner.taken for call_id in [start.call_id]] == ["listed"]
    assert await h.handoffs.taken("listed")
    gone = [r for r in h.sunk if r["call_id"] == "gone"]
    assert gone == [
        {
            **ivr_record("gone"),
            "outcome": "caller_hung_up",
            "ended_at": datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds"),
        }
    ]
    assert set((await h.handoffs.all()).keys()) == {"fresh", "held"}  # "no-at": gone, dropped


async def test_given_the_hand_offs_cannot_be_listed_when_swept_then_a_warning_and_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = HandInHarness()

    async def away() -> dict[str, Any]:
        raise LiveUnavailableError("redis down")

    h.handoffs.all = away  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        await h.hand_in.sweep({"c1"}, lambda cid: False, older=5.0)
    assert "cannot read the hand-offs" in caplog.text
    assert h.runner.taken == []


def test_given_a_record_then_facts_come_from_it_and_missing_values_fall_back() -> None:
    facts = _facts("c1", {"dialed_number": None, "caller_hash": 5, "started_at": 3}, T0)
    assert facts == CallFacts("c1", "c1", "", None, T0, None)


async def test_given_asterisk_unreachable_at_the_move_then_the_error_reaches_the_runner() -> None:
    h = HandoffHarness()
    h.ari.fail["move"] = AriUnreachable("down")
    await h.handoff.enqueue("c1", ENQUEUE)
    with pytest.raises(AriUnreachable):
        await h.move("c1")
    assert await h.handoffs.get("c1") is not None  # stored: the retry finds it


async def test_given_the_hand_off_was_never_stored_when_it_fails_then_the_kept_ivr_record_is_written_failed() -> (
    None
):
    h = HandoffHarness()
    assert h.kind.ended is not None
    await h.handoff.enqueue("c1", ENQUEUE)
    await h.handoff.record_sink(ivr_record("c1"))

    async def away(call_id: str) -> None:
        raise LiveUnavailableError("redis down")

    h.handoffs.get = away  # type: ignore[method-assign]
    await h.kind.ended(ended("failed"))
    assert [(r["call_id"], r["outcome"]) for r in h.sunk] == [("c1", "failed")]


# ---------------------------------------------------------------------------- Rescuer
BORN = datetime.fromtimestamp(T0 - 60, tz=UTC)


def offered(cid: str, *, born: datetime | None = BORN, data: str = "") -> Channel:
    return Channel(
        id=cid,
        dialplan_exten="311",
        dialplan_app="StasisBroadcast",
        dialplan_app_data=data or "500,^line311-w[0-9],inbound:2126399675",
        creationtime=born,
    )


class RescuerHarness:
    def __init__(
        self,
        *,
        owned: Iterable[str] = (),
        held: Iterable[str] = (),
        hand_offs: Callable[[set[str]], Awaitable[None]] | None = None,
    ) -> None:
        self.ari = WorkerAri()
        self.ari.app = "line311"  # the controller's
        self.owned = set(owned)
        self.held = set(held)
        self.asked = 0
        self.after_owned: Callable[[], None] | None = None
        """Runs after each ownership look (what changes before the next look)."""

        async def owned_now() -> set[str]:
            self.asked += 1
            got = set(self.owned)
            if self.after_owned is not None:
                self.after_owned()
            return got

        self.rescuer = Rescuer(
            port(self.ari),
            worker=worker_app("line311", 1),
            owned=owned_now,
            held=lambda cid: cid in self.held,
            clock=FixedClock(),
            older=10.0,
            every=0.001,
            confirm=0.0,
            hand_offs=hand_offs,
        )


async def test_given_broadcast_channels_nobody_owns_then_each_is_moved_to_the_controller_as_a_new_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = RescuerHarness(owned={"claimed"}, held={"held"})
    h.ari.channels = [
        offered("lost"),
        offered("claimed"),
        offered("held"),
        offered("young", born=datetime.fromtimestamp(T0 - 5, tz=UTC)),
        offered("unborn", born=None),
        offered("no-dialed", data="500,^line311-w[0-9],inbound"),
        offered("other-filter", data="500,^elsewhere,inbound:311"),
        Channel(id="plain", dialplan_app="Stasis", dialplan_app_data="line311,inbound,311",
                creationtime=BORN),
    ]  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        assert await h.rescuer.once() == 2
    moves = [c for c in h.ari.calls if c[0] == "move"]
    assert moves == [
        ("move", "lost", "line311", ("inbound", "2126399675")),
        ("move", "no-dialed", "line311", ("inbound", "311")),  # the dialplan extension
    ]
    assert h.rescuer.rescued == 2
    assert "no worker owns it" in caplog.text


async def test_given_the_hand_off_sweep_then_it_gets_the_same_look_and_what_it_takes_is_not_rescued(
    caplog: pytest.LogCaptureFixture,
) -> None:
    swept: list[set[str]] = []

    async def sweep(listed: set[str]) -> None:
        swept.append(listed)
        h.held.add("handed")  # the controller took up that hand-off

    h = RescuerHarness(hand_offs=sweep)
    h.ari.channels = [offered("handed"), offered("lost")]
    assert await h.rescuer.once() == 1
    assert swept == [{"handed", "lost"}]
    assert [c for c in h.ari.calls if c[0] in ("list_channels", "move")] == [
        ("list_channels",),
        ("list_channels",),  # the second look, at the one candidate
        ("move", "lost", "line311", ("inbound", "2126399675")),
    ]

    async def failing(listed: set[str]) -> None:
        raise RuntimeError("redis away")

    h = RescuerHarness(hand_offs=failing)
    h.ari.channels = [offered("lost")]
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        assert await h.rescuer.once() == 1  # the rescue goes on
    assert "could not look for hand-offs left behind" in caplog.text


async def test_given_a_call_ending_at_the_first_look_when_it_is_gone_at_the_second_then_nothing_is_moved_or_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = RescuerHarness()
    h.ari.channels = [offered("ending"), offered("lost"), offered("claimed-meanwhile")]

    def the_call_ends() -> None:  # after the first look; "claimed-meanwhile" is claimed now
        h.ari.channels = [c for c in h.ari.channels if c.id != "ending"]
        h.owned.add("claimed-meanwhile")

    h.after_owned = the_call_ends
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        assert await h.rescuer.once() == 1
    assert [c for c in h.ari.calls if c[0] == "move"] == [
        ("move", "lost", "line311", ("inbound", "2126399675"))
    ]
    assert "channel ending" not in caplog.text
    assert "claimed-meanwhile" not in caplog.text
    assert h.asked == 2


async def test_given_no_candidate_then_ownership_is_not_even_asked() -> None:
    h = RescuerHarness()
    h.ari.channels = [offered("young", born=datetime.fromtimestamp(T0 - 1, tz=UTC))]
    assert await h.rescuer.once() == 0
    assert h.asked == 0
    assert h.ari.calls == [("list_channels",)]


async def test_given_a_move_refused_then_the_others_are_still_moved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = RescuerHarness()
    h.ari.channels = [offered("a"), offered("b")]
    real_move = h.ari.move

    async def move(channel_id: str, app: str, app_args: Iterable[str] = ()) -> None:
        if channel_id == "a":
            raise AriServerError(500, "POST", "/channels/a/move", "boom")
        await real_move(channel_id, app, app_args)

    h.ari.move = move  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
        assert await h.rescuer.once() == 1
    assert "channel a not moved here" in caplog.text
    assert h.rescuer.rescued == 1


async def test_given_the_rescuer_running_when_a_look_fails_then_it_logs_and_looks_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = RescuerHarness()
    h.ari.fail["list_channels"] = AriUnreachable("down")
    task = asyncio.create_task(h.rescuer.run())
    try:
        with caplog.at_level(logging.WARNING, logger="line311.ari.workers"):
            async with asyncio.timeout(5):
                while len(h.ari.calls) < 2:  # noqa: ASYNC110 - the task's own pace
                    await asyncio.sleep(0.001)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert "could not look for channels nobody owns" in caplog.text


async def test_given_an_idle_worker_when_it_wins_a_claim_then_its_new_load_is_shared_at_once() -> (
    None
):
    h = ClaimerHarness(load=0)
    shares: list[int] = []
    share = h.handoffs.share_load

    async def counted(app: str, calls: int, now: float) -> int:
        shares.append(calls)
        return await share(app, calls, now)

    h.handoffs.share_load = counted  # type: ignore[method-assign]
    task = asyncio.create_task(h.claimer.run(every=0.001, unchanged_every=3600.0))
    try:
        async with asyncio.timeout(5):
            while not shares:  # noqa: ASYNC110 - the task's own pace
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.05)  # asleep: nothing changed, the next share is an hour away
        assert shares == [0]
        h.load = 1  # the call the claim below takes
        await h.claimer.on_broadcast(broadcast("c1"))
        async with asyncio.timeout(5):  # a deadlock bound: without the wake it is an hour
            while shares == [0]:  # noqa: ASYNC110 - the task's own pace
                await asyncio.sleep(0.001)
        assert shares == [0, 1]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
