"""Wire schemas of the CRM bridge's own API (``/v1``).

Validation is strict on purpose: the controller is our own code, so anything unexpected is a
bug to surface, not to guess around. Unknown fields are refused (``extra="forbid"``), strings
are never coerced from numbers, datetimes must carry a timezone, and a body carrying anything
that looks like a raw caller number (``caller_number``, ``caller_id``, ``from``, ``ani``, ...) is
refused with a message that says why — line311 stores a keyed hash of the caller's number
(`line311.privacy.caller_hash`), never the number -- also when the field is nested in the
free-form ``path``. Every string and key of an input body must be safe text (`line311.text`:
no control characters but tab/CR/LF, no unpaired surrogates), and ``path`` is JSON of bounded
depth and size with finite numbers. Error messages never echo the values.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from line311.call import record as one
from line311.call.record import Outcome, QueueLeg, RecordError
from line311.call.schema import RECORD_FIELDS, STORED_FIELDS
from line311.call.values import NAME_PATTERN, check_instant
from line311.text import UnsafeText, find_unsafe

__all__ = [
    "CALLER_NUMBER_FIELDS",
    "MAX_BATCH_RECORDS",
    "MAX_PATH_BYTES",
    "BatchItemResult",
    "BatchResult",
    "CallBatch",
    "CallList",
    "CallOut",
    "CallRecord",
    "ErrorBody",
    "NoCallerNumbers",
    "looks_like_caller_number_field",
]

MAX_PATH_BYTES = 16 * 1024
"""Upper bound on the serialised IVR path of one call."""

MAX_BATCH_RECORDS = 500
"""Most records in one ``POST /v1/calls/batch``."""

CALLER_NUMBER_FIELDS = frozenset(
    {
        "ani",
        "caller",
        "caller_id",
        "callerid",
        "caller_id_number",
        "caller_number",
        "caller_num",
        "caller_phone",
        "calling_number",
        "cid",
        "cli",
        "from",
        "from_number",
        "msisdn",
        "number",
        "phone",
        "phone_number",
        "source_number",
    }
)


def looks_like_caller_number_field(name: str) -> bool:
    """True for a field name that would carry a caller's number (``caller_hash`` does not)."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in CALLER_NUMBER_FIELDS:
        return True
    if key == "caller_hash":
        return False
    return key.startswith("caller") or "phone" in key or key.endswith("_ani")


def _refuse_caller_numbers(data: Any) -> Any:
    if isinstance(data, dict):
        bad = sorted(str(k) for k in data if looks_like_caller_number_field(str(k)))
        if bad:
            raise ValueError(
                f"field(s) {', '.join(bad)} look like a raw caller number; line311 never "
                "accepts one — send caller_hash (a keyed hash) instead"
            )
        try:
            for key, value in data.items():
                nested_guard = looks_like_caller_number_field if key == "path" else None
                find_unsafe({key: value}, bad_key=nested_guard)
        except UnsafeText as exc:
            raise ValueError(str(exc)) from None
    return data


class NoCallerNumbers(BaseModel):
    """Base of input models: a body with a raw caller-number field is refused, with a reason."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_caller_numbers(cls, data: Any) -> Any:
        return _refuse_caller_numbers(data)


Slug = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z][a-z0-9_]{0,31}$")]
CallId = Annotated[
    str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
]
DialedNumber = Annotated[str, StringConstraints(strict=True, pattern=r"^\+?[0-9]{1,20}$")]
CallerHash = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{32,64}$")]
Language = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$", max_length=16),
]
Name = Annotated[str, StringConstraints(strict=True, pattern=NAME_PATTERN)]
"""A queue or CCR id: the queue leg's ``queue`` and ``agent_id`` follow the same rule."""


