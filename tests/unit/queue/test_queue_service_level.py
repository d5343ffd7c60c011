"""Service-level policy and statistics: the five formulas, derived figures, merging."""

from __future__ import annotations

import pytest

from line311.queue.errors import IncompatibleStatsError, InvalidParameterError
from line311.queue.service_level import (
    AgentTimeStats,
    IntervalStats,
    SlFormula,
    SlPolicy,
    interval_start,
    merge_stats,
)

# 10 answered (7 within 30 s), 4 abandoned (1 within 5 s, 2 within 30 s), 1 timed out.
STATS = IntervalStats(
    offered=16,
    answered=10,
    answered_within=7,
    abandoned=4,
    abandoned_within=2,
    short_abandons=1,
    timed_out=1,
    handled=8,
    answer_wait_total=150.0,
    abandon_wait_total=100.0,
    longest_wait=95.0,
    talk_total=1200.0,
    hold_total=60.0,
    wrapup_total=180.0,
)


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        (SlFormula.ASTERISK_SL2, (7 + 2) / (10 + 4 + 1)),
        (SlFormula.ANSWERED_ONLY, 7 / 10),
        (SlFormula.ALL_CALLS, 7 / (10 + 4 + 1)),
        (SlFormula.EXCLUDE_ABANDONS_WITHIN_THRESHOLD, 7 / (10 + 2 + 1)),
        (SlFormula.EXCLUDE_SHORT_ABANDONS, 7 / (10 + 3 + 1)),
    ],
)
def test_each_formula_is_the_one_in_the_reference(formula: SlFormula, expected: float) -> None:
    assert STATS.service_level(formula) == pytest.approx(expected)


def test_default_policy_is_80_30_excluding_short_abandons_of_5_seconds() -> None:
    policy = SlPolicy()
    assert (policy.threshold, policy.goal) == (30.0, 0.80)
    assert policy.formula is SlFormula.EXCLUDE_SHORT_ABANDONS
    assert policy.short_abandon_threshold == 5.0
    assert STATS.service_level() == STATS.service_level(SlFormula.EXCLUDE_SHORT_ABANDONS)


def test_derived_figures() -> None:
    assert STATS.asa == pytest.approx(15.0)
    assert STATS.abandon_rate == pytest.approx(4 / 16)
    assert STATS.average_abandon_wait == pytest.approx(25.0)
    assert STATS.aht == pytest.approx((1200 + 60 + 180) / 8)
    assert STATS.meets(SlPolicy(goal=0.5)) is True
    assert STATS.meets(SlPolicy(goal=0.9)) is False


def test_given_no_calls_when_deriving_then_every_figure_is_undefined() -> None:
    empty = IntervalStats()
    assert all(empty.service_level(f) is None for f in SlFormula)
    assert (empty.asa, empty.abandon_rate, empty.aht, empty.meets()) == (None, None, None, None)


def test_given_only_short_abandons_when_excluding_them_then_sl_is_undefined_not_zero() -> None:
    stats = IntervalStats(offered=2, abandoned=2, abandoned_within=2, short_abandons=2)
    assert stats.service_level(SlFormula.EXCLUDE_SHORT_ABANDONS) is None
    assert stats.service_level(SlFormula.ALL_CALLS) == 0.0
    assert stats.service_level(SlFormula.ASTERISK_SL2) == 1.0


def test_merging_adds_counters_and_keeps_the_longest_wait() -> None:
    other = IntervalStats(offered=3, answered=3, answered_within=3, longest_wait=120.0)
    total = STATS + other
    assert total.offered == 19
    assert total.answered_within == 10
    assert total.longest_wait == 120.0
    assert merge_stats([STATS, other]) == total
    assert merge_stats([]) == IntervalStats()


def test_merging_statistics_counted_with_other_thresholds_is_refused() -> None:
    with pytest.raises(IncompatibleStatsError, match=r"T=30\.0"):
        _ = STATS + IntervalStats.empty(SlPolicy(threshold=20))
    with pytest.raises(IncompatibleStatsError):
        STATS.meets(SlPolicy(short_abandon_threshold=10))


def test_adding_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _ = STATS + 1  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = AgentTimeStats() + 1  # type: ignore[operator]


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 0}, {"goal": 0}, {"goal": 1.5}, {"short_abandon_threshold": -1}],
)
def test_policy_refuses_values_out_of_range(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError):
        SlPolicy(**kwargs)  # type: ignore[arg-type]


def test_agent_time_occupancy_is_busy_over_staffed_and_ignores_pauses() -> None:
    t = AgentTimeStats(available=100, reserved=20, on_call=600, wrap_up=180, paused=900)
    assert t.staffed == 900
    assert t.busy == 780
    assert t.occupancy == pytest.approx(780 / 900)
    assert AgentTimeStats().occupancy is None
    assert (t + t).occupancy == pytest.approx(780 / 900)


def test_interval_start_aligns_to_the_epoch() -> None:
    assert interval_start(1_800_000_123.5) == 1_800_000_000
    assert interval_start(899.9) == 0
    assert interval_start(900.0) == 900
    assert interval_start(2700.0, 1800) == 1800
