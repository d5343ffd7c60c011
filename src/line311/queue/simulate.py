"""A discrete-event simulation of a call-center day, driving the real router and SL code.

Theory of operation
-------------------
Synthetic callers arrive, the real `line311.routing.Router` decides who takes them, and the
real `IntervalAccumulator` counts the service level, exactly as the ARI edge would feed
them; only the clock and the people are simulated. One event list (a heap of
``(time, seq, kind, call, agent)``) holds what will happen next::

    arrivals (sorted) ─┐
    event heap ────────┼─ earliest ─▶ Router.tick / call_arrived / offer_accepted /
    Router deadline ───┘              call_ended / call_left / agent_login|logout
                                           │ then, if a free CCR and an unoffered caller
                                           ▼ both exist: Router.decide(now) -> offers
                                     IntervalAccumulator (queue events, agent states)

*Arrivals* follow a non-homogeneous Poisson process whose intensity is an `ArrivalCurve`
(relative volume per half-hour) scaled to the day's total, conditioned on that total: the
day has exactly ``calls`` callers, each arriving at an independent time drawn from the
curve. Each caller has a language and a topic (its queue) drawn from the mixes, a talk time
(exponential, or lognormal with a given coefficient of variation) whose mean is the AHT
minus the queue's wrap-up, and a patience (exponential with mean θ; `None`: never gives up).

*Agents* log in and out at interval boundaries to follow a staffing plan (agents on duty per
interval): given, constant, or Erlang C's `agents_needed` for the interval's expected load.
A CCR leaving while busy finishes the call and its wrap-up first. An offer rings ``ring``
seconds and is then accepted (simulated CCRs always answer).

*Cost.* ``decide`` is called only when something changed *and* both a free CCR and a caller
without an offer exist; otherwise it could not make an offer. Everything else is O(log n)
per event, so the run costs about O(calls x (events per call + one decision)).

*Determinism.* All randomness comes from the injected `random.Random` (the router gets its
own generator seeded from it): one seed, one day.

*Comparison.* For each interval, Erlang C (and Erlang A, with the callers' patience) predicts
SL and ASA for the interval's expected load and staffed agents, with AHT + ring as the
service time; the ring counts in the caller's wait, so the predicted SL is that of the
queue wait within ``T - ring`` and the predicted ASA adds ``ring``.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from line311.queue.erlang import agents_needed, erlang_a, erlang_c_figures
from line311.queue.errors import InconsistentEventError, InvalidParameterError
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
from line311.queue.service_level import (
    BASE_INTERVAL,
    DEFAULT_POLICY,
    AgentTimeStats,
    IntervalStats,
    SlPolicy,
    merge_stats,
)
from line311.routing.agents import AgentProfile, AgentState
from line311.routing.queues import QueueSet, default_queues
from line311.routing.router import Router
from line311.routing.skills import MAX_PROFICIENCY, SkillSet

__all__ = [
    "DAY",
    "DAY0",
    "LANGUAGE_MIX",
    "RECORD_DAY",
    "RECORD_DAY_CALLS",
    "TOPIC_MIX",
    "WEEKDAY",
    "WEEKDAY_CALLS",
    "ArrivalCurve",
    "DayPrediction",
    "IntervalResult",
    "LanguageFigures",
    "Prediction",
    "SimConfig",
    "SimulationResult",
    "Staffing",
    "arrival_times",
    "auto_staffing",
    "generate_agents",
    "simulate",
]

DAY: Final = 86_400
DAY0: Final = 1_296_104_400.0
"""2011-01-27 00:00 in New York (05:00 UTC): NYC 311's record day, 276,827 calls."""
WEEKDAY_CALLS: Final = 60_000
RECORD_DAY_CALLS: Final = 276_827


def _half_hours(hourly: Sequence[float]) -> tuple[float, ...]:
    """48 half-hour volumes from 24 hourly ones, each half leaning toward its neighbour."""
    out: list[float] = []
    for h, w in enumerate(hourly):
        before, after = hourly[h - 1], hourly[(h + 1) % 24]
        out += [(3 * w + before) / 8, (3 * w + after) / 8]
    return tuple(round(x, 4) for x in out)