class CallRecord(NoCallerNumbers):
    """A finished call, as the controller posts it to ``POST /v1/calls``: the wire form of
    `line311.call.record.CallRecord` (the same fields, `line311.call.schema.RECORD_FIELDS`;
    `to_record` gives the record).

    ``outcome`` is one of `line311.call.record.Outcome` (how the *whole* call ended: a queued
    call is posted once its queue leg is over). ``path`` is the IVR path (a list of steps, or
    an object). ``queue_leg`` is `QueueLeg.to_dict` (validated by `QueueLeg.from_dict`);
    ``queue`` and ``agent_id`` must agree with it and are filled from it when left out.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    call_id: CallId
    dialed_number: DialedNumber
    caller_hash: CallerHash | None = None
    started_at: AwareDatetime
    answered_at: AwareDatetime | None = None
    ended_at: AwareDatetime
    outcome: Outcome
    language: Language = "en"
    queue: Name | None = None
    agent_id: Name | None = None
    path: list[JsonValue] | dict[str, JsonValue] = Field(default_factory=list)
    queue_leg: dict[str, JsonValue] | None = None

    @field_validator("started_at", "answered_at", "ended_at")
    @classmethod
    def _storable_time(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        try:
            return check_instant(value, str(info.field_name))
        except RecordError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("queue_leg")
    @classmethod
    def _valid_leg(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        if value is None:
            return None
        try:
            leg: dict[str, JsonValue] = QueueLeg.from_dict(value).to_dict()
        except RecordError as exc:
            raise ValueError(str(exc)) from None
        return leg

    def leg(self) -> QueueLeg | None:
        """The queue leg as a value (validated already)."""
        return None if self.queue_leg is None else QueueLeg.from_dict(self.queue_leg)

    @field_validator("path")
    @classmethod
    def _bounded_path(
        cls, value: list[JsonValue] | dict[str, JsonValue]
    ) -> list[JsonValue] | dict[str, JsonValue]:
        size = len(json.dumps(value, separators=(",", ":")))
        if size > MAX_PATH_BYTES:
            raise ValueError(f"path is {size} bytes serialised; the limit is {MAX_PATH_BYTES}")
        return value

    @model_validator(mode="after")
    def _ordered_times(self) -> CallRecord:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        if self.answered_at is not None and not (
            self.started_at <= self.answered_at <= self.ended_at
        ):
            raise ValueError("answered_at must lie between started_at and ended_at")
        leg = self.leg()
        if leg is not None:
            if self.queue not in (None, leg.queue):
                raise ValueError("queue differs from queue_leg.queue")
            if self.agent_id not in (None, leg.agent_id):
                raise ValueError("agent_id differs from queue_leg.agent_id")
            object.__setattr__(self, "queue", leg.queue)
            object.__setattr__(self, "agent_id", leg.agent_id)
        return self

    def to_record(self) -> one.CallRecord:
        """The one record (`line311.call.record.CallRecord`) this body describes; the
        database stores `line311.db.calls.Call.from_record` of it."""
        values = {name: getattr(self, name) for name in RECORD_FIELDS}
        values["queue_leg"] = self.leg()
        return one.CallRecord(**values)


class CallOut(BaseModel):
    """A stored call, as the API returns it: the fields of `line311.call.schema.STORED_FIELDS`
    (a unit test holds them equal)."""

    call_id: str
    dialed_number: str
    caller_hash: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    outcome: str
    language: str
    queue: str | None
    agent_id: str | None
    path: JsonValue
    received_at: datetime | None
    queue_leg: JsonValue = None
    queue_answered_at: datetime | None = None
    abandoned_at: datetime | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None

    @classmethod
    def from_call(cls, call: object) -> CallOut:
        """From a stored call (`line311.db.calls.Call`: the fields of `STORED_FIELDS`)."""
        return cls(**{name: getattr(call, name) for name in STORED_FIELDS})


def call_json(call: object) -> bytes:
    """``CallOut.from_call(call)`` as JSON bytes, without validating stored data again.

    Same bytes as FastAPI's ``response_model`` serialisation (pydantic's serializer: UTC as
    ``Z``, other offsets kept), at a fraction of the cost: the intake hot path.
    """
    out = CallOut.model_construct(**{name: getattr(call, name) for name in STORED_FIELDS})
    return CallOut.__pydantic_serializer__.to_json(out)


class CallBatch(BaseModel):
    """Many finished calls in one request (``POST /v1/calls/batch``): stored in one
    transaction, each with its own result. The whole batch is refused (422, naming the
    record's index) when any record is invalid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    records: list[CallRecord] = Field(min_length=1, max_length=MAX_BATCH_RECORDS)


class BatchItemResult(BaseModel):
    """One record's result: ``status`` is what ``POST /v1/calls`` would have answered
    (201 created, 200 identical repeat, 409 another record has this ``call_id``)."""

    call_id: str
    status: int
    outcome: str


class BatchResult(BaseModel):
    """Per-record results, in the order of ``records``, and their counts."""

    results: list[BatchItemResult]
    created: int
    duplicates: int
    conflicts: int


class CallList(BaseModel):
    """One page of calls, newest first; pass ``next_cursor`` back as ``cursor``."""

    items: list[CallOut]
    next_cursor: str | None


class ErrorBody(BaseModel):
    """Every error of the ``/v1`` API."""

    error_id: str
    message: str
    details: JsonValue = None
