"""How the wallboard model renders: status colours, per-queue figures, CCR rows (pure).

`line311.dashboard.state.LiveState.snapshot` builds its JSON from these; they take plain
values and return JSON-able ones, so colours and rounding are decided in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from line311.queue.events import AgentActivity
from line311.queue.service_level import (
    IntervalStats,
    SlFormula,
    SlState,
    projected_service_level,
    sl_state,
)

__all__ = ["agent_counts", "agent_rows", "queue_figures", "sl_status", "state_status"]

STATUS_GREEN: Final = "green"
STATUS_AMBER: Final = "amber"
STATUS_RED: Final = "red"
STATUS_NONE: Final = "none"


def sl_status(sl: float | None, goal: float, amber_margin: float) -> str:
    """green at or above ``goal``; amber within ``amber_margin`` below it; red further below;
    ``none`` when there is no SL to judge."""
    if sl is None:
        return STATUS_NONE
    if sl >= goal:
        return STATUS_GREEN
    if sl >= goal - amber_margin:
        return STATUS_AMBER
    return STATUS_RED


def state_status(state: SlState, sl: float | None, goal: float, amber_margin: float) -> str:
    """The colour of a queue in `SlState` ``state``: on goal is green, at risk amber, below
    goal amber within ``amber_margin`` of the goal and red further below."""
    if state is SlState.ON_GOAL:
        return STATUS_GREEN
    if state is SlState.AT_RISK:
        return STATUS_AMBER
    if state is SlState.BELOW_GOAL:
        return sl_status(sl, goal, amber_margin)
    return STATUS_NONE


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


class _Ccr:
    __slots__ = ("calls_handled", "handle_total", "name", "reason", "since", "state")

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = AgentActivity.LOGGED_OUT
        self.reason = ""
        self.since: float | None = None
        self.calls_handled = 0
        self.handle_total = 0.0


def queue_figures(
    stats: IntervalStats,
    goal: float,
    past_threshold: int,
    formula: SlFormula,
    amber_margin: float,
) -> dict[str, Any]:
    """The figures of one queue over one span (an interval, or today) as the wallboard shows
    them; ``past_threshold`` callers now waiting past T who entered the queue in that span
    count as misses already (a call belongs to the interval it entered)."""
    sl = stats.service_level(formula)
    projected = projected_service_level(stats, past_threshold, formula)
    state = sl_state(sl, projected, goal)
    return {
        "offered": stats.offered,
        "answered": stats.answered,
        "abandoned": stats.abandoned,
        "sl": _round(sl),
        "projected_sl": _round(projected),
        "waiting_past_threshold": past_threshold,
        "state": state.value,
        "status": state_status(state, sl, goal, amber_margin),
        "asa": _round(stats.asa, 1),
        "aht": _round(stats.aht, 1),
    }


def agent_rows(ccrs: Mapping[str, _Ccr], now: float) -> list[dict[str, Any]]:
    """One row per logged-in CCR, sorted by id."""
    out = []
    for agent_id in sorted(ccrs):
        ccr = ccrs[agent_id]
        if ccr.state is AgentActivity.LOGGED_OUT:
            continue
        out.append(
            {
                "id": agent_id,
                "name": ccr.name,
                "state": ccr.state.value,
                "reason": ccr.reason,
                "time_in_state": round(max(0.0, now - (ccr.since or now)), 1),
                "calls_handled": ccr.calls_handled,
                "aht": (
                    round(ccr.handle_total / ccr.calls_handled, 1) if ccr.calls_handled else None
                ),
            }
        )
    return out


def agent_counts(ccrs: Mapping[str, _Ccr]) -> dict[str, int]:
    """How many CCRs are in each activity (every activity listed, zeros included)."""
    counts = {a.value: 0 for a in AgentActivity}
    for ccr in ccrs.values():
        counts[ccr.state.value] += 1
    return counts
