"""Queues, agents and offers shared by every controller process, in Redis.

Theory of operation
-------------------
The `Router` stays pure and synchronous: it decides over a store in its own process and
never waits on the network. `LiveRouting` is the shared truth beside it, and the one place
where two processes can collide is settled here, atomically, by a Lua script::

    controller A                       Redis (one script at a time)          controller B
    router.decide() -> offers          reserve(c7, ana) -> reserved          router.decide()
    await live.reserve_many(offers) ─▶ reserve(c7, bob) -> call-taken ◀─ await live.reserve_many
    ring ana                                                              drop the offer, re-read

* **Waiting calls** are kept per queue (a sorted set, for positions and counts) and per
  *lane* — the router's bucket: queue, language, escalation step, extra terms — holding the
  calls free to offer. Score = rank (priority-weighted entry time), ties by seq (see
  `live.codec`), so a lane's head is the call the router's order serves first.
* **Agents**: state (logged out, available, reserved, on call, wrap-up, paused + reason),
  since when, wrap-up end, current call; `available` is the set offers are drawn from.
  Every change goes through one script that checks the agent's state against the same
  transition table as `routing.agents` (`live.codec.sources`).
* **The contended step.** `reserve` (a given pair) and `reserve_head` (the head of a lane
  with the first free of several candidate agents) check that the call still waits
  unreserved and the agent is still free, take the call out of its lane, mark the agent
  reserved, and write the reservation with a TTL, in one script; otherwise they change
  nothing and say why (`Refusal`). With ``in_order`` a pair is also refused when its call is
  no longer the head of its lane, so a stale decision can never overtake a waiting caller.
* **Settling.** `accept` (the reservation must still be live) takes the call out of its
  queue and puts the agent on the call; `release` (rejected, rang out) and `expire_due` (the
  sweep for offers past their deadline) put the call back with its original score — its
  place — and free the agent.

Several offers of one decision round go in one round trip (`reserve_many`), a pipeline of
scripts, each still atomic. Times are the caller's wall-clock epoch seconds (one clock for
every process); the reservation TTL is also set on Redis's own clock, so an offer nobody
settles stops counting even before the sweep returns its call.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as redis_errors

from line311.live import codec, scripts
from line311.live.errors import LiveStateError, LiveUnavailableError
from line311.queue.waiting import WaitingCall
from line311.routing.agents import AgentEvent, AgentState

__all__ = ["LiveAgent", "LiveRouting", "Refusal", "Reserved", "mapped_errors"]

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "line311:"


class Refusal(enum.Enum):
    """Why a reservation was not made (nothing changed)."""

    NO_CALL = "no-call"
    CALL_TAKEN = "call-taken"
    AGENT_BUSY = "agent-busy"
    NOT_FIRST = "not-first"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Reserved:
    """A reservation made: ring ``agent_id`` for ``call_id`` until ``expires_at``."""

    call_id: str
    agent_id: str
    queue: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class LiveAgent:
    """An agent's shared state."""

    agent_id: str
    state: AgentState
    since: float
    reason: str | None = None
    wrapup_until: float | None = None
    call_id: str | None = None
    call_queue: str | None = None
    call_started_at: float | None = None
    calls_handled: int = 0
    profile: str | None = None


