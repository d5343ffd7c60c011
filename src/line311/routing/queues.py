"""Queue definitions: what a queue needs, how it is measured, how it escalates.

A queue is defined by the skills its CCRs need (`Requirements`), its service-level target
(threshold and goal; unset, the center's ``sl_threshold`` / ``sl_goal`` settings, 80% within
30 s by default), its limits (maximum length and wait), a
priority, the wrap-up time its CCRs get after each call, the routing strategy (by registry
name) and its *escalation steps*.

Escalation (Amazon Connect's expiring routing steps, TaskRouter's workflow timeouts) widens
the pool of CCRs for a call as it waits, while the call keeps its place. Each
`EscalationStep` applies ``after`` seconds of waiting and stays applied; steps accumulate:

* ``min_proficiency`` lowers every required minimum to at most that level;
* ``add_queues`` also lets the CCRs of those queues take the call (still speaking the
  caller's language);
* ``interpreter`` lets an English-speaking CCR of the queue take the call with an
  interpreter conferenced in, when no CCR speaking the caller's language is free.

``overflow`` is where a call goes on arrival when this queue is at ``max_length``.

Definitions load from plain data (YAML or dicts) through `load_queues`, which checks every
field and every cross-reference and names the offending item in its error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

import yaml

from line311.routing.errors import RoutingConfigError, UnknownQueueError
from line311.routing.skills import MAX_PROFICIENCY, MIN_PROFICIENCY, Requirements
from line311.yaml_doc import safe_load

__all__ = [
    "DEFAULT_QUEUES",
    "EscalationStep",
    "QueueConfig",
    "QueueSet",
    "default_queues",
    "load_queues",
    "load_queues_yaml",
]

DEFAULT_STRATEGY = "best_skill_longest_idle"


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """A widening of the pool that applies once a call has waited ``after`` seconds."""

    after: float
    min_proficiency: int | None = None
    add_queues: tuple[str, ...] = ()
    interpreter: bool = False


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One queue. Build from data with `load_queues`; the constructor does not validate."""

    name: str
    requires: Requirements = field(default_factory=Requirements)
    """Skills every CCR of this queue needs (the caller's language is added per call)."""
    sl_threshold: float | None = None
    """Seconds within which an answer counts toward the service level (None: the center's)."""
    sl_goal: float | None = None
    """Fraction of calls to answer within ``sl_threshold`` (None: the center's)."""
    max_length: int | None = None
    """Most calls that may wait; a call beyond it goes to ``overflow`` or is refused."""
    max_wait: float | None = None
    """Seconds after which a (live, not callback) call leaves the queue (`WaitExpired`)."""
    priority: int = 0
    """Added to each call's own priority: each level weighs as ``priority_weight`` seconds."""
    wrapup_seconds: float = 30.0
    """After-call work time given to a CCR after each call of this queue."""
    strategy: str = DEFAULT_STRATEGY
    """Name of the routing strategy in the registry."""
    escalation: tuple[EscalationStep, ...] = ()
    overflow: str | None = None
    language_min_proficiency: int = MIN_PROFICIENCY
    """Minimum level in the caller's language (lowered by ``min_proficiency`` steps too)."""
    default_handle_time: float = 300.0
    """Prior for the estimated wait until real handle times have been seen."""
    interpreter_when_unstaffed: bool = True
    """Use the interpreter line at once when no logged-in CCR speaks the caller's language."""
    description: str = ""

    def steps_at(self, waited: float) -> int:
        """How many escalation steps apply after ``waited`` seconds."""
        return self.steps_due(0.0, waited)  # 0.0 + after is after: exact

    def steps_due(self, entered_at: float, now: float) -> int:
        """How many escalation steps apply at ``now`` to a call that entered at ``entered_at``.

        Judged by ``entered_at + after <= now``, the very sum `next_step_at` arms the timer
        with: ``now - entered_at >= after`` can be false at that instant by a rounding (3.3
        + 30 is 33.3, but 33.3 - 3.3 is 29.999999999999996), and the step would never be
        due at its own deadline."""
        count = 0
        for step in self.escalation:
            if entered_at + step.after <= now:
                count += 1
            else:
                break
        return count

    def next_step_at(self, entered_at: float, step: int) -> float | None:
        """When the call entered at ``entered_at`` with ``step`` steps applied reaches the next."""
        if step < len(self.escalation):
            return entered_at + self.escalation[step].after
        return None


class QueueSet(Mapping[str, QueueConfig]):
    """The validated queues, by name, with their cross-references checked."""

    __slots__ = ("_queues",)

    def __init__(self, queues: Iterable[QueueConfig]) -> None:
        by_name: dict[str, QueueConfig] = {}
        for q in queues:
            if q.name in by_name:
                raise RoutingConfigError("defined twice", where=f"queue {q.name!r}")
            by_name[q.name] = q
        if not by_name:
            raise RoutingConfigError("no queues defined")
        self._queues = by_name
        for q in by_name.values():
            _check_queue(q, by_name)

    def __getitem__(self, name: str) -> QueueConfig:
        try:
            return self._queues[name]
        except KeyError:
            raise UnknownQueueError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queues)

    def __len__(self) -> int:
        return len(self._queues)

    def __contains__(self, name: object) -> bool:
        return name in self._queues

    def __repr__(self) -> str:
        return f"QueueSet({list(self._queues)})"


