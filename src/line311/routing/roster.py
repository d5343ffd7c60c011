"""The CCR roster: who the CCRs are, which phone is theirs, and their skills.

``{"agents": {id: {name, endpoint, skills}}}``, from plain data (`load_roster`) or from the
YAML file named by the settings (`load_roster_file`, read once at start-up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from line311.call.values import OTHER_LANGUAGE
from line311.routing.agents import AgentProfile
from line311.routing.errors import RoutingConfigError
from line311.routing.skills import SkillSet
from line311.yaml_doc import safe_load

__all__ = ["load_roster", "load_roster_file", "roster_ids"]


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
            if f"lang:{OTHER_LANGUAGE}" in skills:
                raise RoutingConfigError(
                    f"lang:{OTHER_LANGUAGE} is the callers who speak none of the IVR's "
                    "languages (0 at the language menu); they need the interpreter line, "
                    "not a CCR skill: give the CCR lang:en (docs/queues.md)"
                )
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
        return load_roster(safe_load(text))
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{path.name} is not valid YAML: {exc}") from None


def roster_ids(profiles: Sequence[AgentProfile]) -> list[str]:
    return [p.agent_id for p in profiles]
