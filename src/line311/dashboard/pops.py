"""Screen pops to the CCR desk: built when the CCR answers, streamed to that CCR only (edge).

Theory of operation
-------------------
::

    controller ── call record (IVR hand-off) ──▶ remember_record: IvrSummary by call id
    QueueKind ──── on_answer(AnsweredCall) ───▶ build_screen_pop ──▶ last pop of the agent
                    (before whisper and bridge)                    └─▶ each of that agent's
                                                                       streams: a small buffer

The IVR's path arrives with the call record the controller writes when it hands the call to
a queue, i.e. before any CCR can be offered the call; it is kept (bounded) until the answer.
`PopDesk.on_answer` runs synchronously in the queue runtime's event loop at the CCR's answer,
so the pop is on its way before the whisper starts and long before the bridge is made.

Each open stream owns a buffer of the last ``buffer`` pops: publishing appends and never
waits, so a slow or stuck client only loses its own oldest pops (counted in ``dropped``); a
client that goes away is removed when its stream is cancelled.

HTTP (`desk_pops_router`, mounted under ``/api/desk``)::

    GET /api/desk/agents/{id}/pop    {"agent_id", "pop": {...} | null}: the last pop (polling)
    GET /api/desk/agents/{id}/pops   text/event-stream: ``current`` (the last pop or null),
                                     then one ``pop`` event per answered call

Both need a signed-in account (role ``operations`` or more). A CCR's account has the agent id
as its username and sees only its own pops; a supervisor may watch any CCR's. Both only
show what the CCR's screen shows, so a session idle past ``dashboard_idle_timeout`` may
still use them, and using them does not count as activity (`line311.dashboard.auth`). Errors:
``forbidden`` (403), ``not-found`` (404, no such CCR), ``too-many-clients`` (503).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from line311.dashboard.api import error_response
from line311.dashboard.auth import ForbiddenError, Principal, Role, require_role, while_allowed
from line311.dashboard.errors import UnknownTargetError
from line311.dashboard.live import encode_sse
from line311.queue.pops import (
    AnsweredCall,
    IvrSummary,
    ScreenPop,
    build_screen_pop,
    skills_asked,
    summarize_ivr,
)
from line311.routing.queues import QueueConfig

__all__ = ["PopDesk", "desk_pops_router"]

logger = logging.getLogger(__name__)

PopListener = Callable[[ScreenPop], None]
"""Called with every screen pop (e.g. a forwarder); must not block."""


class _Stream:
    __slots__ = ("dropped", "pending", "ready")

    def __init__(self, size: int) -> None:
        self.pending: deque[bytes] = deque(maxlen=size)
        self.dropped = 0
        self.ready = asyncio.Event()

    def offer(self, data: bytes) -> None:
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
        self.pending.append(data)
        self.ready.set()

    def take(self) -> list[bytes]:
        out = list(self.pending)
        self.pending.clear()
        self.ready.clear()
        return out


class PopDesk:
    """Builds screen pops and fans each out to its CCR's open streams (module docstring)."""

    def __init__(
        self,
        queues: Mapping[str, QueueConfig],
        *,
        interpreter_language: str = "en",
        buffer: int = 8,
        heartbeat_every: float = 15.0,
        max_streams_per_agent: int = 10,
        max_contexts: int = 10_000,
    ) -> None:
        self._queues = queues
        self._interpreter_language = interpreter_language
        self._buffer = buffer
        self.heartbeat_every = heartbeat_every
        self.max_streams_per_agent = max_streams_per_agent
        self._max_contexts = max_contexts
        self._contexts: OrderedDict[str, IvrSummary] = OrderedDict()
        self._last: dict[str, ScreenPop] = {}
        self._streams: dict[str, set[_Stream]] = {}
        self._listeners: list[PopListener] = []
        self._seq = 0
        self.published = 0

    # ------------------------------------------------------------------ facts in
    def remember_record(self, record: Mapping[str, Any]) -> None:
        """A call record: keep its IVR summary for the pop of a call handed to a queue."""
        path = record.get("path")
        call_id = record.get("call_id")
        if not isinstance(call_id, str) or not isinstance(path, Mapping):
            return
        if path.get("queue") is None:
            return  # the call never reached a queue: no CCR will answer it
        self._contexts[call_id] = summarize_ivr(path)
        self._contexts.move_to_end(call_id)
        while len(self._contexts) > self._max_contexts:
            self._contexts.popitem(last=False)

    def on_answer(self, answered: AnsweredCall) -> None:
        """The queue runtime's answer hook: build the pop and publish it. Never raises."""
        try:
            skills = skills_asked(
                self._queues.get(answered.queue),
                answered.language,
                interpreter=answered.interpreter,
                interpreter_language=self._interpreter_language,
                extra=answered.requires,
            )
            ivr = self._contexts.pop(answered.call_id, None)
            self.publish(build_screen_pop(answered, ivr, skills))
        except Exception:
            logger.exception("screen pop for call %s failed", answered.call_id)

    def add_listener(self, listener: PopListener) -> None:
        """Have ``listener(pop)`` called with every pop from now on."""
        self._listeners.append(listener)

    def publish(self, pop: ScreenPop) -> None:
        """Make ``pop`` its agent's last pop and send it to the agent's open streams."""
        self._seq += 1
        self.published += 1
        self._last[pop.agent_id] = pop
        data = encode_sse(_dumps(pop.to_json()), event="pop", event_id=str(self._seq))
        streams = self._streams.get(pop.agent_id, ())
        for stream in streams:
            stream.offer(data)
        logger.info(
            "screen pop for %s (call %s) to %d desk stream(s)",
            pop.agent_id,
            pop.call_id,
            len(streams),
        )
        for listener in self._listeners:
            try:
                listener(pop)
            except Exception:
                logger.exception("screen pop listener %r failed", listener)

    # ------------------------------------------------------------------ reading
    def last(self, agent_id: str) -> ScreenPop | None:
        """The agent's most recent pop, if any."""
        return self._last.get(agent_id)

    def streams(self, agent_id: str) -> int:
        """Open streams of ``agent_id``."""
        return len(self._streams.get(agent_id, ()))

    def full(self, agent_id: str) -> bool:
        return self.streams(agent_id) >= self.max_streams_per_agent

    async def stream(self, agent_id: str) -> AsyncIterator[bytes]:
        """SSE bytes for one desk: ``current`` (the last pop or null), then every new pop,
        and a comment line as heartbeat when nothing was sent for ``heartbeat_every``."""
        stream = _Stream(self._buffer)
        self._streams.setdefault(agent_id, set()).add(stream)
        try:
            last = self._last.get(agent_id)
            current = {"pop": None if last is None else last.to_json()}
            yield b"retry: 2000\n\n" + encode_sse(_dumps(current), event="current")
            while True:
                try:
                    async with asyncio.timeout(self.heartbeat_every):
                        await stream.ready.wait()
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                for data in stream.take():
                    yield data
        finally:
            mine = self._streams.get(agent_id)
            if mine is not None:
                mine.discard(stream)
                if not mine:
                    del self._streams[agent_id]
            if stream.dropped:
                logger.warning("desk stream of %s missed %d pops", agent_id, stream.dropped)


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------- HTTP
def _sees(principal: Principal, agent_id: str) -> bool:
    return principal.role is Role.SUPERVISOR or principal.username == agent_id


