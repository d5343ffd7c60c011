"""Deciding which CCR takes which waiting call (pure; the `Router` owns one `Decider`).

*Eligibility.* Calls with identical needs share a *bucket*: (queue, language, escalation
step, extra terms). A bucket's *plan* (cached) lists the requirement alternatives: the
queue's skills plus the caller's language, one alternative per queue in reach (its own and
those added by escalation), minimums capped by escalation; and the same with the
interpreter language instead of the caller's, used when an escalation step allows it or no
logged-in CCR speaks the language at all, and only if no native speaker is free. A call of
`OTHER_LANGUAGE` (the caller speaks none of the IVR's languages) may take the interpreter
line from the start, whatever the queue's escalation and ``interpreter_when_unstaffed`` say.

*Deciding.* Take the first unreserved call of every bucket into a heap by service key.
Pop the best; find the available agents that satisfy one of its alternatives (starting
from the smallest per-skill index of available agents, so the cost follows the number of
*free* agents, not all agents); let the queue's strategy pick one; reserve; push that
bucket's next call. If the first call of a bucket has no candidate, no call of that bucket
has one, so the bucket drops out of this round. A decision therefore costs about
O(buckets x free candidates), independent of the number of waiting calls. Reserving moves
the agent out of the available indexes, so no agent is offered two calls, and a reserved
call leaves its bucket (but not its queue position) until the offer is settled.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from line311.call.values import OTHER_LANGUAGE
from line311.routing.agents import Agent, AgentState
from line311.routing.queues import QueueSet
from line311.routing.results import Offer
from line311.routing.skills import Requirements, SkillSet, lang
from line311.routing.store import BucketKey, RoutingStore
from line311.routing.strategies import Strategy, StrategyContext
from line311.routing.waiting import WaitingCall

__all__ = ["WORKING", "BucketPlan", "Decider"]

_FEW_FREE = 8
_FITS_CACHE_MAX = 100_000
WORKING = (AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)
"""The states of a CCR who is logged in and not paused."""


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """Who may take the calls of one bucket (see the module docstring)."""

    native: tuple[Requirements, ...]
    """Alternatives with the caller's language, the own queue's first."""
    interpreter: tuple[Requirements, ...]
    """Alternatives with the interpreter language (empty: not applicable)."""
    interpreter_by_step: bool
    """An escalation step allows the interpreter line for these calls."""
    interpreter_always: bool
    """The call's language is `OTHER_LANGUAGE`: the interpreter line from the start."""
    language_skill: str | None
    strategy: str
    skill_sets: tuple[frozenset[str], ...]
    """The skills of each alternative (native and interpreter): a cheap pre-check."""
    pid: int = 0
    """A number unique to this plan within its router (a cache key)."""

    def maybe_viable(self, free_skills: AbstractSet[str]) -> bool:
        """False when no alternative can match, judging by skill names alone."""
        for names in self.skill_sets:  # noqa: SIM110 - hot path
            if names <= free_skills:
                return True
        return False


