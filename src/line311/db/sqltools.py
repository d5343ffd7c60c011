"""Small statement builders that differ by dialect (kept in one place)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["insert_ignoring_conflict"]


def insert_ignoring_conflict(
    session: Session, model: Any, values: Mapping[str, Any], keys: Sequence[str]
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING`` for the session's dialect.

    Nothing is raised on a duplicate key, so no transaction is spoiled and nothing is rolled
    back: add ``.returning(...)`` to learn whether the row was inserted.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
    return sqlite.insert(model).values(**values).on_conflict_do_nothing(index_elements=keys)
