"""Self-service content: what the info nodes say on a given day (pure model).

The content file (``content/nyc311.yaml``, validated by `line311.ivr.validate`) holds dated
suspensions and closures, weekly patterns and the city holidays. `info_for` turns it into a
session's ``info`` mapping for one local date: prompt ids from the catalogue and
``say:date:`` tokens, so the session speaks it in the caller's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from line311.errors import ConfigError

__all__ = [
    "CONTENT_SECTIONS",
    "Content",
    "ContentError",
    "DatedEntry",
    "Holiday",
    "Section",
    "info_for",
]


class ContentError(ConfigError):
    """The self-service content file is invalid; the message names the section and entry."""


CONTENT_SECTIONS: Mapping[str, tuple[str, str, str]] = {
    # section: (info key, prompt when the dated/weekly/holiday rule applies, prompt otherwise)
    "alternate_side_parking": ("asp_today", "asp_suspended", "asp_in_effect"),
    "collection": ("collection", "collection_delayed", "collection_on_schedule"),
    "schools": ("school_closures", "schools_closed", "schools_open"),
    "government_offices": ("office_closures", "offices_closed", "offices_open"),
}
"""The content file's sections and what each says: the first prompt on a day the section's
rule applies (suspended, delayed, closed), the second on other days."""


@dataclass(frozen=True, slots=True)
class DatedEntry:
    """A rule that applies from ``start`` to ``end`` (inclusive)."""

    start: dt.date
    end: dt.date
    reason: str
    say: tuple[str, ...] = ()
    """Extra prompt ids (or ``say:`` tokens) spoken after the section's prompt."""


@dataclass(frozen=True, slots=True)
class Section:
    weekdays: frozenset[int] = frozenset()
    """Days of the week (0 = Monday) on which the rule applies every week."""
    holidays: bool = False
    """Whether the rule applies on every city holiday."""
    dates: tuple[DatedEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Holiday:
    date: dt.date
    name: str


@dataclass(frozen=True, slots=True)
class Content:
    """Validated self-service content. Build one with `parse_content`."""

    version: int
    holidays: tuple[Holiday, ...]
    sections: Mapping[str, Section]
    fingerprint: str = ""


def info_for(content: Content, today: dt.date) -> dict[str, list[str]]:
    """What each info node says on ``today`` (a local date): prompt ids and ``say:`` tokens.

    ``holiday_schedule`` names the next city holiday on or after today; it is absent when
    the file lists none (the session then says "information unavailable").
    """
    holiday_dates = {h.date for h in content.holidays}
    info: dict[str, list[str]] = {}
    for name, (key, applies_prompt, otherwise_prompt) in CONTENT_SECTIONS.items():
        section = content.sections.get(name, Section())
        entry = next((e for e in section.dates if e.start <= today <= e.end), None)
        if entry is not None:
            info[key] = [applies_prompt, *entry.say]
        elif today.weekday() in section.weekdays or (section.holidays and today in holiday_dates):
            info[key] = [applies_prompt]
        else:
            info[key] = [otherwise_prompt]
    upcoming = sorted(h.date for h in content.holidays if h.date >= today)
    if upcoming:
        info["holiday_schedule"] = ["holiday_next", f"say:date:{upcoming[0].isoformat()}"]
    return info
