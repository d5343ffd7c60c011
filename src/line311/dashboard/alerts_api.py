"""HTTP API of the pushed alerts, mounted under ``/api/alerts`` on line311's HTTP app.

``create_alerts_router(auth_dependency)`` returns a router; authentication is the app's
business: ``auth_dependency`` is a FastAPI dependency returning a principal with
``.username`` and ``.role``. Role ``supervisor`` may act; ``operations`` may only read (403
on every action). ``feed_dependency`` (default: ``auth_dependency``) admits the CCR message
feed, which only shows what the CCRs' screens show (bootstrap lets an idle session watch it:
``require_role("operations", watching=True)``). The service and the feed come as arguments
or, when not given, from ``app.state.alert_service`` / ``app.state.alert_feed``.

    GET    /                         list (?state=pending_approval&state=active ...)
    POST   /                         create a draft                                  201
    GET    /feed                     SSE of active CCR messages: snapshot, activated, withdrawn,
                                     expired
    GET    /{id}                     the alert, its audio assets and its audit log
    PATCH  /{id}                     edit a draft
    PUT    /{id}/audio/{lang}        upload audio (multipart field ``file``, or a raw audio body)
    GET    /{id}/audio/{lang}        the 8 kHz WAV (listen before approving)
    POST   /{id}/synthesize          read the typed texts with TTS ({"languages": [...]})
    POST   /{id}/submit|approve|reject|withdraw   ({"note": "..."})

Every string and key of a body is safe text (422 ``invalid-request`` otherwise, naming the
field), and an alert id in a path at most 128 characters of it (400 ``invalid-target``),
checked before the database sees them.

Errors are ``{"error_id", "message", "details"}``: 400 ``invalid-target``, 404
``alert-not-found``, 409 ``illegal-transition`` / ``alert-conflict``, 403 ``forbidden`` /
``four-eyes``, 413 ``body-too-large``, 415 ``unsupported-media-type``, 422
``invalid-request`` / ``invalid-node`` / ``audio-corrupt`` / ``audio-too-short`` /
``audio-silent`` / ``audio-too-long``, 503 ``tts-unavailable`` / ``database-unavailable``.

An alert (list and show) carries ``node_problem``: null, or, when the IVR flow callers are
in now refuses its node (a reload left it out), ``reason``, ``message`` and
``played_instead`` (``greeting`` / ``language`` for an approved or active alert, which plays
there instead; null for a draft or a pending one, whose approval is refused).

``invalid-node``: the ``node`` of a new alert (or of one being approved) is not a node of
the IVR flow callers can hear it at (a typo, the greeting, the ``alerts`` node, or a node
before the language choice with languages); ``details`` has ``field`` (``"node"``),
``node``, ``reason`` (``unknown`` / ``start`` / ``alerts`` / ``before-language``), ``flow``
and ``known_nodes`` (the nodes an alert may target; also in ``GET /api/flows``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool

from line311.dashboard.accounts import MAX_AUDIT_TARGET, is_action_target
from line311.dashboard.auth import while_allowed
from line311.dashboard.bodies import SafeBody
from line311.db.errors import DbError, DbUnavailable
from line311.ivr.catalogue import LANGUAGES
from line311.messaging.alert_service import AlertService
from line311.messaging.alert_store import AlertConflict, AudioAsset
from line311.messaging.alerts import Action, AlertKind, AlertState, AuditEntry
from line311.messaging.errors import (
    AlertError,
    AlertNotFound,
    AudioRejected,
    FourEyesViolation,
    IllegalTransition,
    InvalidAlertNode,
    TtsError,
    UnsupportedAudio,
)
from line311.messaging.feed import AlertFeed, alert_json, sse_lines
from line311.text import is_safe_text

__all__ = ["SUPERVISOR_ROLE", "create_alerts_router"]

logger = logging.getLogger(__name__)

SUPERVISOR_ROLE = "supervisor"
_T = TypeVar("_T")
Language = Literal["en", "es", "cmn", "yue", "ru", "ko", "ht"]


# ---------------------------------------------------------------------- bodies


class CreateAlert(SafeBody):
    title: str = Field(min_length=1, max_length=200)
    kind: AlertKind = AlertKind.BOTH
    starts_at: datetime
    ends_at: datetime
    priority: int = Field(default=5, ge=1, le=9)
    languages: list[Language] = Field(default_factory=list)
    node: str | None = Field(default=None, max_length=64)
    texts: dict[Language, str] = Field(default_factory=dict)
    ccr_text: str = Field(default="", max_length=2000)
    prompts: dict[Language, str] = Field(default_factory=dict)


class EditAlert(SafeBody):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    priority: int | None = Field(default=None, ge=1, le=9)
    texts: dict[Language, str] | None = None
    ccr_text: str | None = Field(default=None, max_length=2000)


class Synthesize(SafeBody):
    languages: list[Language] | None = None


class Note(SafeBody):
    note: str = Field(default="", max_length=1000)


# ---------------------------------------------------------------------- errors
def error(status: int, error_id: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(
        {"error_id": error_id, "message": message, "details": details}, status_code=status
    )


class _Refused(Exception):
    def __init__(self, response: JSONResponse) -> None:
        self.response = response


def _checked_id(alert_id: str) -> str:
    """``alert_id`` if it can name an alert; else 400 ``invalid-target`` (as the wallboard's
    actions), before the database sees it."""
    if not is_action_target(alert_id):
        raise _Refused(
            error(
                400,
                "invalid-target",
                f"an alert id is at most {MAX_AUDIT_TARGET} characters of text without control "
                "characters or broken Unicode (refused, nothing done)",
            )
        )
    return alert_id


def _map(exc: Exception) -> JSONResponse:
    if isinstance(exc, AlertNotFound):
        return error(404, "alert-not-found", str(exc))
    if isinstance(exc, FourEyesViolation):
        return error(403, "four-eyes", str(exc))
    if isinstance(exc, IllegalTransition):
        return error(409, "illegal-transition", str(exc))
    if isinstance(exc, AlertConflict):
        return error(409, "alert-conflict", str(exc))
    if isinstance(exc, UnsupportedAudio):
        return error(415, "unsupported-media-type", str(exc))
    if isinstance(exc, AudioRejected):
        return error(422, f"audio-{exc.reason}", str(exc), {"reason": exc.reason})
    if isinstance(exc, InvalidAlertNode):
        details = {"field": "node", "node": exc.node, "reason": exc.reason, "flow": exc.flow,
                   "known_nodes": list(exc.nodes)}  # fmt: skip
        return error(422, "invalid-node", str(exc), details)
    if isinstance(exc, TtsError):
        return error(503, "tts-unavailable", str(exc))
    if isinstance(exc, AlertError):
        return error(422, "invalid-request", str(exc))
    if isinstance(exc, DbUnavailable):
        return error(503, "database-unavailable", "the alert database is unavailable")
    return error(500, "internal-error", "unexpected error; see the server log")


async def _call(fn: Callable[[], _T]) -> _T:
    try:
        return await run_in_threadpool(fn)
    except (AlertError, TtsError, DbError) as exc:
        raise _Refused(_map(exc)) from None


def _parse(model: type[_T], raw: Any) -> _T:
    try:
        return model.model_validate(raw)  # type: ignore[attr-defined,no-any-return]
    except ValidationError as exc:
        details = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        raise _Refused(error(422, "invalid-request", "invalid request body", details)) from None


async def _json(request: Request) -> Any:
    body = await request.body()
    if not body:
        return {}
    try:
        return await request.json()
    except ValueError:
        raise _Refused(error(422, "invalid-request", "the body is not JSON")) from None


def _asset_json(asset: AudioAsset) -> dict[str, Any]:
    return {
        "language": asset.language,
        "source": asset.source.value,
        "ref": asset.ref,
        "duration": asset.duration,
        "rms_dbfs": asset.rms_dbfs,
        "sha256": asset.sha256,
        "created_by": asset.created_by,
        "created_at": asset.created_at.isoformat(),
    }


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action.value,
        "from_state": entry.from_state.value,
        "to_state": entry.to_state.value,
        "note": entry.note,
    }


# ---------------------------------------------------------------------- router
def create_alerts_router(
    auth_dependency: Callable[..., Any],
    *,
    feed_dependency: Callable[..., Any] | None = None,
    service: AlertService | None = None,
    feed: AlertFeed | None = None,
    max_upload_bytes: int = 25_000_000,
    heartbeat_seconds: float = 15.0,
) -> APIRouter:
    """The alerts API (see the module docstring); mount it under ``/api/alerts``."""
    router = APIRouter()
    principal_dep = Depends(auth_dependency)
    watcher_dep = Depends(feed_dependency or auth_dependency)

    def _service(request: Request) -> AlertService:
        found = service or getattr(request.app.state, "alert_service", None)
        if found is None:
            raise _Refused(error(503, "alerts-unavailable", "the alert service is not running"))
        return found

    def _feed(request: Request) -> AlertFeed:
        found = feed or getattr(request.app.state, "alert_feed", None)
        if found is None:
            raise _Refused(error(503, "alerts-unavailable", "the alert feed is not running"))
        return found

    def _supervisor(principal: Any) -> str:
        if getattr(principal, "role", None) != SUPERVISOR_ROLE:
            raise _Refused(
                error(403, "forbidden", "only supervisors may change alerts (read-only role)")
            )
        return str(principal.username)

    def refusals(
        handler: Callable[..., Any],
    ) -> Callable[..., Any]:
        """Turn `_Refused` into its JSON response (a router cannot install handlers)."""
        import functools

        @functools.wraps(handler)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await handler(*args, **kwargs)
            except _Refused as refused:
                return refused.response

        return wrapper

    @router.get("")
    @refusals
    async def list_alerts(
        request: Request,
        principal: Any = principal_dep,
        state: Annotated[list[AlertState] | None, Query()] = None,
    ) -> Any:
        svc = _service(request)
        alerts = await _call(lambda: svc.list_alerts(state))
        problems = await _call(lambda: svc.node_problems(alerts))
        return {"alerts": [alert_json(a, problems.get(a.id)) for a in alerts]}

    @router.post("", status_code=201)
    @refusals
    async def create(request: Request, principal: Any = principal_dep) -> Any:
        actor = _supervisor(principal)
        body = _parse(CreateAlert, await _json(request))
        svc = _service(request)
        alert = await _call(
            lambda: svc.create(
                actor=actor,
                title=body.title,
                kind=body.kind,
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                priority=body.priority,
                languages=body.languages,
                node=body.node,
                texts={k: v for k, v in body.texts.items() if v.strip()},
                ccr_text=body.ccr_text,
                prompts={str(k): v for k, v in body.prompts.items()},
            )
        )
        return JSONResponse(alert_json(alert), status_code=201)

    @router.get("/feed")
    @refusals
    async def alert_feed(request: Request, principal: Any = watcher_dep) -> Any:
        source = _feed(request)

        async def stream() -> AsyncIterator[str]:
            async for event in source.events(heartbeat=heartbeat_seconds):
                yield ": keep-alive\n\n" if event is None else sse_lines(event)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(  # ends when the credentials do
            while_allowed(request, stream()), media_type="text/event-stream", headers=headers
        )

    @router.get("/{alert_id}")
    @refusals
    async def show(request: Request, alert_id: str, principal: Any = principal_dep) -> Any:
        _checked_id(alert_id)
        svc = _service(request)
        alert = await _call(lambda: svc.get(alert_id))
        audit = await _call(lambda: svc.audit(alert_id))
        assets = await _call(lambda: svc.assets(alert_id))
        problems = await _call(lambda: svc.node_problems([alert]))
        return {
            **alert_json(alert, problems.get(alert.id)),
            "assets": [_asset_json(a) for a in assets],
            "audit": [_audit_json(e) for e in audit],
        }

    @router.patch("/{alert_id}")
    @refusals
    async def edit(request: Request, alert_id: str, principal: Any = principal_dep) -> Any:
        actor = _supervisor(principal)
        _checked_id(alert_id)
        body = _parse(EditAlert, await _json(request))
        changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
        svc = _service(request)
        alert = await _call(lambda: svc.edit(alert_id, actor=actor, **changes))
        return alert_json(alert)

    @router.put("/{alert_id}/audio/{language}")
    @refusals
    async def upload(
        request: Request, alert_id: str, language: str, principal: Any = principal_dep
    ) -> Any:
        actor = _supervisor(principal)
        _checked_id(alert_id)
        if language not in LANGUAGES:
            return error(404, "unknown-language", f"no language {language!r}", list(LANGUAGES))
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_upload_bytes:
            return error(413, "body-too-large", f"uploads are limited to {max_upload_bytes} bytes")
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            async with request.form(max_part_size=max_upload_bytes) as form:
                part = form.get("file")
                if part is None or isinstance(part, str):
                    return error(422, "invalid-request", "send the audio in the form field 'file'")
                data = await part.read()
                filename = part.filename or ""
                media_type = part.content_type
        else:
            data = await request.body()
            filename = request.query_params.get("filename", "")
            media_type = content_type
        if len(data) > max_upload_bytes:
            return error(413, "body-too-large", f"uploads are limited to {max_upload_bytes} bytes")
        if not is_safe_text(filename):  # kept as the asset's reference
            return error(422, "invalid-request", "the file name holds control characters")
        svc = _service(request)
        asset = await _call(
            lambda: svc.upload_audio(
                alert_id, language, data, filename=filename, media_type=media_type, actor=actor
            )
        )
        return _asset_json(asset)

    @router.get("/{alert_id}/audio/{language}")
    @refusals
    async def audio(
        request: Request, alert_id: str, language: str, principal: Any = principal_dep
    ) -> Any:
        _checked_id(alert_id)
        svc = _service(request)
        await _call(lambda: svc.get(alert_id))
        if language not in LANGUAGES:
            return error(404, "unknown-language", f"no language {language!r}")
        path = svc.files.master_path(alert_id, language)
        if not path.is_file():
            return error(404, "audio-not-found", f"alert {alert_id} has no audio in {language}")
        return FileResponse(path, media_type="audio/wav")

    @router.post("/{alert_id}/synthesize")
    @refusals
    async def synthesize(request: Request, alert_id: str, principal: Any = principal_dep) -> Any:
        actor = _supervisor(principal)
        _checked_id(alert_id)
        body = _parse(Synthesize, await _json(request))
        svc = _service(request)
        assets = await _call(
            lambda: svc.synthesize(alert_id, actor=actor, languages=body.languages)
        )
        return {"assets": [_asset_json(a) for a in assets]}

    def _action_route(action: Action) -> None:
        @router.post(f"/{{alert_id}}/{action.value}", name=f"{action.value}_alert")
        @refusals
        async def act(request: Request, alert_id: str, principal: Any = principal_dep) -> Any:
            actor = _supervisor(principal)
            _checked_id(alert_id)
            body = _parse(Note, await _json(request))
            svc = _service(request)
            alert = await _call(lambda: svc.act(alert_id, action, actor=actor, note=body.note))
            return alert_json(alert)

    for action in (Action.SUBMIT, Action.APPROVE, Action.REJECT, Action.WITHDRAW):
        _action_route(action)

    return router
