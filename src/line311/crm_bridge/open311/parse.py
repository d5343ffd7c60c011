"""Parsing and validating Open311 input (pure: bytes or mappings in, values or `Open311Error` out).

Rules, from GeoReport v2 with line311's strictness: ``service_code`` and a location (``lat``
and ``long``, or ``address_string``, or ``address_id``) are required; ``description`` is at
most 4000 characters; ``attribute[code]`` values are checked against the service's attribute
definitions (required ones present, list values among the keys, numbers numeric, datetimes
ISO-8601 with a timezone; an attribute with ``variable`` false only informs the user, so it
takes no value and a value sent for it is not kept); unknown fields are refused (filing an
SR without something the client sent would lose it). A
``phone`` is turned into the keyed caller hash at once and never kept. Every field name and
value must be safe text (`line311.text`: no control characters but tab/CR/LF), so the public
``requests.xml`` stays well-formed; datetimes must lie within years 1900-9998 in UTC.

Nothing is silently changed: a form body is decoded as strict UTF-8 (`parse_form`: bytes
that are not UTF-8, raw or percent-escaped, are refused, not replaced by U+FFFD), and
coordinates and number attributes must be plain decimals (``-73.9857``), not whatever
`float` accepts (``1_0``, ``1e1``, ``nan``, ``infinity``, non-ASCII digits).

``GET requests`` takes the spec's parameters and the widely used ``page``/``page_size``
paging extension, and ignores any other parameter: GeoReport v2 lets servers and clients
add jurisdiction-specific ones (``extensions``, ``lat``/``long``/``radius``, ...), and an
unknown filter changes nothing stored. A known parameter with a bad value is still a 400.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from line311.call.values import FIRST_YEAR, LAST_YEAR, in_year_range
from line311.db.service_requests import MAX_SEARCH_DEPTH, MAX_SEARCH_RESULTS, NewServiceRequest
from line311.db.services import Service
from line311.text import is_safe_text

__all__ = [
    "Open311Error",
    "SearchParams",
    "parse_datetime",
    "parse_form",
    "parse_new_request",
    "parse_search",
    "search_query",
    "validate_attributes",
]

MAX_DESCRIPTION = 4000
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_.-]{1,64})\](\[\])?\Z")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}\Z")
_PLAIN = {
    "api_key": 200,
    "jurisdiction_id": 100,
    "service_code": 64,
    "lat": 40,
    "long": 40,
    "address_string": 300,
    "address_id": 64,
    "email": 254,
    "device_id": 64,
    "account_id": 64,
    "first_name": 100,
    "last_name": 100,
    "phone": 40,
    "description": MAX_DESCRIPTION,
    "media_url": 500,
    "zipcode": 10,
}
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\Z")
_SEARCH_KEYS = frozenset(
    {"service_request_id", "service_code", "start_date", "end_date", "status", "jurisdiction_id"}
    | {"api_key"}  # not needed to read, but many clients send theirs with every call: ignored
    | {"page", "page_size"}  # the paging extension (SeeClickFix, Chicago, ...)
)
"""The parameters ``GET requests`` reads (each at most once, but the `_LIST_PARAMETERS`);
any other is ignored."""
_COUNT = re.compile(r"[0-9]{1,9}\Z")


class Open311Error(Exception):
    """Input Open311 refuses; ``code`` is the HTTP status (400, 403 or 404)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def parse_datetime(name: str, raw: str) -> datetime:
    """ISO-8601 with a timezone (``Z`` accepted); `Open311Error` otherwise."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} is not an ISO-8601 datetime") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise Open311Error(400, f"{name} must include a timezone offset")
    if not in_year_range(value):
        raise Open311Error(400, f"{name} must lie between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _form_text(raw: bytes, name: str | None) -> str:
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        what = "a field name" if name is None else name if is_safe_text(name) else "a field"
        raise Open311Error(400, f"{what} is not valid UTF-8 (refused)") from None


def parse_form(body: bytes, *, max_fields: int) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body as lists of values by field name.

    Names and values are percent-decoded and then decoded as strict UTF-8: a field whose
    bytes are not UTF-8 is refused by name, never stored with U+FFFD in place of its bytes.
    """
    pairs = [pair for pair in body.split(b"&") if pair]
    if len(pairs) > max_fields:
        raise Open311Error(400, f"too many fields: at most {max_fields}")
    fields: dict[str, list[str]] = {}
    for pair in pairs:
        raw_name, _, raw_value = pair.partition(b"=")
        name = _form_text(raw_name, None)
        fields.setdefault(name, []).append(_form_text(raw_value, name))
    return fields


