"""``/v1/calls``: the controller posts finished calls; operators and desktops read them.

``POST /v1/calls`` is the intake hot path: an ``async`` route (no worker thread per request),
records stored through the group-commit `IntakeBatcher` (concurrent requests share one
transaction), the answer serialised without validating the stored record again.
``POST /v1/calls/batch`` stores many records in one transaction with a result per record.

A desk key bound to a CCR reads only the calls that CCR handled (`CallRepository.handled_by`):
the list is filtered to them (``agent=`` naming another CCR is 403), and any other call id is
404 ``call-not-found``, the very answer a missing call gets, so a desk cannot learn which
calls exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from line311.crm_bridge.auth import Authenticator, Principal, refuse_other_agent
from line311.crm_bridge.errors import ApiError
from line311.crm_bridge.intake import IntakeBatcher
from line311.crm_bridge.schemas import (
    BatchItemResult,
    BatchResult,
    CallBatch,
    CallList,
    CallOut,
    CallRecord,
    ErrorBody,
    call_json,
)
from line311.db.api_keys import Scope
from line311.db.calls import MAX_PAGE, AddOutcome, Call, CallRepository

__all__ = ["calls_router"]

_STATUS = {AddOutcome.CREATED: 201, AddOutcome.DUPLICATE: 200, AddOutcome.CONFLICT: 409}

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "missing or wrong API key"},
    403: {
        "model": ErrorBody,
        "description": "the key's scope does not allow this, or a desk key asks for another CCR",
    },
    429: {"model": ErrorBody, "description": "rate limited (see Retry-After)"},
    422: {"model": ErrorBody, "description": "the body or a parameter is invalid"},
}


def calls_router(
    repo: CallRepository,
    auth: Authenticator,
    *,
    on_received: Callable[[Iterable[str]], None] | None = None,
) -> APIRouter:
    """The call-record routes, over ``repo``: the controller writes, desktops read.

    ``on_received`` is told the outcome (``created``, ``duplicate``, ``conflict``) of every
    record a POST stored or refused as a conflict (the bridge's metrics count them)."""
    router = APIRouter(prefix="/v1/calls", tags=["calls"], responses=_ERRORS)
    batcher = IntakeBatcher(repo)
    write = [auth.depends(Scope.CONTROLLER)]
    reader = Depends(auth.require(Scope.CONTROLLER, Scope.AGENT_DESKTOP))

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
    async def post_call(record: CallRecord) -> Response:
        """Store a finished call; idempotent by ``call_id``."""
        result = await batcher.add(Call.from_record(record.to_record()))
        if on_received is not None:
            on_received((result.outcome.value,))
        if result.outcome is AddOutcome.CONFLICT:
            raise ApiError(
                409,
                "call-conflict",
                f"call {record.call_id} is already stored with different content",
                {"call_id": record.call_id},
            )
        return Response(
            call_json(result.stored),
            status_code=_STATUS[result.outcome],
            media_type="application/json",
            headers={"Location": f"/v1/calls/{record.call_id}"},
        )

    @router.post(
        "/batch",
        dependencies=write,
        response_model=BatchResult,
        responses={413: {"model": ErrorBody, "description": "body over the batch limit"}},
    )
    async def post_calls(batch: CallBatch) -> Response:
        """Store many finished calls in one transaction; a result per record, in order.

        Each result's ``status`` is what ``POST /v1/calls`` would have answered for that
        record alone: 201 created, 200 identical repeat (also of an earlier record in the
        same batch), 409 conflicting repeat. Nothing is stored when any record is invalid
        or has a value the database refuses (422), or when the database fails (503).
        """
        results = await run_in_threadpool(
            repo.add_calls, [Call.from_record(r.to_record()) for r in batch.records]
        )
        if on_received is not None:
            on_received(r.outcome.value for r in results)
        items = [
            BatchItemResult(
                call_id=r.stored.call_id, status=_STATUS[r.outcome], outcome=r.outcome.value
            )
            for r in results
        ]
        counts = dict.fromkeys(AddOutcome, 0)
        for r in results:
            counts[r.outcome] += 1
        body = BatchResult(
            results=items,
            created=counts[AddOutcome.CREATED],
            duplicates=counts[AddOutcome.DUPLICATE],
            conflicts=counts[AddOutcome.CONFLICT],
        )
        return Response(body.model_dump_json(), media_type="application/json")

    @router.get("", response_model=CallList)
    def list_calls(
        start: Annotated[AwareDatetime | None, Query(description="started_at >= start")] = None,
        end: Annotated[AwareDatetime | None, Query(description="started_at < end")] = None,
        outcome: Annotated[str | None, Query(max_length=32)] = None,
        queue: Annotated[str | None, Query(max_length=64)] = None,
        agent: Annotated[str | None, Query(max_length=64)] = None,
        language: Annotated[str | None, Query(max_length=16)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
        who: Principal = reader,
    ) -> CallList:
        """Calls newest first; filters combine with AND; follow ``next_cursor`` for more.

        A desk key bound to a CCR gets only the calls its CCR handled (the record's
        ``agent_id``, or a screen pop to it); ``agent=`` another CCR is 403.
        """
        mine = who.desk_agent
        if agent is not None:
            refuse_other_agent(who, agent, "calls")
        page = repo.list_calls(
            start, end, outcome, queue, agent, language, limit, cursor, handled_by=mine
        )
        return CallList(
            items=[CallOut.from_call(c) for c in page.items], next_cursor=page.next_cursor
        )

    @router.get(
        "/{call_id}",
        response_model=CallOut,
        responses={
            404: {
                "model": ErrorBody,
                "description": "no such call (to a desk key: not its own)",
            }
        },
    )
    def get_call(call_id: str, who: Principal = reader) -> CallOut:
        """One call by id (to a desk key bound to a CCR: only a call that CCR handled)."""
        mine = who.desk_agent
        call = repo.get_call(call_id) if mine is None else repo.get_handled_call(call_id, mine)
        if call is None:
            raise ApiError(404, "call-not-found", f"no call {call_id!r}", {"call_id": call_id})
        return CallOut.from_call(call)

    return router
