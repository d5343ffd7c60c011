"""The values of service requests: what filing one takes, what is stored, what anyone may see.

`line311.db.service_requests.ServiceRequestStore` files and finds them (and re-exports these).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal

from line311.db.errors import DbError

__all__ = [
    "PUBLIC_FIELDS",
    "SR_COLUMN_FIELDS",
    "NewServiceRequest",
    "ServiceRequest",
    "Status",
    "UnknownService",
    "sr_payload",
]

Status = Literal["open", "closed"]
Channel = Literal["PHONE", "ONLINE", "MOBILE", "OTHER"]


class UnknownService(DbError):
    """The service code is not in the catalogue (or is inactive)."""


@dataclass(frozen=True, slots=True)
class NewServiceRequest:
    """What is needed to file an SR. Never a phone number: ``caller_hash`` only."""

    service_code: str
    description: str | None = None
    address: str | None = None
    address_id: str | None = None
    zipcode: str | None = None
    lat: float | None = None
    long: float | None = None
    media_url: str | None = None
    channel: Channel = "PHONE"
    attributes: dict[str, Any] = field(default_factory=dict)
    caller_hash: str | None = None
    call_id: str | None = None
    account_id: str | None = None
    device_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A stored SR (every column; callers decide what to show)."""

    sr_number: str
    token: str
    service_code: str
    service_name: str
    status: str
    status_notes: str | None
    description: str | None
    agency_responsible: str
    service_notice: str | None
    requested_at: datetime
    updated_at: datetime
    expected_at: datetime | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    channel: str
    attributes: dict[str, Any]
    caller_hash: str | None
    call_id: str | None
    account_id: str | None
    device_id: str | None
    first_name: str | None
    last_name: str | None
    email: str | None


SR_COLUMN_FIELDS = tuple(f.name for f in fields(ServiceRequest) if f.name != "service_name")
"""The `ServiceRequest` fields that are columns of ``service_requests`` (all but the name)."""


def sr_payload(sr: ServiceRequest) -> dict[str, Any]:
    """Every field of ``sr``, JSON-ready (what the external CRM receives)."""
    out: dict[str, Any] = {}
    for f in fields(sr):
        value = getattr(sr, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


PUBLIC_FIELDS = (
    "sr_number",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_at",
    "updated_at",
    "expected_at",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
"""The `ServiceRequest` fields anyone may see (Open311's), in the order Open311 lists them:
never names, e-mail, caller hash, call id or device/account ids. Their free text (description,
status notes) is shown without phone numbers and e-mail addresses
(`line311.crm_bridge.open311.render.REDACTED_FIELDS`)."""
