"""The IVR as a session kind of the runner (edge glue): its record and its registry entry.

The IVR kind accepts every ``inbound`` StasisStart. When its session ends, the IVR half of the
call record is built here (times as ISO-8601 UTC, a keyed hash of the caller's number, never
the number) and handed to ``record_sink`` (`line311.ari.records.CallRecorder.on_ivr_record`,
which holds it while the call is in a queue).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from line311.ari.kinds import CallFacts, CallStart, CommandHandler, Ended, SessionKind
from line311.call.ports import Session

__all__ = ["IVR_KIND", "RecordSink", "ivr_kind", "ivr_record"]

logger = logging.getLogger(__name__)

IVR_KIND = "ivr"

RecordSink = Callable[[dict[str, Any]], Awaitable[None]]


def _iso(ts: float | None) -> str | None:
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
        "started_at": _iso(facts.started_at),
        "answered_at": _iso(facts.answered_at),
        "ended_at": _iso(ended.ended_at),
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
