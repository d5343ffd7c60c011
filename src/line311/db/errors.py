"""Errors of the storage layer.

DbError                       (line311.errors.Line311Error)
├── SchemaNotCurrent          the database's schema is behind (or ahead of) this code
├── DbUnavailable             remote: the database cannot be reached
├── RecordConflict            a record with the same id but different content exists
└── calls.InvalidCursor       a pagination cursor this code did not produce
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = ["DbError", "DbUnavailable", "RecordConflict", "SchemaNotCurrent"]


class DbError(Line311Error):
    """Base of the storage layer's errors."""


class SchemaNotCurrent(DbError):
    """The schema revision of the database is not the one this code was written for."""


class DbUnavailable(DbError):
    """The database server cannot be reached or refused the connection."""


class RecordConflict(DbError):
    """An idempotent write met an existing record with the same key but other content."""
