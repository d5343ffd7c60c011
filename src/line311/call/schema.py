"""The one record schema: the field lists that every form of a finished call derives from (pure).

`CallRecord` (`line311.call.record`) is the record; its fields are `RECORD_FIELDS`. A stored
call adds what the CRM bridge knows on receipt (``received_at``) and the queue leg's facts
that are indexed as columns (`LEG_FACTS`, computed from the leg by `leg_facts`): that is
`STORED_FIELDS`. The forms, each checked against these lists by a unit test::

    CallRecord ── RECORD_FIELDS ──▶ crm_bridge.schemas.CallRecord   (POST /v1/calls)
        │
        └─ + received_at + LEG_FACTS = STORED_FIELDS ──▶ db.calls.Call, db.models.CallRow
                                                      └─▶ crm_bridge.schemas.CallOut (GET)
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Final

from line311.call.record import CallRecord, QueueLeg

__all__ = ["LEG_FACTS", "RECORD_FIELDS", "STORED_FIELDS", "leg_facts"]

RECORD_FIELDS: Final = tuple(f.name for f in fields(CallRecord))
"""The fields of the one record, in `CallRecord`'s order."""

LEG_FACTS: Final = ("queue_answered_at", "abandoned_at", "wait_seconds", "talk_seconds")
"""The queue leg's facts kept as columns of a stored call (for indexes and reports)."""

STORED_FIELDS: Final = (*RECORD_FIELDS, "received_at", *LEG_FACTS)
"""The fields of a stored call: the record, when the bridge received it, the leg's facts."""


def leg_facts(leg: QueueLeg | None) -> dict[str, Any]:
    """The `LEG_FACTS` of ``leg`` (all None for a call that stayed in the IVR)."""
    if leg is None:
        return dict.fromkeys(LEG_FACTS)
    return {
        "queue_answered_at": leg.answered_at,
        "abandoned_at": leg.abandoned_at,
        "wait_seconds": leg.wait_seconds,
        "talk_seconds": leg.talk_seconds,
    }
