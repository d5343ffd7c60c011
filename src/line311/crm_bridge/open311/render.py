"""Open311 response bodies, in JSON or in the spec's XML.

The same Python structure (lists of dicts) renders to both: lists become a wrapper element
whose children are named after the singular of the list (``services`` → ``service``,
``attributes`` → ``attribute``, ``values`` → ``value``), booleans become ``true``/``false``
and None an empty element.

Search answers (up to 1000 SRs) skip the per-row objects: `search_response` turns the rows of
`ServiceRequestStore.search_public` into JSON with orjson in one call (datetimes to the
second, with their ``+00:00`` offset, as `iso` writes them), or into XML through the same
dicts as `request_dict` makes.

GETs are public, so the free text of an SR (`REDACTED_FIELDS`: its description, status
notes and address) goes out through `line311.privacy.redact_contacts`: phone numbers and e-mail
addresses typed into it read ``[removed]``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response

from line311.crm_bridge.http import OPEN311_JSON
from line311.db.service_requests import PUBLIC_FIELDS, ServiceRequest
from line311.db.services import Service
from line311.privacy import redact_contacts

__all__ = [
    "FORMATS",
    "GEOREPORT_V2",
    "REDACTED_FIELDS",
    "discovery_dict",
    "filed_request_dict",
    "iso",
    "render",
    "request_dict",
    "search_response",
    "service_definition_dict",
    "service_dict",
]

_SINGULAR = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}

GEOREPORT_V2 = "http://wiki.open311.org/GeoReport_v2"
"""The specification token of GeoReport v2 in a discovery document."""
FORMATS = ("text/xml", "application/json")
"""The MIME types every Open311 route answers in (``.xml``, ``.json``)."""


REDACTED_FIELDS = ("status_notes", "description", "address")
"""Public fields of free text, shown without phone numbers and e-mail addresses (an
``address_string`` is typed by whoever files the SR, and may carry a way to reach them)."""


def _public_text(value: str | None) -> str | None:
    return None if value is None else redact_contacts(value)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 with offset, to the second (what Open311 clients parse)."""
    return None if value is None else value.isoformat(timespec="seconds")


def discovery_dict(*, changeset: str, contact: str, key_service: str, url: str) -> dict[str, Any]:
    """The Open311 Service Discovery document: this bridge's one GeoReport v2 endpoint."""
    endpoint = {
        "specification": GEOREPORT_V2,
        "url": url,
        "changeset": changeset,
        "type": "production",
        "formats": list(FORMATS),
    }
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [endpoint],
    }


def service_dict(service: Service) -> dict[str, Any]:
    return {
        "service_code": service.service_code,
        "service_name": service.service_name,
        "description": service.description,
        "metadata": service.metadata,
        "type": service.type,
        "keywords": ",".join(service.keywords),
        "group": service.group,
    }


def service_definition_dict(service: Service) -> dict[str, Any]:
    return {
        "service_code": service.service_code,
        "attributes": [a.to_dict() for a in service.attributes],
    }


def filed_request_dict(sr: ServiceRequest, service_type: str) -> dict[str, Any]:
    """The answer to ``POST requests``, by the service's Open311 ``type``: a ``realtime``
    service gives the ``service_request_id``, a ``batch`` one a ``token`` (never both, as the
    spec says), a ``blackbox`` one neither."""
    body: dict[str, Any] = {}
    if service_type == "realtime":
        body["service_request_id"] = sr.sr_number
    elif service_type == "batch":
        body["token"] = sr.token
    body["service_notice"] = sr.service_notice
    body["account_id"] = sr.account_id
    return body


def request_dict(sr: ServiceRequest) -> dict[str, Any]:
    """An SR as Open311 shows it: no names, e-mail, phone, caller hash or call id."""
    return {
        "service_request_id": sr.sr_number,
        "status": sr.status,
        "status_notes": _public_text(sr.status_notes),
        "service_name": sr.service_name,
        "service_code": sr.service_code,
        "description": _public_text(sr.description),
        "agency_responsible": sr.agency_responsible,
        "service_notice": sr.service_notice,
        "requested_datetime": iso(sr.requested_at),
        "updated_datetime": iso(sr.updated_at),
        "expected_datetime": iso(sr.expected_at),
        "address": _public_text(sr.address),
        "address_id": sr.address_id,
        "zipcode": sr.zipcode,
        "lat": sr.lat,
        "long": sr.long,
        "media_url": sr.media_url,
    }


_OPEN311_NAMES = {
    "sr_number": "service_request_id",
    "requested_at": "requested_datetime",
    "updated_at": "updated_datetime",
    "expected_at": "expected_datetime",
}
_SEARCH_KEYS = tuple(_OPEN311_NAMES.get(name, name) for name in PUBLIC_FIELDS)
"""Open311's names for `PUBLIC_FIELDS`, in the same order (and the order of `request_dict`)."""
_REDACTED_COLUMNS = frozenset(PUBLIC_FIELDS.index(name) for name in REDACTED_FIELDS)


def _public_row(row: Sequence[Any]) -> list[Any]:
    return [_public_text(v) if i in _REDACTED_COLUMNS else v for i, v in enumerate(row)]


def search_response(rows: Sequence[Sequence[Any]], *, xml: bool) -> Response:
    """The answer to ``GET requests``: ``rows`` of `PUBLIC_FIELDS`, as JSON or XML."""
    keys = _SEARCH_KEYS
    public = [_public_row(row) for row in rows]
    if xml:
        body = [
            {k: iso(v) if isinstance(v, datetime) else v for k, v in zip(keys, row, strict=True)}
            for row in public
        ]
        return render(body, xml=True, root="service_requests")
    content = orjson.dumps(
        [dict(zip(keys, row, strict=True)) for row in public], option=orjson.OPT_OMIT_MICROSECONDS
    )
    return Response(content, media_type=OPEN311_JSON)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            _fill(ET.SubElement(element, str(key)), child)
    elif isinstance(value, list):
        name = _SINGULAR.get(element.tag, "item")
        for item in value:
            _fill(ET.SubElement(element, name), item)
    else:
        element.text = _text(value)


def to_xml(root: str, body: Any) -> str:
    element = ET.Element(root)
    _fill(element, body)
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(element, encoding="unicode")


def render(body: Any, *, xml: bool, root: str, status: int = 200) -> Response:
    """``body`` as JSON, or as XML under the element ``root``."""
    if xml:
        return Response(to_xml(root, body), status_code=status, media_type="text/xml")
    return JSONResponse(body, status_code=status, media_type=OPEN311_JSON)
