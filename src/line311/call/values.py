"""Values in a call record: times on the wall clock, ISO-8601, and checked fields (pure).

Every stored time is an aware UTC `datetime` taken from the POSIX wall clock; the IVR path's
own times are moved onto that clock by `path_on_wall_clock`. The ``_str`` / ``_num`` /
``_mapping`` / ``_known`` checks raise `RecordError` naming the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, Final

from line311.call.outcome import RecordError

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "NAME_PATTERN",
    "OTHER_LANGUAGE",
    "check_instant",
    "from_timestamp",
    "in_year_range",
    "is_record_name",
    "parse_time",
    "path_on_wall_clock",
]

FIRST_YEAR: Final = 1900
LAST_YEAR: Final = 9998
"""Instants line311 accepts lie within these years in UTC: every database and datetime
library can store them, and the end of a range after them can still be computed (a year 1
time west of UTC, or a year 9999 one east of it, overflows `datetime` once moved to UTC)."""

OTHER_LANGUAGE: Final = "und"
"""A call's language when the caller speaks none of the IVR's seven (the language menu's
"for all other languages" key): ISO 639 / BCP 47 *undetermined*. The IVR speaks English to
such a caller; routing gives the call to an English-speaking CCR with the interpreter line
conferenced in from the start (`line311.routing.decide`); records, queue events and reports
carry it as the call's language."""

NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$"
"""A queue or CCR id in a call record (at most 64 characters: the indexed columns' size)."""
_NAME: Final = re.compile(NAME_PATTERN[1:-1])  # used with fullmatch: "$" would allow a "\n"


def path_on_wall_clock(path: Any, offset: float) -> Any:
    """``path`` with every time in it (a number under a key ``at`` or ``*_at``) moved by
    ``offset`` seconds, from the session's clock onto the wall clock; nothing else changes."""
    if isinstance(path, Mapping):
        return {
            key: (
                round(value + offset, 3)
                if (key == "at" or key.endswith("_at"))
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                else path_on_wall_clock(value, offset)
            )
            for key, value in path.items()
        }
    if isinstance(path, list):
        return [path_on_wall_clock(item, offset) for item in path]
    return path


def from_timestamp(ts: float) -> datetime:
    """A POSIX wall-clock time as an aware UTC datetime (millisecond precision)."""
    return datetime.fromtimestamp(round(ts, 3), tz=UTC)


def parse_time(value: object, name: str) -> datetime:
    """An aware datetime from a datetime or an ISO-8601 string; `RecordError` otherwise."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(f"{name} is not an ISO-8601 time") from None
    else:
        raise RecordError(f"{name} must be an ISO-8601 time")
    if when.tzinfo is None:
        raise RecordError(f"{name} must carry a timezone")
    return check_instant(when, name)


def in_year_range(when: datetime) -> bool:
    """Whether the aware ``when`` lies within `FIRST_YEAR`..`LAST_YEAR` in UTC."""
    try:
        return FIRST_YEAR <= when.astimezone(UTC).year <= LAST_YEAR
    except OverflowError:  # year 1 west of UTC, year 9999 east of it
        return False


def check_instant(when: datetime, name: str) -> datetime:
    """``when`` if it lies within the years line311 stores; `RecordError` otherwise."""
    if not in_year_range(when):
        raise RecordError(f"{name} must lie between the years {FIRST_YEAR} and {LAST_YEAR} (UTC)")
    return when


def _opt_time(value: object, name: str) -> datetime | None:
    return None if value is None else parse_time(value, name)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds")


def _str(value: object, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RecordError(f"{name} must be a string")
    return value


def is_record_name(value: str) -> bool:
    """Whether ``value`` may be a queue or CCR id in a call record (`NAME_PATTERN`): the
    routing configuration refuses the names a record could not carry."""
    return _NAME.fullmatch(value) is not None


def _name(value: object, name: str, *, optional: bool = False) -> Any:
    """A queue or CCR id (`NAME_PATTERN`); `RecordError` naming the field otherwise."""
    text = _str(value, name, optional=optional)
    if text is not None and not is_record_name(text):
        raise RecordError(
            f"{name} must be 1-64 letters, digits or . _ : @ - (starting with a letter or digit)"
        )
    return text


def _num(value: object, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{name} must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer literal past float's range (10**400)
        raise RecordError(f"{name} is too large") from None
    if not math.isfinite(number):
        raise RecordError(f"{name} must be a finite number")
    if number < 0:
        raise RecordError(f"{name} must not be negative")
    return number


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecordError(f"{name} must be an object")
    return value


def _known(data: Mapping[str, Any], cls: type[Any], name: str) -> None:
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise RecordError(f"{name}: unknown field(s) {', '.join(unknown)}")
