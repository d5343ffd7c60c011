"""Service-level reports: intervals and totals over a range, exact sums, and CSV."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import pytest

from line311.queue.errors import InvalidParameterError
from line311.queue.events import AgentActivity, AgentStateChanged, CallAbandoned, CallAnswered
from line311.queue.events import CallEnqueued as Enq
from line311.queue.intervals import IntervalAccumulator
from line311.queue.report import CSV_COLUMNS, build_sl_report, render_csv

DAY = 1_700_006_400  # 2023-11-15 00:00 UTC
assert DAY % 86400 == 0


def accumulator() -> IntervalAccumulator:
    acc = IntervalAccumulator()
    acc.feed_all(
        [
            Enq("a", "housing", DAY + 60),
            CallAnswered("a", "housing", DAY + 80, agent_id="x"),  # 20 s
            Enq("b", "housing", DAY + 1000),
            CallAnswered("b", "housing", DAY + 1100, agent_id="x"),  # 100 s
            Enq("c", "housing", DAY + 2000),
            CallAbandoned("c", "housing", DAY + 2002),  # short abandon
            Enq("d", "noise", DAY + 3700),
            CallAnswered("d", "noise", DAY + 3710, agent_id="y"),
            AgentStateChanged("x", AgentActivity.AVAILABLE, DAY),
            AgentStateChanged("x", AgentActivity.ON_CALL, DAY + 900),
            AgentStateChanged("x", AgentActivity.AVAILABLE, DAY + 1800),
        ]
    )
    return acc


def test_rows_per_interval_then_a_total_that_is_their_sum() -> None:
    acc = accumulator()
    rows = build_sl_report(
        acc.intervals(),
        DAY,
        DAY + 3600,
        interval=1800,
        queues=["housing"],
        agent_time=acc.agent_time(),
    )
    assert [(r.start - DAY, r.end - DAY, r.is_total) for r in rows] == [
        (0, 1800, False),
        (1800, 3600, False),
        (0, 3600, True),
    ]
    first, second, total = rows
    assert (first.stats.offered, first.stats.answered_within) == (2, 1)
    assert first.stats.service_level() == 0.5
    assert second.stats.short_abandons == 1
    assert second.stats.service_level() is None  # only a short abandon: nothing counts
    assert total.stats == first.stats + second.stats
    assert first.occupancy == 0.5
    assert total.occupancy == 0.5


def test_empty_intervals_are_listed_unless_asked_not_to() -> None:
    stats = accumulator().intervals()
    rows = build_sl_report(stats, DAY, DAY + 86400, interval=3600, queues=["noise"])
    assert len(rows) == 25
    rows = build_sl_report(stats, DAY, DAY + 86400, interval=3600, include_empty=False)
    assert [(r.queue, r.start - DAY, r.is_total) for r in rows] == [
        ("housing", 0, False),
        ("housing", 0, True),
        ("noise", 3600, False),
        ("noise", 0, True),
    ]
    assert [r.is_total for r in build_sl_report(stats, DAY, DAY + 86400, interval=None)] == [
        True,
        True,
    ]


def test_a_range_not_on_interval_boundaries_ends_with_a_short_interval() -> None:
    rows = build_sl_report(accumulator().intervals(), DAY + 900, DAY + 4500, queues=["housing"])
    assert [(r.start - DAY, r.end - DAY) for r in rows] == [
        (900, 1800),
        (1800, 3600),
        (3600, 4500),
        (900, 4500),
    ]


@pytest.mark.parametrize(
    ("start", "end", "interval"),
    [(DAY + 1, DAY + 900, 900), (DAY, DAY, 900), (DAY, DAY + 900, 600), (DAY, DAY + 900, 0)],
)
def test_bad_ranges_and_intervals_are_refused(start: int, end: int, interval: int) -> None:
    with pytest.raises(InvalidParameterError):
        build_sl_report({}, start, end, interval=interval)


def test_csv_has_a_header_iso_times_and_empty_cells_for_undefined_figures() -> None:
    rows = build_sl_report(accumulator().intervals(), DAY, DAY + 3600, queues=["housing"])
    text = render_csv(rows, tz=ZoneInfo("America/New_York"))
    table = list(csv.DictReader(io.StringIO(text)))
    assert tuple(table[0]) == CSV_COLUMNS
    assert table[0]["interval_start"] == "2023-11-14T19:00:00-05:00"
    assert table[0]["scope"] == "interval"
    assert (table[0]["service_level"], table[0]["goal_met"], table[0]["asa_seconds"]) == (
        "0.5",
        "no",
        "60",
    )
    assert table[1]["service_level"] == ""
    assert table[1]["occupancy"] == ""
    assert table[2]["scope"] == "total"
    assert table[2]["offered"] == "3"
