"""Erlang B/C/A: the reference check values, edge cases, record-day scale, and Erlang A
against an independent discrete-event simulation of the M/M/N+M queue."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from line311.queue.erlang import (
    agents_needed,
    agents_needed_erlang_a,
    asa,
    erlang_a,
    erlang_b,
    erlang_c,
    erlang_c_figures,
    occupancy,
    offered_load,
    service_level,
)
from line311.queue.errors import InvalidParameterError, StaffingError
from line311.queue.service_level import SlFormula

RATE = 100 / 1800  # 100 calls per 30 minutes
RECORD_DAY_PEAK = 276_827 / 86_400 * 2.5  # calls per second at a peak 2.5x the day's mean


def test_reference_check_values() -> None:
    """reference.md: 100 calls / 30 min, AHT 180 s, N = 14, t = 20 s."""
    a = offered_load(RATE, 180)
    assert a == pytest.approx(10.0)
    assert round(erlang_c(14, a), 5) == 0.17413
    assert round(service_level(14, a, 180, 20), 5) == 0.88835
    assert round(asa(14, a, 180), 2) == 7.84
    assert round(occupancy(14, a), 3) == 0.714
    r = erlang_c_figures(14, RATE, 180, 20)
    assert (round(r.p_wait, 5), round(r.service_level, 5), round(r.asa, 2)) == (
        0.17413,
        0.88835,
        7.84,
    )


def test_erlang_b_known_values() -> None:
    assert erlang_b(0, 5.0) == 1.0
    assert erlang_b(1, 1.0) == pytest.approx(0.5)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)  # (1/2) / (1 + 1 + 1/2)
    assert erlang_b(10, 0.0) == 0.0


def test_given_no_more_agents_than_load_then_everyone_waits_forever() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert service_level(9, 10.0, 180, 30) == 0.0
    assert asa(10, 10.0, 180) == math.inf


def test_agents_needed_for_80_30_is_the_fewest_that_reach_the_goal() -> None:
    r = agents_needed(RATE, 180, 30, 0.8)
    assert r.agents == 13
    assert r.service_level >= 0.8
    assert erlang_c_figures(12, RATE, 180, 30).service_level < 0.8


def test_a_maximum_occupancy_can_require_more_agents() -> None:
    r = agents_needed(RATE, 180, 30, 0.8, max_occupancy=0.70)
    assert r.agents == 15  # 10/15 = 0.667; 10/14 = 0.714 > 0.70
    assert r.occupancy <= 0.70


def test_with_no_calls_no_agents_are_needed() -> None:
    r = agents_needed(0.0, 180, 30, 0.8)
    assert (r.agents, r.service_level, r.p_wait) == (0, 1.0, 0.0)
    assert erlang_a(0, 0.0, 180, 60, 30).service_level == 1.0
    assert agents_needed_erlang_a(0.0, 180, 60, 30, 0.8).agents == 0


def test_record_day_scale_does_not_overflow() -> None:
    r = agents_needed(RECORD_DAY_PEAK, 300, 30, 0.8)
    assert 2400 < r.agents < 2500
    assert 0.8 <= r.service_level < 0.85
    far = erlang_c_figures(5000, RECORD_DAY_PEAK, 300, 30)
    assert far.p_wait == pytest.approx(0.0, abs=1e-300)
    assert far.service_level == 1.0
    a = erlang_a(1000, RECORD_DAY_PEAK, 300, 120, 30)  # badly understaffed: still finite
    assert a.p_wait == pytest.approx(1.0)
    assert a.p_abandon == pytest.approx(1 - 1000 / 300 / RECORD_DAY_PEAK, rel=1e-6)
    assert erlang_a(6000, RECORD_DAY_PEAK, 300, 120, 30).p_wait == 0.0


def test_erlang_a_with_very_patient_callers_is_erlang_c() -> None:
    c = erlang_c_figures(14, RATE, 180, 20)
    a = erlang_a(14, RATE, 180, 1e9, 20)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-6)
    assert a.answered_within == pytest.approx(c.service_level, rel=1e-6)
    assert a.asa == pytest.approx(c.asa, rel=1e-5)
    assert a.occupancy == pytest.approx(c.occupancy, rel=1e-6)


def test_erlang_a_abandonment_two_ways_agree() -> None:
    """P(abandon) from Little's law (θ·E[Q]/λ) equals one minus P(answered)."""
    a = erlang_a(12, RATE, 180, 45, 30)
    answered = a.occupancy * 12 / (RATE * 180)
    assert a.p_abandon == pytest.approx(1 - answered, rel=1e-9)


