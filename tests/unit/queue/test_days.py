"""Calendar days in the center's time zone: 23-, 24- and 25-hour days, midnights the clocks
skip or repeat; the wallboard, the live journal and the reports cut days the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from line311.dashboard import state
from line311.live.journal import LiveJournal
from line311.queue.days import local_date_start, local_day_start
from line311.queue.events import CallEnqueued

NEW_YORK = ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0) -> float:
    return datetime(year, month, day, hour, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("zone", "day", "start", "hours"),
    [
        ("America/New_York", date(2026, 6, 1), utc(2026, 6, 1, 4), 24),
        ("America/New_York", date(2026, 3, 8), utc(2026, 3, 8, 5), 23),  # clocks forward at 2:00
        ("America/New_York", date(2026, 11, 1), utc(2026, 11, 1, 4), 25),  # back at 2:00
        # forward at midnight: the day begins at 01:00 new time, 23:59:59 was the day before
        ("America/Santiago", date(2022, 9, 11), utc(2022, 9, 11, 4), 23),
        # back at 01:00 to 00:00: the day begins at the first of its two midnights
        ("America/Havana", date(2022, 11, 6), utc(2022, 11, 6, 4), 25),
        ("UTC", date(2026, 3, 8), utc(2026, 3, 8), 24),
    ],
)
def test_a_day_starts_at_its_first_local_instant_and_lasts_until_the_next_one(
    zone: str, day: date, start: float, hours: int
) -> None:
    tz = ZoneInfo(zone)
    assert local_date_start(day, tz) == start
    end = local_date_start(day + timedelta(days=1), tz)
    assert end - start == hours * 3600
    assert datetime.fromtimestamp(start, tz).date() == day
    assert datetime.fromtimestamp(start - 1, tz).date() == day - timedelta(days=1)
    for at in (start, start + 1, (start + end) / 2, end - 1):
        assert local_day_start(at, tz) == start
    assert local_day_start(end, tz) == end


def test_given_every_half_hour_of_a_year_then_the_journal_cuts_the_wallboards_days() -> None:
    journal = LiveJournal(None, [CallEnqueued], tz=NEW_YORK)  # type: ignore[arg-type]  # no I/O
    at = datetime(2026, 1, 1, tzinfo=NEW_YORK).timestamp()
    for step in range(0, 366 * 24 * 3600, 1800):
        t = at + step
        start = local_day_start(t, NEW_YORK)
        assert journal.day_start(t) == start
        assert start == local_date_start(datetime.fromtimestamp(t, NEW_YORK).date(), NEW_YORK)


def test_the_wallboard_still_exports_local_day_start() -> None:
    assert state.local_day_start is local_day_start
