"""Queues, agents and offers shared by every controller process, in Redis.

(A little over 400 lines: one class over one set of keys; its scripts and ops live apart.)

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
  `reserve_best` is the agent-side decision: a CCR frees up and takes the first call in
  service order among the heads of the lanes it may serve.
* **Settling.** `accept` (the reservation must still be live) takes the call out of its
  queue and puts the agent on the call; `release` (rejected, rang out) and `expire_due` (the
  sweep for offers past their deadline) put the call back with its original score — its
  place — and free the agent.

Several changes go in one round trip (`Batch`, `reserve_many`, `reserve_heads`): a pipeline
of EVALSHA calls, each script still atomic on its own. Scripts are named by their SHA-1
(computed here); after a Redis restart empties the script cache, the calls refused with
NOSCRIPT — which therefore did not run — are loaded and sent again.

A script whose reply is lost (the connection broke) may or may not have run: redis-py's
automatic retry would run it again and report the second outcome (an `accept` that worked
then reads as refused). Build the client without retries (`live.client.connect` does) and,
after `LiveUnavailableError`, re-read the call or agent before deciding again.

Times are the caller's wall-clock epoch seconds (one clock for every process); the
reservation TTL is also set on Redis's own clock, so an offer nobody settles stops counting
even before the sweep returns its call.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
import redis.exceptions as redis_errors

from line311.live import codec
from line311.live.errors import LiveAuthError, LiveStateError, LiveUnavailableError
from line311.live.ops import SCRIPTS, SHAS, Op, Ops, Refusal, Reserved
from line311.routing.agents import AgentEvent, AgentState
from line311.routing.waiting import WaitingCall

__all__ = ["Batch", "LiveAgent", "LiveRouting", "Refusal", "Reserved", "mapped_errors"]

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "line311:"
T = TypeVar("T")


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


def _is_auth_failure(exc: Exception) -> bool:
    """A refused AUTH (WRONGPASS), a command without it (NOAUTH), or AUTH sent to a Redis
    without a password; through Sentinel, a Sentinel's refusal is named in the no-primary
    error (`redis.sentinel.MasterNotFoundError` lists each Sentinel's exception)."""
    if isinstance(exc, redis_errors.AuthenticationError):
        return True
    return isinstance(exc, redis_errors.ConnectionError) and "AuthenticationError" in str(exc)


@contextlib.asynccontextmanager
async def mapped_errors(what: str) -> AsyncIterator[None]:
    """Turn redis-py's exceptions into the live package's (the one place that does)."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
        if _is_auth_failure(exc):
            raise LiveAuthError(
                f"{what}: Redis authentication failed ({exc}); check redis_password, "
                "redis_username and, with Sentinels that require auth, redis_sentinel_password"
            ) from exc
        raise LiveUnavailableError(f"{what}: Redis unreachable ({exc})") from exc
    except redis_errors.RedisError as exc:
        raise LiveStateError(f"{what}: Redis said {exc}") from exc


class Batch:
    """Several changes sent in one round trip; `execute` returns their results in order.

    Each change is atomic on its own; the batch as a whole is not a transaction.
    """

    def __init__(self, live: LiveRouting) -> None:
        self._live = live
        self.ops: list[Op[Any]] = []

    def add(self, op: Op[Any]) -> None:
        self.ops.append(op)

    async def execute(self) -> list[Any]:
        ops, self.ops = self.ops, []
        return await self._live.run_many(ops)


class LiveRouting:
    """Shared routing state in one Redis. See the module docstring.

    ``client`` must decode responses (``decode_responses=True``). ``offer_ttl``: seconds a
    reservation lives unless accepted or released. ``journal``: keep a stream of every change
    (``<prefix>journal``, trimmed to about that many entries; 0 = none) for audits and tests.
    ``ops`` builds the changes for `Batch` (``batch.add(live.ops.accept(...))``).
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
        self.ops = Ops(prefix, journal, offer_ttl)

    def key(self, *parts: str) -> str:
        return self.prefix + "".join(parts)

    def batch(self) -> Batch:
        return Batch(self)

    async def load_scripts(self) -> None:
        """Load every script into Redis's cache (done by itself on NOSCRIPT)."""
        async with mapped_errors("script load"):
            for name, text in SCRIPTS.items():
                sha = await self.client.script_load(text)
                if sha != SHAS[name]:
                    raise LiveStateError(f"script {name}: Redis says SHA {sha}, not {SHAS[name]}")

    async def run(self, op: Op[T]) -> T:
        """Run one change."""
        async with mapped_errors(op.script):
            try:
                out = await self.client.evalsha(SHAS[op.script], 0, *op.argv)
            except redis_errors.NoScriptError:
                await self.load_scripts()
                out = await self.client.evalsha(SHAS[op.script], 0, *op.argv)
        return op.parse(out)

    async def run_many(self, ops: Sequence[Op[Any]]) -> list[Any]:
        """Run changes in one round trip (a pipeline), in order; results in order."""
        results: list[Any] = [None] * len(ops)
        pending = list(range(len(ops)))
        async with mapped_errors("batch"):
            for attempt in range(2):
                async with self.client.pipeline(transaction=False) as pipe:
                    for i in pending:
                        pipe.evalsha(SHAS[ops[i].script], 0, *ops[i].argv)
                    outs = await pipe.execute(raise_on_error=False)
                again = []
                for i, out in zip(pending, outs, strict=True):
                    if isinstance(out, redis_errors.NoScriptError) and attempt == 0:
                        again.append(i)  # not run: the script cache was empty
                    elif isinstance(out, Exception):
                        raise out
                    else:
                        results[i] = ops[i].parse(out)
                if not again:
                    break
                await self.load_scripts()
                pending = again
        return results

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
        return await self.run(self.ops.add_call(call, now))

    async def add_calls(self, calls: Iterable[WaitingCall], now: float) -> list[bool]:
        """`add_call` for each call, in one round trip (a restart re-admitting its calls)."""
        return await self.run_many([self.ops.add_call(c, now) for c in calls])

    async def update_call(self, call: WaitingCall, now: float) -> bool:
        """Replace a waiting call's record (escalation step, callback flag) keeping its place."""
        return await self.run(self.ops.update_call(call, now))

    async def remove_call(self, call_id: str, now: float) -> tuple[WaitingCall, str | None] | None:
        """Take a call out (abandon, max wait); returns it and the agent whose ringing offer
        was cancelled (now free again), or None if the call was not waiting."""
        return await self.run(self.ops.remove_call(call_id, now))

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
    async def reserve(
        self, call_id: str, agent_id: str, now: float, *, in_order: bool = False
    ) -> Reserved | Refusal:
        """Atomically offer ``call_id`` to ``agent_id`` if both are still free (and, with
        ``in_order``, the call is still first in its lane)."""
        return await self.run(self.ops.reserve(call_id, agent_id, now, in_order))

    async def reserve_many(
        self, pairs: Iterable[tuple[str, str]], now: float, *, in_order: bool = False
    ) -> list[Reserved | Refusal]:
        """`reserve` for each (call, agent) pair, in order, in one round trip."""
        return await self.run_many([self.ops.reserve(c, a, now, in_order) for c, a in pairs])

    async def reserve_head(
        self, lane: str, agents: Sequence[str], now: float
    ) -> Reserved | Refusal:
        """Atomically offer the head of ``lane`` to the first of ``agents`` still free."""
        return await self.run(self.ops.reserve_head(lane, agents, now))

    async def reserve_heads(
        self, wanted: Iterable[tuple[str, Sequence[str]]], now: float
    ) -> list[Reserved | Refusal]:
        """`reserve_head` for each (lane, candidates), in order, in one round trip."""
        return await self.run_many([self.ops.reserve_head(ln, ags, now) for ln, ags in wanted])

    async def reserve_best(
        self, agent_id: str, lanes: Sequence[str], now: float
    ) -> Reserved | Refusal:
        """An agent frees up: atomically offer it the call first in service order among the
        heads of ``lanes`` (those it is eligible for)."""
        return await self.run(self.ops.reserve_best(agent_id, lanes, now))

    async def accept(self, call_id: str, agent_id: str, now: float) -> WaitingCall | None:
        """The agent answered: the call leaves its queue (returned); None when the
        reservation is gone (expired, released, or the caller left)."""
        call = await self.run(self.ops.accept(call_id, agent_id, now))
        if call is None:
            logger.info("call %s: accept by %s refused: no live reservation", call_id, agent_id)
        return call

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
        return await self.run(self.ops.release(call_id, agent_id, now, pause_reason, why))

    async def expire_due(self, now: float, limit: int = 100) -> list[tuple[str, str]]:
        """Return the calls of offers past their deadline to their places, freeing the
        agents; returns the (call, agent) pairs so the edge can stop ringing."""
        return await self.run(self.ops.expire_due(now, limit))

    # ------------------------------------------------------------------ agents
    async def register_agent(
        self, agent_id: str, profile: dict[str, Any], seq: int, now: float
    ) -> None:
        """Make an agent known (logged out) or update its profile."""
        await self.run(self.ops.register_agent(agent_id, profile, seq, now))

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
        try:
            op = self.ops.agent_event(agent_id, event, now, reason, wrapup_until)
        except ValueError as exc:
            raise LiveStateError(str(exc)) from None
        out = await self.run(op)
        if isinstance(out, str):
            raise LiveStateError(f"agent {agent_id!r}: cannot {event.value} when {out}")
        return out

    async def agent(self, agent_id: str) -> LiveAgent | None:
        async with mapped_errors("agent"):
            h = await self.client.hgetall(self.key("agent:", agent_id))
        return _agent(agent_id, h) if h else None

    async def snapshot(self) -> tuple[list[WaitingCall], list[LiveAgent]]:
        """Every waiting call (in service order: rank, seq) and every agent: what a
        controller that starts loads into its router's local store."""
        async with mapped_errors("snapshot"):
            ids = {
                kind: sorted(
                    [
                        k[len(self.key(kind)) :]
                        async for k in self.client.scan_iter(match=self.key(kind, "*"), count=1000)
                    ]
                )
                for kind in ("call:", "agent:")
            }
            async with self.client.pipeline(transaction=False) as pipe:
                for call_id in ids["call:"]:
                    pipe.hmget(self.key("call:", call_id), "rec", "ag", "n", "score", "m")
                for agent_id in ids["agent:"]:
                    pipe.hgetall(self.key("agent:", agent_id))
                rows = await pipe.execute()
        n = len(ids["call:"])
        placed = sorted(
            ((float(r[3]), r[4]), codec.call_from_record(r[0], r[1], int(r[2] or 0)))
            for r in rows[:n]
            if r[0] is not None
        )
        agents = [_agent(a, h) for a, h in zip(ids["agent:"], rows[n:], strict=True) if h]
        return [call for _, call in placed], agents

    async def available(self) -> set[str]:
        async with mapped_errors("available"):
            return set(await self.client.smembers(self.key("available")))

    async def some_available(self, count: int) -> list[str]:
        """Up to ``count`` free agents picked at random (cheap with thousands logged in)."""
        async with mapped_errors("some_available"):
            return list(await self.client.srandmember(self.key("available"), count))

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
        return await self.run(self.ops.pop_due(now, limit))


def _agent(agent_id: str, h: dict[str, str]) -> LiveAgent:
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
