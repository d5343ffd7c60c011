"""``/v1/sr`` (service requests for the controller and desktops) and ``/v1/screen-pops``.

- ``GET /v1/sr/{sr_number}``: the IVR's status lookup. By SR number only; the answer holds
  status, dates, service and agency, and status notes cleaned to be spoken — never a name,
  address, description, caller hash or call id.
- ``POST /v1/sr``: a CCR (or the controller) files an SR for a call.
- ``POST /v1/sr/{sr_number}/status``: set status and notes.
- ``POST /v1/screen-pops``: the call context shown when a CCR is connected, idempotent by
  (call_id, agent_id); the answer adds the caller's earlier SRs found by the caller hash.

A desk key bound to a CCR (`Principal.desk_agent`) reads only screen pops addressed to its CCR
(another agent id in the path: 403, decided before any read) and files SRs only for calls its
CCR handled (``call_id`` required; a call that is not its own: 404 ``call-not-found``, as for
a missing one). It may read and set the status of any SR by number: CCRs work on the SRs
callers ring about, whoever filed them, and the status answer holds no personal data (the
public Open311 GETs show as much). Each status change is logged with the key that made it.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from line311.call.srnumber import normalize_sr_number, validate_sr_number
from line311.crm_bridge.auth import Authenticator, Principal, refuse_other_agent
from line311.crm_bridge.errors import ApiError
from line311.crm_bridge.open311.parse import Open311Error, validate_attributes
from line311.crm_bridge.schemas import (
    CallerHash,
    CallId,
    ErrorBody,
    Language,
    Name,
    NoCallerNumbers,
)
from line311.crm_bridge.speech import speakable, spoken_digits
from line311.db.api_keys import Scope
from line311.db.calls import AddOutcome, CallRepository
from line311.db.screen_pops import ScreenPop, ScreenPopStore
from line311.db.service_requests import (
    NewServiceRequest,
    ServiceRequest,
    ServiceRequestStore,
    UnknownService,
)
from line311.db.services import ServiceCatalogue

__all__ = ["sr_router", "status_view"]

logger = logging.getLogger(__name__)


class SrStatus(BaseModel):
    """What the IVR may say about an SR (no personal data)."""

    sr_number: str
    sr_number_spoken: str
    status: str
    service_code: str
    service_name: str
    agency: str
    requested_date: str
    updated_date: str
    expected_date: str | None
    status_notes: str


class SrCreate(NoCallerNumbers):
    """An SR filed by a CCR or the controller (JSON)."""

    model_config = ConfigDict(extra="forbid")

    service_code: Annotated[str, Field(min_length=1, max_length=64)]
    call_id: CallId | None = None
    caller_hash: CallerHash | None = None
    description: Annotated[str, Field(max_length=4000)] | None = None
    address: Annotated[str, Field(max_length=300)] | None = None
    zipcode: Annotated[str, Field(pattern=r"^[0-9]{5}(-[0-9]{4})?$")] | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    long: Annotated[float, Field(ge=-180, le=180)] | None = None
    attributes: dict[str, str | list[str]] = Field(default_factory=dict)


class SrCreated(BaseModel):
    sr_number: str
    token: str
    status: str
    service_notice: str | None
    expected_datetime: datetime | None


class SrStatusUpdate(NoCallerNumbers):  # NoCallerNumbers also refuses unsafe text
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "closed"]
    status_notes: Annotated[str, Field(max_length=2000)] | None = None


class ScreenPopIn(NoCallerNumbers):
    """The call context for a CCR's desktop, posted by the controller on connect."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: CallId
    agent_id: Name
    queue: Name | None = None
    language: Language = "en"
    caller_hash: CallerHash | None = None
    path: list[JsonValue] | dict[str, JsonValue] = Field(default_factory=list)
    alerts: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=50)
    wait_seconds: Annotated[float, Field(ge=0, le=86400)]
    connected_at: AwareDatetime


class EarlierRequest(BaseModel):
    sr_number: str
    service_name: str
    status: str
    requested_datetime: datetime