def test_erlang_a_needs_fewer_agents_than_erlang_c_because_some_callers_leave() -> None:
    c = agents_needed(RATE, 180, 30, 0.8)
    a = agents_needed_erlang_a(RATE, 180, 120, 30, 0.8)
    assert a.agents <= c.agents
    assert a.service_level >= 0.8
    worse = erlang_a(a.agents - 1, RATE, 180, 120, 30)
    assert worse.service_level < 0.8


def test_erlang_a_stays_finite_with_no_agents() -> None:
    r = erlang_a(0, RATE, 180, 60, 30)
    assert r.p_wait == pytest.approx(1.0)
    assert r.p_abandon == pytest.approx(1.0)
    assert (r.answered_within, r.occupancy) == (pytest.approx(0.0, abs=1e-12), 0.0)
    assert r.abandoned_within == pytest.approx(1 - math.exp(-30 / 60))


@pytest.mark.parametrize("formula", list(SlFormula))
def test_erlang_a_formulas_are_ordered_as_their_definitions_imply(formula: SlFormula) -> None:
    r = erlang_a(12, RATE, 180, 60, 30, formula=formula)
    assert 0.0 <= r.service_level <= 1.0
    strict = erlang_a(12, RATE, 180, 60, 30, formula=SlFormula.ALL_CALLS).service_level
    assert r.service_level >= strict - 1e-12  # every formula excuses at least as much as #3


def test_unreachable_staffing_raises() -> None:
    with pytest.raises(StaffingError):
        agents_needed(10.0, 180, 30, 0.8, max_agents=100)
    with pytest.raises(StaffingError):
        agents_needed_erlang_a(10.0, 180, 60, 30, 0.8, max_agents=100)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: offered_load(-1, 180), "arrival rate"),
        (lambda: offered_load(1, 0), "AHT"),
        (lambda: erlang_b(-1, 1.0), "agents"),
        (lambda: erlang_b(True, 1.0), "agents"),  # type: ignore[arg-type]
        (lambda: service_level(3, 1.0, 180, -1), "threshold"),
        (lambda: occupancy(0, 1.0), "at least one agent"),
        (lambda: agents_needed(RATE, 180, 30, 1.0), "goal"),
        (lambda: agents_needed(RATE, 180, 30, 0.8, max_occupancy=0), "occupancy"),
        (lambda: erlang_a(3, RATE, 180, 0, 30), "patience"),
        (lambda: erlang_a(3, RATE, 180, math.inf, 30), "patience"),
        (lambda: erlang_c_figures(3, math.nan, 180, 30), "arrival rate"),
        (lambda: erlang_a(10, 1 / 18.0001, 180, 1e12, 30), "Erlang C"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(call, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        call()


# ------------------------------------------------------------------- simulation cross-check
def simulate_mmnm(
    n: int, rate: float, aht: float, patience: float, t: float, short: float, calls: int, seed: int
) -> dict[str, float]:
    """FIFO M/M/N+M by the offered-wait recursion: a caller reaches an agent when the earliest
    agent frees up, unless their patience runs out first (then they take no agent's time)."""
    rng = random.Random(seed)
    free_at = [0.0] * n
    now = 0.0
    waited = abandoned = answered = answered_within = abandoned_within = short_abandoned = 0
    wait_answered = 0.0
    for _ in range(calls):
        now += rng.expovariate(rate)
        tau = rng.expovariate(1 / patience)
        offered_wait = max(0.0, free_at[0] - now)
        waited += offered_wait > 0
        if offered_wait <= tau:
            answered += 1
            answered_within += offered_wait <= t
            wait_answered += offered_wait
            heapq.heapreplace(free_at, now + offered_wait + rng.expovariate(1 / aht))
        else:
            abandoned += 1
            abandoned_within += tau <= t
            short_abandoned += tau <= short
    return {
        "p_wait": waited / calls,
        "p_abandon": abandoned / calls,
        "answered_within": answered_within / calls,
        "abandoned_within": abandoned_within / calls,
        "short_abandoned": short_abandoned / calls,
        "asa": wait_answered / answered,
    }


@pytest.mark.parametrize(
    ("n", "rate", "aht", "patience", "t"),
    [
        (14, RATE, 180.0, 60.0, 20.0),  # the reference case with impatient callers
        (50, 0.3, 180.0, 90.0, 30.0),  # heavy traffic: most callers wait
    ],
)
def test_erlang_a_matches_a_discrete_event_simulation(
    n: int, rate: float, aht: float, patience: float, t: float
) -> None:
    sim = simulate_mmnm(n, rate, aht, patience, t, 5.0, calls=150_000, seed=311)
    model = erlang_a(n, rate, aht, patience, t, short_abandon_threshold=5.0)
    for name in ("p_wait", "p_abandon", "answered_within", "abandoned_within", "short_abandoned"):
        assert getattr(model, name) == pytest.approx(sim[name], abs=0.01), name
    assert model.asa == pytest.approx(sim["asa"], rel=0.05)
