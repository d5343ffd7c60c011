"""The monthly report: rows by queue and language, by queue, by language and the total;
calls belong to the month they entered in, and rows spanning queues never add thresholds."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from line311.queue.errors import InvalidParameterError
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.monthly import (
    MONTHLY_COLUMNS,
    build_monthly_report,
    month_bounds,
    render_monthly_csv,
)
from line311.queue.service_level import SlPolicies, SlPolicy

START = 1_793_491_200.0  # 2026-11-01 00:00 UTC
END = 1_796_083_200.0  # 2026-12-01 00:00 UTC
MONTH = "2026-11"


def events() -> list[object]:
    t = START + 3600
    return [
        # housing, English: answered in 10 s and in 60 s
        CallEnqueued("h1", "housing", t, language="en"),
        CallAnswered("h1", "housing", t + 10, agent_id="a"),
        CallEnqueued("h2", "housing", t + 100, language="en"),
        CallAnswered("h2", "housing", t + 160, agent_id="a"),
        # housing, Spanish: abandoned after 20 s (not short)
        CallEnqueued("h3", "housing", t + 200, language="es"),
        CallAbandoned("h3", "housing", t + 220),
        # noise, Spanish: answered in 5 s; one timed out
        CallEnqueued("n1", "noise", t + 300, language="es"),
        CallAnswered("n1", "noise", t + 305, agent_id="b"),
        CallEnqueued("n2", "noise", t + 400, language="es"),
        CallTimedOut("n2", "noise", t + 1000),
        # agent activity is not a call: ignored
        AgentStateChanged("a", AgentActivity.AVAILABLE, t),
        # entered the month before: its later facts are not this month's
        CallEnqueued("old", "housing", START - 10),
        CallAnswered("old", "housing", START + 5, agent_id="a"),
        # entered the month after
        CallEnqueued("next", "housing", END),
    ]


def by_scope(rows: list, scope: str) -> dict[tuple[str, str], object]:
    return {(r.queue, r.language): r for r in rows if r.scope == scope}


def test_rows_come_per_queue_and_language_then_queue_then_language_then_total() -> None:
    rows = build_monthly_report(events(), MONTH, START, END)
    assert [(r.scope, r.queue, r.language) for r in rows] == [
        ("queue-language", "housing", "en"),
        ("queue-language", "housing", "es"),
        ("queue", "housing", "all"),
        ("queue-language", "noise", "es"),
        ("queue", "noise", "all"),
        ("language", "all", "en"),
        ("language", "all", "es"),
        ("total", "all", "all"),
    ]
    assert {r.month for r in rows} == {MONTH}


def test_counts_and_figures_of_each_row() -> None:
    rows = build_monthly_report(events(), MONTH, START, END)
    housing = by_scope(rows, "queue")[("housing", "all")]
    assert (housing.offered, housing.answered, housing.answered_within) == (3, 2, 1)
    assert (housing.abandoned, housing.short_abandons, housing.timed_out) == (1, 0, 0)
    assert housing.asa == pytest.approx(35.0)  # (10 + 60) / 2
    assert housing.service_level == pytest.approx(1 / 3)
    assert housing.abandon_rate == pytest.approx(1 / 3)
    assert housing.threshold == 30.0
    assert housing.goal == 0.80
    assert housing.goal_met is False

    noise_es = by_scope(rows, "queue-language")[("noise", "es")]
    assert (noise_es.offered, noise_es.answered, noise_es.timed_out) == (2, 1, 1)
    assert noise_es.service_level == pytest.approx(0.5)

    total = by_scope(rows, "total")[("all", "all")]
    assert (total.offered, total.answered, total.abandoned, total.timed_out) == (5, 3, 1, 1)
    assert total.asa == pytest.approx((10 + 60 + 5) / 3)
    assert total.service_level == pytest.approx(2 / 5)


def test_a_row_with_no_answered_call_has_no_asa() -> None:
    rows = build_monthly_report(events(), MONTH, START, END)
    housing_es = by_scope(rows, "queue-language")[("housing", "es")]
    assert housing_es.answered == 0
    assert housing_es.asa is None


def test_rows_spanning_queues_with_different_thresholds_have_none() -> None:
    policies = SlPolicies(SlPolicy(), {"noise": SlPolicy(threshold=60.0, goal=0.5)})
    rows = build_monthly_report(events(), MONTH, START, END, policies)
    noise = by_scope(rows, "queue")[("noise", "all")]
    assert (noise.threshold, noise.goal) == (60.0, 0.5)
    assert noise.goal_met is True  # 1 of 2 within 60 s, goal 50%
    spanning = by_scope(rows, "language")[("all", "es")]
    assert (spanning.threshold, spanning.goal) == (None, None)
    assert spanning.goal_met is None
    assert spanning.service_level is not None
    total = by_scope(rows, "total")[("all", "all")]
    assert (total.threshold, total.goal, total.goal_met) == (None, None, None)


def test_a_listed_queue_without_calls_gets_an_empty_row() -> None:
    rows = build_monthly_report([], MONTH, START, END, queues=["streets"])
    assert [(r.scope, r.queue, r.language) for r in rows] == [
        ("queue", "streets", "all"),
        ("total", "all", "all"),
    ]
    for row in rows:
        assert row.offered == 0
        assert row.abandon_rate is None
        assert row.service_level is None
        assert row.asa is None
        assert row.goal_met is None


def test_a_call_without_a_language_is_counted_as_unknown() -> None:
    rows = build_monthly_report(
        [CallEnqueued("x", "housing", START + 1, language="")], MONTH, START, END
    )
    assert ("language", "all", "unknown") in [(r.scope, r.queue, r.language) for r in rows]


def test_events_in_any_order_give_the_same_report() -> None:
    forward = build_monthly_report(events(), MONTH, START, END)
    backward = build_monthly_report(list(reversed(events())), MONTH, START, END)
    assert forward == backward


def test_csv_has_the_header_and_one_line_per_row() -> None:
    rows = build_monthly_report(events(), MONTH, START, END, queues=["streets"])
    text = render_monthly_csv(rows)
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == MONTHLY_COLUMNS
    assert len(table) == len(rows) + 1
    lines = [dict(zip(MONTHLY_COLUMNS, line, strict=True)) for line in table[1:]]
    streets = next(line for line in lines if line["queue"] == "streets")
    assert streets["service_level"] == ""  # undefined: empty
    assert streets["goal_met"] == ""
    housing = next(
        line for line in lines if line["scope"] == "queue" and line["queue"] == "housing"
    )
    assert housing["goal_met"] == "no"
    assert housing["offered"] == "3"
    assert housing["asa_seconds"] == "35"


def test_month_bounds_are_the_local_midnights_that_open_the_month_and_the_next() -> None:
    assert month_bounds(MONTH, UTC) == (START, END)
    ny = ZoneInfo("America/New_York")
    assert month_bounds("2026-12", ny) == (1_796_101_200.0, 1_798_779_600.0)  # -05:00 both


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "", "2026-11-01", "x", "0000-01"])
def test_month_bounds_refuse_what_is_not_a_month(month: str) -> None:
    with pytest.raises(InvalidParameterError, match="YYYY-MM"):
        month_bounds(month, UTC)


def test_month_bounds_refuse_the_last_month_of_the_calendar_with_a_clear_error() -> None:
    """December 9999 has no next month to end on: a clear error, not a crash."""
    assert month_bounds("9999-11", UTC)[1] > month_bounds("9999-11", UTC)[0]
    with pytest.raises(InvalidParameterError, match="9999-12"):
        month_bounds("9999-12", UTC)