class ScreenPopOut(BaseModel):
    call_id: str
    agent_id: str
    queue: str | None
    language: str
    path: JsonValue
    alerts: JsonValue
    wait_seconds: float
    connected_at: datetime
    earlier_requests: list[EarlierRequest]


def status_view(sr: ServiceRequest, city: tzinfo) -> SrStatus:
    """What the IVR and desktops may say about ``sr``. Its dates are the days in the city's
    zone ``city`` (setting ``timezone``): an SR updated at 9 pm in New York was updated that
    day, though it is already the next day in UTC, where the times are stored."""

    def day(when: datetime) -> str:
        return when.astimezone(city).date().isoformat()

    return SrStatus(
        sr_number=sr.sr_number,
        sr_number_spoken=spoken_digits(sr.sr_number),
        status=sr.status,
        service_code=sr.service_code,
        service_name=sr.service_name,
        agency=sr.agency_responsible,
        requested_date=day(sr.requested_at),
        updated_date=day(sr.updated_at),
        expected_date=day(sr.expected_at) if sr.expected_at else None,
        status_notes=speakable(sr.status_notes),
    )


def _canonical(sr_number: str) -> str:
    canonical = normalize_sr_number(sr_number)
    if not validate_sr_number(canonical):
        raise ApiError(
            422,
            "invalid-sr-number",
            "not a valid SR number (12 digits starting 311, with a check digit)",
        )
    return canonical


