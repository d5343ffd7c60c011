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

*Eligibility and deciding*: see `line311.routing.decide` (buckets, plans, candidates).

*Time.* Escalation steps, wrap-up ends and maximum waits are timers in the store;
`next_deadline` is the earliest, `tick` fires the due ones (stale timers are re-checked
against the record and ignored). `decide` applies due timers itself, so it never decides on
outdated escalation.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import replace

from line311.routing.agents import (
    AgentEvent,
    AgentState,
    AutoPausePolicy,
)
from line311.routing.decide import BucketPlan, Decider
from line311.routing.errors import (
    DuplicateCallError,
    InvalidCallError,
    QueueFullError,
    RoutingConfigError,
    UnknownCallError,
)
from line311.routing.figures import queue_stats
from line311.routing.queues import QueueConfig, QueueSet
from line311.routing.results import Offer, QueueStats, WaitExpired
from line311.routing.skills import Requirements, validate_skill
from line311.routing.staff import UNREACHABLE_TIMER, WRAPUP_TIMER, AgentSide
from line311.routing.store import BucketKey, InMemoryRoutingStore, RoutingStore
from line311.routing.strategies import DEFAULT_STRATEGIES, Strategy
from line311.routing.waiting import WaitingCall, WaitingList

__all__ = ["BucketPlan", "Router"]

logger = logging.getLogger(__name__)

_STEP = "step"
_MAXWAIT = "maxwait"


class Router(AgentSide):
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
        self._expired: list[WaitExpired] = []
        self._decider = Decider(queues, strategies, self.store, self.rng, interpreter_language)

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
        resumed: bool = False,
    ) -> WaitingCall:
        """A caller asked for a CCR: put them in ``queue`` (or its overflow when full).

        ``resumed``: the call was in ``queue`` already (a restarted controller puts it back,
        as of its entry time): it goes back there however long the queue is, since callbacks
        taken at max wait keep their place past ``max_length``.

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
        while (
            not resumed and q.max_length is not None and store.waiting_count(q.name) >= q.max_length
        ):
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

    def expired_again(
        self,
        call_id: str,
        queue: str,
        entered_at: float,
        now: float,
        *,
        language: str | None = "en",
        topic: str | None = None,
        priority: int = 0,
    ) -> WaitExpired:
        """A call whose maximum wait had run out when its controller stopped, rebuilt by the
        next one (its max-wait offer is still open): its entry as it left the line, ranked as
        of ``entered_at``, for `readmit_callback` if the caller asks to be called back. The
        call is not in line. Raises what `call_arrived` raises."""
        entry = self.call_arrived(
            call_id, queue, entered_at, language=language, topic=topic, priority=priority,
            resumed=True,
        )  # fmt: skip
        self._remove_call(call_id)
        return WaitExpired(call_id, entry.queue, max(0.0, now - entered_at), entry)

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
            if kind == WRAPUP_TIMER:
                agent = store.agent(ident)
                if (
                    agent is not None
                    and agent.state is AgentState.WRAP_UP
                    and agent.wrapup_until is not None
                    and agent.wrapup_until <= now
                ):
                    self._apply(agent, AgentEvent.WRAP_UP_DONE, at)
                    store.put_agent(agent)
            elif kind == UNREACHABLE_TIMER:
                if self.end_unreachable_hold(ident, at):
                    logger.info("agent %s: unreachable hold over, available again", ident)
            elif kind == _STEP:
                call = store.call(ident)
                if call is not None:
                    q = self.queues[call.queue]
                    step = q.steps_due(call.entered_at, now)
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
        return self._decider.decide(now)

    def plan(self, bucket: BucketKey) -> BucketPlan:
        """The (cached) eligibility plan of a bucket."""
        return self._decider.plan(bucket)

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
        working, free = self._decider.eligible_counts(bucket, call)
        if working == 0:
            return None
        aht = self.store.handle_time(q.name) or q.default_handle_time
        ahead = max(0, self.store.position(call_id) - free)
        return ahead * aht / working

    def queue_stats(self, queue: str, now: float) -> QueueStats:
        """Real-time figures for ``queue``."""
        return queue_stats(self.queues, self.store, queue, now)

    # ------------------------------------------------------------------ helpers

    def _call(self, call_id: str) -> WaitingCall:
        call = self.store.call(call_id)
        if call is None:
            raise UnknownCallError(call_id)
        return call

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

    def _return_call(self, call_id: str, now: float) -> None:
        call = self.store.call(call_id)
        if call is None:
            return
        self.store.update_call(call.offered(None))
        q = self.queues[call.queue]
        if q.max_wait is not None and not call.callback and call.waited(now) >= q.max_wait:
            self.store.schedule(now, _MAXWAIT, call_id)
        logger.debug("call %s back in its place in %s", call_id, call.queue)
