"""LiveRouting on a real Redis: the contended step, settling offers, agents, timers."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from line311.live import codec
from line311.live.errors import LiveStateError, LiveUnavailableError
from line311.live.routing import LiveRouting, Refusal, Reserved
from line311.routing.agents import AgentEvent, AgentState
from line311.routing.waiting import WaitingCall

pytestmark = pytest.mark.integration

T0 = 1_800_000_000.0


def waiting(
    call_id: str,
    seq: int,
    *,
    queue: str = "general",
    at: float = T0,
    priority: int = 0,
    language: str | None = "en",
) -> WaitingCall:
    return WaitingCall(
        call_id, queue, at, seq, at - 60.0 * priority, language=language, priority=priority
    )


async def live_with(
    client: aioredis.Redis, agents: list[str], calls: list[WaitingCall], **kwargs: object
) -> LiveRouting:
    live = LiveRouting(client, **kwargs)  # type: ignore[arg-type]
    for i, agent in enumerate(agents):
        await live.register_agent(agent, {"skills": "topic:general=3"}, i, T0)
        await live.agent_event(agent, AgentEvent.LOGIN, T0)
    for call in calls:
        assert await live.add_call(call, T0)
    return live


async def test_given_a_free_pair_when_reserved_then_call_leaves_its_lane_and_agent_is_reserved(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana"], [waiting("c1", 1)])
    got = await live.reserve("c1", "ana", T0 + 1)
    assert got == Reserved("c1", "ana", "general", T0 + 1 + live.offer_ttl)
    agent = await live.agent("ana")
    assert agent is not None
    assert agent.state is AgentState.RESERVED
    assert agent.call_id == "c1"
    assert await live.available() == set()
    assert await live.lane_heads() == {}
    call = await live.call("c1")
    assert call is not None
    assert call.offered_to == "ana"
    assert call.offers == 1
    assert await live.position("c1") == 1  # still ahead of later callers while it rings


async def test_given_a_taken_call_or_agent_when_reserved_again_then_refused_and_nothing_changes(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana", "bob"], [waiting("c1", 1), waiting("c2", 2)])
    assert isinstance(await live.reserve("c1", "ana", T0), Reserved)
    before = await live.changes()
    assert await live.reserve("c1", "bob", T0) is Refusal.CALL_TAKEN
    assert await live.reserve("c2", "ana", T0) is Refusal.AGENT_BUSY
    assert await live.reserve("nope", "bob", T0) is Refusal.NO_CALL
    assert await live.changes() == before
    assert await live.available() == {"bob"}


async def test_given_in_order_when_a_later_call_is_reserved_first_then_refused(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana"], [waiting("c1", 1), waiting("c2", 2, at=T0 + 1)])
    assert await live.reserve("c2", "ana", T0, in_order=True) is Refusal.NOT_FIRST
    assert isinstance(await live.reserve("c1", "ana", T0, in_order=True), Reserved)


async def test_given_priorities_when_heads_are_reserved_then_priority_then_entry_order(
    redis_client: aioredis.Redis,
) -> None:
    calls = [
        waiting("late-high", 3, at=T0 + 30, priority=1),
        waiting("early", 1, at=T0),
        waiting("same-time", 2, at=T0),
        waiting("later", 4, at=T0 + 10),
    ]
    agents = ["a1", "a2", "a3", "a4"]
    live = await live_with(redis_client, agents, calls)
    lane = codec.lane_of(calls[0])
    assert [c.call_id for c in await live.calls_in("general")] == [
        "late-high",
        "early",
        "same-time",
        "later",
    ]
    got = await live.reserve_heads([(lane, agents)] * 5, T0)
    assert [r.call_id for r in got if isinstance(r, Reserved)] == [
        "late-high",
        "early",
        "same-time",
        "later",
    ]
    assert [r.agent_id for r in got if isinstance(r, Reserved)] == agents
    assert got[4] is Refusal.EMPTY


async def test_given_a_reservation_when_rejected_then_the_call_is_back_in_its_place(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana", "bob"], [waiting("c1", 1), waiting("c2", 2)])
    lane = codec.lane_of(waiting("c1", 1))
    assert isinstance(await live.reserve("c1", "ana", T0), Reserved)
    assert await live.lane_heads() == {lane: ["c2"]}
    assert await live.release("c1", "ana", T0 + 5, pause_reason="missed")
    assert await live.lane_heads(2) == {lane: ["c1", "c2"]}
    ana = await live.agent("ana")
    assert ana is not None
    assert ana.state is AgentState.PAUSED
    assert ana.reason == "missed"
    assert not await live.release("c1", "ana", T0 + 5)  # already settled
    got = await live.reserve_head(lane, ["ana", "bob"], T0 + 6)
    assert isinstance(got, Reserved)
    assert (got.call_id, got.agent_id) == ("c1", "bob")


async def test_given_a_reservation_when_accepted_then_call_leaves_queue_and_agent_is_on_call(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana"], [waiting("c1", 1), waiting("c2", 2)])
    await live.reserve("c1", "ana", T0)
    call = await live.accept("c1", "ana", T0 + 3)
    assert call is not None
    assert call.call_id == "c1"
    assert call.offered_to == "ana"
    assert await live.call("c1") is None
    assert await live.waiting_count("general") == 1
    assert await live.position("c2") == 1
    ana = await live.agent("ana")
    assert ana is not None
    assert ana.state is AgentState.ON_CALL
    assert ana.call_started_at == T0 + 3
    prev, _ = await live.agent_event("ana", AgentEvent.HANG_UP, T0 + 60, wrapup_until=T0 + 70)
    assert prev is AgentState.ON_CALL
    ana = await live.agent("ana")
    assert ana is not None
    assert ana.state is AgentState.WRAP_UP
    assert ana.wrapup_until == T0 + 70
    assert ana.calls_handled == 1
    await live.agent_event("ana", AgentEvent.WRAP_UP_DONE, T0 + 70)
    assert await live.available() == {"ana"}
    await live.agent_event("ana", AgentEvent.LOGOUT, T0 + 80)
    await live.agent_event("ana", AgentEvent.LOGIN, T0 + 90)
    ana = await live.agent("ana")
    assert ana is not None
    assert ana.calls_handled == 0  # counted per sign-in, as the router does


async def test_given_an_expired_reservation_when_swept_then_call_returns_and_accept_fails(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana"], [waiting("c1", 1)], offer_ttl=0.05)
    await live.reserve("c1", "ana", T0)
    await asyncio.sleep(0.1)  # the reservation key's TTL runs on Redis's clock
    assert await live.accept("c1", "ana", T0 + 1) is None
    assert await live.expire_due(T0) == []  # the deadline (caller's clock) not yet passed
    assert await live.expire_due(T0 + 1) == [("c1", "ana")]
    assert await live.available() == {"ana"}
    assert (await live.call("c1")).offered_to is None  # type: ignore[union-attr]


async def test_given_a_ringing_offer_when_the_caller_leaves_then_agent_is_free(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana"], [waiting("c1", 1)])
    await live.reserve("c1", "ana", T0)
    removed = await live.remove_call("c1", T0 + 2)
    assert removed is not None
    assert removed[0].call_id == "c1"
    assert removed[1] == "ana"
    assert await live.available() == {"ana"}
    assert await live.waiting_count("general") == 0
    assert await live.remove_call("c1", T0 + 2) is None
    assert await live.accept("c1", "ana", T0 + 3) is None


async def test_given_a_reserved_agent_when_logging_out_then_the_call_goes_back(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana"], [waiting("c1", 1)])
    await live.reserve("c1", "ana", T0)
    prev, back = await live.agent_event("ana", AgentEvent.LOGOUT, T0 + 1)
    assert (prev, back) == (AgentState.RESERVED, "c1")
    assert (await live.lane_heads()) == {codec.lane_of(waiting("c1", 1)): ["c1"]}
    with pytest.raises(LiveStateError):
        await live.agent_event("ana", AgentEvent.PAUSE, T0 + 2)


async def test_given_an_escalated_call_when_updated_then_it_moves_lane_keeping_its_place(
    redis_client: aioredis.Redis,
) -> None:
    first, second = waiting("c1", 1), waiting("c2", 2, at=T0 + 1)
    live = await live_with(redis_client, [], [first, second])
    from dataclasses import replace

    await live.update_call(replace(second, step=1), T0 + 30)
    heads = await live.lane_heads()
    assert heads == {codec.lane_of(first): ["c1"], codec.lane_of(replace(second, step=1)): ["c2"]}
    assert [c.call_id for c in await live.calls_in("general")] == ["c1", "c2"]
    assert (await live.call("c2")).step == 1  # type: ignore[union-attr]


async def test_timers_fire_once_each(redis_client: aioredis.Redis) -> None:
    live = LiveRouting(redis_client)
    await live.schedule(T0 + 5, "step", "c1")
    await live.schedule(T0 + 1, "wrapup", "ana")
    await live.schedule(T0 + 9, "step", "c2")
    await live.cancel("step", "c2")
    assert await live.pop_due(T0 + 6) == [(T0 + 1, "wrapup", "ana"), (T0 + 5, "step", "c1")]
    assert await live.pop_due(T0 + 60) == []


async def test_given_no_redis_when_reserving_then_live_unavailable() -> None:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client = aioredis.Redis(
        host="127.0.0.1", port=1, decode_responses=True, retry=Retry(NoBackoff(), 0)
    )
    try:
        with pytest.raises(LiveUnavailableError):
            await LiveRouting(client).reserve("c1", "ana", T0)
    finally:
        await client.aclose()


async def test_given_an_empty_script_cache_when_running_then_scripts_are_loaded_and_run_once(
    redis_client: aioredis.Redis,
) -> None:
    live = await live_with(redis_client, ["ana", "bob"], [waiting("c1", 1), waiting("c2", 2)])
    await redis_client.script_flush()  # as after a Redis restart
    got = await live.reserve_many([("c1", "ana"), ("c2", "bob")], T0)
    assert [type(r) for r in got] == [Reserved, Reserved]
    await redis_client.script_flush()
    batch = live.batch()
    batch.add(live.ops.accept("c1", "ana", T0 + 1))
    batch.add(live.ops.agent_event("ana", AgentEvent.HANG_UP, T0 + 9))
    batch.add(live.ops.release("c2", "bob", T0 + 1, None, "timeout"))
    accepted, hung_up, released = await batch.execute()
    assert accepted is not None
    assert hung_up == (AgentState.ON_CALL, None)
    assert released is True
    assert await live.available() == {"ana", "bob"}
    assert [c.call_id for c in await live.calls_in("general")] == ["c2"]


async def test_given_a_free_agent_when_reserve_best_then_the_first_call_of_its_lanes(
    redis_client: aioredis.Redis,
) -> None:
    calls = [
        waiting("es-old", 1, at=T0, language="es"),
        waiting("en-high", 2, at=T0 + 30, priority=1),  # rank T0 - 30: first of all
        waiting("en-new", 3, at=T0 + 40),
    ]
    live = await live_with(redis_client, ["ana", "bob"], calls)
    en, es = codec.lane_of(calls[1]), codec.lane_of(calls[0])
    got = await live.reserve_best("ana", [es, en], T0 + 50)
    assert isinstance(got, Reserved)
    assert got.call_id == "en-high"
    assert await live.reserve_best("ana", [es, en], T0 + 50) is Refusal.AGENT_BUSY
    got = await live.reserve_best("bob", [en], T0 + 50)
    assert isinstance(got, Reserved)
    assert got.call_id == "en-new"
    await live.agent_event("bob", AgentEvent.LOGOUT, T0 + 51)  # en-new goes back
    await live.agent_event("bob", AgentEvent.LOGIN, T0 + 52)
    assert await live.reserve_best("bob", ["nobody's lane"], T0 + 53) is Refusal.EMPTY
    got = await live.reserve_best("bob", [es, en], T0 + 53)
    assert isinstance(got, Reserved)
    assert got.call_id == "es-old"


async def test_given_live_state_when_a_controller_starts_then_the_snapshot_has_it_all(
    redis_client: aioredis.Redis,
) -> None:
    calls = [waiting("c2", 2, at=T0 + 5), waiting("c1", 1), waiting("x", 3, queue="noise")]
    live = await live_with(redis_client, ["ana", "bob"], calls)
    await live.reserve("c1", "ana", T0 + 6)
    await live.agent_event("bob", AgentEvent.PAUSE, T0 + 7, reason="lunch")
    waiting_now, agents = await live.snapshot()
    assert [c.call_id for c in waiting_now] == ["c1", "x", "c2"]  # by (rank, seq)
    assert waiting_now[0].offered_to == "ana"
    by_id = {a.agent_id: a for a in agents}
    assert by_id["ana"].state is AgentState.RESERVED
    assert by_id["ana"].call_id == "c1"
    assert (by_id["bob"].state, by_id["bob"].reason) == (AgentState.PAUSED, "lunch")