@dataclass(frozen=True, slots=True)
class ArrivalCurve:
    """Relative call volume over one day, in equal slices (48 half-hours for the built-ins)."""

    name: str
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.weights or DAY % len(self.weights):
            raise InvalidParameterError("an arrival curve needs a number of slices dividing 24 h")
        if any(not (w >= 0 and math.isfinite(w)) for w in self.weights) or not sum(self.weights):
            raise InvalidParameterError("arrival curve weights must be >= 0, not all zero")

    @property
    def slice(self) -> float:
        return DAY / len(self.weights)

    def expected(self, total: float, interval: int) -> list[float]:
        """Expected calls in each ``interval``-second interval of the day, for ``total`` calls."""
        scale = total / sum(self.weights)
        width = self.slice
        out: list[float] = []
        for i in range(DAY // interval):
            lo, hi = i * interval, (i + 1) * interval
            mass = 0.0
            for s in range(int(lo // width), min(len(self.weights), math.ceil(hi / width))):
                overlap = min(hi, (s + 1) * width) - max(lo, s * width)
                mass += self.weights[s] * overlap / width
            out.append(mass * scale)
        return out


# Hourly shape of an NYC 311 weekday: quiet nights, a ramp from 6 am, the peak from 9 to noon,
# a long afternoon, a slow evening decline (percent of the day's calls, hour by hour).
_WEEKDAY_HOURLY = (1.2, 0.8, 0.6, 0.5, 0.5, 0.8, 1.8, 3.5, 5.8, 7.2, 7.4, 7.1,
                   6.6, 6.7, 6.5, 6.0, 5.3, 4.6, 4.0, 3.6, 3.3, 3.0, 2.4, 1.8)  # fmt: skip
# The record day (2011-01-27): 19 inches of snow overnight; residents call from 5 am about
# school closures, alternate side parking, unplowed streets and heat, then a long plateau.
_RECORD_HOURLY = (1.0, 0.7, 0.6, 0.7, 1.2, 2.6, 5.0, 7.4, 8.4, 8.2, 7.6, 7.0,
                  6.4, 6.1, 5.8, 5.4, 4.9, 4.3, 3.7, 3.2, 2.8, 2.4, 1.9, 1.4)  # fmt: skip

WEEKDAY: Final = ArrivalCurve("weekday", _half_hours(_WEEKDAY_HOURLY))
RECORD_DAY: Final = ArrivalCurve("record", _half_hours(_RECORD_HOURLY))

LANGUAGE_MIX: Final[tuple[tuple[str, float], ...]] = (
    ("en", 0.800),
    ("es", 0.140),
    ("cmn", 0.020),
    ("ru", 0.015),
    ("yue", 0.010),
    ("ht", 0.010),
    ("ko", 0.005),
)
"""Callers' languages (NYC 311 offers English plus these six in the IVR)."""
TOPIC_MIX: Final[tuple[tuple[str, float], ...]] = (
    ("general", 0.40),
    ("housing", 0.17),
    ("noise", 0.14),
    ("parking", 0.14),
    ("sanitation", 0.10),
    ("social_services", 0.05),
)
"""Callers' topics; a topic goes to the queue of the same name (else the first queue)."""
AGENT_LANGUAGES: Final[tuple[tuple[str, float], ...]] = (
    ("es", 0.24),
    ("cmn", 0.04),
    ("ru", 0.03),
    ("yue", 0.02),
    ("ht", 0.02),
    ("ko", 0.015),
)
"""Share of generated CCRs speaking each language besides English (the rest: English only)."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One simulated day. Times in seconds; ``aht`` is talk + wrap-up (the queue's)."""

    calls: int = WEEKDAY_CALLS
    curve: ArrivalCurve = WEEKDAY
    interval: int = 1800
    aht: float = 300.0
    talk_distribution: Literal["exponential", "lognormal"] = "exponential"
    talk_cv: float = 1.0
    """Coefficient of variation of lognormal talk times."""
    patience: float | None = 180.0
    """Mean patience of callers (exponential); None: nobody abandons."""
    ring: float = 2.0
    agents: int | None = None
    """Agents on duty all day; None: Erlang C per interval (or ``staffing``)."""
    staffing: tuple[int, ...] | None = None
    """Agents on duty per interval (overrides ``agents``)."""
    languages: tuple[tuple[str, float], ...] = LANGUAGE_MIX
    topics: tuple[tuple[str, float], ...] = TOPIC_MIX
    agent_languages: tuple[tuple[str, float], ...] = AGENT_LANGUAGES
    policy: SlPolicy = DEFAULT_POLICY
    drain: float = 7200.0
    """Seconds after midnight during which calls in progress may still finish."""
    day_start: float = DAY0
    erlang_a: bool = True
    """Also compute Erlang A's prediction (needs ``patience``)."""

    def __post_init__(self) -> None:
        if self.calls < 0:
            raise InvalidParameterError(f"calls must be >= 0, got {self.calls}")
        if self.interval not in (900, 1800):
            raise InvalidParameterError(f"interval must be 900 or 1800 s, got {self.interval}")
        if self.day_start % self.interval:
            raise InvalidParameterError("day_start must be aligned to the interval")
        if not (self.aht > 0 and math.isfinite(self.aht)):
            raise InvalidParameterError(f"aht must be > 0, got {self.aht}")
        if not self.talk_cv > 0:
            raise InvalidParameterError(f"talk_cv must be > 0, got {self.talk_cv}")
        if self.patience is not None and not self.patience > 0:
            raise InvalidParameterError(f"patience must be > 0 (or None), got {self.patience}")
        if not 0 <= self.ring < self.policy.threshold:
            raise InvalidParameterError("ring must be >= 0 and below the SL threshold")
        if self.agents is not None and self.agents < 0:
            raise InvalidParameterError(f"agents must be >= 0, got {self.agents}")
        if self.staffing is not None and (
            len(self.staffing) != self.intervals or min(self.staffing, default=0) < 0
        ):
            raise InvalidParameterError(f"staffing needs {self.intervals} counts >= 0")
        if self.drain < 0:
            raise InvalidParameterError("drain must be >= 0")
        for name, mix in (("languages", self.languages), ("topics", self.topics)):
            if not mix or any(not w >= 0 for _, w in mix) or not sum(w for _, w in mix) > 0:
                raise InvalidParameterError(f"{name}: weights must be >= 0, not all zero")

    @property
    def intervals(self) -> int:
        return DAY // self.interval

    @property
    def service_time(self) -> float:
        """What a call costs a CCR: ring + talk + wrap-up (Erlang's AHT)."""
        return self.aht + self.ring


@dataclass(frozen=True, slots=True)
class Staffing:
    """Agents on duty per interval and the profiles they are drawn from (first ones first)."""

    profiles: tuple[AgentProfile, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Prediction:
    """Erlang's figures for one interval's expected load and staffing."""

    agents: int
    offered_load: float
    erlang_c_sl: float
    erlang_c_asa: float  # seconds; math.inf when agents <= load
    erlang_a_sl: float | None = None
    erlang_a_asa: float | None = None
    erlang_a_abandon: float | None = None


@dataclass(frozen=True, slots=True)
class IntervalResult:
    """One interval: what the simulation measured next to what Erlang predicted."""

    start: float
    """Seconds from the day's start."""
    expected_calls: float
    stats: IntervalStats
    """All queues together, calls counted in the interval they entered."""
    agent_time: AgentTimeStats
    prediction: Prediction


@dataclass(frozen=True, slots=True)
class LanguageFigures:
    language: str
    offered: int
    answered: int
    abandoned: int
    interpreted: int
    """Answered by a CCR not speaking the language, with the interpreter line."""
    wait_total: float

    @property
    def asa(self) -> float | None:
        return self.wait_total / self.answered if self.answered else None


@dataclass(frozen=True, slots=True)
class DayPrediction:
    """Erlang's interval predictions weighted by expected calls (ASA: by answered calls)."""

    erlang_c_sl: float
    erlang_c_asa: float
    erlang_a_sl: float | None
    erlang_a_asa: float | None
    erlang_a_abandon: float | None


@dataclass(frozen=True, slots=True)
class SimulationResult:
    config: SimConfig
    intervals: tuple[IntervalResult, ...]
    day: IntervalStats
    day_agent_time: AgentTimeStats
    by_queue: Mapping[str, IntervalStats]
    by_language: tuple[LanguageFigures, ...]
    prediction: DayPrediction
    offered: int
    answered: int
    abandoned: int
    timed_out: int
    waiting_at_end: int
    """Callers still waiting (or ringing) when the simulation stopped."""
    in_progress_at_end: int
    """Answered calls still talking when the simulation stopped."""
    agents_peak: int
    agents_distinct: int
    agent_hours: float
    events: int
    decisions: int
    offers: int
    ended_at: float
    """Seconds from the day's start at which the simulation stopped."""
    max_concurrent_agents_busy: int = 0
    anomalies: int = 0
    staffing: tuple[int, ...] = field(default=())

    @property
    def service_level(self) -> float | None:
        return self.day.service_level(self.config.policy.formula)

    @property
    def occupancy(self) -> float | None:
        return self.day_agent_time.occupancy


# ------------------------------------------------------------------ inputs


def arrival_times(curve: ArrivalCurve, calls: int, rng: random.Random) -> list[float]:
    """``calls`` arrival times in [0, 86400), sorted, i.i.d. with density ∝ the curve."""
    if calls == 0:
        return []
    width = curve.slice
    total = 0.0
    cum: list[float] = []
    for w in curve.weights:
        total += w
        cum.append(total)
    slices = rng.choices(range(len(curve.weights)), cum_weights=cum, k=calls)
    rand = rng.random
    times = [(s + rand()) * width for s in slices]
    times.sort()
    return times


def auto_staffing(config: SimConfig) -> tuple[int, ...]:
    """Erlang C's agents needed for each interval's expected load (80/30 by the policy)."""
    policy = config.policy
    threshold = max(0.0, policy.threshold - config.ring)
    out = []
    for expected in config.curve.expected(config.calls, config.interval):
        rate = expected / config.interval
        needed = agents_needed(rate, config.service_time, threshold, policy.goal)
        out.append(needed.agents)
    return tuple(out)


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


# ------------------------------------------------------------------ results


def _predict(config: SimConfig, expected: float, agents: int) -> Prediction:
    rate = expected / config.interval
    policy = config.policy
    threshold = max(0.0, policy.threshold - config.ring)
    service = config.service_time
    c = erlang_c_figures(agents, rate, service, threshold)
    asa_c = c.asa + config.ring if math.isfinite(c.asa) else math.inf
    if config.patience is None or not config.erlang_a:
        return Prediction(agents, c.offered_load, c.service_level, asa_c)
    a = erlang_a(
        agents,
        rate,
        service,
        config.patience,
        threshold,
        formula=policy.formula,
        short_abandon_threshold=policy.short_abandon_threshold,
    )
    asa_a = a.asa + config.ring if math.isfinite(a.asa) else math.inf
    return Prediction(
        agents, c.offered_load, c.service_level, asa_c, a.service_level, asa_a, a.p_abandon
    )


def _day_prediction(intervals: Sequence[IntervalResult]) -> DayPrediction:
    calls = sum(r.expected_calls for r in intervals) or 1.0

    def weighted(values: list[tuple[float, float]]) -> float:
        total = sum(w for _, w in values)
        return sum(v * w for v, w in values) / total if total else 0.0

    preds = [(r.prediction, r.expected_calls) for r in intervals]
    sl_c = sum(p.erlang_c_sl * w for p, w in preds) / calls
    asa_c = weighted([(p.erlang_c_asa, w) for p, w in preds if w > 0])
    if any(p.erlang_a_sl is None for p, _ in preds):
        return DayPrediction(sl_c, asa_c, None, None, None)
    sl_a = sum((p.erlang_a_sl or 0.0) * w for p, w in preds) / calls
    ab_a = sum((p.erlang_a_abandon or 0.0) * w for p, w in preds) / calls
    asa_a = weighted(
        [(p.erlang_a_asa or 0.0, w * (1 - (p.erlang_a_abandon or 0.0))) for p, w in preds]
    )
    return DayPrediction(sl_c, asa_c, sl_a, asa_a, ab_a)


def simulate(
    config: SimConfig,
    rng: random.Random,
    *,
    queues: QueueSet | None = None,
    staffing: Staffing | None = None,
) -> SimulationResult:
    """Simulate one day. Deterministic for a given ``rng`` state and inputs.

    ``queues`` default to the NYC set (`default_queues`); ``staffing`` defaults to agents
    from `generate_agents` on duty per ``config.staffing``, ``config.agents`` or Erlang C.
    """
    queues = queues if queues is not None else default_queues()
    for name, q in queues.items():
        if q.wrapup_seconds >= config.aht:
            raise InvalidParameterError(
                f"aht ({config.aht} s) must exceed queue {name!r}'s wrap-up ({q.wrapup_seconds} s)"
            )
    if staffing is None:
        if config.staffing is not None:
            counts = config.staffing
        elif config.agents is not None:
            counts = (config.agents,) * config.intervals
        else:
            counts = auto_staffing(config)
        profiles = generate_agents(max(counts, default=0), queues, rng, config.agent_languages)
        staffing = Staffing(profiles, counts)
    elif len(staffing.counts) != config.intervals or max(staffing.counts, default=0) > len(
        staffing.profiles
    ):
        raise InvalidParameterError(
            f"staffing needs {config.intervals} counts, none above its {len(staffing.profiles)} "
            "profiles"
        )
    arrivals = arrival_times(config.curve, config.calls, rng)
    languages = _draw(rng, config.languages, config.calls)
    topics = _draw(rng, config.topics, config.calls)
    day = _Day(config, queues, staffing, rng)
    ended = day.run(arrivals, languages, topics)
    return _collect(day, ended)


def _collect(day: _Day, ended: float) -> SimulationResult:
    config, acc, t0 = day.config, day.acc, day.t0
    length = config.interval
    policy = config.policy
    per_queue = acc.intervals(BASE_INTERVAL)
    by_start: dict[int, list[IntervalStats]] = {}
    by_queue: dict[str, list[IntervalStats]] = {}
    for (queue, start), stats in per_queue.items():
        by_start.setdefault(int(start - t0) // length, []).append(stats)
        by_queue.setdefault(queue, []).append(stats)
    agent_time: dict[int, AgentTimeStats] = {}
    for start, at in acc.agent_time(BASE_INTERVAL, now=ended).items():
        k = int(start - t0) // length
        agent_time[k] = agent_time[k] + at if k in agent_time else at
    expected = config.curve.expected(config.calls, length)
    counts = day.staffing.counts
    intervals = tuple(
        IntervalResult(
            start=i * length,
            expected_calls=expected[i],
            stats=merge_stats(by_start.get(i, ()), policy),
            agent_time=agent_time.get(i, AgentTimeStats()),
            prediction=_predict(config, expected[i], counts[i]),
        )
        for i in range(config.intervals)
    )
    total = merge_stats((s for parts in by_start.values() for s in parts), policy)
    status = day.status
    languages: dict[str, list[float]] = {}
    for n, lang in enumerate(day.lang_of):
        row = languages.setdefault(lang, [0, 0, 0, 0, 0.0])
        row[0] += 1
        if status[n] in (_ANSWERED, _DONE):
            row[1] += 1
            row[3] += day.interpreted[n]
        elif status[n] == _GONE:
            row[2] += 1
    for lang, wait in day.answer_wait.items():
        languages[lang][4] = wait
    by_language = tuple(
        LanguageFigures(lang, int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4])
        for lang, r in sorted(languages.items(), key=lambda kv: -kv[1][0])
    )
    staffed = sum((r.agent_time for r in intervals), AgentTimeStats())
    return SimulationResult(
        config=config,
        intervals=intervals,
        day=total,
        day_agent_time=staffed,
        by_queue={q: merge_stats(parts, policy) for q, parts in sorted(by_queue.items())},
        by_language=by_language,
        prediction=_day_prediction(intervals),
        offered=len(status),
        answered=total.answered,
        abandoned=total.abandoned,
        timed_out=total.timed_out,
        waiting_at_end=sum(1 for s in status if s in (_WAITING, _RINGING)),
        in_progress_at_end=sum(1 for s in status if s == _ANSWERED),
        agents_peak=day.peak,
        agents_distinct=len(day.ever),
        agent_hours=staffed.staffed / 3600,
        events=day.events,
        decisions=day.decisions,
        offers=day.offers,
        ended_at=ended - t0,
        max_concurrent_agents_busy=day.busy_peak,
        anomalies=acc.anomalies,
        staffing=counts,
    )