@contextlib.asynccontextmanager
async def mapped_errors(what: str) -> AsyncIterator[None]:
    """Turn redis-py's exceptions into the live package's (the one place that does)."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
        raise LiveUnavailableError(f"{what}: Redis unreachable ({exc})") from exc
    except redis_errors.RedisError as exc:
        raise LiveStateError(f"{what}: Redis said {exc}") from exc


def _f(value: Any) -> str:
    return repr(float(value))


class LiveRouting:
    """Shared routing state in one Redis. See the module docstring.

    ``client`` must decode responses (``decode_responses=True``). ``offer_ttl``: seconds a
    reservation lives unless accepted or released. ``journal``: keep a stream of every change
    (``<prefix>journal``, trimmed to about that many entries; 0 = none) for audits and tests.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        offer_ttl: float = 30.0,
        journal: int = 0,
    ) -> None:
        # redis-py's annotations cover bytes and str replies alike; ours decode to str
        self.client: Any = client
        self.prefix = prefix
        self.offer_ttl = offer_ttl
        self._journal = str(int(journal))
        self._s = {
            name: client.register_script(text)
            for name, text in (
                ("reserve", scripts.RESERVE),
                ("reserve_head", scripts.RESERVE_HEAD),
                ("accept", scripts.ACCEPT),
                ("release", scripts.RELEASE),
                ("expire", scripts.EXPIRE),
                ("remove", scripts.REMOVE_CALL),
                ("add", scripts.ADD_CALL),
                ("update", scripts.UPDATE_CALL),
                ("register", scripts.REGISTER),
                ("agent", scripts.AGENT),
                ("timers", scripts.POP_TIMERS),
            )
        }

    def key(self, *parts: str) -> str:
        return self.prefix + "".join(parts)

    def _argv(self, now: float, *args: Any) -> list[Any]:
        return [self.prefix, self._journal, _f(now), *args]

    async def _run(self, name: str, now: float, *args: Any) -> Any:
        async with mapped_errors(name):
            return await self._s[name](args=self._argv(now, *args))

    # ------------------------------------------------------------------ counters
    async def next_seqs(self, count: int = 1) -> range:
        """``count`` new, globally increasing sequence numbers."""
        async with mapped_errors("seq"):
            last = int(await self.client.incrby(self.key("seq"), count))
        return range(last - count + 1, last + 1)

    async def changes(self) -> int:
        async with mapped_errors("changes"):
            return int(await self.client.get(self.key("changes")) or 0)

    # ------------------------------------------------------------------ calls
    async def add_call(self, call: WaitingCall, now: float) -> bool:
        """Put a new call in its place; False if the id is already waiting."""
        added = await self._run(
            "add",
            now,
            call.call_id,
            call.queue,
            codec.lane_of(call),
            _f(call.rank),
            codec.member_of(call),
            codec.call_record(call),
        )
        return bool(added)

    async def update_call(self, call: WaitingCall, now: float) -> bool:
        """Replace a waiting call's record (escalation step, callback flag) keeping its place."""
        done = await self._run(
            "update", now, call.call_id, codec.lane_of(call), codec.call_record(call)
        )
        return bool(done)

    async def remove_call(self, call_id: str, now: float) -> tuple[WaitingCall, str | None] | None:
        """Take a call out (abandon, max wait); returns it and the agent whose ringing offer
        was cancelled (now free again), or None if the call was not waiting."""
        out = await self._run("remove", now, call_id)
        if not out[0]:
            return None
        return codec.call_from_record(out[1], None, int(out[2])), out[3] or None

    async def call(self, call_id: str) -> WaitingCall | None:
        async with mapped_errors("call"):
            rec, agent, n = await self.client.hmget(self.key("call:", call_id), "rec", "ag", "n")
        if rec is None:
            return None
        return codec.call_from_record(rec, agent, int(n or 0))

    async def calls_in(self, queue: str) -> list[WaitingCall]:
        """The queue's calls in service order (offered ones included)."""
        async with mapped_errors("calls_in"):
            members = await self.client.zrange(self.key("queue:", queue), 0, -1)
            async with self.client.pipeline(transaction=False) as pipe:
                for m in members:
                    pipe.hmget(self.key("call:", codec.call_id_of(m)), "rec", "ag", "n")
                rows = await pipe.execute()
        return [
            codec.call_from_record(rec, ag, int(n or 0)) for rec, ag, n in rows if rec is not None
        ]

    async def position(self, call_id: str) -> int | None:
        """1-based place of a waiting call in its queue, None if it is not waiting."""
        async with mapped_errors("position"):
            queue, member = await self.client.hmget(self.key("call:", call_id), "q", "m")
            if queue is None:
                return None
            rank = await self.client.zrank(self.key("queue:", queue), member)
        return None if rank is None else int(rank) + 1

    async def waiting_count(self, queue: str) -> int:
        async with mapped_errors("waiting_count"):
            return int(await self.client.zcard(self.key("queue:", queue)))

    async def lane_heads(self, limit: int = 1) -> dict[str, list[str]]:
        """For every lane with calls free to offer, the first ``limit`` call ids in order."""
        async with mapped_errors("lane_heads"):
            lanes = sorted(await self.client.smembers(self.key("lanes")))
            async with self.client.pipeline(transaction=False) as pipe:
                for lane in lanes:
                    pipe.zrange(self.key("lane:", lane), 0, limit - 1)
                heads = await pipe.execute()
        return {
            lane: [codec.call_id_of(m) for m in ms] for lane, ms in zip(lanes, heads, strict=True)
        }

    # ------------------------------------------------------------------ the contended step
    def _reserve_args(self, call_id: str, agent_id: str, now: float, in_order: bool) -> list[Any]:
        ttl_ms = max(1, int(self.offer_ttl * 1000))
        return self._argv(
            now, call_id, agent_id, ttl_ms, _f(now + self.offer_ttl), "1" if in_order else "0"
        )

    def _result(self, out: Sequence[Any], now: float) -> Reserved | Refusal:
        if not out[0]:
            return Refusal(out[1])
        return Reserved(out[1], out[2], out[3], now + self.offer_ttl)

    async def reserve(
        self, call_id: str, agent_id: str, now: float, *, in_order: bool = False
    ) -> Reserved | Refusal:
        """Atomically offer ``call_id`` to ``agent_id`` if both are still free."""
        async with mapped_errors("reserve"):
            out = await self._s["reserve"](
                args=self._reserve_args(call_id, agent_id, now, in_order)
            )
        return self._result(out, now)

    async def reserve_many(
        self, pairs: Iterable[tuple[str, str]], now: float, *, in_order: bool = False
    ) -> list[Reserved | Refusal]:
        """`reserve` for each (call, agent) pair, in order, in one round trip."""
        async with mapped_errors("reserve_many"), self.client.pipeline(transaction=False) as pipe:
            for call_id, agent_id in pairs:
                await self._s["reserve"](
                    args=self._reserve_args(call_id, agent_id, now, in_order), client=pipe
                )
            outs = await pipe.execute()
        return [self._result(out, now) for out in outs]

    async def reserve_head(
        self, lane: str, agents: Sequence[str], now: float
    ) -> Reserved | Refusal:
        """Atomically offer the head of ``lane`` to the first of ``agents`` still free."""
        return (await self.reserve_heads([(lane, agents)], now))[0]

    async def reserve_heads(
        self, wanted: Iterable[tuple[str, Sequence[str]]], now: float
    ) -> list[Reserved | Refusal]:
        """`reserve_head` for each (lane, candidates), in order, in one round trip."""
        ttl_ms = max(1, int(self.offer_ttl * 1000))
        deadline = _f(now + self.offer_ttl)
        async with mapped_errors("reserve_heads"), self.client.pipeline(transaction=False) as pipe:
            for lane, agents in wanted:
                await self._s["reserve_head"](
                    args=self._argv(now, lane, ttl_ms, deadline, *agents), client=pipe
                )
            outs = await pipe.execute()
        return [self._result(out, now) for out in outs]

    async def accept(self, call_id: str, agent_id: str, now: float) -> WaitingCall | None:
        """The agent answered: the call leaves its queue (returned); None when the
        reservation is gone (expired, released, or the caller left)."""
        out = await self._run("accept", now, call_id, agent_id)
        if not out[0]:
            logger.info("call %s: accept by %s refused (%s)", call_id, agent_id, out[1])
            return None
        return codec.call_from_record(out[1], agent_id, int(out[2]))

    async def release(
        self,
        call_id: str,
        agent_id: str,
        now: float,
        *,
        pause_reason: str | None = None,
        why: str = "reject",
    ) -> bool:
        """The offer was rejected or rang out: the call goes back to its place; the agent is
        available again (or paused with ``pause_reason``). False if it was not reserved."""
        state = AgentState.PAUSED if pause_reason else AgentState.AVAILABLE
        out = await self._run(
            "release", now, call_id, agent_id, state.value, pause_reason or "", why
        )
        return bool(out[0])

    async def expire_due(self, now: float, limit: int = 100) -> list[tuple[str, str]]:
        """Return the calls of offers past their deadline to their places, freeing the
        agents; returns the (call, agent) pairs so the edge can stop ringing."""
        out = await self._run("expire", now, limit)
        return [(out[i], out[i + 1]) for i in range(0, len(out), 2)]

    # ------------------------------------------------------------------ agents
    async def register_agent(
        self, agent_id: str, profile: dict[str, Any], seq: int, now: float
    ) -> None:
        """Make an agent known (logged out) or update its profile."""
        await self._run("register", now, agent_id, json.dumps(profile, sort_keys=True), seq)

    async def agent_event(
        self,
        agent_id: str,
        event: AgentEvent,
        now: float,
        *,
        reason: str | None = None,
        wrapup_until: float | None = None,
    ) -> tuple[AgentState, str | None]:
        """Apply a non-offer event (login, logout, pause, resume, hang-up, wrap-up done)
        atomically; returns the previous state and the call put back in its place (logout
        while an offer rang). Raises `LiveStateError` if the agent's state forbids it."""
        if event in (AgentEvent.RESERVE, AgentEvent.ACCEPT, AgentEvent.REJECT, AgentEvent.TIMEOUT):
            raise LiveStateError(f"{event.value} goes through reserve/accept/release")
        to = codec.target_of(event)
        if event is AgentEvent.HANG_UP and wrapup_until is None:
            to = AgentState.AVAILABLE
        out = await self._run(
            "agent",
            now,
            agent_id,
            to.value,
            reason or "",
            "" if wrapup_until is None else _f(wrapup_until),
            *codec.sources(event),
        )
        if not out[0]:
            raise LiveStateError(f"agent {agent_id!r}: cannot {event.value} when {out[1]}")
        return AgentState(out[1]), out[2] or None

    async def agent(self, agent_id: str) -> LiveAgent | None:
        async with mapped_errors("agent"):
            h = await self.client.hgetall(self.key("agent:", agent_id))
        if not h:
            return None
        return LiveAgent(
            agent_id=agent_id,
            state=AgentState(h["st"]),
            since=float(h.get("since", 0.0)),
            reason=h.get("reason") or None,
            wrapup_until=float(h["wu"]) if h.get("wu") else None,
            call_id=h.get("call") or None,
            call_queue=h.get("cq") or None,
            call_started_at=float(h["cs"]) if h.get("cs") else None,
            calls_handled=int(h.get("handled", 0)),
            profile=h.get("profile"),
        )

    async def available(self) -> set[str]:
        async with mapped_errors("available"):
            return set(await self.client.smembers(self.key("available")))

    # ------------------------------------------------------------------ timers
    async def schedule(self, at: float, kind: str, ident: str) -> None:
        """Arm the (kind, ident) timer at ``at``, replacing an earlier one."""
        async with mapped_errors("schedule"):
            await self.client.zadd(self.key("timers"), {f"{kind}|{ident}": at})

    async def cancel(self, kind: str, ident: str) -> None:
        async with mapped_errors("cancel"):
            await self.client.zrem(self.key("timers"), f"{kind}|{ident}")

    async def pop_due(self, now: float, limit: int = 100) -> list[tuple[float, str, str]]:
        """Remove and return the due timers as (at, kind, ident); each goes to one caller."""
        out = await self._run("timers", now, limit)
        due = []
        for i in range(0, len(out), 2):
            kind, _, ident = out[i].partition("|")
            due.append((float(out[i + 1]), kind, ident))
        return due
