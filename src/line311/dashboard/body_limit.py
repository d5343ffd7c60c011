"""A cap on every request body of line311's own HTTP app (pure ASGI middleware).

The controller's HTTP app runs in the same event loop as every call, so one request must
not be able to make it buffer an unbounded body. `BodyLimit` refuses a body larger than its
route's limit with 413 ``body-too-large``:

* at once, before the app runs, when ``Content-Length`` says so;
* for a chunked (or lying) body, as soon as the bytes read pass the limit: ``receive`` raises
  `BodyTooLarge` (an ``HTTPException``, so FastAPI's own body parsing lets it through) and
  the 413 is sent if the app has not started answering. Nothing past the limit is buffered.

The 413 carries ``Connection: close`` so the server stops reading the rest of the body.
Limits are chosen per request by the first matching ``(methods, path regex, limit)`` rule,
else ``default``; large uploads get their own rule (and are spooled to disk by the route).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_BODY_LIMIT", "BodyLimit", "BodyLimitRule", "BodyTooLarge"]

DEFAULT_BODY_LIMIT: Final = 64 * 1024
"""Largest JSON or form body of the controller's app (sign-in, actions, alert texts)."""


class BodyTooLarge(HTTPException):
    """A request body passed its route's limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is limited to {limit} bytes")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class BodyLimitRule:
    """Bodies of ``methods`` on paths matching ``pattern`` may be up to ``limit`` bytes."""

    methods: frozenset[str]
    pattern: re.Pattern[str]
    limit: int

    @classmethod
    def of(cls, methods: Iterable[str], pattern: str, limit: int) -> BodyLimitRule:
        return cls(frozenset(m.upper() for m in methods), re.compile(pattern), limit)


def too_large_body(limit: int) -> bytes:
    """The JSON error body of a 413."""
    return json.dumps(
        {
            "error_id": "body-too-large",
            "message": f"the request body is limited to {limit} bytes",
            "details": {"limit": limit},
        }
    ).encode()


class BodyLimit:
    """ASGI middleware: refuse request bodies over the route's limit (see the module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default: int = DEFAULT_BODY_LIMIT,
        rules: Iterable[BodyLimitRule] = (),
    ) -> None:
        self.app = app
        self.default = default
        self.rules = tuple(rules)

    def limit_for(self, method: str, path: str) -> int:
        for rule in self.rules:
            if method in rule.methods and rule.pattern.fullmatch(path):
                return rule.limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("method", "GET"), scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await _send_413(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    body = too_large_body(limit)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
