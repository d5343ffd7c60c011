"""Service requests (SRs): filing, lookup by SR number or token, and Open311 searches.

Theory of operation
-------------------
An SR's number is derived from its row id: the row is inserted, flushed to learn its id,
and given ``make_sr_number(id)`` (``line311.call.srnumber``: prefix 311, 8-digit sequence,
Damm check digit) in the same transaction, so numbers are unique without a second counter
and a caller can key one back on the phone. A random ``token`` is issued too (Open311's
``tokens/{token}``).

Searches follow Open311 GeoReport v2: at most 1000 results, newest first, ``requested_at``
within a window that defaults to the last 90 days and may not span more than 90 days; when
SR numbers are given, the other filters are ignored. The window is taken on the time Open311
shows, ``requested_datetime`` to the second: an SR filed at 14:00:00.6 reads 14:00:00, so a
window ending at 14:00:00 holds it (and one starting at 14:00:00.5 does not).

`ServiceRequestStore.search_public` is the Open311 hot path: it reads only the
`PUBLIC_FIELDS` (no personal data, no attributes to decode) as plain rows, up to 1000 of
them per answer, with no object built per row. The SR values themselves (`ServiceRequest`,
`NewServiceRequest`, `PUBLIC_FIELDS`) are in `line311.db.sr_values`; this module re-exports
them as the store's API.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, Table, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from line311.call.srnumber import SR_SEQUENCE_MAX, make_sr_number
from line311.db.coltypes import UtcDateTime
from line311.db.errors import DbError, DbUnavailable
from line311.db.models import ServiceRequestRow, ServiceRow
from line311.db.outbox import OutboxKind, enqueue
from line311.db.sr_values import (
    PUBLIC_FIELDS,
    SR_COLUMN_FIELDS,
    NewServiceRequest,
    ServiceRequest,
    Status,
    UnknownService,
    sr_payload,
)

__all__ = [
    "MAX_SEARCH_DEPTH",
    "MAX_SEARCH_RESULTS",
    "MAX_SEARCH_SPAN",
    "PUBLIC_FIELDS",
    "NewServiceRequest",
    "ServiceRequest",
    "ServiceRequestStore",
    "Status",
    "UnknownService",
    "sr_payload",
]

MAX_SEARCH_RESULTS = 1000
MAX_SEARCH_SPAN = timedelta(days=90)
MAX_SEARCH_DEPTH = 100_000
"""How far into a window's answers a search may page (``offset + limit``): deeper pages
make the database walk every row before them."""


_SR_COLUMNS = tuple(getattr(ServiceRequestRow, name) for name in SR_COLUMN_FIELDS)

_SRS: Table = ServiceRequestRow.__table__  # type: ignore[assignment]
_SERVICES: Table = ServiceRow.__table__  # type: ignore[assignment]
_PUBLIC_COLUMNS = tuple(
    _SERVICES.c.service_name if name == "service_name" else _SRS.c[name] for name in PUBLIC_FIELDS
)
_ISO_SECONDS_UTC = 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'
_PG_PUBLIC_COLUMNS = tuple(
    func.to_char(func.timezone("UTC", column), _ISO_SECONDS_UTC).label(column.name)
    if isinstance(column.type, UtcDateTime)
    else column
    for column in _PUBLIC_COLUMNS
)
"""`_PUBLIC_COLUMNS` for PostgreSQL: instants already formatted as ``iso`` writes them
(to the second, ``+00:00``), so that no datetime is built in Python on the hot path."""


_SECOND = timedelta(seconds=1)


def _whole_second_down(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _whole_second_up(value: datetime) -> datetime:
    down = value.replace(microsecond=0)
    return down if down == value else down + _SECOND


def _to_sr(row: ServiceRequestRow, service_name: str) -> ServiceRequest:
    values = {name: getattr(row, name) for name in SR_COLUMN_FIELDS}
    return ServiceRequest(service_name=service_name, **values)


class ServiceRequestStore:
    """Files and finds service requests."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        forward: bool = False,
    ) -> None:
        """``forward``: also write filings and status changes to the outbox."""
        self._sessions = sessions
        self._clock = clock
        self._forward = forward

    def create(self, new: NewServiceRequest) -> ServiceRequest:
        """File ``new``; raises `UnknownService` for a code not in the active catalogue."""
        now = self._clock()
        try:
            with self._sessions.begin() as session:
                service = session.get(ServiceRow, new.service_code)
                if service is None or not service.active:
                    raise UnknownService(f"no service {new.service_code!r} in the catalogue")
                expected = (
                    now + timedelta(days=service.expected_days)
                    if service.expected_days is not None
                    else None
                )
                row = ServiceRequestRow(
                    sr_number=None,
                    token=secrets.token_urlsafe(18),
                    service_code=new.service_code,
                    status="open",
                    status_notes=None,
                    description=new.description,
                    agency_responsible=service.agency,
                    service_notice=service.service_notice or None,
                    requested_at=now,
                    updated_at=now,
                    expected_at=expected,
                    address=new.address,
                    address_id=new.address_id,
                    zipcode=new.zipcode,
                    lat=new.lat,
                    long=new.long,
                    media_url=new.media_url,
                    channel=new.channel,
                    attributes=dict(new.attributes),
                    caller_hash=new.caller_hash,
                    call_id=new.call_id,
                    account_id=new.account_id,
                    device_id=new.device_id,
                    first_name=new.first_name,
                    last_name=new.last_name,
                    email=new.email,
                )
                session.add(row)
                session.flush()
                if row.id > SR_SEQUENCE_MAX:  # pragma: no cover - 100 million SRs
                    raise DbError("SR sequence exhausted; widen the SR number format")
                row.sr_number = make_sr_number(row.id)
                result = _to_sr(row, service.service_name)
                if self._forward:
                    enqueue(
                        session,
                        OutboxKind.SR_FILED,
                        f"sr:{result.sr_number}:filed",
                        sr_payload(result),
                        now,
                    )
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"filing a service request failed: {exc}") from None
        return result

    def _one(self, *where: Any) -> ServiceRequest | None:
        query = (
            select(ServiceRequestRow, ServiceRow.service_name)
            .join(ServiceRow, ServiceRow.service_code == ServiceRequestRow.service_code)
            .where(*where)
        )
        try:
            with self._sessions() as session:
                found = session.execute(query).first()
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading a service request failed: {exc}") from None
        return None if found is None else _to_sr(found[0], found[1])

    def get(self, sr_number: str) -> ServiceRequest | None:
        """The SR with this number, or None."""
        return self._one(ServiceRequestRow.sr_number == sr_number)

    def get_by_token(self, token: str) -> ServiceRequest | None:
        """The SR issued with this token, or None."""
        return self._one(ServiceRequestRow.token == token)

    def search(
        self,
        *,
        sr_numbers: Sequence[str] = (),
        service_codes: Sequence[str] = (),
        statuses: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        caller_hash: str | None = None,
        limit: int = MAX_SEARCH_RESULTS,
    ) -> list[ServiceRequest]:
        """Open311 search (see the module docstring); raises `DbError` for a bad window."""
        # Plain columns, not ORM objects: up to 1000 rows per answer.
        query = self._filtered(
            select(*_SR_COLUMNS, ServiceRow.service_name).join(
                ServiceRow, ServiceRow.service_code == ServiceRequestRow.service_code
            ),
            sr_numbers,
            service_codes,
            statuses,
            start,
            end,
            caller_hash,
            limit,
        )
        try:
            with self._sessions() as session:
                rows = session.execute(query).all()
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"searching service requests failed: {exc}") from None
        return [
            ServiceRequest(service_name=row[-1], **dict(zip(SR_COLUMN_FIELDS, row, strict=False)))
            for row in rows
        ]

    def search_public(
        self,
        *,
        sr_numbers: Sequence[str] = (),
        service_codes: Sequence[str] = (),
        statuses: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = MAX_SEARCH_RESULTS,
        offset: int = 0,
    ) -> Sequence[Sequence[Any]]:
        """`search`, reading only the `PUBLIC_FIELDS`: one row per SR, fields in that order
        (datetimes timezone-aware UTC, or on PostgreSQL already ISO-8601 strings to the
        second with ``+00:00``). The Open311 ``GET requests`` hot path. ``offset`` skips
        that many of the answers, newest first (paging; ``offset + limit`` at most
        `MAX_SEARCH_DEPTH`)."""
        try:
            with self._sessions() as session:
                connection = session.connection()
                columns = (
                    _PG_PUBLIC_COLUMNS
                    if connection.dialect.name == "postgresql"
                    else _PUBLIC_COLUMNS
                )
                query = self._filtered(
                    select(*columns).join(
                        _SERVICES, _SERVICES.c.service_code == _SRS.c.service_code
                    ),
                    sr_numbers,
                    service_codes,
                    statuses,
                    start,
                    end,
                    None,
                    limit,
                    offset,
                )
                return connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"searching service requests failed: {exc}") from None

    def _filtered(
        self,
        query: Select[Any],
        sr_numbers: Sequence[str],
        service_codes: Sequence[str],
        statuses: Sequence[str],
        start: datetime | None,
        end: datetime | None,
        caller_hash: str | None,
        limit: int,
        offset: int = 0,
    ) -> Select[Any]:
        if not 1 <= limit <= MAX_SEARCH_RESULTS:
            raise DbError(f"limit must be between 1 and {MAX_SEARCH_RESULTS}")
        if offset < 0 or offset + limit > MAX_SEARCH_DEPTH:
            raise DbError(f"offset + limit must be at most {MAX_SEARCH_DEPTH}")
        if sr_numbers:
            query = query.where(_SRS.c.sr_number.in_(list(sr_numbers)))
        else:
            start, end = self.window(start, end)
            query = query.where(
                _SRS.c.requested_at >= _whole_second_up(start),
                _SRS.c.requested_at < _whole_second_down(end) + _SECOND,
            )
            if service_codes:
                query = query.where(_SRS.c.service_code.in_(list(service_codes)))
            if statuses:
                query = query.where(_SRS.c.status.in_(list(statuses)))
            if caller_hash is not None:
                query = query.where(_SRS.c.caller_hash == caller_hash)
        query = query.order_by(_SRS.c.requested_at.desc(), _SRS.c.id.desc()).limit(limit)
        return query.offset(offset) if offset else query

    def window(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        """The search window: last 90 days by default, never longer than 90 days."""
        for name, value in (("start_date", start), ("end_date", end)):
            if value is not None and value.tzinfo is None:
                raise DbError(f"{name} must carry a timezone")
        if start is None and end is None:
            end = self._clock()
            start = end - MAX_SEARCH_SPAN
        elif start is None:
            assert end is not None
            start = end - MAX_SEARCH_SPAN
        elif end is None:
            end = start + MAX_SEARCH_SPAN
        if end < start:
            raise DbError("end_date is before start_date")
        if end - start > MAX_SEARCH_SPAN:
            raise DbError("start_date to end_date may not span more than 90 days")
        return start, end

    def recent_for_caller(self, caller_hash: str, limit: int = 10) -> list[ServiceRequest]:
        """A caller's most recent SRs (any age), found by the keyed caller hash."""
        query = (
            select(ServiceRequestRow, ServiceRow.service_name)
            .join(ServiceRow, ServiceRow.service_code == ServiceRequestRow.service_code)
            .where(ServiceRequestRow.caller_hash == caller_hash)
            .order_by(ServiceRequestRow.requested_at.desc(), ServiceRequestRow.id.desc())
            .limit(limit)
        )
        try:
            with self._sessions() as session:
                return [_to_sr(row, name) for row, name in session.execute(query)]
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading a caller's service requests failed: {exc}") from None

    def update_status(
        self, sr_number: str, status: Status, status_notes: str | None
    ) -> ServiceRequest | None:
        """Set an SR's status and notes; None when there is no such SR."""
        if status not in ("open", "closed"):
            raise DbError(f"status must be open or closed, got {status!r}")
        try:
            with self._sessions.begin() as session:
                row = session.scalars(
                    select(ServiceRequestRow).where(ServiceRequestRow.sr_number == sr_number)
                ).first()
                if row is None:
                    return None
                now = self._clock()
                row.status = status
                row.status_notes = status_notes
                row.updated_at = now
                service = session.get(ServiceRow, row.service_code)
                name = service.service_name if service is not None else row.service_code
                result = _to_sr(row, name)
                if self._forward:
                    session.flush()
                    enqueue(
                        session,
                        OutboxKind.SR_STATUS,
                        f"sr:{sr_number}:status:{uuid.uuid4().hex}",
                        {
                            "sr_number": sr_number,
                            "status": status,
                            "status_notes": status_notes,
                            "updated_datetime": now.isoformat(),
                        },
                        now,
                    )
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"updating SR {sr_number} failed: {exc}") from None
        return result
