"""Alerts in the database: the alerts, their audio assets, the audit log, phone sign-in.

`AlertStore` is a thin repository over the ``alert*`` tables (`line311.db.alerts_models`):
it converts rows to the pure `line311.messaging.alerts.Alert` and back and never decides
anything. A state change is saved with its audit entries in one transaction, and only if the
alert is still in the state it was read in (compare-and-swap on ``state`` and
``updated_at``): two supervisors acting at once can't both win; the loser gets
`AlertConflict`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from line311.db.alerts_models import (
    AlertAudioAssetRow,
    AlertAuditRow,
    AlertPhoneLockoutRow,
    AlertRow,
    AlertSupervisorRow,
)
from line311.db.errors import DbUnavailable, RecordConflict
from line311.messaging.alerts import (
    Action,
    Alert,
    AlertKind,
    AlertState,
    AudioRef,
    AudioSource,
    AuditEntry,
    Targeting,
)

__all__ = ["AlertConflict", "AlertStore", "AudioAsset", "PhoneLockout", "Supervisor"]


class AlertConflict(RecordConflict):
    """The alert changed (or was created) meanwhile; read it again and retry."""


@dataclass(frozen=True, slots=True)
class AudioAsset:
    """The audio file of an alert in one language (``path`` relative to the state dir)."""

    alert_id: str
    language: str
    source: AudioSource
    ref: str
    path: str
    duration: float
    rms_dbfs: float
    sha256: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Supervisor:
    username: str
    phone_id: str
    pin_hash: str


@dataclass(frozen=True, slots=True)
class PhoneLockout:
    """Consecutive failed sign-ins on a line and, when locked, until when."""

    line: str
    failures: int = 0
    locked_until: datetime | None = None


def _audio_doc(audio: Any) -> dict[str, dict[str, Any]]:
    return {
        lang: {"source": ref.source.value, "ref": ref.ref, "duration": ref.duration}
        for lang, ref in audio.items()
    }


def _to_alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id,
        title=row.title,
        kind=AlertKind(row.kind),
        author=row.author,
        created_at=row.created_at,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        priority=row.priority,
        targeting=Targeting(frozenset(row.languages or ()), row.node),
        texts=dict(row.texts or {}),
        audio={
            lang: AudioRef(AudioSource(doc["source"]), doc.get("ref", ""), doc.get("duration"))
            for lang, doc in (row.audio or {}).items()
        },
        ccr_text=row.ccr_text,
        state=AlertState(row.state),
        approved_by=row.approved_by,
        updated_at=row.updated_at,
    )


def _values(alert: Alert) -> dict[str, Any]:
    return {
        "title": alert.title,
        "kind": alert.kind.value,
        "state": alert.state.value,
        "priority": alert.priority,
        "languages": sorted(alert.targeting.languages),
        "node": alert.targeting.node,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "texts": dict(alert.texts),
        "audio": _audio_doc(alert.audio),
        "ccr_text": alert.ccr_text,
        "author": alert.author,
        "approved_by": alert.approved_by,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at or alert.created_at,
    }


def _audit_row(entry: AuditEntry) -> AlertAuditRow:
    return AlertAuditRow(
        alert_id=entry.alert_id,
        at=entry.at,
        actor=entry.actor,
        action=entry.action.value,
        from_state=entry.from_state.value,
        to_state=entry.to_state.value,
        note=entry.note,
    )


def _to_entry(row: AlertAuditRow) -> AuditEntry:
    return AuditEntry(
        alert_id=row.alert_id,
        at=row.at,
        actor=row.actor,
        action=Action(row.action),
        from_state=AlertState(row.from_state),
        to_state=AlertState(row.to_state),
        note=row.note,
    )


_ASSET_FIELDS = ("alert_id", "language", "ref", "path", "duration", "rms_dbfs", "sha256",
                 "created_by", "created_at")  # fmt: skip


def _to_asset(row: AlertAudioAssetRow) -> AudioAsset:
    values = {name: getattr(row, name) for name in _ASSET_FIELDS}
    return AudioAsset(source=AudioSource(row.source), **values)


class AlertStore:
    """Repository of alerts (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _fail(self, what: str, exc: SQLAlchemyError) -> DbUnavailable:
        return DbUnavailable(f"{what} failed: {exc.__class__.__name__}: {exc}")

    # ------------------------------------------------------------------ alerts
    def add(self, alert: Alert, entry: AuditEntry) -> None:
        """Insert a new alert with its first audit entry (`AlertConflict` if the id exists)."""
        try:
            with self._sessions() as session:
                session.add(AlertRow(id=alert.id, **_values(alert)))
                session.flush()
                session.add(_audit_row(entry))
                session.commit()
        except IntegrityError:
            raise AlertConflict(f"alert {alert.id} already exists") from None
        except SQLAlchemyError as exc:
            raise self._fail(f"storing alert {alert.id}", exc) from None

    def get(self, alert_id: str) -> Alert | None:
        try:
            with self._sessions() as session:
                row = session.get(AlertRow, alert_id)
                return None if row is None else _to_alert(row)
        except SQLAlchemyError as exc:
            raise self._fail(f"reading alert {alert_id}", exc) from None

    def list_alerts(
        self, *, states: Collection[AlertState] | None = None, limit: int = 500
    ) -> list[Alert]:
        """Alerts, newest first (optionally only those in ``states``)."""
        query = select(AlertRow).order_by(AlertRow.created_at.desc(), AlertRow.id).limit(limit)
        if states is not None:
            query = query.where(AlertRow.state.in_([s.value for s in states]))
        try:
            with self._sessions() as session:
                return [_to_alert(row) for row in session.scalars(query)]
        except SQLAlchemyError as exc:
            raise self._fail("listing alerts", exc) from None

    def live(self) -> list[Alert]:
        """Approved and active alerts (the ones the scheduler and the IVR care about)."""
        return self.list_alerts(states=(AlertState.APPROVED, AlertState.ACTIVE), limit=10_000)

    def save(self, before: Alert, after: Alert, entries: Sequence[AuditEntry]) -> None:
        """Replace ``before`` by ``after`` and append ``entries``, in one transaction, only if
        the stored alert is still ``before`` (`AlertConflict` otherwise)."""
        stamp = before.updated_at or before.created_at
        values = _values(after)
        try:
            with self._sessions() as session:
                result = session.execute(
                    update(AlertRow)
                    .where(
                        AlertRow.id == before.id,
                        AlertRow.state == before.state.value,
                        AlertRow.updated_at == stamp,
                    )
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) != 1:
                    session.rollback()
                    raise AlertConflict(
                        f"alert {before.id} was changed meanwhile; reload it and try again"
                    )
                session.add_all(_audit_row(e) for e in entries)
                session.commit()
        except SQLAlchemyError as exc:
            raise self._fail(f"saving alert {before.id}", exc) from None

    def audit(self, alert_id: str) -> list[AuditEntry]:
        query = select(AlertAuditRow).where(AlertAuditRow.alert_id == alert_id)
        try:
            with self._sessions() as session:
                rows = session.scalars(query.order_by(AlertAuditRow.id))
                return [_to_entry(row) for row in rows]
        except SQLAlchemyError as exc:
            raise self._fail(f"reading the audit log of {alert_id}", exc) from None

    # ------------------------------------------------------------------ audio
    def put_asset(self, asset: AudioAsset) -> None:
        """Insert or replace the audio asset of an alert in one language."""
        values = {name: getattr(asset, name) for name in _ASSET_FIELDS}
        values["source"] = asset.source.value
        try:
            with self._sessions() as session:
                row = session.get(AlertAudioAssetRow, (asset.alert_id, asset.language))
                if row is None:
                    session.add(AlertAudioAssetRow(**values))
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
                session.commit()
        except SQLAlchemyError as exc:
            raise self._fail(f"storing audio of alert {asset.alert_id}", exc) from None

    def assets(self, alert_id: str) -> list[AudioAsset]:
        query = select(AlertAudioAssetRow).where(AlertAudioAssetRow.alert_id == alert_id)
        try:
            with self._sessions() as session:
                rows = session.scalars(query.order_by(AlertAudioAssetRow.language))
                return [_to_asset(row) for row in rows]
        except SQLAlchemyError as exc:
            raise self._fail(f"reading audio of alert {alert_id}", exc) from None

    # ------------------------------------------------------------------ phone sign-in
    def set_supervisor(self, supervisor: Supervisor, now: datetime) -> None:
        """Create or update a supervisor's phone id and PIN hash."""
        try:
            with self._sessions() as session:
                row = session.get(AlertSupervisorRow, supervisor.username)
                if row is None:
                    row = AlertSupervisorRow(username=supervisor.username)
                    session.add(row)
                row.phone_id = supervisor.phone_id
                row.pin_hash = supervisor.pin_hash
                row.updated_at = now
                session.commit()
        except IntegrityError:
            raise AlertConflict(f"phone id {supervisor.phone_id} is taken") from None
        except SQLAlchemyError as exc:
            raise self._fail(f"storing supervisor {supervisor.username}", exc) from None

    def supervisor_by_phone_id(self, phone_id: str) -> Supervisor | None:
        query = select(AlertSupervisorRow).where(AlertSupervisorRow.phone_id == phone_id)
        try:
            with self._sessions() as session:
                row = session.scalars(query).first()
                return None if row is None else Supervisor(row.username, row.phone_id, row.pin_hash)
        except SQLAlchemyError as exc:
            raise self._fail("reading supervisors", exc) from None

    def lockout(self, line: str) -> PhoneLockout:
        try:
            with self._sessions() as session:
                row = session.get(AlertPhoneLockoutRow, line)
                if row is None:
                    return PhoneLockout(line)
                return PhoneLockout(line, row.failures, row.locked_until)
        except SQLAlchemyError as exc:
            raise self._fail(f"reading the lockout of {line}", exc) from None

    def save_lockout(self, lockout: PhoneLockout, now: datetime) -> None:
        try:
            with self._sessions() as session:
                row = session.get(AlertPhoneLockoutRow, lockout.line)
                if row is None:
                    row = AlertPhoneLockoutRow(line=lockout.line)
                    session.add(row)
                row.failures = lockout.failures
                row.locked_until = lockout.locked_until
                row.updated_at = now
                session.commit()
        except SQLAlchemyError as exc:
            raise self._fail(f"storing the lockout of {lockout.line}", exc) from None
