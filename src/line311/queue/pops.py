"""Screen pops: the caller's context a CCR's desk shows the moment the CCR answers (pure).

Two facts meet here. When the IVR hands a call to a queue, its path record (the session's
``record()``, carried by the call record) is boiled down to an `IvrSummary`: the menu nodes
walked, how the language was chosen, the self-service items and alerts heard, and the SR
numbers looked up with the status read out. When the CCR answers, the queue runtime reports an
`AnsweredCall` (queue, language, topic, wait, callback, interpreter). `build_screen_pop` joins
the two into a `ScreenPop`, JSON-ready with `ScreenPop.to_json`.

Privacy: a screen pop never holds the caller's number, nor the keyed caller hash, nor the
digits the caller pressed (a flow may collect anything with them). `summarize_ivr` reads only
the fields it names, so whatever a path record grows later stays out unless added here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from line311.routing.queues import QueueConfig
from line311.routing.skills import MIN_PROFICIENCY, Requirement, Requirements

__all__ = [
    "AnsweredCall",
    "IvrSummary",
    "ScreenPop",
    "SrLookedUp",
    "build_screen_pop",
    "skills_asked",
    "summarize_ivr",
]


@dataclass(frozen=True, slots=True)
class SrLookedUp:
    """One SR status lookup in the IVR: ``result`` is ``found``, ``not_found`` or
    ``unavailable``; ``status`` the status read to the caller (when found)."""

    sr_number: str
    result: str
    status: str | None = None


@dataclass(frozen=True, slots=True)
class IvrSummary:
    """What the caller did in the IVR before asking for a CCR."""

    nodes: tuple[str, ...] = ()
    """Menu nodes entered, in order (a node re-entered right away counts once)."""
    language_selected_by: str | None = None
    self_service: tuple[str, ...] = ()
    """Self-service information items the caller heard in full."""
    alerts: tuple[str, ...] = ()
    """Alert prompts played to the caller (failed ones left out)."""
    sr_lookups: tuple[SrLookedUp, ...] = ()
    exit: str | None = None
    """Why the caller left the menus (e.g. ``representative-requested``)."""
    ivr_seconds: float | None = None
    """From the IVR's answer to the hand-off to the queue."""


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    """What the queue runtime knows when a CCR answers an offered call.

    ``requires``: extra ``(skill, min_level)`` terms the call itself carried (escalation).
    """

    call_id: str
    agent_id: str
    queue: str
    language: str
    topic: str
    entered_at: float
    answered_at: float
    callback: bool = False
    interpreter: bool = False
    requires: tuple[tuple[str, int], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ScreenPop:
    """The context a CCR's desk shows for one answered call (no caller number, ever)."""

    call_id: str
    agent_id: str
    queue: str
    language: str
    topic: str
    wait_seconds: float
    callback: bool
    interpreter: bool
    skills: tuple[str, ...]
    """The skills routing asked of the CCR (the queue's, the language, the call's extras)."""
    answered_at: float
    ivr: IvrSummary = field(default_factory=IvrSummary)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO-8601 UTC and POSIX seconds)."""
        ivr = self.ivr
        return {
            "call_id": self.call_id,
            "agent_id": self.agent_id,
            "queue": self.queue,
            "language": self.language,
            "topic": self.topic,
            "wait_seconds": round(self.wait_seconds, 3),
            "callback": self.callback,
            "interpreter": self.interpreter,
            "skills": list(self.skills),
            "answered_at": datetime.fromtimestamp(self.answered_at, UTC).isoformat(),
            "answered_ts": self.answered_at,
            "ivr": {
                "nodes": list(ivr.nodes),
                "language_selected_by": ivr.language_selected_by,
                "self_service": list(ivr.self_service),
                "alerts": list(ivr.alerts),
                "sr_lookups": [
                    {"sr_number": s.sr_number, "result": s.result, "status": s.status}
                    for s in ivr.sr_lookups
                ],
                "exit": ivr.exit,
                "ivr_seconds": None if ivr.ivr_seconds is None else round(ivr.ivr_seconds, 3),
            },
        }


# ---------------------------------------------------------------------- building
def _items(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarize_ivr(path: Mapping[str, Any] | None) -> IvrSummary:
    """The `IvrSummary` of a session path record; malformed parts are skipped, never raised."""
    if not isinstance(path, Mapping):
        return IvrSummary()
    nodes: list[str] = []
    for item in _items(path.get("nodes")):
        node = _text(item.get("node"))
        if node is not None and (not nodes or nodes[-1] != node):
            nodes.append(node)
    lookups = []
    for item in _items(path.get("sr_lookups")):
        number, result = _text(item.get("sr_number")), _text(item.get("result"))
        if number is not None and result is not None:
            lookups.append(SrLookedUp(number, result, _text(item.get("status"))))
    alerts = [
        prompt
        for item in _items(path.get("alerts"))
        if not item.get("failed") and (prompt := _text(item.get("prompt_id"))) is not None
    ]
    infos = [info for item in _items(path.get("self_service")) if (info := _text(item.get("info")))]
    answered = _number(path.get("answered_at"))
    queued = path.get("queue")
    handed = _number(queued.get("at")) if isinstance(queued, Mapping) else None
    seconds = handed - answered if answered is not None and handed is not None else None
    return IvrSummary(
        nodes=tuple(nodes),
        language_selected_by=_text(path.get("language_selected_by")),
        self_service=tuple(infos),
        alerts=tuple(alerts),
        sr_lookups=tuple(lookups),
        exit=_text(path.get("exit")),
        ivr_seconds=max(0.0, seconds) if seconds is not None else None,
    )


def skills_asked(
    queue: QueueConfig | None,
    language: str,
    *,
    interpreter: bool = False,
    interpreter_language: str = "en",
    extra: Iterable[tuple[str, int]] = (),
) -> tuple[str, ...]:
    """The skills routing asked of the CCR, as ``skill`` or ``skill>=level`` terms: the
    queue's, the language they must speak (the interpreter line's when one is bridged in) at
    the queue's minimum level, and the call's own extra terms."""
    spoken = interpreter_language if interpreter else language
    min_level = queue.language_min_proficiency if queue is not None else MIN_PROFICIENCY
    terms: list[Requirement | tuple[str, int]] = [(f"lang:{spoken}", min_level), *extra]
    if queue is not None:
        terms.extend(queue.requires.all_of)
    return tuple(str(term) for term in Requirements.of(*terms).all_of)


def build_screen_pop(
    answered: AnsweredCall, ivr: IvrSummary | None, skills: Iterable[str]
) -> ScreenPop:
    """The screen pop of an answered call (``ivr`` None: the IVR path is not known)."""
    return ScreenPop(
        call_id=answered.call_id,
        agent_id=answered.agent_id,
        queue=answered.queue,
        language=answered.language,
        topic=answered.topic,
        wait_seconds=max(0.0, answered.answered_at - answered.entered_at),
        callback=answered.callback,
        interpreter=answered.interpreter,
        skills=tuple(skills),
        answered_at=answered.answered_at,
        ivr=ivr if ivr is not None else IvrSummary(),
    )
