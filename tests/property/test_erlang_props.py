"""Erlang B/C/A over random loads: probabilities stay probabilities, more agents never make
service worse, agents_needed is the fewest that meet the goal, Erlang A tends to Erlang C."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.queue.erlang import (
    agents_needed,
    agents_needed_erlang_a,
    erlang_a,
    erlang_b,
    erlang_c_figures,
)
from line311.queue.service_level import SlFormula

LOADS = st.floats(0.1, 400.0)
AHTS = st.floats(30.0, 900.0)
THRESHOLDS = st.floats(0.0, 120.0)
GOALS = st.floats(0.5, 0.95)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 600), a=LOADS)
def test_erlang_b_is_a_probability_that_falls_as_agents_are_added(n: int, a: float) -> None:
    b = erlang_b(n, a)
    assert 0.0 <= b <= 1.0
    assert erlang_b(n + 1, a) <= b


@settings(max_examples=200, deadline=None)
@given(a=LOADS, aht=AHTS, t=THRESHOLDS, extra=st.integers(0, 40))
def test_erlang_c_figures_are_sane_and_improve_with_agents(
    a: float, aht: float, t: float, extra: int
) -> None:
    n = math.floor(a) + 1 + extra
    rate = a / aht
    r, more = erlang_c_figures(n, rate, aht, t), erlang_c_figures(n + 1, rate, aht, t)
    assert 0.0 <= r.p_wait <= 1.0
    assert 0.0 <= r.service_level <= 1.0
    assert 0.0 < r.occupancy < 1.0
    assert r.asa >= 0.0
    assert more.service_level >= r.service_level - 1e-12
    assert more.asa <= r.asa + 1e-9


@settings(max_examples=200, deadline=None)
@given(a=LOADS, aht=AHTS, t=THRESHOLDS, goal=GOALS)
def test_agents_needed_is_the_fewest_meeting_the_goal(
    a: float, aht: float, t: float, goal: float
) -> None:
    rate = a / aht
    r = agents_needed(rate, aht, t, goal)
    assert r.service_level >= goal
    fewer = erlang_c_figures(r.agents - 1, rate, aht, t)
    assert fewer.service_level < goal


@settings(max_examples=40, deadline=None)
@given(
    a=st.floats(0.5, 40.0),
    aht=AHTS,
    patience=st.floats(10.0, 600.0),
    t=st.floats(0.0, 60.0),
    extra=st.integers(-5, 10),
    formula=st.sampled_from(list(SlFormula)),
)
def test_erlang_a_figures_are_probabilities_and_consistent(
    a: float, aht: float, patience: float, t: float, extra: int, formula: SlFormula
) -> None:
    n = max(0, round(a) + extra)
    rate = a / aht
    r = erlang_a(n, rate, aht, patience, t, formula=formula)
    for p in (r.p_wait, r.p_abandon, r.answered_within, r.abandoned_within, r.service_level):
        assert -1e-12 <= p <= 1.0 + 1e-12
    assert r.abandoned_within <= r.p_abandon + 1e-9
    if t >= 5.0:  # the short-abandon threshold S = 5 s is within T
        assert r.short_abandoned <= r.abandoned_within + 1e-9
    else:
        assert r.short_abandoned >= r.abandoned_within - 1e-9
    assert r.answered_within <= 1.0 - r.p_abandon + 1e-9
    # Little's law: mean wait of everyone = P(abandon) / θ
    assert math.isclose(r.average_wait, r.p_abandon * patience, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.5, 40.0), aht=AHTS, t=st.floats(0.0, 60.0), extra=st.integers(1, 8))
def test_erlang_a_with_endless_patience_is_erlang_c(
    a: float, aht: float, t: float, extra: int
) -> None:
    n = max(math.floor(a) + extra, math.ceil(a / 0.9))  # away from ρ = 1, where 1e10 s is short
    rate = a / aht
    c = erlang_c_figures(n, rate, aht, t)
    r = erlang_a(n, rate, aht, 1e10, t)
    assert math.isclose(r.p_wait, c.p_wait, rel_tol=1e-5, abs_tol=1e-9)
    assert math.isclose(r.answered_within, c.service_level, rel_tol=1e-5, abs_tol=1e-9)


@settings(max_examples=20, deadline=None)
@given(a=st.floats(1.0, 60.0), aht=AHTS, patience=st.floats(20.0, 600.0), goal=GOALS)
def test_erlang_a_agents_needed_is_the_fewest_meeting_the_goal(
    a: float, aht: float, patience: float, goal: float
) -> None:
    rate = a / aht
    r = agents_needed_erlang_a(rate, aht, patience, 30.0, goal)
    assert r.service_level >= goal
    assert erlang_a(r.agents - 1, rate, aht, patience, 30.0).service_level < goal
