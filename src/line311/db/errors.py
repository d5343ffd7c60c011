"""Errors of the storage layer.

DbError                       (line311.errors.Line311Error)
├── SchemaNotCurrent          the database's schema is behind (or ahead of) this code
├── DbUnavailable             remote: the database cannot be reached
├── RecordRefused             local: the database refused a record's values (retrying won't help)
├── RecordConflict            a record with the same id but different content exists
├── calls.InvalidCursor       a pagination cursor this code did not produce
└── api_keys.InvalidApiKey    a key asked for with a bad name, or a CCR that does not fit its scope
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = ["DbError", "DbUnavailable", "RecordConflict", "RecordRefused", "SchemaNotCurrent"]


class DbError(Line311Error):
    """Base of the storage layer's errors."""


class SchemaNotCurrent(DbError):
    """The schema revision of the database is not the one this code was written for."""


class DbUnavailable(DbError):
    """The database server cannot be reached or refused the connection."""


class RecordRefused(DbError):
    """The database refused the values of a record (a time out of range, a text too long for
    its column, a NUL): the same write will fail again, so it is no availability problem."""


class RecordConflict(DbError):
    """An idempotent write met an existing record with the same key but other content."""
