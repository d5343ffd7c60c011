"""``/v1/calls``: the controller posts finished calls; operators and desktops read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from line311.crm_bridge.auth import Authenticator
from line311.crm_bridge.errors import ApiError
from line311.crm_bridge.schemas import CallList, CallOut, CallRecord, ErrorBody
from line311.db.api_keys import Scope
from line311.db.calls import MAX_PAGE, AddOutcome, CallRepository

__all__ = ["calls_router"]

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "missing or wrong API key"},
    403: {"model": ErrorBody, "description": "the key's scope does not allow this"},
    429: {"model": ErrorBody, "description": "rate limited (see Retry-After)"},
    422: {"model": ErrorBody, "description": "the body or a parameter is invalid"},
}


def calls_router(repo: CallRepository, auth: Authenticator) -> APIRouter:
    """The call-record routes, over ``repo``: the controller writes, desktops read."""
    router = APIRouter(prefix="/v1/calls", tags=["calls"], responses=_ERRORS)
    write = [auth.depends(Scope.CONTROLLER)]
    read = [auth.depends(Scope.CONTROLLER, Scope.AGENT_DESKTOP)]

    @router.post(
        "",
        dependencies=write,
        status_code=status.HTTP_201_CREATED,
        response_model=CallOut,
        responses={
            200: {"model": CallOut, "description": "identical repeat: nothing changed"},
            409: {"model": ErrorBody, "description": "another record has this call_id"},
        },
    )
    def post_call(record: CallRecord, response: Response) -> CallOut:
        """Store a finished call; idempotent by ``call_id``."""
        result = repo.add_call(record.to_call())
        if result.outcome is AddOutcome.CONFLICT:
            raise ApiError(
                409,
                "call-conflict",
                f"call {record.call_id} is already stored with different content",
                {"call_id": record.call_id},
            )
        if result.outcome is AddOutcome.DUPLICATE:
            response.status_code = status.HTTP_200_OK
        response.headers["Location"] = f"/v1/calls/{record.call_id}"
        return CallOut.from_call(result.stored)

    @router.get("", response_model=CallList, dependencies=read)
    def list_calls(
        start: Annotated[AwareDatetime | None, Query(description="started_at >= start")] = None,
        end: Annotated[AwareDatetime | None, Query(description="started_at < end")] = None,
        outcome: Annotated[str | None, Query(max_length=32)] = None,
        queue: Annotated[str | None, Query(max_length=64)] = None,
        agent: Annotated[str | None, Query(max_length=64)] = None,
        language: Annotated[str | None, Query(max_length=16)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> CallList:
        """Calls newest first; filters combine with AND; follow ``next_cursor`` for more."""
        page = repo.list_calls(start, end, outcome, queue, agent, language, limit, cursor)
        return CallList(
            items=[CallOut.from_call(c) for c in page.items], next_cursor=page.next_cursor
        )

    @router.get(
        "/{call_id}",
        response_model=CallOut,
        dependencies=read,
        responses={404: {"model": ErrorBody, "description": "no such call"}},
    )
    def get_call(call_id: str) -> CallOut:
        """One call by id."""
        call = repo.get_call(call_id)
        if call is None:
            raise ApiError(404, "call-not-found", f"no call {call_id!r}", {"call_id": call_id})
        return CallOut.from_call(call)

    return router
