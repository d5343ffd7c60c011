"""Column types shared by the models.

`UtcDateTime` stores instants, never wall-clock times: it refuses naive datetimes on the way
in, stores UTC, and always hands back timezone-aware UTC datetimes, on SQLite (which has no
timezone type: values are kept as fixed-width UTC text, so they sort correctly) as on
PostgreSQL (``timestamptz``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["JsonDocument", "UtcDateTime"]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give a timezone")
        try:
            utc = value.astimezone(UTC)
        except OverflowError:  # year 1 east of UTC, year 9999 west of it
            raise ValueError(f"datetime {value.isoformat()} is out of range in UTC") from None
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json_type() -> TypeEngine[Any]:
    return JSON().with_variant(postgresql.JSONB(), "postgresql")


JsonDocument: TypeEngine[Any] = _json_type()
"""JSON on SQLite, JSONB on PostgreSQL."""