def _decimal(raw: str) -> float | None:
    """``raw`` as a float if it is a plain decimal (``-73.9857``), else None."""
    if not _DECIMAL.match(raw):
        return None
    return float(raw)


def _refuse_unsafe(fields: Mapping[str, Sequence[str]]) -> None:
    for key, values in fields.items():
        if not is_safe_text(key):
            raise Open311Error(400, "a field name holds a control character (refused)")
        if not all(is_safe_text(v) for v in values):
            raise Open311Error(400, f"{key} holds a control character (refused)")


def _single(form: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = form.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise Open311Error(400, f"{key} given more than once")
    value = values[0].strip()
    limit = _PLAIN.get(key)
    if limit is not None and len(value) > limit:
        raise Open311Error(400, f"{key} is longer than {limit} characters")
    return value or None


def _coordinate(name: str, raw: str, bound: float) -> float:
    value = _decimal(raw)
    if value is None:
        raise Open311Error(400, f"{name} is not a decimal number (like -73.9857)")
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise Open311Error(400, f"{name} must be between -{bound:g} and {bound:g}")
    return value


def validate_attributes(values: Mapping[str, Sequence[str]], service: Service) -> dict[str, Any]:
    """Attribute values keyed by code, checked against ``service``'s definitions."""
    return _attributes({f"attribute[{code}]": v for code, v in values.items()}, service)


def _attributes(form: Mapping[str, Sequence[str]], service: Service) -> dict[str, Any]:
    given: dict[str, list[str]] = {}
    for key, values in form.items():
        m = _ATTRIBUTE.match(key)
        if m is None:
            continue
        code, is_multi = m.group(1), m.group(2) is not None
        definition = service.attribute(code)
        if definition is None:
            raise Open311Error(400, f"service {service.service_code} has no attribute {code!r}")
        if not definition.variable:  # information shown to the user: no input to keep
            continue
        if definition.datatype != "multivaluelist" and (is_multi or len(values) > 1):
            raise Open311Error(400, f"attribute[{code}] takes one value")
        given.setdefault(code, []).extend(v.strip() for v in values if v.strip())
    out: dict[str, Any] = {}
    for definition in service.attributes:
        if not definition.variable:
            continue
        values = given.get(definition.code, [])
        if not values:
            if definition.required:
                raise Open311Error(400, f"attribute[{definition.code}] is required")
            continue
        keys = {v.key for v in definition.values}
        if definition.datatype in ("singlevaluelist", "multivaluelist"):
            bad = [v for v in values if v not in keys]
            if bad:
                raise Open311Error(
                    400,
                    f"attribute[{definition.code}] must be one of {', '.join(sorted(keys))}",
                )
            out[definition.code] = values if definition.datatype == "multivaluelist" else values[0]
        elif definition.datatype == "number":
            number = _decimal(values[0])
            if number is None or not math.isfinite(number):
                raise Open311Error(400, f"attribute[{definition.code}] must be a number")
            out[definition.code] = number
        elif definition.datatype == "datetime":
            when = parse_datetime(f"attribute[{definition.code}]", values[0])
            out[definition.code] = when.isoformat()
        else:
            limit = 4000 if definition.datatype == "text" else 200
            if len(values[0]) > limit:
                raise Open311Error(400, f"attribute[{definition.code}] is too long")
            out[definition.code] = values[0]
    return out


def parse_new_request(
    form: Mapping[str, Sequence[str]],
    find_service: Callable[[str], Service | None],
    hash_phone: Callable[[str], str | None],
) -> NewServiceRequest:
    """A validated `NewServiceRequest` from a POST requests form."""
    _refuse_unsafe(form)
    unknown = sorted(k for k in form if k not in _PLAIN and not _ATTRIBUTE.match(k))
    if unknown:
        raise Open311Error(
            400,
            f"unknown field(s): {', '.join(unknown[:5])} (refused rather than dropped; a "
            "service's own fields are sent as attribute[code])",
        )
    code = _single(form, "service_code")
    if code is None:
        raise Open311Error(400, "service_code is required")
    service = find_service(code)
    if service is None or not service.active:
        raise Open311Error(404, f"service_code {code!r} not found")
    lat_raw, long_raw = _single(form, "lat"), _single(form, "long")
    address = _single(form, "address_string")
    address_id = _single(form, "address_id")
    if (lat_raw is None) != (long_raw is None):
        raise Open311Error(400, "lat and long must be given together")
    lat = _coordinate("lat", lat_raw, 90) if lat_raw is not None else None
    long = _coordinate("long", long_raw, 180) if long_raw is not None else None
    if lat is None and address is None and address_id is None:
        raise Open311Error(
            400, "a location is required: lat and long, address_string or address_id"
        )
    email = _single(form, "email")
    if email is not None and not _EMAIL.match(email):
        raise Open311Error(400, "email is not a valid address")
    media_url = _single(form, "media_url")
    if media_url is not None and not media_url.startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    phone = _single(form, "phone")
    return NewServiceRequest(
        service_code=code,
        description=_single(form, "description"),
        address=address,
        address_id=address_id,
        zipcode=_single(form, "zipcode"),
        lat=lat,
        long=long,
        media_url=media_url,
        channel="ONLINE",
        attributes=_attributes(form, service),
        caller_hash=hash_phone(phone) if phone else None,
        account_id=_single(form, "account_id"),
        device_id=_single(form, "device_id"),
        first_name=_single(form, "first_name"),
        last_name=_single(form, "last_name"),
        email=email,
    )


@dataclass(frozen=True, slots=True)
class SearchParams:
    sr_numbers: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    page: int = 1
    """1-based; with ``page_size``, the answers ``(page - 1) * page_size`` onwards."""
    page_size: int = MAX_SEARCH_RESULTS

    @property
    def offset(self) -> int:
        """How many answers (newest first) the page skips."""
        return (self.page - 1) * self.page_size


def _count(name: str, raw: str, top: int) -> int:
    """A whole number from 1 to ``top`` in plain ASCII digits; `Open311Error` otherwise."""
    text = raw.strip()
    if not _COUNT.match(text) or not 1 <= int(text) <= top:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {top}")
    return int(text)


def _csv(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    return tuple(p.strip() for p in raw.split(",") if p.strip())


_LIST_PARAMETERS = frozenset({"service_request_id", "service_code", "status"})


def search_query(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters as `parse_search` takes them: a list parameter declared more than
    once (``status=open&status=closed``) is the comma list of its values; any other
    parameter declared twice is refused."""
    query: dict[str, str] = {}
    for key, value in items:
        if key in query and key in _LIST_PARAMETERS:
            query[key] = f"{query[key]},{value}"
        elif key in query and key in _SEARCH_KEYS:
            raise Open311Error(400, f"{key} given more than once")
        else:  # an unknown parameter is ignored by parse_search
            query[key] = value
    return query


def parse_search(query: Mapping[str, str]) -> SearchParams:
    """GET requests query parameters (comma-separated lists allowed).

    A parameter given empty is one not given (GeoReport v2, "Optional Arguments"):
    ``start_date=`` is no start date, not a bad one. A parameter this server does not know
    is ignored (see the module docstring).
    """
    _refuse_unsafe({k: [v] for k, v in query.items()})
    query = {k: v for k, v in query.items() if k in _SEARCH_KEYS and v.strip()}
    ids = _csv(query.get("service_request_id"))
    codes = _csv(query.get("service_code"))
    statuses = _csv(query.get("status"))
    if len(ids) > 1000 or len(codes) > 100:
        raise Open311Error(400, "too many values in a list parameter")
    bad = [s for s in statuses if s not in ("open", "closed")]
    if bad:
        raise Open311Error(400, "status must be open and/or closed")
    start = parse_datetime("start_date", query["start_date"]) if "start_date" in query else None
    end = parse_datetime("end_date", query["end_date"]) if "end_date" in query else None
    size = (
        _count("page_size", query["page_size"], MAX_SEARCH_RESULTS)
        if "page_size" in query
        else MAX_SEARCH_RESULTS
    )
    page = _count("page", query["page"], MAX_SEARCH_DEPTH) if "page" in query else 1
    if page * size > MAX_SEARCH_DEPTH:
        raise Open311Error(
            400,
            f"page {page} of {size} is too deep: page * page_size must be at most "
            f"{MAX_SEARCH_DEPTH}; narrow the window with start_date and end_date",
        )
    return SearchParams(ids, codes, statuses, start, end, page, size)
