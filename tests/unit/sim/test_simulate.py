"""The day simulator: small days with fixed seeds through the real Router and accumulator."""

from __future__ import annotations

import random

import pytest

from line311.queue.erlang import agents_needed
from line311.queue.errors import InvalidParameterError
from line311.queue.service_level import SlFormula, SlPolicy
from line311.routing.queues import QueueConfig, QueueSet, default_queues
from line311.routing.router import Router
from line311.routing.skills import Requirements, lang
from line311.sim.simulate import (
    DAY,
    RECORD_DAY,
    WEEKDAY,
    ArrivalCurve,
    SimConfig,
    SimulationResult,
    Staffing,
    arrival_times,
    auto_staffing,
    generate_agents,
    simulate,
)

FLAT = ArrivalCurve("flat", (1.0,) * 48)
SINGLE = QueueSet([QueueConfig(name="q", wrapup_seconds=0)])
ENGLISH_ONLY = {"languages": (("en", 1.0),), "topics": (("q", 1.0),), "agent_languages": ()}


def _run(seed: int = 1, **kwargs: object) -> SimulationResult:
    return simulate(SimConfig(**kwargs), random.Random(seed))  # type: ignore[arg-type]


def _conserved(r: SimulationResult) -> None:
    assert r.answered + r.abandoned + r.timed_out + r.waiting_at_end == r.offered
    assert r.day.offered == r.offered
    assert sum(i.stats.offered for i in r.intervals) == r.offered
    assert sum(f.offered for f in r.by_language) == r.offered
    assert r.anomalies == 0


def test_given_a_small_day_then_every_call_is_answered_abandoned_or_still_waiting() -> None:
    r = _run(calls=800)
    _conserved(r)
    assert r.answered > 0
    assert r.in_progress_at_end == 0  # the drain lets every answered call finish
    assert 0.0 <= (r.service_level or 0.0) <= 1.0
    for i in r.intervals:
        sl = i.stats.service_level(r.config.policy.formula)
        assert sl is None or 0.0 <= sl <= 1.0
        occ = i.agent_time.occupancy
        assert occ is None or 0.0 <= occ <= 1.0


def test_given_the_same_seed_when_simulated_twice_then_the_days_are_identical() -> None:
    a, b, c = _run(7, calls=500), _run(7, calls=500), _run(8, calls=500)
    assert a.day == b.day
    assert a.intervals == b.intervals
    assert a.by_language == b.by_language
    assert a.day != c.day


def test_given_ample_staff_when_simulated_then_sl_is_one_and_nobody_abandons() -> None:
    r = _run(calls=1000, agents=300, ring=0.0)
    _conserved(r)
    assert r.abandoned == 0
    assert r.service_level == 1.0
    assert r.day.asa == 0.0
    assert r.agents_peak == 300


def test_given_nobody_on_duty_and_patient_callers_then_every_call_is_still_waiting() -> None:
    r = _run(calls=50, agents=0, patience=None, erlang_a=False)
    assert r.waiting_at_end == 50
    assert r.answered == r.abandoned == 0
    assert DAY <= r.ended_at <= DAY + r.config.drain  # stops once nothing can happen
    _conserved(r)


def test_given_impatient_callers_and_too_few_agents_then_they_abandon() -> None:
    r = _run(calls=2000, agents=3, patience=30.0)
    _conserved(r)
    assert r.abandoned > 500
    assert r.prediction.erlang_a_abandon is not None
    assert r.prediction.erlang_a_abandon > 0.2


def test_given_a_queue_with_a_maximum_wait_then_expired_calls_count_as_timed_out() -> None:
    queues = QueueSet([QueueConfig(name="q", wrapup_seconds=0, max_wait=20)])
    config = SimConfig(calls=600, curve=FLAT, agents=1, patience=None, **ENGLISH_ONLY)  # type: ignore[arg-type]
    r = simulate(config, random.Random(3), queues=queues)
    assert r.timed_out > 0
    assert r.day.longest_wait <= 20 + config.ring
    _conserved(r)


def test_given_a_stationary_single_queue_then_sl_and_asa_are_close_to_erlang_c() -> None:
    # reference.md: 100 calls per 30 min, AHT 180 s, 14 agents, T = 20 s -> SL 0.88835, ASA 7.84
    policy = SlPolicy(threshold=20, formula=SlFormula.ANSWERED_ONLY)
    config = SimConfig(
        calls=4800,
        curve=FLAT,
        aht=180,
        patience=None,
        ring=0.0,
        agents=14,
        policy=policy,
        erlang_a=False,
        **ENGLISH_ONLY,  # type: ignore[arg-type]
    )
    within = answered = 0
    wait = 0.0
    for seed in (11, 12, 13):
        r = simulate(config, random.Random(seed), queues=SINGLE)
        within += r.day.answered_within
        answered += r.day.answered
        wait += r.day.answer_wait_total
        assert r.prediction.erlang_c_sl == pytest.approx(0.88835, abs=1e-4)
    assert answered == 3 * 4800
    assert within / answered == pytest.approx(0.88835, abs=0.03)
    assert wait / answered == pytest.approx(7.84, abs=3.0)
    assert r.occupancy == pytest.approx(10 / 14, abs=0.04)


