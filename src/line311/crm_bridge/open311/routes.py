"""The Open311 GeoReport v2 router (``/open311/v2/...{.json|.xml}``) and its Service
Discovery document (``/open311/discovery.{json|xml}``).

GETs are public, as in the spec; ``POST requests`` needs an ``open311_client`` key, as the
``api_key`` form field (or ``Authorization: Bearer``): 403 otherwise, 429 when rate limited.
Errors are Open311's ``[{code, description}]`` (rendered by `line311.crm_bridge.http` for
every path under ``/open311/``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from line311.crm_bridge.errors import ApiError
from line311.crm_bridge.http import bearer_token
from line311.crm_bridge.open311.parse import (
    Open311Error,
    parse_form,
    parse_new_request,
    parse_search,
    search_query,
)
from line311.crm_bridge.open311.render import (
    discovery_dict,
    filed_request_dict,
    render,
    request_dict,
    search_response,
    service_definition_dict,
    service_dict,
)
from line311.db.errors import DbError, DbUnavailable
from line311.db.service_requests import ServiceRequestStore, UnknownService
from line311.db.services import Service, ServiceCatalogue

__all__ = ["discovery_router", "open311_router"]

_FORMATS = {"json": False, "xml": True}


def _xml(fmt: str) -> bool:
    if fmt not in _FORMATS:
        raise ApiError(404, "not-found", f"unknown format {fmt!r}: use .json or .xml")
    return _FORMATS[fmt]


_NEW_REQUEST_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code"],
                    "properties": {
                        "api_key": {"type": "string"},
                        "service_code": {"type": "string"},
                        "lat": {"type": "number"},
                        "long": {"type": "number"},
                        "address_string": {"type": "string"},
                        "address_id": {"type": "string"},
                        "email": {"type": "string"},
                        "device_id": {"type": "string"},
                        "account_id": {"type": "string"},
                        "first_name": {"type": "string"},
                        "last_name": {"type": "string"},
                        "phone": {"type": "string"},
                        "description": {"type": "string", "maxLength": 4000},
                        "media_url": {"type": "string"},
                    },
                    "additionalProperties": {"type": "string"},
                    "description": "Open311 fields; attributes as attribute[code]=value.",
                }
            }
        },
    }
}
"""The form ``POST requests`` reads (declared for the OpenAPI document; parsed by hand)."""


def _refuse(exc: Open311Error) -> ApiError:
    return ApiError(exc.code, "open311", exc.description)


_MAX_FIELDS = 200


async def _multipart_fields(request: Request, body: bytes) -> dict[str, list[str]]:
    """The fields of a multipart form, refused unless all of it is UTF-8.

    Starlette falls back to Latin-1 for a part that is not UTF-8; checking the whole body
    first (files are refused, so it is all field names and text) keeps that from changing
    what was sent.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "open311", "the form is not valid UTF-8 (refused)") from None
    fields: dict[str, list[str]] = {}
    async with request.form(max_files=0, max_fields=_MAX_FIELDS) as form:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                raise ApiError(400, "open311", "file uploads are not accepted; use media_url")
            fields.setdefault(key, []).append(value)
    return fields


def discovery_router(*, changeset: str, contact: str, key_service: str, url: str) -> APIRouter:
    """``GET /open311/discovery.{json|xml}``: Open311 Service Discovery, which GeoReport v2
    requires. ``url`` is the GeoReport v2 base URL it names; empty: the one this request
    came to (``.../open311/v2``). ``changeset`` changes when the catalogue may have."""
    router = APIRouter(prefix="/open311", tags=["open311"])

    @router.get("/discovery.{fmt}")
    def discovery(fmt: str, request: Request) -> Response:
        """Where the GeoReport v2 endpoint is, its formats, and whom to ask for a key."""
        xml = _xml(fmt)
        endpoint = url or f"{str(request.base_url).rstrip('/')}/open311/v2"
        body = discovery_dict(
            changeset=changeset, contact=contact, key_service=key_service, url=endpoint
        )
        return render(body, xml=xml, root="discovery")

    return router