class Decider:
    """The reservations of one router: bucket plans, candidates, the strategy's pick."""

    def __init__(
        self,
        queues: QueueSet,
        strategies: Mapping[str, Strategy],
        store: RoutingStore,
        rng: random.Random,
        interpreter_language: str,
    ) -> None:
        self.queues = queues
        self.strategies = strategies
        self.store = store
        self.rng = rng
        self.interpreter_language = interpreter_language
        self._plans: dict[BucketKey, BucketPlan] = {}
        self._fits: dict[tuple[int, SkillSet], bool] = {}
        self._rr_last: dict[str, int] = {}
        self._seen = -1
        self._eligible_cache: dict[BucketKey, tuple[int, int, int]] = {}
        self._eligible_cache_at = -1

    def decide(self, now: float) -> list[Offer]:
        """Make every reservation that can be made now; return them as offers to ring.

        Never offers an agent two calls, nor a call to two agents (the router applies due
        timers first)."""
        store = self.store
        if store.changes() == self._seen:
            return []
        offers: list[Offer] = []
        free = len(store.available())
        free_skills = store.available_skills()
        heads = store.bucket_heads() if free else []
        heapq.heapify(heads)
        while heads and free:
            _, bucket = heapq.heappop(heads)
            plan = self.plan(bucket)
            if not plan.maybe_viable(free_skills):
                continue
            call = store.bucket_first(bucket)
            if call is None:
                continue
            choice = self._choose(call, plan, now)
            if choice is None:
                continue
            agent, interpreter = choice
            if not store.reserve(call.call_id, agent.agent_id, now):
                continue  # lost a race with another controller: settled next round
            free -= 1
            q = self.queues[call.queue]
            self._rr_last[q.name] = agent.seq
            offers.append(
                Offer(
                    call_id=call.call_id,
                    agent_id=agent.agent_id,
                    interpreter=interpreter,
                    callback=call.callback,
                    queue=call.queue,
                    endpoint=agent.profile.endpoint,
                    language=call.language,
                    topic=call.topic,
                    waited=call.waited(now),
                    step=call.step,
                )
            )
            nxt = store.bucket_first(bucket)
            if nxt is not None:
                heapq.heappush(heads, (nxt.order_key, bucket))
        self._seen = store.changes()
        return offers

    def plan(self, bucket: BucketKey) -> BucketPlan:
        """The (cached) eligibility plan of a bucket."""
        found = self._plans.get(bucket)
        if found is None:
            found = self._plans[bucket] = self._make_plan(bucket)
        return found

    def _make_plan(self, bucket: BucketKey) -> BucketPlan:
        """See the module docstring (*Eligibility*)."""
        queue, language, step, extra = bucket
        q = self.queues[queue]
        applied = q.escalation[:step]
        caps = [s.min_proficiency for s in applied if s.min_proficiency is not None]
        cap = min(caps) if caps else None
        names = [queue]
        for s in applied:
            names.extend(n for n in s.add_queues if n not in names)
        extra_req = Requirements.of(*extra)

        def build(code: str | None) -> tuple[Requirements, ...]:
            term = (
                Requirements.of((lang(code), q.language_min_proficiency))
                if code
                else Requirements()
            )
            out: list[Requirements] = []
            for name in names:
                req = self.queues[name].requires.and_(term).and_(extra_req)
                if cap is not None:
                    req = req.capped(cap)
                if req not in out:
                    out.append(req)
            return tuple(out)

        needs_interpreter = language is not None and language != self.interpreter_language
        native = build(language)
        interpreter = build(self.interpreter_language) if needs_interpreter else ()
        return BucketPlan(
            native=native,
            interpreter=interpreter,
            interpreter_by_step=any(s.interpreter for s in applied),
            interpreter_always=language == OTHER_LANGUAGE,
            language_skill=lang(language) if language else None,
            strategy=q.strategy,
            skill_sets=tuple(frozenset(r.skills) for r in native + interpreter),
            pid=len(self._plans),
        )

    def _choose(self, call: WaitingCall, plan: BucketPlan, now: float) -> tuple[Agent, bool] | None:
        interpreter = False
        candidates = self._candidates(plan.native, 2 * plan.pid)
        need = plan.native[0]
        if not candidates and plan.interpreter and self._interpreter_allowed(plan, call):
            candidates = self._candidates(plan.interpreter, 2 * plan.pid + 1)
            need = plan.interpreter[0]
            interpreter = True
        if not candidates:
            return None
        strategy = self.strategies[plan.strategy]
        ctx = StrategyContext(now=now, rng=self.rng, last_seq=self._rr_last.get(call.queue))
        return strategy(candidates, need, ctx), interpreter

    def _interpreter_allowed(self, plan: BucketPlan, call: WaitingCall) -> bool:
        if plan.interpreter_by_step or plan.interpreter_always:
            return True
        return (
            self.queues[call.queue].interpreter_when_unstaffed
            and plan.language_skill is not None
            and self.store.logged_in_with(plan.language_skill) == 0
        )

    def _candidates(self, alternatives: Sequence[Requirements], cache_key: int) -> list[Agent]:
        free = self.store.available()
        if len(free) <= _FEW_FREE:
            # Under load one or two CCRs are free at a time and the same skill sets come
            # back again and again: remember, per plan and skill set, whether they fit.
            fits = self._fits
            out: list[Agent] = []
            for agent in free:
                key = (cache_key, agent.skills)
                ok = fits.get(key)
                if ok is None:
                    ok = any(req.matches(agent.skills) for req in alternatives)
                    if len(fits) >= _FITS_CACHE_MAX:
                        fits.clear()
                    fits[key] = ok
                if ok:
                    out.append(agent)
            return out
        if len(alternatives) == 1:
            return self._matching(alternatives[0])
        seen: dict[str, Agent] = {}
        for req in alternatives:
            for agent in self._matching(req):
                seen.setdefault(agent.agent_id, agent)
        return list(seen.values())

    def _matching(self, req: Requirements) -> list[Agent]:
        store = self.store
        if not req.all_of:
            return list(store.available())
        pool = min((store.available_with(r.skill) for r in req.all_of), key=len)
        matches = req.matches
        return [a for a in pool if matches(a.skills)]

    def eligible_counts(self, bucket: BucketKey, call: WaitingCall) -> tuple[int, int]:
        """(working, free): the logged-in, unpaused CCRs eligible for ``call``, and how many
        of them are available now (cached until the store changes)."""
        version = self.store.changes()
        if version != self._eligible_cache_at:
            self._eligible_cache.clear()
            self._eligible_cache_at = version
        cached = self._eligible_cache.get(bucket)
        if cached is not None:
            return cached[0], cached[1]
        plan = self.plan(bucket)
        alternatives = list(plan.native)
        if plan.interpreter and self._interpreter_allowed(plan, call):
            alternatives.extend(plan.interpreter)
        working = free = 0
        for agent in self.store.logged_in():
            if agent.state in WORKING and any(r.matches(agent.skills) for r in alternatives):
                working += 1
                free += agent.state is AgentState.AVAILABLE
        self._eligible_cache[bucket] = (working, free, version)
        return working, free
