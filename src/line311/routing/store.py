"""Where the router keeps its state: the `RoutingStore` protocol and its in-memory form.

The `Router` holds configuration and decides; everything that changes lives in a store:
agents, waiting calls, the indexes that make a decision cheap, timers and recent handle
times. Today that is `InMemoryRoutingStore`. A shared store (Redis) will follow so that
several controllers can serve one queue; the protocol is shaped for it:

* **Values, not references.** Readers get records; a change is made only by handing the
  changed record back (`put_agent`, `update_call`). The in-memory store happens to return
  live objects, but the router never relies on that: it always writes back.
* **One contended step.** Several controllers may pick the same free agent or the same call
  at once; `reserve` is the single compare-and-set that settles it (a Lua script or WATCH/
  MULTI on Redis) and may return False, after which the router just moves on. Every other
  write concerns a call or agent that only the controller handling it touches.
* **Indexes belong to the store.** Available agents by skill, logged-in agents by skill,
  and unreserved calls grouped in *buckets* (calls with identical needs: same queue,
  language, escalation step and extra terms), each in service order. In Redis these are
  sets and sorted sets kept in the same transaction as the record.
* **Sequence numbers and timers are shared.** `next_seq` is a global counter (INCR), timers
  a sorted set with one entry per (kind, ident); the router still re-checks the record when
  one fires.
* `changes` is a counter bumped by every write, so a router can skip deciding when nothing
  changed since its last decision (on Redis: a counter key, or keyspace notifications).
"""

from __future__ import annotations

import bisect
import heapq
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from collections.abc import Set as AbstractSet
from typing import Protocol

from line311.routing.agents import Agent, AgentEvent, AgentState
from line311.routing.skills import SkillSet
from line311.routing.waiting import WaitingCall, WaitingList

__all__ = ["BucketKey", "InMemoryRoutingStore", "OrderKey", "RoutingStore", "bucket_of"]

BucketKey = tuple[str, str | None, int, tuple[tuple[str, int], ...]]
"""(queue, language, escalation step, extra terms): calls with the same key need the same CCRs."""
OrderKey = tuple[float, int, str]


def bucket_of(call: WaitingCall) -> BucketKey | None:
    """The bucket a call is matched in, or None while an offer for it is ringing."""
    if call.offered_to is not None:
        return None
    return (call.queue, call.language, call.step, call.requires)


class RoutingStore(Protocol):
    """Everything that changes while the router runs. See the module docstring."""

    # -- shared counters
    def next_seq(self) -> int:
        """A new, globally increasing sequence number."""
        ...

    def changes(self) -> int:
        """A counter that moves whenever anything in the store changes."""
        ...

    # -- agents
    def agent(self, agent_id: str) -> Agent | None: ...

    def put_agent(self, agent: Agent) -> None:
        """Insert or replace an agent record, re-indexing its state and skills."""
        ...

    def agents(self) -> Iterable[Agent]:
        """Every known agent, logged in or not."""
        ...

    def logged_in(self) -> Collection[Agent]: ...

    def available(self) -> Collection[Agent]: ...

    def available_with(self, skill: str) -> Collection[Agent]:
        """Available agents holding ``skill`` at any level."""
        ...

    def available_skills(self) -> AbstractSet[str]:
        """The skills held (at any level) by at least one available agent."""
        ...

    def logged_in_with(self, skill: str) -> int:
        """How many logged-in agents hold ``skill`` at any level."""
        ...

    # -- waiting calls
    def call(self, call_id: str) -> WaitingCall | None: ...

    def add_call(self, call: WaitingCall) -> None: ...

    def update_call(self, call: WaitingCall) -> None:
        """Replace a waiting call's record; its place (queue, rank, seq) must not change."""
        ...

    def remove_call(self, call_id: str) -> WaitingCall | None: ...

    def calls(self) -> Iterable[WaitingCall]: ...

    def calls_in(self, queue: str) -> list[WaitingCall]:
        """The queue's calls in service order."""
        ...

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call in its queue."""
        ...

    def waiting_count(self, queue: str) -> int: ...

    def oldest_in(self, queue: str) -> WaitingCall | None: ...

    def bucket_heads(self) -> list[tuple[OrderKey, BucketKey]]:
        """For each non-empty bucket, the service key of its first unreserved call."""
        ...

    def bucket_first(self, bucket: BucketKey) -> WaitingCall | None: ...

    # -- the contended step
    def reserve(self, call_id: str, agent_id: str, now: float) -> bool:
        """Atomically: if the call waits unreserved and the agent is available, offer the
        call to the agent (agent RESERVED for it, call flagged ``offered_to``) and return
        True; otherwise change nothing and return False."""
        ...

    # -- timers (one per (kind, ident): a sorted set keyed by "kind:ident" on Redis)
    def schedule(self, at: float, kind: str, ident: str) -> None:
        """Arm the (kind, ident) timer at ``at``, replacing any earlier one."""
        ...

    def cancel(self, kind: str, ident: str) -> None:
        """Disarm the (kind, ident) timer if armed."""
        ...

    def pop_due(self, now: float) -> list[tuple[float, str, str]]:
        """Remove and return the timers due at ``now`` as (at, kind, ident), earliest first."""
        ...

    def next_timer(self) -> float | None: ...

    # -- live figures
    def record_handle_time(self, queue: str, seconds: float) -> None: ...

    def handle_time(self, queue: str) -> float | None:
        """The recent average handle time of the queue's calls, None before the first."""
        ...