def test_given_a_staffing_plan_then_agents_log_in_and_out_to_follow_it() -> None:
    counts = tuple([0] * 16 + [5] * 16 + [2] * 16)
    profiles = generate_agents(5, default_queues(), random.Random(0))
    config = SimConfig(calls=300, patience=60.0)
    r = simulate(config, random.Random(2), staffing=Staffing(profiles, counts))
    assert r.agents_peak == 5
    assert r.agents_distinct == 5
    assert r.staffing == counts
    assert r.intervals[0].agent_time.staffed == 0
    assert r.intervals[20].agent_time.staffed == pytest.approx(5 * 1800)
    # leaving CCRs finish their call first: staffed time never drops below the plan
    assert r.intervals[40].agent_time.staffed >= 2 * 1800 - 1e-6
    _conserved(r)
    config_plan = SimConfig(calls=300, patience=60.0, staffing=counts)
    assert simulate(config_plan, random.Random(2)).agents_peak == 5


def test_auto_staffing_is_erlang_c_per_interval() -> None:
    config = SimConfig(calls=60_000, interval=900)
    counts = auto_staffing(config)
    assert len(counts) == 96
    expected = WEEKDAY.expected(60_000, 900)
    peak = max(range(96), key=lambda i: expected[i])
    needed = agents_needed(expected[peak] / 900, 302.0, 28.0, 0.8)
    assert counts[peak] == needed.agents == max(counts)
    assert auto_staffing(SimConfig(calls=0)) == (0,) * 48


def test_a_goal_of_100_percent_is_staffed_for_99_9() -> None:
    every = SimConfig(calls=60_000, interval=900, policy=SlPolicy(goal=1.0))
    nearly = SimConfig(calls=60_000, interval=900, policy=SlPolicy(goal=0.999))
    assert auto_staffing(every) == auto_staffing(nearly)
    assert max(auto_staffing(every)) > max(auto_staffing(SimConfig(calls=60_000, interval=900)))


def test_arrival_times_are_sorted_within_the_day_and_follow_the_curve() -> None:
    times = arrival_times(RECORD_DAY, 20_000, random.Random(5))
    assert len(times) == 20_000
    assert times == sorted(times)
    assert times[0] >= 0
    assert times[-1] < DAY
    expected = RECORD_DAY.expected(20_000, 3600)
    counts = [0] * 24
    for t in times:
        counts[int(t // 3600)] += 1
    for hour in (3, 8, 14, 20):
        assert counts[hour] == pytest.approx(expected[hour], rel=0.15)
    assert sum(RECORD_DAY.expected(1000, 1800)) == pytest.approx(1000)
    assert arrival_times(WEEKDAY, 0, random.Random(0)) == []


def test_generated_agents_keep_the_language_mix_in_every_prefix_and_fit_every_queue() -> None:
    queues = default_queues()
    agents = generate_agents(200, queues, random.Random(0))
    assert len({a.agent_id for a in agents}) == 200
    for n in (10, 50, 200):
        spanish = sum(1 for a in agents[:n] if a.skills.level(lang("es")))
        assert abs(spanish - 0.24 * n) <= 1
    for a in agents:
        assert a.skills.level(lang("en")) >= 4
        for q in queues.values():
            assert q.requires.and_(Requirements.of(lang("en"))).matches(a.skills)


def test_the_real_router_never_offers_one_agent_two_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    from line311.routing.agents import AgentState

    seen: list[int] = []
    original = Router.decide

    def checked(self: Router, now: float) -> list:  # type: ignore[type-arg]
        free = {a.agent_id for a in self.store.available()}
        offers = original(self, now)
        assert len({o.agent_id for o in offers}) == len(offers)
        assert len({o.call_id for o in offers}) == len(offers)
        assert all(o.agent_id in free for o in offers)
        assert all(self.agent(o.agent_id).state is AgentState.RESERVED for o in offers)
        seen.append(len(offers))
        return offers

    monkeypatch.setattr(Router, "decide", checked)
    r = _run(calls=1500, agents=8, patience=120.0)
    assert sum(seen) == r.offers > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calls": -1}, "calls"),
        ({"interval": 600}, "interval"),
        ({"aht": 0}, "aht"),
        ({"patience": 0}, "patience"),
        ({"ring": 30}, "ring"),
        ({"agents": -1}, "agents"),
        ({"staffing": (1, 2)}, "staffing"),
        ({"languages": ()}, "languages"),
        ({"talk_cv": 0}, "talk_cv"),
        ({"drain": -1}, "drain"),
        ({"day_start": 100.0}, "aligned"),
    ],
)
def test_bad_configs_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_an_aht_not_above_the_wrap_up_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="wrap-up"):
        simulate(SimConfig(calls=10, aht=45), random.Random(0))


def test_bad_curves_are_refused() -> None:
    with pytest.raises(InvalidParameterError):
        ArrivalCurve("x", (1.0,) * 7)
    with pytest.raises(InvalidParameterError):
        ArrivalCurve("x", (0.0,) * 48)


def test_lognormal_talk_times_have_the_requested_mean() -> None:
    r = _run(calls=3000, agents=40, talk_distribution="lognormal", talk_cv=0.5, patience=None)
    assert r.day.aht == pytest.approx(300.0, rel=0.05)
    _conserved(r)
