"""A time zone in which it is about noon now, for e2e tests that compare "today's" figures
before and after something: in the city's own zone a run that crosses its midnight would
start a new day between the two readings."""

from __future__ import annotations

import time


def noon_zone(now: float | None = None) -> str:
    """The ``Etc/GMT±N`` zone (POSIX signs: ``Etc/GMT-10`` is UTC+10) where the local hour of
    ``now`` is 12 or 13: at least ~10 hours from either midnight."""
    utc_hour = time.gmtime(time.time() if now is None else now).tm_hour
    offset = 12 - utc_hour  # -11 .. +12 hours east of UTC
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
