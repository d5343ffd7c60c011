"""Values in a call record: times on the wall clock, ISO-8601, and checked fields (pure).

Every stored time is an aware UTC `datetime` taken from the POSIX wall clock; the IVR path's
own times are moved onto that clock by `path_on_wall_clock`. The ``_str`` / ``_num`` /
``_mapping`` / ``_known`` checks raise `RecordError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from line311.call.outcome import RecordError

__all__ = ["from_timestamp", "parse_time", "path_on_wall_clock"]


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


def _num(value: object, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{name} must be a number")
    if value < 0:
        raise RecordError(f"{name} must not be negative")
    return float(value)


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecordError(f"{name} must be an object")
    return value


def _known(data: Mapping[str, Any], cls: type[Any], name: str) -> None:
    unknown = sorted(set(data) - {f.name for f in fields(cls)})
    if unknown:
        raise RecordError(f"{name}: unknown field(s) {', '.join(unknown)}")