class InMemoryRoutingStore:
    """A `RoutingStore` in this process's memory: one controller, state lost on restart.

    ``handle_time_alpha`` is the weight of the newest call in the exponentially weighted
    average handle time (0.1: roughly the last twenty calls count).

    `watch_agents` registers a callback called with every agent record written (after the
    write): how the controller copies CCR states to a store that outlives it.
    """

    def __init__(self, *, handle_time_alpha: float = 0.1) -> None:
        self._seq = 0
        self._changes = 0
        self._agents: dict[str, Agent] = {}
        self._indexed: dict[str, tuple[bool, bool, SkillSet]] = {}
        self._logged_in: dict[str, Agent] = {}
        self._available: dict[str, Agent] = {}
        self._available_by_skill: dict[str, dict[str, Agent]] = {}
        self._logged_in_by_skill: Counter[str] = Counter()
        self._waiting = WaitingList()
        self._bucket_of: dict[str, tuple[BucketKey, OrderKey]] = {}
        self._buckets: dict[BucketKey, list[OrderKey]] = {}
        self._timers: list[tuple[float, int, str, str]] = []
        self._timer_seq = 0
        self._timer_live: dict[tuple[str, str], int] = {}
        self._aht: dict[str, float] = {}
        self._alpha = handle_time_alpha
        self._agent_watchers: list[Callable[[Agent], None]] = []

    def watch_agents(self, callback: Callable[[Agent], None]) -> None:
        """Have ``callback`` called with each agent record `put_agent` writes."""
        self._agent_watchers.append(callback)

    # -- shared counters
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def changes(self) -> int:
        return self._changes

    # -- agents
    def agent(self, agent_id: str) -> Agent | None:
        return self._agents.get(agent_id)

    def put_agent(self, agent: Agent) -> None:
        agent_id = agent.agent_id
        self._agents[agent_id] = agent
        self._changes += 1
        for watcher in self._agent_watchers:
            watcher(agent)
        was = self._indexed.get(agent_id)
        now = (agent.state is AgentState.AVAILABLE, agent.logged_in, agent.skills)
        if was == now:
            return
        was_avail, was_in, was_skills = was if was is not None else (False, False, now[2])
        is_avail, is_in, skills = now
        same_skills = was_skills is skills or was_skills == skills
        if was_avail and not (is_avail and same_skills):
            del self._available[agent_id]
            by_skill = self._available_by_skill
            for skill in was_skills:
                holders = by_skill[skill]
                del holders[agent_id]
                if not holders:
                    del by_skill[skill]
        if is_avail and not (was_avail and same_skills):
            self._available[agent_id] = agent
            for skill in skills:
                self._available_by_skill.setdefault(skill, {})[agent_id] = agent
        if was_in and not (is_in and same_skills):
            del self._logged_in[agent_id]
            self._logged_in_by_skill.subtract(was_skills.keys())
        if is_in and not (was_in and same_skills):
            self._logged_in[agent_id] = agent
            self._logged_in_by_skill.update(skills.keys())
        self._indexed[agent_id] = now

    def agents(self) -> Iterable[Agent]:
        return self._agents.values()

    def logged_in(self) -> Collection[Agent]:
        return self._logged_in.values()

    def available(self) -> Collection[Agent]:
        return self._available.values()

    def available_with(self, skill: str) -> Collection[Agent]:
        found = self._available_by_skill.get(skill)
        return found.values() if found else ()

    def available_skills(self) -> AbstractSet[str]:
        return self._available_by_skill.keys()

    def logged_in_with(self, skill: str) -> int:
        return self._logged_in_by_skill[skill]

    # -- waiting calls
    def call(self, call_id: str) -> WaitingCall | None:
        return self._waiting.get(call_id)

    def add_call(self, call: WaitingCall) -> None:
        self._waiting.add(call)
        self._index_call(call)
        self._changes += 1

    def update_call(self, call: WaitingCall) -> None:
        self._waiting.update(call)
        self._unindex_call(call.call_id)
        self._index_call(call)
        self._changes += 1

    def remove_call(self, call_id: str) -> WaitingCall | None:
        if call_id not in self._waiting:
            return None
        self._unindex_call(call_id)
        self._changes += 1
        return self._waiting.remove(call_id)

    def calls(self) -> Iterable[WaitingCall]:
        return iter(self._waiting)

    def calls_in(self, queue: str) -> list[WaitingCall]:
        return self._waiting.in_queue(queue)

    def position(self, call_id: str) -> int:
        return self._waiting.position(call_id)

    def waiting_count(self, queue: str) -> int:
        return self._waiting.count(queue)

    def oldest_in(self, queue: str) -> WaitingCall | None:
        return self._waiting.oldest(queue)

    def bucket_heads(self) -> list[tuple[OrderKey, BucketKey]]:
        return [(keys[0], bucket) for bucket, keys in self._buckets.items()]

    def bucket_first(self, bucket: BucketKey) -> WaitingCall | None:
        keys = self._buckets.get(bucket)
        return self._waiting[keys[0][2]] if keys else None

    def _index_call(self, call: WaitingCall) -> None:
        bucket = bucket_of(call)
        if bucket is None:
            return
        key = call.order_key
        bisect.insort(self._buckets.setdefault(bucket, []), key)
        self._bucket_of[call.call_id] = (bucket, key)

    def _unindex_call(self, call_id: str) -> None:
        placed = self._bucket_of.pop(call_id, None)
        if placed is None:
            return
        bucket, key = placed
        keys = self._buckets[bucket]
        del keys[bisect.bisect_left(keys, key)]
        if not keys:
            del self._buckets[bucket]

    # -- the contended step
    def reserve(self, call_id: str, agent_id: str, now: float) -> bool:
        call = self._waiting.get(call_id)
        agent = self._agents.get(agent_id)
        if call is None or call.offered_to is not None:
            return False
        if agent is None or agent.state is not AgentState.AVAILABLE:
            return False
        agent.apply(AgentEvent.RESERVE, now)
        agent.call_id = call_id
        agent.call_queue = call.queue
        self.put_agent(agent)
        self.update_call(call.offered(agent_id))
        return True

    # -- timers
    def schedule(self, at: float, kind: str, ident: str) -> None:
        self._timer_seq += 1
        self._timer_live[(kind, ident)] = self._timer_seq
        heapq.heappush(self._timers, (at, self._timer_seq, kind, ident))

    def cancel(self, kind: str, ident: str) -> None:
        self._timer_live.pop((kind, ident), None)

    def pop_due(self, now: float) -> list[tuple[float, str, str]]:
        due: list[tuple[float, str, str]] = []
        timers, live = self._timers, self._timer_live
        while timers and timers[0][0] <= now:
            at, seq, kind, ident = heapq.heappop(timers)
            if live.get((kind, ident)) == seq:
                del live[(kind, ident)]
                due.append((at, kind, ident))
        return due

    def next_timer(self) -> float | None:
        timers, live = self._timers, self._timer_live
        while timers and live.get((timers[0][2], timers[0][3])) != timers[0][1]:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    # -- live figures
    def record_handle_time(self, queue: str, seconds: float) -> None:
        old = self._aht.get(queue)
        self._aht[queue] = seconds if old is None else old + self._alpha * (seconds - old)

    def handle_time(self, queue: str) -> float | None:
        return self._aht.get(queue)
