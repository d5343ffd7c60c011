"""The desk API: CCR state and actions, live queue figures and stored SL reports over HTTP.

`queue_api_router`, mounted under ``/api/desk`` on line311's own HTTP by bootstrap,
behind the dashboard's sign-in: reading needs ``operations``, acting ``supervisor``)::

    POST /api/desk/agents/{id}/login | logout | pause[?reason=...] | resume
                                   (a reason: 1-64 characters, no control characters)
    GET  /api/desk/agents          live state and figures of every CCR in the roster
    GET  /api/desk/queues          real-time figures per queue, with today's live SL
    GET  /api/desk/reports/sl?from=&to=&queue=&interval=[&format=csv]   stored SL (any range)

Errors carry a stable ``error_id``: ``unknown-agent`` (404), ``agent-state`` (409),
``bad-request`` (400). Each CCR action is one audit entry (``agent.login`` ...) with its
outcome, as the wallboard's own actions are, when the router is given ``audit``; one refused
for its role (an operations user) by the mount's ``require_role_by_method(audit=...)``,
under the route's name (``agent.pause`` on the agent's id) with outcome ``forbidden``.

The router reads the queue runtime through `DeskRuntime` and acts through `DeskActions`
(the ARI edge's `line311.ari.agents.AgentDesk`), so nothing here imports the ARI edge.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from line311.dashboard.auth import AuditSink, record_action
from line311.dashboard.bodies import MAX_REASON
from line311.queue.days import local_day_start
from line311.queue.intervals import IntervalAccumulator
from line311.queue.report import REPORT_INTERVALS, build_sl_report, render_csv
from line311.queue.service_level import DEFAULT_POLICY, IntervalStats, SlPolicies, SlPolicy
from line311.routing.agents import AgentFigures
from line311.routing.errors import AgentStateError, UnknownAgentError
from line311.routing.results import QueueStats
from line311.routing.router import Router
from line311.text import is_safe_text

__all__ = [
    "MAX_REASON",
    "MAX_REPORT_SECONDS",
    "DeskActions",
    "DeskRuntime",
    "StoredStats",
    "queue_api_router",
]

_LAST_SECOND = 253_402_300_800.0  # 10000-01-01T00:00:00Z
MAX_REPORT_SECONDS = 400 * 86400
"""Longest range one SL report may cover."""


class DeskActions(Protocol):
    """Runs a CCR action (raises `UnknownAgentError`, `AgentStateError`)."""

    def apply(self, agent_id: str, action: str, reason: str = "break") -> None: ...


class _Hub(Protocol):
    @property
    def accumulator(self) -> IntervalAccumulator: ...


class DeskRuntime(Protocol):
    """What the desk API reads of the queue runtime."""

    @property
    def router(self) -> Router: ...

    @property
    def hub(self) -> _Hub: ...

    def agents(self) -> list[AgentFigures]: ...

    def queues(self) -> list[QueueStats]: ...


def _error(status: int, error_id: str, message: str) -> JSONResponse:
    return JSONResponse({"error_id": error_id, "message": message}, status_code=status)


def _agent_json(f: AgentFigures) -> dict[str, Any]:
    return {
        "agent_id": f.agent_id,
        "name": f.name,
        "state": f.state.value,
        "pause_reason": f.pause_reason,
        "call_id": f.call_id,
        "calls_handled": f.calls_handled,
        "state_since": f.state_since,
        "idle_since": f.idle_since,
        "missed_offers": f.missed_offers,
    }


StoredStats = Callable[[float, float], tuple[Mapping[tuple[str, int], IntervalStats], Any]]
"""``stored(start, end) -> (stats by (queue, 15-min start), agent time by start)``."""


def _parse_time(value: str, name: str, tz: tzinfo) -> float:
    """An ISO-8601 date (midnight in ``tz``), date-time (in ``tz`` when no offset is given),
    or POSIX seconds."""
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or not 0 <= seconds < _LAST_SECOND:
            raise ValueError(f"{name} must be a finite time between 1970 and 9999")
        return seconds
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be ISO-8601 or POSIX seconds, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def queue_api_router(
    desk: DeskActions,
    runtime: DeskRuntime,
    *,
    stored: StoredStats | None = None,
    policy: SlPolicy | SlPolicies = DEFAULT_POLICY,
    clock: Callable[[], float] | None = None,
    tz: tzinfo = UTC,
    audit: AuditSink | None = None,
) -> APIRouter:
    """The agents, queues and SL-report HTTP API (see the module docstring). ``policy``
    may give each queue its own threshold and goal (`SlPolicies`). ``tz`` is the center's
    time zone: "today" is its day, a date without an offset is in it, and so are the
    report's times. ``audit`` (`AccountStore.audit`) records every CCR action with the
    principal the mount's `require_role` dependency found, and its outcome."""
    import time as _time

    policies = SlPolicies.of(policy)
    default = policies.default

    now_fn = clock or _time.time
    router = APIRouter()

    async def act(
        request: Request, agent_id: str, action: str, reason: str | None = None
    ) -> JSONResponse:
        """Run ``action`` on the CCR; audited (who, what, outcome) as the wallboard's are."""
        details: dict[str, Any] = {"api": "desk"}
        outcome = "error"
        try:
            # stored with every event of a pause and shown on the wallboard: what the
            # wallboard's own pause takes (a NUL would be refused by PostgreSQL's JSONB)
            if reason is not None and (
                not 1 <= len(reason) <= MAX_REASON or not is_safe_text(reason)
            ):
                outcome = "bad-request"
                return _error(
                    400,
                    "bad-request",
                    f"reason must be 1-{MAX_REASON} characters of text without control characters",
                )
            if reason is not None:
                details["reason"] = reason
            try:
                desk.apply(agent_id, action, reason if reason is not None else "break")
            except UnknownAgentError:
                outcome = "not-found"
                return _error(404, "unknown-agent", f"no agent {agent_id!r} in the roster")
            except AgentStateError as exc:
                outcome = "action-refused"
                return _error(409, "agent-state", str(exc))
            outcome = "ok"
            figures = runtime.router.agent_figures(agent_id, now_fn())
            return JSONResponse(_agent_json(figures))
        finally:
            await record_action(audit, request, f"agent.{action}", agent_id, outcome, details)

    @router.post("/agents/{agent_id}/login", name="agent.login")
    async def login(request: Request, agent_id: str) -> JSONResponse:
        return await act(request, agent_id, "login")

    @router.post("/agents/{agent_id}/logout", name="agent.logout")
    async def logout(request: Request, agent_id: str) -> JSONResponse:
        return await act(request, agent_id, "logout")

    @router.post("/agents/{agent_id}/pause", name="agent.pause")
    async def pause(request: Request, agent_id: str, reason: str = "break") -> JSONResponse:
        return await act(request, agent_id, "pause", reason)

    @router.post("/agents/{agent_id}/resume", name="agent.resume")
    async def resume(request: Request, agent_id: str) -> JSONResponse:
        return await act(request, agent_id, "resume")

    @router.get("/agents")
    async def agents() -> JSONResponse:
        return JSONResponse({"agents": [_agent_json(f) for f in runtime.agents()]})

    @router.get("/queues")
    async def queues() -> JSONResponse:
        now = now_fn()
        day_start = local_day_start(now, tz)
        day_end = local_day_start(
            (datetime.fromtimestamp(day_start, tz) + timedelta(days=1, hours=12)).timestamp(), tz
        )  # 23 or 25 hours on the days the clocks change
        acc = runtime.hub.accumulator
        out = []
        for s in runtime.queues():
            today = acc.stats(s.queue, day_start, day_end)
            own = policies(s.queue)
            out.append(
                {
                    "queue": s.queue,
                    "waiting": s.waiting,
                    "callbacks_waiting": s.callbacks_waiting,
                    "longest_wait": s.longest_wait,
                    "eligible_agents": s.eligible_agents,
                    "available_agents": s.available_agents,
                    "on_call_agents": s.on_call_agents,
                    "paused_agents": s.paused_agents,
                    "handle_time": s.handle_time,
                    "sl_threshold": own.threshold,
                    "sl_goal": own.goal,
                    "today": {
                        "offered": today.offered,
                        "answered": today.answered,
                        "abandoned": today.abandoned,
                        "service_level": today.service_level(own.formula),
                        "asa": today.asa,
                    },
                }
            )
        return JSONResponse(
            {"queues": out, "sl_formula": default.formula.value, "threshold": default.threshold}
        )

    @router.get("/reports/sl", response_model=None)
    async def sl_report(
        from_: str = Query(alias="from"),
        to: str = Query(),
        queue: list[str] | None = Query(default=None),  # noqa: B008 - FastAPI idiom
        interval: int = 1800,
        format: str = "json",  # noqa: A002 - the query parameter's name
    ) -> Response:
        if stored is None:
            return _error(503, "no-storage", "queue events are not stored by this process")
        try:
            if format not in ("json", "csv"):
                raise ValueError(f"format must be json or csv, got {format[:20]!r}")
            if interval not in REPORT_INTERVALS:
                raise ValueError(
                    f"interval must be 900, 1800 or 3600 seconds, or 0 for totals; got {interval}"
                )
            start, end = _parse_time(from_, "from", tz), _parse_time(to, "to", tz)
            if end - start > MAX_REPORT_SECONDS:
                raise ValueError(f"a report covers at most {MAX_REPORT_SECONDS // 86400} days")
            stats, agent_time = await asyncio.to_thread(stored, start, end)
            rows = await asyncio.to_thread(
                build_sl_report,
                stats,
                start,
                end,
                interval=interval or None,
                queues=queue or None,
                policy=policy,
                agent_time=agent_time,
                include_empty=False,
            )
        except ValueError as exc:
            return _error(400, "bad-request", str(exc))
        if format == "csv":
            return PlainTextResponse(render_csv(rows, policy, tz), media_type="text/csv")
        return JSONResponse(
            {
                "formula": default.formula.value,
                "threshold": default.threshold,
                "goal": default.goal,
                "short_abandon_threshold": default.short_abandon_threshold,
                "rows": [r.values(policy, tz) for r in rows],
            }
        )

    return router