def _may_see(principal: Principal, agent_id: str) -> None:
    if not _sees(principal, agent_id):
        raise ForbiddenError("a CCR sees only their own screen pops")


def desk_pops_router(desk: PopDesk, known_agents: Callable[[], set[str]]) -> APIRouter:
    """``/agents/{id}/pop`` and ``/agents/{id}/pops`` (see the module docstring)."""
    router = APIRouter()
    # what a CCR's screen shows: an idle session may still watch it (line311.dashboard.auth)
    reader = Depends(require_role(Role.OPERATIONS, watching=True))

    def check(principal: Principal, agent_id: str) -> None:
        _may_see(principal, agent_id)
        if agent_id not in known_agents():
            raise UnknownTargetError(f"no CCR {agent_id!r}")

    @router.get("/agents/{agent_id}/pop")
    async def last_pop(agent_id: str, principal: Principal = reader) -> JSONResponse:
        check(principal, agent_id)
        pop = desk.last(agent_id)
        return JSONResponse(
            {"agent_id": agent_id, "pop": None if pop is None else pop.to_json()},
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/agents/{agent_id}/pops", response_model=None)
    async def pops(request: Request, agent_id: str, principal: Principal = reader) -> Response:
        check(principal, agent_id)
        if desk.full(agent_id):
            return error_response(503, "too-many-clients", f"{agent_id} has too many desk streams")
        return StreamingResponse(  # ends when the credentials (or the role) no longer allow it
            while_allowed(request, desk.stream(agent_id), allowed=lambda p: _sees(p, agent_id)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
