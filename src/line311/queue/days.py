"""Calendar days in the center's time zone (pure).

A day starts at local midnight and lasts 23, 24 or 25 hours (the days the clocks change),
so its bounds come from the calendar, never from adding 86,400 s. Where the clocks change
at midnight itself, the day starts at the first instant that carries its date: 01:00 on a
day that skips midnight, the first of the two midnights on one that repeats it.

Here, below the wallboard (`line311.dashboard`), the live journal (`line311.live`) and the
reports (`line311.commands`), so that they all cut days the same way.
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo

__all__ = ["local_date_start", "local_day_start"]


def local_date_start(day: date, tz: tzinfo) -> float:
    """The start of the calendar date ``day`` in ``tz`` (POSIX seconds): its local midnight."""
    # fold=0: a midnight the clocks skip is read with the offset before the change, which
    # is the instant the day begins (01:00 new time); a repeated one is the first of the two
    return datetime.combine(day, time(0), tz).timestamp()


def local_day_start(at: float, tz: tzinfo) -> float:
    """The start of ``at``'s day in ``tz``: local midnight, whatever the day's length."""
    return local_date_start(datetime.fromtimestamp(at, tz).date(), tz)
