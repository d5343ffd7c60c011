"""The IVR as a session kind of the runner (edge glue): its session, record and registry entry.

`EdgeSession` is a `CallSession` plus what the edge learns after it ended (``path.handoff``),
kept up to date with the live pushed alerts.

The IVR kind accepts every ``inbound`` StasisStart. When its session ends, the IVR half of the
call record is built here (times as ISO-8601 UTC, a keyed hash of the caller's number, never
the number) and handed to ``record_sink`` (`line311.ari.records.CallRecorder.on_ivr_record`,
which holds it while the call is in a queue).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from line311.ari.kinds import CallFacts, CallStart, CommandHandler, Ended, SessionKind
from line311.call.events import AlertsChanged, Event
from line311.call.ports import Session
from line311.ivr.alerts import PushedAlert
from line311.ivr.flow import Flow
from line311.ivr.session import CallSession

__all__ = [
    "IVR_KIND",
    "MAX_PATH_BYTES",
    "EdgeSession",
    "LiveAlerts",
    "RecordSink",
    "iso_time",
    "ivr_kind",
    "ivr_record",
]

logger = logging.getLogger(__name__)

IVR_KIND = "ivr"

RecordSink = Callable[[dict[str, Any]], Awaitable[None]]
LiveAlerts = Callable[[float], "tuple[tuple[str | PushedAlert, ...], list[PushedAlert]] | None"]
"""`IvrEdge.live_alerts`: the alerts as given and on the session's clock (None: unknown)."""

MAX_PATH_BYTES = 15 * 1024
"""Records are trimmed (oldest prompts first) to stay under the CRM bridge's 16 KiB limit."""


def iso_time(ts: float | None) -> str | None:
    """A call record's time: epoch seconds as ISO-8601 UTC with milliseconds (None: None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def ivr_record(ended: Ended) -> dict[str, Any]:
    """The IVR half of the call record of a finished IVR session."""
    facts = ended.facts
    try:
        path = getattr(ended.session, "record")()  # noqa: B009 - not part of `Session`
    except Exception:
        logger.exception("session record() failed", extra={"call_id": facts.call_id})
        path = {}
    language = path.get("language") if isinstance(path, dict) else None
    return {
        "call_id": facts.call_id,
        "dialed_number": facts.dialed_number,
        "caller_hash": facts.caller_hash,
        "started_at": iso_time(facts.started_at),
        "answered_at": iso_time(facts.answered_at),
        "ended_at": iso_time(ended.ended_at),
        "outcome": ended.outcome,
        "language": language if isinstance(language, str) and language else "en",
        "path": path,
    }


def ivr_kind(
    start: Callable[[CallStart], Session],
    resume: Callable[[Mapping[str, Any], CallFacts], Session],
    *,
    record_sink: RecordSink | None = None,
    handlers: Mapping[type[Any], CommandHandler] | None = None,
) -> SessionKind:
    """The ``ivr`` session kind: ``inbound`` calls, their record to ``record_sink``."""

    async def ended(done: Ended) -> None:
        if record_sink is None:
            return
        try:
            await record_sink(ivr_record(done))
        except Exception as exc:
            logger.warning(
                "could not deliver the call record: %s", exc, extra={"call_id": done.facts.call_id}
            )

    return SessionKind(
        name=IVR_KIND,
        start=start,
        resume=resume,
        accepts=lambda new: new.kind == "inbound",
        handlers=dict(handlers or {}),
        ended=ended,
    )


class EdgeSession:
    """A `CallSession` plus what the edge learnt about the call after the session ended
    (``path.handoff``), and a record trimmed to what the CRM bridge accepts."""

    __slots__ = (
        "__weakref__",
        "_alerts",
        "_alerts_seen",
        "_last_now",
        "_notes",
        "_outcome",
        "inner",
    )

    def __init__(
        self,
        inner: CallSession,
        *,
        alerts: LiveAlerts | None = None,
        alerts_seen: tuple[str | PushedAlert, ...] = (),
        now: float = 0.0,
    ) -> None:
        self.inner = inner
        self._notes: dict[str, Any] = {}
        self._outcome: str | None = None
        self._alerts = alerts
        self._alerts_seen = alerts_seen
        self._last_now = now

    @property
    def finished(self) -> bool:
        return self.inner.finished

    @property
    def outcome(self) -> object:
        return self._outcome if self._outcome is not None else self.inner.outcome

    @property
    def language(self) -> str:
        return self.inner.language

    @property
    def flow(self) -> Flow:
        return self.inner.flow

    def receive(self, event: Event, now: float) -> None:
        self._refresh_alerts(now)
        self.inner.receive(event, now)
        self._last_now = max(self._last_now, now)

    def commands(self) -> Sequence[object]:
        return self.inner.commands()

    def next_deadline(self) -> float | None:
        return self.inner.next_deadline()

    def handle_timer(self, now: float) -> None:
        self._refresh_alerts(now)
        self.inner.handle_timer(now)
        self._last_now = max(self._last_now, now)

    def _refresh_alerts(self, now: float) -> None:
        """Tell the session when the live alerts changed since it last heard. The change is
        fed as of the last time the session saw, so it is in place before any timer due at
        ``now`` fires (`CallSession.receive` fires due timers first)."""
        if self._alerts is None or self.inner.finished:
            return
        live = self._alerts(now)
        if live is None or live[0] == self._alerts_seen:
            return
        self._alerts_seen = live[0]
        self.inner.receive(AlertsChanged(tuple(live[1])), self._last_now)

    def to_dict(self) -> dict[str, Any]:
        """The session's state and what the edge noted (JSON-able; see `from_dict`)."""
        notes = dict(self._notes)
        return {"session": self.inner.to_dict(), "notes": notes, "outcome": self._outcome}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, flow: Flow, alerts: LiveAlerts | None = None, now: float
    ) -> EdgeSession:
        """Rebuild a session saved by `to_dict` (on the ``flow`` it was running). The live
        alerts are fed again at its next step."""
        session = cls(CallSession.from_dict(data["session"], flow=flow), alerts=alerts, now=now)
        session._notes = dict(data.get("notes") or {})
        session._outcome = data.get("outcome")
        return session

    def note(self, key: str, value: Any, *, outcome: str | None = None) -> None:
        """Add ``key`` to the recorded path (and override the outcome when given)."""
        self._notes[key] = value
        if outcome is not None:
            self._outcome = outcome

    def record(self) -> dict[str, Any]:
        record = self.inner.record()
        record.update(self._notes)
        if self._outcome is not None:
            record["outcome"] = self._outcome
        return _fit(record, MAX_PATH_BYTES)


def _fit(record: dict[str, Any], limit: int) -> dict[str, Any]:
    """Drop the oldest prompts, then digits, until the record serialises under ``limit``
    (measured as the bridge measures it: the stdlib's compact ``json.dumps``). One
    serialisation for a record that fits, as nearly every one does."""
    if _size(record) <= limit:
        return record
    for key in ("prompts", "digits", "nodes"):
        while _size(record) > limit and record.get(key):
            items: list[Any] = record[key]
            cut = max(1, len(items) // 4)
            del items[:cut]
            record[f"{key}_dropped"] = record.get(f"{key}_dropped", 0) + cut
    return record


def _size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":")))
