"""Skills, proficiency levels and requirement expressions.

A skill is a ``kind:name`` string: ``lang:<code>`` for a language a CCR speaks (the seven
IVR languages are `LANGUAGES`; any other ISO-like code is accepted, because callers of the
180 other languages reach a CCR through the interpreter line) and ``topic:<name>`` for a
subject area (`TOPICS`). A CCR holds each skill at a proficiency from 1 (can help) to 5
(expert), as in Amazon Connect.

A `Requirements` value is what a queue (or a call) needs: a conjunction of
``skill >= level`` terms. It is a small typed structure, not a language; `Requirements.parse`
reads the TaskRouter-like text form used in configuration (``lang:ru>=3 AND topic:housing``,
a bare skill meaning ``>= 1``) and ``str()`` writes it back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from line311.routing.errors import RoutingConfigError, SkillExpressionError

__all__ = [
    "LANGUAGES",
    "MAX_PROFICIENCY",
    "MIN_PROFICIENCY",
    "TOPICS",
    "Requirement",
    "Requirements",
    "SkillSet",
    "lang",
    "topic",
    "validate_skill",
]

MIN_PROFICIENCY = 1
MAX_PROFICIENCY = 5

LANGUAGES: tuple[str, ...] = ("en", "es", "cmn", "yue", "ru", "ko", "ht")
"""English plus NYC 311's six IVR languages (Spanish, Mandarin, Cantonese, Russian, Korean,
Haitian Creole)."""

TOPICS: tuple[str, ...] = (
    "general",
    "housing",
    "sanitation",
    "noise",
    "parking",
    "social_services",
)
"""The usual 311 topic skills. Others may be configured; these are the default queues' ones."""

_SKILL_RE = re.compile(r"^[a-z][a-z0-9_]*:[a-z0-9][a-z0-9_-]*\Z")
_TERM_RE = re.compile(r"^\s*([^\s<>=]+)\s*(?:>=\s*(\d+))?\s*\Z")
_AND_RE = re.compile(r"\s+AND\s+|\s*&&\s*", re.IGNORECASE)


def validate_skill(skill: str) -> str:
    """Return ``skill`` if it is a well-formed ``kind:name`` skill, else raise."""
    if not isinstance(skill, str) or not _SKILL_RE.match(skill):
        raise RoutingConfigError(
            f"bad skill {skill!r}: expected 'kind:name' in lower case, e.g. 'lang:es', "
            "'topic:housing'"
        )
    return skill


def _validate_level(skill: str, level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, int):
        raise RoutingConfigError(f"proficiency of {skill!r} must be an integer, got {level!r}")
    if not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
        raise RoutingConfigError(
            f"proficiency of {skill!r} must be {MIN_PROFICIENCY}..{MAX_PROFICIENCY}, got {level}"
        )
    return level


def lang(code: str) -> str:
    """The skill name for speaking language ``code``: ``lang("ru") == "lang:ru"``."""
    return validate_skill(f"lang:{code}")


def topic(name: str) -> str:
    """The skill name for a subject area: ``topic("housing") == "topic:housing"``."""
    return validate_skill(f"topic:{name}")


