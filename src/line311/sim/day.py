"""One simulated day: the CCR roster (`generate_agents`) and the event loop `_Day` that
drives the real `Router` and `IntervalAccumulator` (pure; internal to `line311.sim.simulate`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence

from line311.queue.errors import InconsistentEventError
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.intervals import IntervalAccumulator
from line311.routing.agents import AgentProfile, AgentState
from line311.routing.queues import QueueSet
from line311.routing.router import Router
from line311.routing.skills import MAX_PROFICIENCY, SkillSet
from line311.sim.model import (
    AGENT_LANGUAGES,
    DAY,
    SimConfig,
    Staffing,
)

__all__ = [
    "generate_agents",
]


def _queue_skills(queues: QueueSet) -> dict[str, int]:
    """Every skill the queues ask for, with the highest minimum asked."""
    skills: dict[str, int] = {}
    for q in queues.values():
        for req in q.requires.all_of:
            skills[req.skill] = max(skills.get(req.skill, 0), req.min_level)
    return skills


def generate_agents(
    count: int,
    queues: QueueSet,
    rng: random.Random,
    agent_languages: Sequence[tuple[str, float]] = AGENT_LANGUAGES,
) -> tuple[AgentProfile, ...]:
    """``count`` CCRs who can serve every queue, all speaking English, some a second language.

    Languages are dealt so that *every prefix* of the roster has about the intended mix
    (each next CCR gets the language furthest behind its share), so a plan staffing the
    first N agents keeps the mix at any N. Topic levels are random between the queue's
    minimum (at least 3) and 5.
    """
    topics = _queue_skills(queues)
    shares = [(code, w) for code, w in agent_languages if w > 0]
    counts = dict.fromkeys((c for c, _ in shares), 0)
    english_only = max(0.0, 1.0 - sum(w for _, w in shares))
    alone = 0
    out: list[AgentProfile] = []
    for k in range(count):
        best, deficit = None, english_only * (k + 1) - alone
        for code, w in shares:
            d = w * (k + 1) - counts[code]
            if d > deficit:
                best, deficit = code, d
        levels = {
            skill: rng.randint(min(MAX_PROFICIENCY, max(3, low)), MAX_PROFICIENCY)
            for skill, low in topics.items()
            if not skill.startswith("lang:")
        }
        if best is None:
            alone += 1
            levels["lang:en"] = MAX_PROFICIENCY
        else:
            counts[best] += 1
            levels["lang:en"] = MAX_PROFICIENCY - 1
            levels[f"lang:{best}"] = MAX_PROFICIENCY
        agent_id = f"sim{k + 1:04d}"
        out.append(AgentProfile(agent_id, agent_id, f"PJSIP/{agent_id}", SkillSet(levels)))
    return tuple(out)


# ------------------------------------------------------------------ the run

_ARRIVE, _STAFF, _ANSWER, _END, _FREE, _ABANDON = range(6)
_WAITING, _RINGING, _ANSWERED, _DONE, _GONE = range(5)


class _Day:
    """The mutable state of one run (internal; `simulate` is the API)."""

    def __init__(
        self, config: SimConfig, queues: QueueSet, staffing: Staffing, rng: random.Random
    ) -> None:
        self.config = config
        self.queues = queues
        self.staffing = staffing
        self.rng = rng
        self.t0 = config.day_start
        self.router = Router(queues, rng=random.Random(rng.getrandbits(64)))
        self.acc = IntervalAccumulator(config.policy)
        self.heap: list[tuple[float, int, int, int, str]] = []
        self.seq = 0
        self.events = self.decisions = self.offers = 0
        self.unoffered = 0
        self.dirty = False
        # per call (index = call number)
        self.status: list[int] = []
        self.queue_of: list[str] = []
        self.lang_of: list[str] = []
        self.talk_of: list[float] = []
        self.agent_of: list[str] = []
        self.enter_of: list[float] = []
        self.interpreted: list[bool] = []
        self.answer_wait: dict[str, float] = {}
        # agents
        self.profiles = staffing.profiles
        self.index_of = {p.agent_id: i for i, p in enumerate(self.profiles)}
        self.on_duty: set[int] = set()
        self.leaving: set[int] = set()
        self.ever: set[int] = set()
        self.activity: dict[str, AgentActivity] = {}
        self.peak = 0
        self.busy = 0
        self.busy_peak = 0
        self.wrapup = {name: q.wrapup_seconds for name, q in queues.items()}
        self.talk_mean = {name: config.aht - w for name, w in self.wrapup.items()}
        names = list(queues)
        self.topic_queue = {t: (t if t in queues else names[0]) for t, _ in config.topics}

    def push(self, at: float, kind: int, call: int = -1, agent: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, call, agent))

    def set_activity(self, agent: str, state: AgentActivity, at: float) -> None:
        if self.activity.get(agent) is not state:
            self.activity[agent] = state
            self.acc.feed(AgentStateChanged(agent, state, at))

    # -- people
    def talk_time(self, queue: str) -> float:
        mean = self.talk_mean[queue]
        if self.config.talk_distribution == "lognormal":
            s2 = math.log1p(self.config.talk_cv**2)
            return self.rng.lognormvariate(math.log(mean) - s2 / 2, math.sqrt(s2))
        return self.rng.expovariate(1.0 / mean)

    def staff(self, target: int, at: float) -> None:
        working = len(self.on_duty) - len(self.leaving)
        if target > working:
            need = target - working
            for i in sorted(self.leaving)[:need]:
                self.leaving.discard(i)
                need -= 1
            k = 0
            while need > 0 and k < len(self.profiles):
                if k not in self.on_duty:
                    self.login(k, at)
                    need -= 1
                k += 1
        elif target < working:
            excess = working - target
            for i in sorted(self.on_duty - self.leaving, reverse=True)[:excess]:
                if self.router.agent(self.profiles[i].agent_id).state is AgentState.AVAILABLE:
                    self.logout(i, at)
                else:
                    self.leaving.add(i)
        self.peak = max(self.peak, len(self.on_duty))

    def login(self, i: int, at: float) -> None:
        profile = self.profiles[i]
        self.router.agent_login(profile, at)
        self.on_duty.add(i)
        self.ever.add(i)
        self.set_activity(profile.agent_id, AgentActivity.AVAILABLE, at)
        self.dirty = True

    def logout(self, i: int, at: float) -> None:
        agent_id = self.profiles[i].agent_id
        self.router.agent_logout(agent_id, at)
        self.on_duty.discard(i)
        self.leaving.discard(i)
        self.set_activity(agent_id, AgentActivity.LOGGED_OUT, at)

    def agent_free(self, agent_id: str, at: float) -> None:
        """The router made the agent available again: go home, or take the next call."""
        i = self.index_of[agent_id]
        if i in self.leaving:
            self.logout(i, at)
        else:
            self.set_activity(agent_id, AgentActivity.AVAILABLE, at)
            self.dirty = True

    # -- calls
    def arrive(self, n: int, at: float, language: str, topic: str) -> None:
        cfg, rng = self.config, self.rng
        queue = self.topic_queue[topic]
        cid = f"c{n}"
        entry = self.router.call_arrived(cid, queue, at, language=language, topic=queue)
        queue = entry.queue
        self.status.append(_WAITING)
        self.queue_of.append(queue)
        self.lang_of.append(language)
        self.talk_of.append(self.talk_time(queue))
        self.agent_of.append("")
        self.enter_of.append(at)
        self.interpreted.append(False)
        self.acc.feed(CallEnqueued(cid, queue, at, language=language, topic=queue))
        self.unoffered += 1
        self.dirty = True
        if cfg.patience is not None:
            self.push(at + rng.expovariate(1.0 / cfg.patience), _ABANDON, n)

    def decide(self, at: float) -> None:
        self.dirty = False
        if not self.unoffered or not self.router.store.available():
            return
        self.decisions += 1
        ring = self.config.ring
        for offer in self.router.decide(at):
            n = int(offer.call_id[1:])
            if self.activity.get(offer.agent_id) is not AgentActivity.AVAILABLE:
                raise InconsistentEventError(f"{offer.agent_id} offered a second call: {offer}")
            if self.status[n] != _WAITING:
                raise InconsistentEventError(f"call offered twice or after it ended: {offer}")
            self.status[n] = _RINGING
            self.agent_of[n] = offer.agent_id
            self.interpreted[n] = offer.interpreter
            self.unoffered -= 1
            self.offers += 1
            self.set_activity(offer.agent_id, AgentActivity.RESERVED, at)
            self.push(at + ring, _ANSWER, n, offer.agent_id)

    def answer(self, n: int, agent: str, at: float) -> None:
        if self.status[n] != _RINGING or self.agent_of[n] != agent:
            return  # the caller hung up while it rang
        cid, queue = f"c{n}", self.queue_of[n]
        self.router.offer_accepted(cid, agent, at)
        self.status[n] = _ANSWERED
        self.acc.feed(CallAnswered(cid, queue, at, agent))
        lang = self.lang_of[n]
        self.answer_wait[lang] = self.answer_wait.get(lang, 0.0) + at - self.enter_of[n]
        self.set_activity(agent, AgentActivity.ON_CALL, at)
        self.busy += 1
        self.busy_peak = max(self.busy_peak, self.busy)
        self.push(at + self.talk_of[n], _END, n, agent)

    def end(self, n: int, agent: str, at: float) -> None:
        queue = self.queue_of[n]
        self.router.call_ended(agent, at)
        self.status[n] = _DONE
        self.busy -= 1
        wrapup = self.wrapup[queue]
        self.acc.feed(CallCompleted(f"c{n}", queue, at, self.talk_of[n], 0.0, wrapup))
        if wrapup > 0:
            self.set_activity(agent, AgentActivity.WRAP_UP, at)
            self.push(at + wrapup, _FREE, n, agent)
        else:
            self.agent_free(agent, at)

    def abandon(self, n: int, at: float) -> None:
        status = self.status[n]
        if status not in (_WAITING, _RINGING):
            return
        cid = f"c{n}"
        returned = self.router.call_left(cid, at)
        self.status[n] = _GONE
        self.acc.feed(CallAbandoned(cid, self.queue_of[n], at))
        if status == _WAITING:
            self.unoffered -= 1
        if returned is not None:
            self.agent_free(returned, at)

    def tick(self, at: float) -> None:
        for expired in self.router.tick(at):
            n = int(expired.call_id[1:])
            if self.status[n] == _WAITING:
                self.unoffered -= 1
            self.status[n] = _GONE
            self.acc.feed(CallTimedOut(expired.call_id, expired.queue, at))
        self.dirty = True

    def run(
        self, arrivals: Sequence[float], languages: Sequence[str], topics: Sequence[str]
    ) -> float:
        cfg, t0 = self.config, self.t0
        counts = self.staffing.counts
        for i in range(len(counts)):
            self.push(t0 + i * cfg.interval, _STAFF, i)
        stop = t0 + DAY + cfg.drain
        heap, router = self.heap, self.router
        total, nxt = len(arrivals), 0
        inf = math.inf
        handlers = {_ANSWER: self.answer, _END: self.end}
        clock = t0
        while True:
            t_arr = t0 + arrivals[nxt] if nxt < total else inf
            t_ev = heap[0][0] if heap else inf
            deadline = router.next_deadline()
            t_rt = inf if deadline is None else deadline
            now = min(t_arr, t_ev, t_rt)
            if now == inf:
                return max(clock, t0 + DAY)
            if now > stop:
                return stop
            clock = now
            self.events += 1
            if t_rt <= now:
                self.tick(now)
            if t_ev <= t_arr and t_ev == now:
                _, _, kind, n, agent = heapq.heappop(heap)
                if kind == _FREE:
                    if t_rt > now:
                        self.tick(now)
                    self.agent_free(agent, now)
                elif kind == _ABANDON:
                    self.abandon(n, now)
                elif kind == _STAFF:
                    self.staff(counts[n], now)
                else:
                    handlers[kind](n, agent, now)
            elif t_arr == now:
                self.arrive(nxt, now, languages[nxt], topics[nxt])
                nxt += 1
            if self.dirty:
                self.decide(now)


def _draw(rng: random.Random, mix: Sequence[tuple[str, float]], k: int) -> list[str]:
    return rng.choices([name for name, _ in mix], weights=[w for _, w in mix], k=k)