def sr_router(
    catalogue: ServiceCatalogue,
    requests: ServiceRequestStore,
    pops: ScreenPopStore,
    calls: CallRepository,
    auth: Authenticator,
    city: tzinfo,
) -> APIRouter:
    """The ``/v1`` SR routes; ``city`` is the city's zone, in which SR dates are days."""
    router = APIRouter(
        prefix="/v1",
        responses={
            401: {"model": ErrorBody},
            403: {"model": ErrorBody},
            422: {"model": ErrorBody},
            429: {"model": ErrorBody},
        },
    )
    both = [auth.depends(Scope.CONTROLLER, Scope.AGENT_DESKTOP)]
    controller = [auth.depends(Scope.CONTROLLER)]
    desk_or_controller = Depends(auth.require(Scope.CONTROLLER, Scope.AGENT_DESKTOP))

    @router.get(
        "/sr/{sr_number}",
        response_model=SrStatus,
        dependencies=both,
        tags=["service requests"],
        responses={404: {"model": ErrorBody}},
    )
    def sr_status(sr_number: Annotated[str, Path(max_length=32)]) -> SrStatus:
        """SR status for the IVR, by SR number only (dashes and spaces allowed)."""
        sr = requests.get(_canonical(sr_number))
        if sr is None:
            raise ApiError(404, "sr-not-found", "no service request with that number")
        return status_view(sr, city)

    @router.post(
        "/sr",
        response_model=SrCreated,
        status_code=status.HTTP_201_CREATED,
        tags=["service requests"],
        responses={404: {"model": ErrorBody}},
    )
    def file_sr(
        body: SrCreate,
        response: Response,
        who: Principal = desk_or_controller,
    ) -> SrCreated:
        """File an SR for a call (channel PHONE); a desk key bound to a CCR, only for a call
        that CCR handled."""
        mine = who.desk_agent
        if mine is not None:
            if body.call_id is None:
                raise ApiError(
                    403,
                    "forbidden",
                    "a desk key files SRs for its own CCR's calls: give the call_id",
                )
            if not calls.handled_by(body.call_id, mine):
                raise ApiError(
                    404, "call-not-found", f"no call {body.call_id!r}", {"call_id": body.call_id}
                )
        service = catalogue.get(body.service_code)
        if service is None or not service.active:
            raise ApiError(404, "service-not-found", f"no service {body.service_code!r}")
        raw = {k: [v] if isinstance(v, str) else v for k, v in body.attributes.items()}
        try:
            attributes = validate_attributes(raw, service)
        except Open311Error as exc:
            raise ApiError(422, "invalid-attributes", exc.description) from None
        try:
            sr = requests.create(
                NewServiceRequest(
                    service_code=body.service_code,
                    description=body.description,
                    address=body.address,
                    zipcode=body.zipcode,
                    lat=body.lat,
                    long=body.long,
                    channel="PHONE",
                    attributes=attributes,
                    caller_hash=body.caller_hash,
                    call_id=body.call_id,
                )
            )
        except UnknownService as exc:
            raise ApiError(404, "service-not-found", str(exc)) from None
        response.headers["Location"] = f"/v1/sr/{sr.sr_number}"
        return SrCreated(
            sr_number=sr.sr_number,
            token=sr.token,
            status=sr.status,
            service_notice=sr.service_notice,
            expected_datetime=sr.expected_at,
        )

    @router.post(
        "/sr/{sr_number}/status",
        response_model=SrStatus,
        tags=["service requests"],
        responses={404: {"model": ErrorBody}},
    )
    def update_status(
        sr_number: Annotated[str, Path(max_length=32)],
        body: SrStatusUpdate,
        who: Principal = desk_or_controller,
    ) -> SrStatus:
        """Set an SR's status and status notes (any SR: CCRs work on the SRs callers ring
        about, whoever filed them); logged with the key that did it."""
        sr = requests.update_status(_canonical(sr_number), body.status, body.status_notes)
        if sr is None:
            raise ApiError(404, "sr-not-found", "no service request with that number")
        logger.info(
            "SR %s set %s by API key %s (%s%s)",
            sr.sr_number,
            sr.status,
            who.key_id,
            who.scope,
            f", CCR {who.desk_agent}" if who.desk_agent else "",
        )
        return status_view(sr, city)

    def _pop_view(pop: ScreenPop) -> ScreenPopOut:
        earlier = requests.recent_for_caller(pop.caller_hash) if pop.caller_hash else []
        return ScreenPopOut(
            call_id=pop.call_id,
            agent_id=pop.agent_id,
            queue=pop.queue,
            language=pop.language,
            path=pop.path,
            alerts=pop.alerts,
            wait_seconds=pop.wait_seconds,
            connected_at=pop.connected_at,
            earlier_requests=[
                EarlierRequest(
                    sr_number=sr.sr_number,
                    service_name=sr.service_name,
                    status=sr.status,
                    requested_datetime=sr.requested_at,
                )
                for sr in earlier
            ],
        )

    @router.post(
        "/screen-pops",
        response_model=ScreenPopOut,
        dependencies=controller,
        status_code=status.HTTP_201_CREATED,
        tags=["screen pops"],
        responses={200: {"model": ScreenPopOut}, 409: {"model": ErrorBody}},
    )
    def post_screen_pop(body: ScreenPopIn, response: Response) -> ScreenPopOut:
        """Store the call context shown to a CCR; idempotent by (call_id, agent_id)."""
        result = pops.add(
            ScreenPop(
                call_id=body.call_id,
                agent_id=body.agent_id,
                queue=body.queue,
                language=body.language,
                caller_hash=body.caller_hash,
                path=body.path,
                alerts=list(body.alerts),
                wait_seconds=body.wait_seconds,
                connected_at=body.connected_at,
            )
        )
        if result.outcome is AddOutcome.CONFLICT:
            raise ApiError(
                409,
                "screen-pop-conflict",
                "a different screen pop is stored for this call and agent",
                {"call_id": body.call_id, "agent_id": body.agent_id},
            )
        if result.outcome is AddOutcome.DUPLICATE:
            response.status_code = status.HTTP_200_OK
        return _pop_view(result.stored)

    @router.get(
        "/screen-pops/{call_id}/{agent_id}",
        response_model=ScreenPopOut,
        tags=["screen pops"],
        responses={404: {"model": ErrorBody}},
    )
    def get_screen_pop(
        call_id: str, agent_id: str, who: Principal = desk_or_controller
    ) -> ScreenPopOut:
        """The screen pop of a call for an agent, with the caller's earlier SRs (a desk key
        bound to a CCR: only its own CCR's pops, another agent id is 403)."""
        refuse_other_agent(who, agent_id, "screen pops")
        pop = pops.get(call_id, agent_id)
        if pop is None:
            raise ApiError(404, "screen-pop-not-found", "no screen pop for this call and agent")
        return _pop_view(pop)

    return router
