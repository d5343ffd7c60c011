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

import math
import random
from collections.abc import Sequence

from line311.queue.erlang import erlang_a, erlang_c_figures
from line311.queue.errors import InvalidParameterError
from line311.queue.service_level import (
    BASE_INTERVAL,
    AgentTimeStats,
    IntervalStats,
    merge_stats,
)
from line311.routing.queues import QueueSet, default_queues
from line311.sim.day import (
    _ANSWERED,
    _DONE,
    _GONE,
    _RINGING,
    _WAITING,
    _Day,
    _draw,
    generate_agents,
)
from line311.sim.model import (
    DAY,
    DAY0,
    LANGUAGE_MIX,
    RECORD_DAY,
    RECORD_DAY_CALLS,
    TOPIC_MIX,
    WEEKDAY,
    WEEKDAY_CALLS,
    ArrivalCurve,
    DayPrediction,
    IntervalResult,
    LanguageFigures,
    Prediction,
    SimConfig,
    SimulationResult,
    Staffing,
    arrival_times,
    auto_staffing,
)

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
