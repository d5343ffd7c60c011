"""Storage: SQLAlchemy 2 models, repositories and Alembic migrations (an edge).

SQLite is the embedded default, PostgreSQL the production store; the same code and the same
tests serve both. Services call `ensure_schema_current` at start-up; operators run
``line311 db upgrade``.

Errors (see `line311.db.errors`)::

    DbError
    ├── SchemaNotCurrent
    ├── DbUnavailable
    ├── RecordConflict
    ├── InvalidCursor
    └── InvalidApiKey (line311.db.api_keys)
"""

from __future__ import annotations

from line311.db.calls import (
    AddOutcome,
    AddResult,
    Call,
    CallFilter,
    CallPage,
    CallRepository,
    InvalidCursor,
)
from line311.db.engine import engine_from_settings, make_engine, make_session_factory, safe_url
from line311.db.errors import DbError, DbUnavailable, RecordConflict, SchemaNotCurrent
from line311.db.migrate import (
    current_revision,
    downgrade,
    ensure_schema_current,
    head_revision,
    upgrade,
)

__all__ = [
    "AddOutcome",
    "AddResult",
    "Call",
    "CallFilter",
    "CallPage",
    "CallRepository",
    "DbError",
    "DbUnavailable",
    "InvalidCursor",
    "RecordConflict",
    "SchemaNotCurrent",
    "current_revision",
    "downgrade",
    "engine_from_settings",
    "ensure_schema_current",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "safe_url",
    "upgrade",
]