def open311_router(
    catalogue: ServiceCatalogue,
    requests: ServiceRequestStore,
    *,
    authorise: Callable[[str | None], object],
    hash_phone: Callable[[str], str | None],
) -> APIRouter:
    router = APIRouter(prefix="/open311/v2", tags=["open311"])

    @router.get("/services.{fmt}")
    def list_services(fmt: str) -> Response:
        """Every active service (Open311 ``GET services``)."""
        xml = _xml(fmt)
        body = [service_dict(s) for s in catalogue.list()]
        return render(body, xml=xml, root="services")

    @router.get("/services/{service_code}.{fmt}")
    def service_definition(service_code: str, fmt: str) -> Response:
        """A service's attribute definitions (Open311 ``GET services/{code}``)."""
        xml = _xml(fmt)
        service = catalogue.get(service_code)
        if service is None or not service.active:
            raise ApiError(404, "open311", f"service_code {service_code!r} not found")
        return render(service_definition_dict(service), xml=xml, root="service_definition")

    @router.post("/requests.{fmt}", openapi_extra=_NEW_REQUEST_FORM)
    async def create_request(fmt: str, request: Request) -> Response:
        """File an SR from a form (Open311 ``POST requests``)."""
        xml = _xml(fmt)
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            raise ApiError(400, "open311", "send the request as application/x-www-form-urlencoded")
        raw = await request.body()
        if content_type.startswith("application/x-www-form-urlencoded"):
            try:
                fields = parse_form(raw, max_fields=_MAX_FIELDS)
            except Open311Error as exc:
                raise _refuse(exc) from None
        else:
            fields = await _multipart_fields(request, raw)
        api_key = (fields.get("api_key") or [""])[0] or bearer_token(
            request.headers.get("authorization")
        )
        await run_in_threadpool(authorise, api_key or None)
        found: list[Service] = []

        def find_service(code: str) -> Service | None:
            service = catalogue.get(code)
            if service is not None:
                found.append(service)
            return service

        try:
            new = await run_in_threadpool(parse_new_request, fields, find_service, hash_phone)
            sr = await run_in_threadpool(requests.create, new)
        except Open311Error as exc:
            raise _refuse(exc) from None
        except UnknownService as exc:
            raise ApiError(404, "open311", str(exc)) from None
        body = [filed_request_dict(sr, found[-1].type)]
        return render(body, xml=xml, root="service_requests", status=201)

    @router.get("/requests.{fmt}")
    def search_requests(fmt: str, request: Request) -> Response:
        """Search SRs (Open311 ``GET requests``): last 90 days by default, at most 1000;
        ``page``/``page_size`` page through a window; unknown parameters are ignored."""
        xml = _xml(fmt)
        try:
            params = parse_search(search_query(request.query_params.multi_items()))
            found = requests.search_public(
                sr_numbers=params.sr_numbers,
                service_codes=params.service_codes,
                statuses=params.statuses,
                start=params.start,
                end=params.end,
                limit=params.page_size,
                offset=params.offset,
            )
        except Open311Error as exc:
            raise _refuse(exc) from None
        except DbUnavailable:
            raise
        except DbError as exc:
            raise ApiError(400, "open311", str(exc)) from None
        return search_response(found, xml=xml)

    @router.get("/requests/{service_request_id}.{fmt}")
    def get_request(service_request_id: str, fmt: str) -> Response:
        """One SR by its number (Open311 ``GET requests/{id}``)."""
        xml = _xml(fmt)
        sr = requests.get(service_request_id)
        if sr is None:
            raise ApiError(404, "open311", f"service request {service_request_id!r} not found")
        return render([request_dict(sr)], xml=xml, root="service_requests")

    @router.get("/tokens/{token}.{fmt}")
    def get_token(token: str, fmt: str) -> Response:
        """The SR number issued for a token (Open311 ``GET tokens/{token}``)."""
        xml = _xml(fmt)
        sr = requests.get_by_token(token)
        if sr is None:
            raise ApiError(404, "open311", "token not found")
        body = [{"service_request_id": sr.sr_number, "token": token}]
        return render(body, xml=xml, root="service_requests")

    return router
