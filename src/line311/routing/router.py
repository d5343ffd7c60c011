"""The skill-based router: who takes which waiting call, and when.

Theory of operation
-------------------
The router is a pure, sans-I/O object. The edge feeds it what happened (a call arrived,
a CCR logged in, an offer was accepted or rang out, a call ended), each with the time it
happened, then asks `decide` which reservations to make; it never reads a clock and draws
randomness only from the injected `random.Random`. All changing state lives in a
`RoutingStore` (see ``store.py``), so several controllers can later share one queue::

    edge                                Router                       store
    caller pressed 0 ── call_arrived ─▶ rank, bucket, timers ──────▶ add_call
    CCR free        ── call_ended ────▶ wrap-up, then available ────▶ put_agent
    loop:           ── decide(now) ───▶ [Offer(call, agent, ...)] ─▶ reserve (CAS)
    CCR answered    ── offer_accepted ▶ call leaves the queue
    rang out        ── offer_timeout ─▶ call back in its place, CCR maybe paused
    (deadline)      ── tick(now) ─────▶ escalation, wrap-up end, max wait

*Order.* Every call gets a fixed service key on arrival, ``(rank, seq)`` with
``rank = entered_at - priority_weight * (call priority + queue priority)``: FIFO within
equal priority, each level of priority worth ``priority_weight`` seconds of waiting, and
comparable across queues, so an agent who serves several queues takes the longest
priority-weighted waiter first. The key never changes while the call waits, which is what
keeps a caller's place through escalation, rejected offers and callbacks.

*Eligibility.* Calls with identical needs share a *bucket*: (queue, language, escalation
step, extra terms). A bucket's *plan* (cached) lists the requirement alternatives: the
queue's skills plus the caller's language, one alternative per queue in reach (its own and
those added by escalation), minimums capped by escalation; and the same with the
interpreter language instead of the caller's, used when an escalation step allows it or no
logged-in CCR speaks the language at all, and only if no native speaker is free.

*Deciding.* Take the first unreserved call of every bucket into a heap by service key.
Pop the best; find the available agents that satisfy one of its alternatives (starting
from the smallest per-skill index of available agents, so the cost follows the number of
*free* agents, not all agents); let the queue's strategy pick one; reserve; push that
bucket's next call. If the first call of a bucket has no candidate, no call of that bucket
has one, so the bucket drops out of this round. A decision therefore costs about
O(buckets x free candidates), independent of the number of waiting calls. Reserving moves
the agent out of the available indexes, so no agent is offered two calls, and a reserved
call leaves its bucket (but not its queue position) until the offer is settled.

*Time.* Escalation steps, wrap-up ends and maximum waits are timers in the store;
`next_deadline` is the earliest, `tick` fires the due ones (stale timers are re-checked
against the record and ignored). `decide` applies due timers itself, so it never decides on
outdated escalation.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from line311.routing.agents import (
    Agent,
    AgentEvent,
    AgentFigures,
    AgentProfile,
    AgentState,
    AutoPausePolicy,
)
from line311.routing.errors import (
    AgentStateError,
    DuplicateCallError,
    InvalidCallError,
    QueueFullError,
    RoutingConfigError,
    StaleOfferError,
    UnknownAgentError,
    UnknownCallError,
)
from line311.routing.queues import QueueConfig, QueueSet
from line311.routing.results import Offer, QueueStats, WaitExpired
from line311.routing.skills import Requirements, SkillSet, lang, validate_skill
from line311.routing.store import BucketKey, InMemoryRoutingStore, RoutingStore
from line311.routing.strategies import DEFAULT_STRATEGIES, Strategy, StrategyContext
from line311.routing.waiting import WaitingCall, WaitingList

__all__ = ["BucketPlan", "Router"]

logger = logging.getLogger(__name__)

_STEP = "step"
_WRAPUP = "wrapup"
_MAXWAIT = "maxwait"
_FEW_FREE = 8
_FITS_CACHE_MAX = 100_000
_WORKING = (AgentState.AVAILABLE, AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)


@dataclass(frozen=True, slots=True)
class BucketPlan:
    """Who may take the calls of one bucket (see the module docstring)."""

    native: tuple[Requirements, ...]
    """Alternatives with the caller's language, the own queue's first."""
    interpreter: tuple[Requirements, ...]
    """Alternatives with the interpreter language (empty: not applicable)."""
    interpreter_by_step: bool
    """An escalation step allows the interpreter line for these calls."""
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


class Router:
    """Skill-based routing over a `RoutingStore`. See the module docstring.

    ``priority_weight``: seconds of waiting one level of priority is worth.
    ``interpreter_language``: the language of the CCRs who take interpreted calls.
    ``rng``: the only source of randomness (the ``random`` strategy); pass a seeded one.
    """

    def __init__(
        self,
        queues: QueueSet,
        strategies: Mapping[str, Strategy] = DEFAULT_STRATEGIES,
        *,
        store: RoutingStore | None = None,
        rng: random.Random | None = None,
        auto_pause: AutoPausePolicy | None = None,
        priority_weight: float = 60.0,
        interpreter_language: str = "en",
    ) -> None:
        for q in queues.values():
            if q.strategy not in strategies:
                raise RoutingConfigError(
                    f"unknown strategy {q.strategy!r}; registered: {sorted(strategies)}",
                    where=f"queue {q.name!r}",
                )
        if priority_weight < 0:
            raise RoutingConfigError("priority_weight must be >= 0")
        self.queues = queues
        self.strategies = strategies
        self.store: RoutingStore = store if store is not None else InMemoryRoutingStore()
        self.rng = rng if rng is not None else random.Random(0)
        self.auto_pause = auto_pause if auto_pause is not None else AutoPausePolicy()
        self.priority_weight = priority_weight
        self.interpreter_language = interpreter_language
        self._interpreter_skill = lang(interpreter_language)
        self._plans: dict[BucketKey, BucketPlan] = {}
        self._fits: dict[tuple[int, SkillSet], bool] = {}
        self._rr_last: dict[str, int] = {}
        self._seen = -1
        self._expired: list[WaitExpired] = []
        self._eligible_cache: dict[BucketKey, tuple[int, int, int]] = {}
        self._eligible_cache_at = -1

    # ------------------------------------------------------------------ agents

    def register_agent(self, profile: AgentProfile, now: float = 0.0) -> Agent:
        """Add a CCR to the roster (logged out), or update the profile of a known one."""
        agent = self.store.agent(profile.agent_id)
        if agent is None:
            agent = Agent(profile, seq=self.store.next_seq(), now=now)
        elif agent.profile == profile:
            return agent
        else:
            agent.profile = profile
        self.store.put_agent(agent)
        return agent

    def agent_login(self, agent: str | AgentProfile, now: float) -> None:
        """Log a CCR in (registering the profile if one is given): they become available."""
        if isinstance(agent, AgentProfile):
            self.register_agent(agent, now)
            agent = agent.agent_id
        record = self._agent(agent)
        self._apply(record, AgentEvent.LOGIN, now)
        self.store.put_agent(record)
        logger.info("agent %s logged in", agent)

    def agent_logout(self, agent_id: str, now: float) -> str | None:
        """Log a CCR out. A call being offered to them goes back to its place; its id is
        returned so the edge can stop ringing. Logging out on a call raises."""
        agent = self._agent(agent_id)
        returned = agent.call_id if agent.state is AgentState.RESERVED else None
        self._apply(agent, AgentEvent.LOGOUT, now)
        self.store.put_agent(agent)
        if returned is not None:
            self._return_call(returned, now)
        logger.info("agent %s logged out", agent_id)
        return returned

    def agent_pause(self, agent_id: str, now: float, reason: str = "break") -> None:
        """Pause a CCR (from available or wrap-up; pausing again changes the reason)."""
        agent = self._agent(agent_id)
        self._apply(agent, AgentEvent.PAUSE, now, reason=reason)
        self.store.put_agent(agent)

    def agent_resume(self, agent_id: str, now: float) -> None:
        """Make a paused CCR (or one in wrap-up, ending it early) available again."""
        agent = self._agent(agent_id)
        self._apply(agent, AgentEvent.RESUME, now)
        agent.consecutive_misses = 0
        self.store.put_agent(agent)

    def agent_figures(self, agent_id: str, now: float) -> AgentFigures:
        """Live per-agent figures."""
        return self._agent(agent_id).figures(now)

    def agent(self, agent_id: str) -> Agent:
        """The agent's record (read it; change it only through the router)."""
        return self._agent(agent_id)

    # ------------------------------------------------------------------ calls

    def call_arrived(
        self,
        call_id: str,
        queue: str,
        now: float,
        *,
        language: str | None = "en",
        topic: str | None = None,
        priority: int = 0,
        requires: Requirements | None = None,
    ) -> WaitingCall:
        """A caller asked for a CCR: put them in ``queue`` (or its overflow when full).

        Returns the waiting entry (its ``queue`` says where it went). Raises
        `UnknownQueueError`, `DuplicateCallError`, `InvalidCallError`, `QueueFullError`.
        """
        store = self.store
        if store.call(call_id) is not None:
            raise DuplicateCallError(call_id)
        q = self.queues[queue]
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidCallError(f"call {call_id!r}: priority must be an integer")
        if language is not None:
            try:
                validate_skill(f"lang:{language}")
            except RoutingConfigError:
                raise InvalidCallError(
                    f"call {call_id!r}: bad language code {language!r}"
                ) from None
        while q.max_length is not None and store.waiting_count(q.name) >= q.max_length:
            if q.overflow is None:
                raise QueueFullError(queue)
            q = self.queues[q.overflow]
        entry = WaitingCall(
            call_id=call_id,
            queue=q.name,
            entered_at=now,
            seq=store.next_seq(),
            rank=now - self.priority_weight * (priority + q.priority),
            language=language,
            topic=topic,
            priority=priority,
            step=q.steps_at(0.0),
            requires=tuple((r.skill, r.min_level) for r in requires.all_of) if requires else (),
        )
        store.add_call(entry)
        self._schedule_step(entry, q)
        if q.max_wait is not None:
            store.schedule(now + q.max_wait, _MAXWAIT, call_id)
        logger.info(
            "call %s entered queue %s (language %s, priority %s)",
            call_id,
            q.name,
            language,
            priority,
        )
        return entry

    def call_left(self, call_id: str, now: float) -> str | None:
        """The caller hung up while waiting (an abandon) or a callback was cancelled.

        Returns the agent whose ringing offer was cancelled (the edge stops ringing), if any.
        """
        call = self._remove_call(call_id)
        if call is None:
            raise UnknownCallError(call_id)
        logger.info("call %s left queue %s after %.1f s", call_id, call.queue, call.waited(now))
        if call.offered_to is None:
            return None
        agent = self.store.agent(call.offered_to)
        if agent is not None and agent.state is AgentState.RESERVED and agent.call_id == call_id:
            self._apply(agent, AgentEvent.CANCEL, now)
            self.store.put_agent(agent)
        return call.offered_to

    def request_callback(self, call_id: str, now: float) -> WaitingCall:
        """The caller asked to be called back: the entry keeps its place, flagged callback."""
        call = self._call(call_id)
        flagged = WaitingList.flag_callback(call, now)
        if flagged is not call:
            self.store.update_call(flagged)
            logger.info("call %s will be called back (position kept)", call_id)
        return flagged

    def readmit_callback(self, expired: WaitExpired, now: float) -> WaitingCall:
        """A caller whose maximum wait ran out asked to be called back: their call takes its
        old place again (same service key), flagged callback, so no wait limit applies.

        Raises `InvalidCallError` when ``expired`` carries no entry, `DuplicateCallError`
        when the call is back in a queue already.
        """
        entry = expired.entry
        if entry is None:
            raise InvalidCallError(f"call {expired.call_id!r}: no queue entry to readmit")
        if self.store.call(entry.call_id) is not None:
            raise DuplicateCallError(entry.call_id)
        q = self.queues[entry.queue]
        flagged = WaitingList.flag_callback(entry.offered(None), now)
        self.store.add_call(flagged)
        self._schedule_step(flagged, q)
        logger.info("call %s readmitted to %s for a callback (place kept)", entry.call_id, q.name)
        return flagged

    def waiting_call(self, call_id: str) -> WaitingCall:
        return self._call(call_id)

    # ------------------------------------------------------------------ offers

    def offer_accepted(self, call_id: str, agent_id: str, now: float) -> WaitingCall:
        """The CCR answered: the call leaves the queue (returned, with its wait)."""
        call, agent = self._reservation(call_id, agent_id)
        self._apply(agent, AgentEvent.ACCEPT, now)
        self.store.put_agent(agent)
        self._remove_call(call_id)
        logger.info("call %s answered by %s after %.1f s", call_id, agent_id, call.waited(now))
        return call

    def offer_rejected(self, call_id: str, agent_id: str, now: float) -> bool:
        """The CCR declined: the call goes back to its place. Returns True if the CCR was
        auto-paused (when the policy counts rejections)."""
        return self._offer_failed(call_id, agent_id, now, AgentEvent.REJECT)

    def offer_timeout(self, call_id: str, agent_id: str, now: float) -> bool:
        """The offer rang out: the call goes back to its place. Returns True if the CCR was
        auto-paused."""
        return self._offer_failed(call_id, agent_id, now, AgentEvent.TIMEOUT)

    def call_ended(self, agent_id: str, now: float) -> None:
        """Either side hung up a connected call: the CCR starts the queue's wrap-up."""
        agent = self._agent(agent_id)
        if agent.state is not AgentState.ON_CALL:
            raise AgentStateError(agent_id, agent.state.value, AgentEvent.HANG_UP.value)
        queue = agent.call_queue
        started = agent.call_started_at if agent.call_started_at is not None else now
        self._apply(agent, AgentEvent.HANG_UP, now)
        agent.calls_handled += 1
        wrapup = (
            self.queues[queue].wrapup_seconds if queue is not None and queue in self.queues else 0.0
        )
        if queue is not None:
            self.store.record_handle_time(queue, max(0.0, now - started) + wrapup)
        if wrapup > 0:
            agent.wrapup_until = now + wrapup
            self.store.schedule(agent.wrapup_until, _WRAPUP, agent_id)
        else:
            self._apply(agent, AgentEvent.WRAP_UP_DONE, now)
        self.store.put_agent(agent)

    # ------------------------------------------------------------------ time

    def next_deadline(self) -> float | None:
        """When `tick` next has work (escalation, wrap-up end, max wait), or None."""
        return self.store.next_timer()

    def tick(self, now: float) -> list[WaitExpired]:
        """Fire due timers; return the calls that waited past their queue's ``max_wait``."""
        self._advance(now)
        expired, self._expired = self._expired, []
        return expired

    def _advance(self, now: float) -> None:
        store = self.store
        for at, kind, ident in store.pop_due(now):
            if kind == _WRAPUP:
                agent = store.agent(ident)
                if (
                    agent is not None
                    and agent.state is AgentState.WRAP_UP
                    and agent.wrapup_until is not None
                    and agent.wrapup_until <= now
                ):
                    self._apply(agent, AgentEvent.WRAP_UP_DONE, at)
                    store.put_agent(agent)
            elif kind == _STEP:
                call = store.call(ident)
                if call is not None:
                    q = self.queues[call.queue]
                    step = q.steps_at(now - call.entered_at)
                    if step > call.step:
                        call = replace(call, step=step)
                        store.update_call(call)
                        logger.debug("call %s escalated to step %s", ident, step)
                    self._schedule_step(call, q)
            elif kind == _MAXWAIT:
                call = store.call(ident)
                if call is None or call.callback:
                    continue
                if call.offered_to is not None:
                    continue  # re-armed by _return_call if the offer fails
                self._remove_call(ident)
                self._expired.append(WaitExpired(ident, call.queue, call.waited(now), call))
                logger.info(
                    "call %s waited %.1f s in %s: max wait",
                    ident,
                    now - call.entered_at,
                    call.queue,
                )

    # ------------------------------------------------------------------ deciding

    def decide(self, now: float) -> list[Offer]:
        """Make every reservation that can be made now; return them as offers to ring.

        Never offers an agent two calls, nor a call to two agents. Calls `tick`'s work
        first (its `WaitExpired` results are kept for the next `tick`).
        """
        self._advance(now)
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
        if plan.interpreter_by_step:
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

    # ------------------------------------------------------------------ live figures

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call in its queue."""
        self._call(call_id)
        return self.store.position(call_id)

    def estimated_wait(self, call_id: str, now: float) -> float | None:
        """Seconds this call can expect to wait, from live data; None if nobody can take it.

        ``max(0, position - free) * handle_time / working``, where *working* counts the
        logged-in, unpaused CCRs eligible for the call as it stands (escalation included),
        *free* those of them available now, and *handle_time* the queue's recent average
        (the queue's ``default_handle_time`` until calls have been handled). CCRs shared
        with other queues make it optimistic; it is an announcement, not a promise.
        """
        call = self._call(call_id)
        q = self.queues[call.queue]
        bucket: BucketKey = (call.queue, call.language, call.step, call.requires)
        working, free = self._eligible_counts(bucket, call)
        if working == 0:
            return None
        aht = self.store.handle_time(q.name) or q.default_handle_time
        ahead = max(0, self.store.position(call_id) - free)
        return ahead * aht / working

    def _eligible_counts(self, bucket: BucketKey, call: WaitingCall) -> tuple[int, int]:
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
            if agent.state in _WORKING and any(r.matches(agent.skills) for r in alternatives):
                working += 1
                free += agent.state is AgentState.AVAILABLE
        self._eligible_cache[bucket] = (working, free, version)
        return working, free

    def queue_stats(self, queue: str, now: float) -> QueueStats:
        """Real-time figures for ``queue``."""
        q = self.queues[queue]
        calls = self.store.calls_in(q.name)
        oldest = self.store.oldest_in(q.name)
        eligible = available = working = on_call = paused = 0
        for agent in self.store.logged_in():
            if not q.requires.matches(agent.skills):
                continue
            eligible += 1
            state = agent.state
            available += state is AgentState.AVAILABLE
            working += state in _WORKING
            on_call += state is AgentState.ON_CALL
            paused += state is AgentState.PAUSED
        return QueueStats(
            queue=q.name,
            waiting=len(calls),
            callbacks_waiting=sum(1 for c in calls if c.callback),
            longest_wait=oldest.waited(now) if oldest is not None else 0.0,
            eligible_agents=eligible,
            available_agents=available,
            working_agents=working,
            on_call_agents=on_call,
            paused_agents=paused,
            handle_time=self.store.handle_time(q.name) or q.default_handle_time,
        )

    # ------------------------------------------------------------------ helpers

    def _agent(self, agent_id: str) -> Agent:
        agent = self.store.agent(agent_id)
        if agent is None:
            raise UnknownAgentError(agent_id)
        return agent

    def _call(self, call_id: str) -> WaitingCall:
        call = self.store.call(call_id)
        if call is None:
            raise UnknownCallError(call_id)
        return call

    def _apply(
        self, agent: Agent, event: AgentEvent, now: float, *, reason: str | None = None
    ) -> None:
        was = agent.state
        agent.apply(event, now, reason=reason)
        if was is AgentState.WRAP_UP and agent.state is not AgentState.WRAP_UP:
            self.store.cancel(_WRAPUP, agent.agent_id)

    def _remove_call(self, call_id: str) -> WaitingCall | None:
        call = self.store.remove_call(call_id)
        if call is not None:
            self.store.cancel(_STEP, call_id)
            self.store.cancel(_MAXWAIT, call_id)
        return call

    def _schedule_step(self, call: WaitingCall, q: QueueConfig) -> None:
        at = q.next_step_at(call.entered_at, call.step)
        if at is not None:
            self.store.schedule(at, _STEP, call.call_id)

    def _reservation(self, call_id: str, agent_id: str) -> tuple[WaitingCall, Agent]:
        call = self.store.call(call_id)
        if call is None:
            raise StaleOfferError(call_id, agent_id, "the call is no longer waiting")
        if call.offered_to != agent_id:
            raise StaleOfferError(call_id, agent_id, f"the call is offered to {call.offered_to!r}")
        agent = self._agent(agent_id)
        if agent.state is not AgentState.RESERVED or agent.call_id != call_id:
            raise StaleOfferError(call_id, agent_id, f"the agent is {agent.state.value}")
        return call, agent

    def _offer_failed(self, call_id: str, agent_id: str, now: float, event: AgentEvent) -> bool:
        call, agent = self._reservation(call_id, agent_id)
        self._apply(agent, event, now)
        policy = self.auto_pause
        paused = False
        if event is AgentEvent.TIMEOUT or policy.count_rejections:
            agent.consecutive_misses += 1
            agent.missed_offers += 1
            if policy.after_misses and agent.consecutive_misses >= policy.after_misses:
                self._apply(agent, AgentEvent.PAUSE, now, reason=policy.reason)
                paused = True
                logger.info(
                    "agent %s paused (%s) after %s unanswered offers",
                    agent_id,
                    policy.reason,
                    agent.consecutive_misses,
                )
        self.store.put_agent(agent)
        self._return_call(call.call_id, now)
        return paused

    def _return_call(self, call_id: str, now: float) -> None:
        call = self.store.call(call_id)
        if call is None:
            return
        self.store.update_call(call.offered(None))
        q = self.queues[call.queue]
        if q.max_wait is not None and not call.callback and call.waited(now) >= q.max_wait:
            self.store.schedule(now, _MAXWAIT, call_id)
        logger.debug("call %s back in its place in %s", call_id, call.queue)