_QUEUE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""Queue names: a subset of the call records' names (`line311.call.values.NAME_PATTERN`), and
safe in queue_log lines, metric labels and URLs."""


def _check_queue(q: QueueConfig, by_name: Mapping[str, QueueConfig]) -> None:
    where = f"queue {q.name!r}"
    if not _QUEUE_NAME.fullmatch(q.name):  # also a name every call record can carry
        raise RoutingConfigError(
            "name must be 1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit",
            where=where,
        )
    if q.sl_threshold is not None and not (q.sl_threshold > 0 and math.isfinite(q.sl_threshold)):
        raise RoutingConfigError(f"sl_threshold must be > 0 s, got {q.sl_threshold}", where=where)
    if q.sl_goal is not None and not 0 < q.sl_goal <= 1:
        raise RoutingConfigError(f"sl_goal must be in (0, 1], got {q.sl_goal}", where=where)
    if q.max_length is not None and q.max_length < 1:
        raise RoutingConfigError(f"max_length must be >= 1, got {q.max_length}", where=where)
    if q.max_wait is not None and not q.max_wait > 0:
        raise RoutingConfigError(f"max_wait must be > 0 s, got {q.max_wait}", where=where)
    if q.wrapup_seconds < 0:
        raise RoutingConfigError("wrapup_seconds must be >= 0", where=where)
    if not q.default_handle_time > 0:
        raise RoutingConfigError("default_handle_time must be > 0", where=where)
    if not MIN_PROFICIENCY <= q.language_min_proficiency <= MAX_PROFICIENCY:
        raise RoutingConfigError(
            f"language_min_proficiency must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}", where=where
        )
    if q.overflow is not None:
        if q.overflow not in by_name:
            raise RoutingConfigError(f"overflow names unknown queue {q.overflow!r}", where=where)
        seen = {q.name}
        nxt: str | None = q.overflow
        while nxt is not None:
            if nxt in seen:
                raise RoutingConfigError(f"overflow chain loops back to {nxt!r}", where=where)
            seen.add(nxt)
            nxt = by_name[nxt].overflow if nxt in by_name else None
    previous = -1.0
    for i, step in enumerate(q.escalation):
        swhere = f"{where}: escalation[{i}]"
        if not (step.after >= 0 and math.isfinite(step.after)):
            raise RoutingConfigError(f"after must be >= 0 s, got {step.after}", where=swhere)
        if step.after < previous:
            raise RoutingConfigError("steps must be in increasing 'after' order", where=swhere)
        previous = step.after
        if step.min_proficiency is not None and not (
            MIN_PROFICIENCY <= step.min_proficiency <= MAX_PROFICIENCY
        ):
            raise RoutingConfigError(
                f"min_proficiency must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}", where=swhere
            )
        for extra in step.add_queues:
            if extra not in by_name:
                raise RoutingConfigError(f"add_queues names unknown queue {extra!r}", where=swhere)
            if extra == q.name:
                raise RoutingConfigError("add_queues names the queue itself", where=swhere)
        if step.min_proficiency is None and not step.add_queues and not step.interpreter:
            raise RoutingConfigError("step widens nothing", where=swhere)


# ------------------------------------------------------------------ loading from data

_QUEUE_FIELDS = {f.name for f in fields(QueueConfig)}
_STEP_FIELDS = {f.name for f in fields(EscalationStep)}


def _number(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RoutingConfigError(f"{name} must be a number, got {value!r}", where=where)
    return float(value)


def _integer(value: object, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RoutingConfigError(f"{name} must be an integer, got {value!r}", where=where)
    return value


def _step_from(data: object, where: str) -> EscalationStep:
    if not isinstance(data, Mapping):
        raise RoutingConfigError(f"a step must be a mapping, got {data!r}", where=where)
    unknown = set(data) - _STEP_FIELDS
    if unknown:
        raise RoutingConfigError(f"unknown keys {sorted(unknown)}", where=where)
    if "after" not in data:
        raise RoutingConfigError("missing 'after' (seconds)", where=where)
    add = data.get("add_queues", ())
    if isinstance(add, str):
        add = (add,)
    if not isinstance(add, list | tuple) or not all(isinstance(a, str) for a in add):
        raise RoutingConfigError("add_queues must be a list of queue names", where=where)
    mp = data.get("min_proficiency")
    interp = data.get("interpreter", False)
    if not isinstance(interp, bool):
        raise RoutingConfigError("interpreter must be true or false", where=where)
    return EscalationStep(
        after=_number(data["after"], "after", where),
        min_proficiency=None if mp is None else _integer(mp, "min_proficiency", where),
        add_queues=tuple(add),
        interpreter=interp,
    )


def _queue_from(name: str, data: Mapping[str, Any]) -> QueueConfig:
    where = f"queue {name!r}"
    unknown = set(data) - _QUEUE_FIELDS
    if unknown:
        raise RoutingConfigError(f"unknown keys {sorted(unknown)}", where=where)
    kwargs: dict[str, Any] = {"name": name}
    for key, value in data.items():
        if key == "name":
            continue
        if key == "requires":
            if isinstance(value, str):
                kwargs[key] = Requirements.parse(value)
            elif isinstance(value, Mapping):
                kwargs[key] = Requirements.of(*value.items())
            else:
                raise RoutingConfigError(
                    "requires must be an expression ('topic:housing>=2 AND ...') or a "
                    "mapping skill: level",
                    where=where,
                )
        elif key == "escalation":
            if not isinstance(value, list | tuple):
                raise RoutingConfigError("escalation must be a list of steps", where=where)
            kwargs[key] = tuple(
                _step_from(s, f"{where}: escalation[{i}]") for i, s in enumerate(value)
            )
        elif key in ("wrapup_seconds", "default_handle_time"):
            kwargs[key] = _number(value, key, where)
        elif key in ("max_wait", "sl_threshold", "sl_goal"):
            kwargs[key] = None if value is None else _number(value, key, where)
        elif key in ("max_length",):
            kwargs[key] = None if value is None else _integer(value, key, where)
        elif key in ("priority", "language_min_proficiency"):
            kwargs[key] = _integer(value, key, where)
        elif key == "interpreter_when_unstaffed":
            if not isinstance(value, bool):
                raise RoutingConfigError(f"{key} must be true or false", where=where)
            kwargs[key] = value
        elif key in ("strategy", "description") or key == "overflow":
            if not (isinstance(value, str) or (key == "overflow" and value is None)):
                raise RoutingConfigError(f"{key} must be a string", where=where)
            kwargs[key] = value
    return QueueConfig(**kwargs)


def load_queues(data: object) -> QueueSet:
    """Build a `QueueSet` from plain data.

    Accepts ``{"queues": {name: {...}}}``, ``{name: {...}}`` or a list of mappings that each
    carry a ``name``. Raises `RoutingConfigError` naming the offending queue and field.
    """
    if isinstance(data, Mapping) and "queues" in data:
        data = data["queues"]
    items: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(data, Mapping):
        for name, body in data.items():
            if not isinstance(body, Mapping):
                raise RoutingConfigError("definition must be a mapping", where=f"queue {name!r}")
            items.append((str(name), body))
    elif isinstance(data, list):
        for i, body in enumerate(data):
            if not isinstance(body, Mapping) or not isinstance(body.get("name"), str):
                raise RoutingConfigError(f"queues[{i}] must be a mapping with a 'name'")
            items.append((body["name"], body))
    else:
        raise RoutingConfigError("queue definitions must be a mapping or a list")
    return QueueSet(_queue_from(name, body) for name, body in items)


def load_queues_yaml(text: str) -> QueueSet:
    """`load_queues` over a YAML document."""
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"queue definitions are not valid YAML: {exc}") from None
    return load_queues(data)


DEFAULT_QUEUES: Mapping[str, Mapping[str, Any]] = {
    "general": {
        "description": "Information and anything without a more specific queue",
        "requires": "topic:general",
        "escalation": [{"after": 60, "interpreter": True}],
    },
    "housing": {
        "description": "Heat and hot water, HPD apartment maintenance",
        "requires": "topic:housing>=3",
        "wrapup_seconds": 45,
        "escalation": [
            {"after": 45, "min_proficiency": 1},
            {"after": 60, "interpreter": True},
            {"after": 120, "add_queues": ["general"]},
        ],
        "overflow": "general",
    },
    "sanitation": {
        "description": "Missed collections, unsanitary conditions, rodents",
        "requires": "topic:sanitation>=2",
        "escalation": [
            {"after": 45, "min_proficiency": 1},
            {"after": 60, "interpreter": True},
            {"after": 120, "add_queues": ["general"]},
        ],
        "overflow": "general",
    },
    "noise": {
        "description": "Residential, commercial and street noise",
        "requires": "topic:noise",
        "escalation": [
            {"after": 60, "interpreter": True},
            {"after": 90, "add_queues": ["general"]},
        ],
        "overflow": "general",
    },
    "parking": {
        "description": "Illegal parking, blocked driveways, tickets, alternate side parking",
        "requires": "topic:parking",
        "escalation": [
            {"after": 60, "interpreter": True},
            {"after": 90, "add_queues": ["general"]},
        ],
        "overflow": "general",
    },
    "social_services": {
        "description": "Benefits, shelters, food assistance: vulnerable callers go first",
        "requires": "topic:social_services>=3",
        "priority": 1,
        "wrapup_seconds": 60,
        "escalation": [
            {"after": 30, "min_proficiency": 2},
            {"after": 45, "interpreter": True},
            {"after": 180, "add_queues": ["general"]},
        ],
        "overflow": "general",
    },
}
"""An NYC-311-like starting set of queues (plain data, as it would appear in YAML)."""


def default_queues() -> QueueSet:
    """The `DEFAULT_QUEUES` set, validated."""
    return load_queues(DEFAULT_QUEUES)
