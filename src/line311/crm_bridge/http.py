"""HTTP plumbing shared by the bridge's routes: auth, error bodies, body-size limit.

Two error shapes live side by side: the ``/v1`` API answers
``{"error_id", "message", "details"}``; everything under ``/open311/`` answers Open311's
``[{"code", "description"}]``. Validation details never echo the submitted values (they
could hold a caller's number or a secret).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from line311.crm_bridge.errors import ApiError
from line311.db.calls import InvalidCursor
from line311.db.errors import DbError, DbUnavailable, RecordRefused, SchemaNotCurrent
from line311.text import is_safe_text

__all__ = [
    "OPEN311_JSON",
    "OPEN311_PREFIX",
    "BodySizeLimit",
    "bearer_token",
    "error_response",
    "install_error_handlers",
    "keys_match",
    "open311_errors",
    "refuse_unsafe_request_text",
    "sanitise_validation_errors",
    "wants_xml",
]

logger = logging.getLogger(__name__)

OPEN311_PREFIX = "/open311/"
OPEN311_JSON = "application/json; charset=utf-8"
"""The Content-Type of Open311's JSON, as GeoReport v2 shows it (XML: text/xml; charset=utf-8)."""

_STATUS_IDS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "invalid-request",
    429: "rate-limited",
    503: "unavailable",
}


def keys_match(provided: str, expected: str) -> bool:
    """Constant-time comparison of two API keys (an empty expected key matches nothing)."""
    if not expected:
        return False
    return hmac.compare_digest(provided.encode(), expected.encode())


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def sanitise_validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors reduced to location, message and type: never the input values."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})
    return out


def _is_open311(request: Request) -> bool:
    return request.url.path.startswith(OPEN311_PREFIX)


def wants_xml(path: str) -> bool:
    """True when an Open311 URL asks for XML (a ``.xml`` suffix)."""
    return path.endswith(".xml")


def open311_errors(
    status: int, description: str, *, xml: bool, headers: Mapping[str, str] | None = None
) -> Response:
    """Open311's error list ``[{code, description}]``, as JSON or XML."""
    if xml:
        from xml.sax.saxutils import escape

        body = (
            '<?xml version="1.0" encoding="utf-8"?><errors><error>'
            f"<code>{status}</code><description>{escape(description)}</description>"
            "</error></errors>"
        )
        return Response(
            body, status_code=status, media_type="text/xml", headers=dict(headers or {})
        )
    return JSONResponse(
        [{"code": status, "description": description}],
        status_code=status,
        headers=dict(headers or {}),
        media_type=OPEN311_JSON,
    )


def error_response(
    request: Request,
    status: int,
    error_id: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error in the shape the route's API uses."""
    if _is_open311(request):
        return open311_errors(status, message, xml=wants_xml(request.url.path), headers=headers)
    body = {"error_id": error_id, "message": message, "details": details}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to a JSON error body; nothing leaks a traceback or a value."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(
            request, exc.status, exc.error_id, exc.message, exc.details, exc.headers
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = sanitise_validation_errors(exc.errors())
        if _is_open311(request):
            first = details[0] if details else {"loc": [], "msg": "invalid request"}
            where = ".".join(p for p in first["loc"] if p not in ("body", "query", "path"))
            return error_response(request, 400, "invalid-request", f"{where}: {first['msg']}")
        return error_response(
            request, 422, "invalid-request", "the request does not match the schema", details
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error_id = _STATUS_IDS.get(exc.status_code, f"http-{exc.status_code}")
        return error_response(
            request, exc.status_code, error_id, str(exc.detail), headers=exc.headers
        )

    async def on_db(request: Request, exc: Exception) -> Response:
        if isinstance(exc, InvalidCursor):
            return error_response(request, 400, "invalid-cursor", str(exc))
        # the class and what was being done only: a driver's message can quote stored values
        what = f"{type(exc).__name__}: {str(exc).split(':', 1)[0]}"
        if isinstance(exc, RecordRefused):  # the values, not the database: never "try again"
            logger.warning(
                "database refused data on %s %s: %s", request.method, request.url.path, what
            )
            return error_response(
                request, 422, "record-refused", "the database refused a value of the record"
            )
        if isinstance(exc, DbUnavailable | SchemaNotCurrent):
            logger.error("database failure on %s %s: %s", request.method, request.url.path, what)
            return error_response(
                request, 503, "database-unavailable", "the database is unavailable"
            )
        logger.error("database error on %s %s: %s", request.method, request.url.path, what)
        return error_response(request, 500, "database-error", "internal database error")

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal-error", "internal error")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DbError, on_db)
    app.add_exception_handler(Exception, on_unexpected)


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by Content-Length or while streaming.

    ``per_path`` raises (or lowers) the limit for exact paths (``/v1/calls/batch``).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(str(scope.get("path", "")), self.max_bytes)
        declared = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
        if declared is not None and (declared < 0 or declared > limit):
            await self._refuse(scope, send, limit)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): buffer up to the limit, then replay to the app.
        buffered: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > limit:
                await self._refuse(scope, send, limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        path = str(scope.get("path", ""))
        message = f"request body larger than {limit} bytes"
        if path.startswith(OPEN311_PREFIX):
            response: Response = open311_errors(413, message, xml=wants_xml(path))
        else:
            response = JSONResponse(
                {"error_id": "body-too-large", "message": message, "details": None},
                status_code=413,
            )

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)


def refuse_unsafe_request_text(request: Request) -> None:
    """An app-wide dependency: 400 for a path or query value holding a control character or
    broken Unicode (`line311.text`), before it can reach a query (PostgreSQL refuses NUL)."""
    if not is_safe_text(request.url.path):
        raise ApiError(400, "invalid-request", "the path holds a control character (refused)")
    for key, value in request.query_params.multi_items():
        if not (is_safe_text(key) and is_safe_text(value)):
            where = key if is_safe_text(key) else "a query parameter"
            raise ApiError(400, "invalid-request", f"{where} holds a control character (refused)")