class SkillSet(Mapping[str, int]):
    """An immutable mapping skill -> proficiency (1..5) held by one CCR."""

    __slots__ = ("_hash", "_levels")

    def __init__(self, levels: Mapping[str, int] | Iterable[tuple[str, int]] = ()) -> None:
        items = levels.items() if isinstance(levels, Mapping) else levels
        checked: dict[str, int] = {}
        for skill, level in items:
            checked[validate_skill(skill)] = _validate_level(skill, level)
        self._levels = checked
        self._hash: int | None = None

    @classmethod
    def parse(cls, text: str) -> SkillSet:
        """Read ``"lang:en=5, lang:es=3, topic:housing"`` (a bare skill is level 3)."""
        pairs: list[tuple[str, int]] = []
        for raw in text.split(","):
            part = raw.strip()
            if not part:
                continue
            name, sep, level = part.partition("=")
            try:
                pairs.append((name.strip(), int(level) if sep else 3))
            except ValueError:
                raise RoutingConfigError(f"bad skill level in {part!r}") from None
        return cls(pairs)

    def level(self, skill: str) -> int:
        """Proficiency in ``skill``, 0 when the CCR does not have it."""
        return self._levels.get(skill, 0)

    @property
    def total(self) -> int:
        """Sum of all proficiencies: how broadly and deeply skilled this CCR is."""
        return sum(self._levels.values())

    def __getitem__(self, skill: str) -> int:
        return self._levels[skill]

    def __iter__(self) -> Iterator[str]:
        return iter(self._levels)

    def __len__(self) -> int:
        return len(self._levels)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._levels.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SkillSet):
            return self._levels == other._levels
        return super().__eq__(other)

    def __repr__(self) -> str:
        inner = ", ".join(f"{s}={v}" for s, v in sorted(self._levels.items()))
        return f"SkillSet({inner})"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term: the CCR must hold ``skill`` at ``min_level`` or better."""

    skill: str
    min_level: int = MIN_PROFICIENCY

    def __post_init__(self) -> None:
        validate_skill(self.skill)
        _validate_level(self.skill, self.min_level)

    def __str__(self) -> str:
        return (
            self.skill if self.min_level == MIN_PROFICIENCY else f"{self.skill}>={self.min_level}"
        )


@dataclass(frozen=True, slots=True)
class Requirements:
    """A conjunction of `Requirement` terms, kept sorted by skill with one term per skill.

    Build with `Requirements.of` / `Requirements.parse`; the empty value matches every CCR.
    """

    all_of: tuple[Requirement, ...] = ()

    @classmethod
    def of(cls, *terms: Requirement | tuple[str, int] | str) -> Requirements:
        """Combine terms (``Requirement``, ``(skill, level)`` or a bare skill name).

        The same skill named twice keeps the stricter level.
        """
        best: dict[str, int] = {}
        for term in terms:
            if isinstance(term, Requirement):
                req = term
            elif isinstance(term, str):
                req = Requirement(term)
            else:
                req = Requirement(term[0], term[1])
            best[req.skill] = max(best.get(req.skill, 0), req.min_level)
        return cls(tuple(Requirement(s, lv) for s, lv in sorted(best.items())))

    @classmethod
    def parse(cls, text: str) -> Requirements:
        """Parse ``"lang:ru>=3 AND topic:housing"``; ``""`` or ``"*"`` is no requirement."""
        stripped = text.strip()
        if stripped in ("", "*"):
            return cls()
        terms: list[Requirement] = []
        for part in _AND_RE.split(stripped):
            match = _TERM_RE.match(part)
            if match is None:
                raise SkillExpressionError(
                    f"cannot parse term {part!r} of {text!r}: expected 'kind:name' or "
                    "'kind:name>=N' joined by AND"
                )
            skill, level = match.group(1), match.group(2)
            try:
                terms.append(Requirement(skill, int(level) if level else MIN_PROFICIENCY))
            except RoutingConfigError as exc:
                raise SkillExpressionError(f"in {text!r}: {exc}") from None
        return cls.of(*terms)

    def matches(self, skills: SkillSet) -> bool:
        """True when ``skills`` meets every term."""
        levels = skills._levels
        for req in self.all_of:  # noqa: SIM110 - hot path: a plain loop beats all(genexpr)
            if levels.get(req.skill, 0) < req.min_level:
                return False
        return True

    def score(self, skills: SkillSet) -> int:
        """How well ``skills`` fits: the sum of the CCR's levels in the required skills."""
        levels = skills._levels
        total = 0
        for req in self.all_of:  # hot path: a plain loop beats sum(genexpr) for 1-3 terms
            total += levels.get(req.skill, 0)
        return total

    def and_(self, other: Requirements) -> Requirements:
        """Both sets of terms (the stricter level where a skill is in both)."""
        if not other.all_of:
            return self
        if not self.all_of:
            return other
        return Requirements.of(*self.all_of, *other.all_of)

    def capped(self, max_level: int) -> Requirements:
        """The same terms with every minimum lowered to at most ``max_level`` (escalation)."""
        _validate_level("cap", max_level)
        if all(r.min_level <= max_level for r in self.all_of):
            return self
        return Requirements(
            tuple(Requirement(r.skill, min(r.min_level, max_level)) for r in self.all_of)
        )

    def without_kind(self, kind: str) -> Requirements:
        """The terms whose skill is not of ``kind`` (e.g. drop every ``lang:`` term)."""
        prefix = f"{kind}:"
        return Requirements(tuple(r for r in self.all_of if not r.skill.startswith(prefix)))

    @property
    def skills(self) -> tuple[str, ...]:
        """The skills named, sorted."""
        return tuple(r.skill for r in self.all_of)

    def __bool__(self) -> bool:
        return bool(self.all_of)

    def __str__(self) -> str:
        return " AND ".join(str(r) for r in self.all_of) if self.all_of else "*"
