"""Service level: per-queue policies and how a queue is judged against its goal (pure).

The SL policy, the formulas and the mergeable statistics (`SlPolicy`, `SlFormula`,
`IntervalStats`, `AgentTimeStats`) are defined in `line311.queue.sl_stats` (its docstring is
the theory of operation) and re-exported here, so ``line311.queue.service_level`` stays the
one import for SL. This module adds `SlPolicies` (each queue's threshold and goal),
`combined_service_level` (a center figure from queues counted by their own T),
`projected_service_level` (callers now waiting past T counted as misses of the interval they
entered) and `sl_state`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from line311.queue.errors import InvalidParameterError
from line311.queue.sl_stats import (
    BASE_INTERVAL,
    DEFAULT_POLICY,
    AgentTimeStats,
    IntervalStats,
    LiveQueueFigures,
    SlFormula,
    SlPolicy,
    _ratio,
    interval_start,
    merge_stats,
)

__all__ = [
    "BASE_INTERVAL",
    "DEFAULT_POLICY",
    "AgentTimeStats",
    "IntervalStats",
    "LiveQueueFigures",
    "SlFormula",
    "SlPolicies",
    "SlPolicy",
    "SlState",
    "combined_service_level",
    "interval_start",
    "merge_stats",
    "projected_service_level",
    "sl_state",
]


# ---------------------------------------------------------------------- per-queue policies
@dataclass(frozen=True, slots=True)
class SlPolicies:
    """The SL policy of each queue: ``default`` (the center's), and per-queue overrides.

    A queue's ``sl_threshold`` / ``sl_goal`` (queues.yaml) replace the center's threshold and
    goal for that queue; the formula and the short-abandon threshold stay the center's, so
    every queue's figure means the same thing. Statistics of queues with different thresholds
    are never added (`IntervalStats.__add__` refuses); a center-wide figure is
    `combined_service_level` (each queue counted by its own threshold).
    """

    default: SlPolicy = DEFAULT_POLICY
    by_queue: Mapping[str, SlPolicy] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        default: SlPolicy,
        overrides: Mapping[str, tuple[float | None, float | None]],
    ) -> SlPolicies:
        """``default`` with, per queue, ``(threshold, goal)`` overrides (None: the default's)."""
        by_queue: dict[str, SlPolicy] = {}
        for queue, (threshold, goal) in overrides.items():
            policy = replace(
                default,
                threshold=default.threshold if threshold is None else threshold,
                goal=default.goal if goal is None else goal,
            )
            if policy != default:
                by_queue[queue] = policy
        return cls(default, by_queue)

    @classmethod
    def of(cls, policy: SlPolicy | SlPolicies) -> SlPolicies:
        """``policy`` as policies (one policy: the same for every queue)."""
        return policy if isinstance(policy, SlPolicies) else cls(policy)

    def __call__(self, queue: str) -> SlPolicy:
        """The policy of ``queue``."""
        return self.by_queue.get(queue, self.default)

    @property
    def formula(self) -> SlFormula:
        return self.default.formula


def combined_service_level(
    parts: Iterable[IntervalStats], formula: SlFormula = DEFAULT_POLICY.formula
) -> float | None:
    """One SL over statistics counted under different thresholds (e.g. every queue of the
    center, each by its own T): the sum of the numerators over the sum of the denominators."""
    num = den = 0
    for part in parts:
        n, d = part.sl_terms(formula)
        num, den = num + n, den + d
    return _ratio(num, den)


def projected_service_level(
    stats: IntervalStats,
    waiting_past_threshold: int,
    formula: SlFormula = DEFAULT_POLICY.formula,
) -> float | None:
    """The SL if the ``waiting_past_threshold`` callers now waiting longer than T were
    counted as they will count: as misses (answered late, or abandoned or timed out after T).

    A call belongs to the interval in which it entered the queue, so ``waiting_past_threshold``
    must count only the callers who entered in the span ``stats`` covers
    (`LiveQueueFigures.waiting_past_threshold_entered`): a caller who entered at 09:14 and
    still waits at 09:16 is a miss of the 09:00 interval, not of 09:15's.

    Always <= the live SL, and equal to it when nobody waits past T. With no call counted yet
    and someone past T, it is 0.
    """
    if waiting_past_threshold < 0:
        raise InvalidParameterError(
            f"callers waiting past the threshold must be >= 0, got {waiting_past_threshold}"
        )
    num, den = stats.sl_terms(formula)
    return _ratio(num, den + waiting_past_threshold)


class SlState(enum.StrEnum):
    """How a queue stands against its goal, live.

    ``on-goal``: the projected SL (callers past T counted as misses) reaches the goal;
    ``at-risk``: the live SL does but the projected one does not; ``below-goal``: the live SL
    is under the goal already; ``none``: nothing counted and nobody waiting past T.
    """

    ON_GOAL = "on-goal"
    AT_RISK = "at-risk"
    BELOW_GOAL = "below-goal"
    NONE = "none"


def sl_state(live: float | None, projected: float | None, goal: float) -> SlState:
    """The `SlState` of a queue from its live and projected SL (see `projected_service_level`)."""
    if live is not None and live < goal:
        return SlState.BELOW_GOAL
    if projected is None:
        return SlState.NONE
    return SlState.ON_GOAL if projected >= goal else SlState.AT_RISK
