"""Small builders shared by the routing tests."""

from __future__ import annotations

from line311.routing.agents import AgentProfile, AutoPausePolicy
from line311.routing.queues import QueueSet, load_queues
from line311.routing.router import Router
from line311.routing.skills import SkillSet


def ccr(agent_id: str, skills: str) -> AgentProfile:
    """A CCR profile: ``ccr("a1", "lang:en=5, topic:general=3")``."""
    return AgentProfile(agent_id, f"CCR {agent_id}", f"PJSIP/{agent_id}", SkillSet.parse(skills))


def queues(**defs: dict) -> QueueSet:
    return load_queues(defs)


def router(qs: QueueSet | None = None, *, auto_pause: int = 1, **kwargs) -> Router:
    qs = qs or queues(general={"requires": "topic:general", "wrapup_seconds": 10})
    return Router(qs, auto_pause=AutoPausePolicy(after_misses=auto_pause), **kwargs)
