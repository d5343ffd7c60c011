"""`line311 alerts`: times typed by a supervisor are the city's wall-clock times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import typer

from line311.commands.alerts import parse_when

NYC = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "utc"),
    [
        ("2026-01-15T18:00", datetime(2026, 1, 15, 23, 0, tzinfo=UTC)),  # EST, UTC-5
        ("2026-07-04T18:00", datetime(2026, 7, 4, 22, 0, tzinfo=UTC)),  # EDT, UTC-4
        ("2026-03-08T06:00", datetime(2026, 3, 8, 10, 0, tzinfo=UTC)),  # the morning DST starts
        ("2026-11-01T23:00", datetime(2026, 11, 2, 4, 0, tzinfo=UTC)),  # the night DST ends
        ("2026-07-04T18:00+00:00", datetime(2026, 7, 4, 18, 0, tzinfo=UTC)),  # a zone given
    ],
)
def test_given_a_time_without_a_zone_when_parsed_then_it_is_the_citys_wall_clock_time(
    typed: str, utc: datetime
) -> None:
    assert parse_when(typed, NOW, NYC).astimezone(UTC) == utc


def test_relative_times_and_now_count_from_now_and_nonsense_is_refused() -> None:
    assert parse_when("now", NOW, NYC) == NOW
    assert parse_when("+90m", NOW, NYC) == NOW + timedelta(minutes=90)
    assert parse_when("+1d", NOW, NYC) == NOW + timedelta(days=1)
    with pytest.raises(typer.BadParameter):
        parse_when("tomorrow", NOW, NYC)
