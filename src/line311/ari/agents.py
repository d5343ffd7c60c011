"""CCRs at the edge: the roster file, feature codes from CCR phones, and the HTTP API.

Feature codes (dialled from the CCR's own phone; the dialplan hands ``*NN`` to Stasis with
``agent-feature,${EXTEN}``; the calling endpoint says who the CCR is)::

    *71  log in          *72  log out          *73  pause (reason "break")     *74  resume

Each code is confirmed with a short prompt (``agent/logged_in`` ...), or ``agent/refused`` when
the state machine does not allow it (e.g. logging out on a call), and the line is hung up.

HTTP (`queue_api_router`, mounted under ``/api/desk`` on line311's own HTTP by bootstrap,
behind the dashboard's sign-in: reading needs ``operations``, acting ``supervisor``)::

    POST /api/desk/agents/{id}/login | logout | pause[?reason=...] | resume
    GET  /api/desk/agents          live state and figures of every CCR in the roster
    GET  /api/desk/queues          real-time figures per queue, with today's live SL
    GET  /api/desk/reports/sl?from=&to=&queue=&interval=[&format=csv]   stored SL (any range)

Errors carry a stable ``error_id``: ``unknown-agent`` (404), ``agent-state`` (409),
``bad-request`` (400).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from line311.ari.errors import AriError, AriNotFound
from line311.ari.port import AriPort
from line311.ari.queue_runtime import QueueRuntime
from line311.ari.translate import NewCall
from line311.queue.report import build_sl_report, render_csv
from line311.queue.service_level import DEFAULT_POLICY, IntervalStats, SlPolicies, SlPolicy
from line311.routing.agents import AgentFigures, AgentProfile
from line311.routing.errors import AgentStateError, RoutingConfigError, UnknownAgentError
from line311.routing.skills import SkillSet

__all__ = [
    "FEATURE_CODES",
    "AgentDesk",
    "load_roster",
    "load_roster_file",
    "queue_api_router",
]

logger = logging.getLogger(__name__)

FEATURE_CODES: Mapping[str, str] = {
    "*71": "login",
    "*72": "logout",
    "*73": "pause",
    "*74": "resume",
}
"""Feature code -> action."""

_CONFIRM = {
    "login": "agent/logged_in",
    "logout": "agent/logged_out",
    "pause": "agent/paused",
    "resume": "agent/resumed",
}
_PROMPT_WAIT = 10.0
_LAST_SECOND = 253_402_300_800.0  # 10000-01-01T00:00:00Z
MAX_REPORT_SECONDS = 400 * 86400
"""Longest range one SL report may cover."""


# ---------------------------------------------------------------------- the roster
def load_roster(data: object) -> list[AgentProfile]:
    """CCR profiles from plain data: ``{"agents": {id: {name, endpoint, skills}}}``.

    ``skills`` is a mapping skill -> level or a string ``"lang:en=5, topic:general"``.
    Raises `RoutingConfigError` naming the offending agent.
    """
    if isinstance(data, Mapping) and "agents" in data:
        data = data["agents"]
    if not isinstance(data, Mapping) or not data:
        raise RoutingConfigError("the roster must map agent ids to {name, endpoint, skills}")
    out: list[AgentProfile] = []
    endpoints: set[str] = set()
    for agent_id, body in data.items():
        where = f"agent {agent_id!r}"
        if not isinstance(body, Mapping):
            raise RoutingConfigError("expected a mapping", where=where)
        unknown = set(body) - {"name", "endpoint", "skills"}
        if unknown:
            raise RoutingConfigError(f"unknown keys {sorted(unknown)}", where=where)
        raw_skills = body.get("skills", {})
        try:
            if isinstance(raw_skills, str):
                skills = SkillSet.parse(raw_skills)
            elif isinstance(raw_skills, Mapping):
                skills = SkillSet({str(k): v for k, v in raw_skills.items()})
            else:
                raise RoutingConfigError("skills must be a mapping or a string")
            profile = AgentProfile(
                str(agent_id),
                str(body.get("name", agent_id)),
                str(body.get("endpoint", f"PJSIP/{agent_id}")),
                skills,
            )
        except RoutingConfigError as exc:
            raise RoutingConfigError(str(exc), where=where) from None
        if profile.endpoint in endpoints:
            raise RoutingConfigError(f"endpoint {profile.endpoint} used twice", where=where)
        endpoints.add(profile.endpoint)
        out.append(profile)
    return out


def load_roster_file(path: Path) -> list[AgentProfile]:
    """`load_roster` over a YAML file (start-up only: file I/O)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingConfigError(f"cannot read the roster {path}: {exc.strerror}") from None
    try:
        return load_roster(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{path.name} is not valid YAML: {exc}") from None


def _endpoint_of(channel_name: str) -> str:
    """``PJSIP/agent1-0000000a`` -> ``PJSIP/agent1``."""
    base, sep, _ = channel_name.rpartition("-")
    return base if sep else channel_name


# ---------------------------------------------------------------------- feature codes
class AgentDesk:
    """Handles ``agent-feature`` StasisStarts: a CCR dialled ``*NN`` from their phone."""

    def __init__(
        self,
        ari: AriPort,
        runtime: QueueRuntime,
        profiles: Iterable[AgentProfile],
        *,
        sounds_uri_prefix: str,
        language: str = "en",
    ) -> None:
        self._ari = ari
        self._runtime = runtime
        self._by_endpoint = {p.endpoint: p.agent_id for p in profiles}
        self._prefix = sounds_uri_prefix.rstrip("/")
        self._language = language

    def agent_for(self, channel_name: str) -> str | None:
        """The agent whose endpoint placed the channel, if any."""
        return self._by_endpoint.get(_endpoint_of(channel_name))

    def apply(self, agent_id: str, action: str, reason: str = "break") -> None:
        """Run one action on the runtime (raises `UnknownAgentError`, `AgentStateError`)."""
        if action == "login":
            self._runtime.agent_login(agent_id)
        elif action == "logout":
            self._runtime.agent_logout(agent_id)
        elif action == "pause":
            self._runtime.agent_pause(agent_id, reason)
        elif action == "resume":
            self._runtime.agent_resume(agent_id)
        else:
            raise ValueError(f"unknown agent action {action!r}")

    async def on_feature(self, new: NewCall, received_at: float) -> None:
        """The controller's ``agent-feature`` StasisStart handler."""
        code = new.dialed_number
        agent_id = self.agent_for(new.channel_name)
        action = FEATURE_CODES.get(code)
        prompt = "agent/refused"
        if agent_id is None:
            logger.warning("feature code from %s, which is no CCR endpoint", new.channel_name)
        elif action is None:
            logger.info("agent %s dialled unknown feature code %s", agent_id, code)
        else:
            try:
                self.apply(agent_id, action)
            except (AgentStateError, UnknownAgentError) as exc:
                logger.info("agent %s: %s refused (%s)", agent_id, action, exc)
            else:
                logger.info("agent %s: %s by feature code %s", agent_id, action, code)
                prompt = _CONFIRM[action]
        try:
            await self._ari.answer(new.channel_id)
            await self._confirm(new.channel_id, prompt)
        except AriNotFound:
            return
        except AriError as exc:
            logger.warning("feature code confirmation failed: %s", exc)
        with contextlib.suppress(AriError):
            await self._ari.hangup(new.channel_id)

    async def _confirm(self, channel_id: str, prompt: str) -> None:
        playback_id = f"{channel_id}-feature"
        media = f"{self._prefix}/{self._language}/{prompt}"
        async with self._ari.expect("PlaybackFinished", playback_id=playback_id) as done:
            await self._ari.play(channel_id, media, playback_id)
            try:
                await asyncio.wait_for(done, _PROMPT_WAIT)
            except TimeoutError:
                logger.warning("confirmation prompt did not finish in %.0f s", _PROMPT_WAIT)


# ---------------------------------------------------------------------- HTTP
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


def _parse_time(value: str, name: str) -> float:
    """ISO-8601 date or date-time (UTC when no offset is given), or POSIX seconds."""
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
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def queue_api_router(
    desk: AgentDesk,
    runtime: QueueRuntime,
    *,
    stored: StoredStats | None = None,
    policy: SlPolicy | SlPolicies = DEFAULT_POLICY,
    clock: Callable[[], float] | None = None,
) -> APIRouter:
    """The agents, queues and SL-report HTTP API (see the module docstring). ``policy``
    may give each queue its own threshold and goal (`SlPolicies`)."""
    import time

    policies = SlPolicies.of(policy)
    default = policies.default

    now_fn = clock or time.time
    router = APIRouter()

    def act(agent_id: str, action: str, reason: str = "break") -> JSONResponse:
        try:
            desk.apply(agent_id, action, reason)
        except UnknownAgentError:
            return _error(404, "unknown-agent", f"no agent {agent_id!r} in the roster")
        except AgentStateError as exc:
            return _error(409, "agent-state", str(exc))
        figures = runtime.router.agent_figures(agent_id, now_fn())
        return JSONResponse(_agent_json(figures))

    @router.post("/agents/{agent_id}/login")
    async def login(agent_id: str) -> JSONResponse:
        return act(agent_id, "login")

    @router.post("/agents/{agent_id}/logout")
    async def logout(agent_id: str) -> JSONResponse:
        return act(agent_id, "logout")

    @router.post("/agents/{agent_id}/pause")
    async def pause(agent_id: str, reason: str = "break") -> JSONResponse:
        return act(agent_id, "pause", reason)

    @router.post("/agents/{agent_id}/resume")
    async def resume(agent_id: str) -> JSONResponse:
        return act(agent_id, "resume")

    @router.get("/agents")
    async def agents() -> JSONResponse:
        return JSONResponse({"agents": [_agent_json(f) for f in runtime.agents()]})

    @router.get("/queues")
    async def queues() -> JSONResponse:
        now = now_fn()
        day_start = now - now % 86400
        acc = runtime.hub.accumulator
        out = []
        for s in runtime.queues():
            today = acc.stats(s.queue, day_start, day_start + 86400)
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
            start, end = _parse_time(from_, "from"), _parse_time(to, "to")
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
            return PlainTextResponse(render_csv(rows, policy), media_type="text/csv")
        return JSONResponse(
            {
                "formula": default.formula.value,
                "threshold": default.threshold,
                "goal": default.goal,
                "short_abandon_threshold": default.short_abandon_threshold,
                "rows": [r.values(policy) for r in rows],
            }
        )

    return router


def roster_ids(profiles: Sequence[AgentProfile]) -> list[str]:
    return [p.agent_id for p in profiles]
