"""The monthly report (Local Law 47 style): calls offered, answered and abandoned, service
level and ASA for a calendar month, by queue, by language, and by queue and language.

Each queue's calls are counted with the queue's own threshold T (`SlPolicies`). A row that
spans queues (a language over every queue, the whole center) cannot add statistics counted
under different thresholds, so its SL is `combined_service_level`: the calls that met their
own queue's T over the calls that count, each queue by the center's formula. Its ASA is the
total wait of answered calls over the answered calls. A call belongs to the month in which it
*entered* the queue; its language is the one it entered with. Pure: feed it stored events.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo

from line311.queue.days import local_date_start
from line311.queue.errors import InvalidParameterError
from line311.queue.events import AgentStateChanged, CallEnqueued, QueueEvent
from line311.queue.intervals import IntervalAccumulator
from line311.queue.report import csv_cell
from line311.queue.service_level import (
    DEFAULT_POLICY,
    IntervalStats,
    SlPolicies,
    SlPolicy,
    combined_service_level,
)

__all__ = [
    "MONTHLY_COLUMNS",
    "MonthlyRow",
    "build_monthly_report",
    "month_bounds",
    "render_monthly_csv",
]

MONTHLY_COLUMNS = (
    "month",
    "scope",
    "queue",
    "language",
    "offered",
    "answered",
    "answered_within_threshold",
    "abandoned",
    "short_abandons",
    "timed_out",
    "abandon_rate",
    "service_level",
    "sl_threshold_seconds",
    "sl_goal",
    "goal_met",
    "asa_seconds",
)

ALL = "all"
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month_bounds(month: str, tz: tzinfo) -> tuple[float, float]:
    """The month ``YYYY-MM`` as (its first local midnight, the next month's) in ``tz``.

    `InvalidParameterError` for anything else, and for December 9999, which has no next
    month in the calendar to end on."""
    found = _MONTH.fullmatch(month)
    try:
        if found is None:
            raise ValueError(month)
        year, number = int(found[1]), int(found[2])
        first = date(year, number, 1)
    except ValueError:
        raise InvalidParameterError(f"month must be YYYY-MM, got {month[:40]!r}") from None
    if (year, number) == (9999, 12):
        raise InvalidParameterError("month 9999-12 is the calendar's last: it has no end")
    after = date(year + number // 12, number % 12 + 1, 1)
    return local_date_start(first, tz), local_date_start(after, tz)


@dataclass(frozen=True, slots=True)
class MonthlyRow:
    """One line: ``scope`` is ``queue-language``, ``queue`` (all languages), ``language``
    (all queues) or ``total``; ``queue`` / ``language`` are ``"all"`` where summed over.
    ``threshold`` and ``goal`` are None for rows that span queues with different ones."""

    month: str
    scope: str
    queue: str
    language: str
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    short_abandons: int
    timed_out: int
    service_level: float | None
    asa: float | None
    threshold: float | None
    goal: float | None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None

    @property
    def goal_met(self) -> bool | None:
        if self.goal is None or self.service_level is None:
            return None
        return self.service_level >= self.goal

    def values(self) -> dict[str, object]:
        """The row as MONTHLY_COLUMNS -> value."""
        return {
            "month": self.month,
            "scope": self.scope,
            "queue": self.queue,
            "language": self.language,
            "offered": self.offered,
            "answered": self.answered,
            "answered_within_threshold": self.answered_within,
            "abandoned": self.abandoned,
            "short_abandons": self.short_abandons,
            "timed_out": self.timed_out,
            "abandon_rate": self.abandon_rate,
            "service_level": self.service_level,
            "sl_threshold_seconds": self.threshold,
            "sl_goal": self.goal,
            "goal_met": self.goal_met,
            "asa_seconds": self.asa,
        }


def _row(
    month: str,
    scope: str,
    queue: str,
    language: str,
    parts: Sequence[tuple[IntervalStats, SlPolicy]],
    formula_policy: SlPolicy,
) -> MonthlyRow:
    stats = [s for s, _ in parts]
    policies = {(p.threshold, p.goal) for _, p in parts}
    threshold, goal = next(iter(policies)) if len(policies) == 1 else (None, None)
    answered = sum(s.answered for s in stats)
    return MonthlyRow(
        month=month,
        scope=scope,
        queue=queue,
        language=language,
        offered=sum(s.offered for s in stats),
        answered=answered,
        answered_within=sum(s.answered_within for s in stats),
        abandoned=sum(s.abandoned for s in stats),
        short_abandons=sum(s.short_abandons for s in stats),
        timed_out=sum(s.timed_out for s in stats),
        service_level=combined_service_level(stats, formula_policy.formula),
        asa=sum(s.answer_wait_total for s in stats) / answered if answered else None,
        threshold=threshold,
        goal=goal,
    )


def build_monthly_report(
    events: Iterable[QueueEvent],
    month: str,
    start: float,
    end: float,
    policy: SlPolicy | SlPolicies = DEFAULT_POLICY,
    *,
    queues: Iterable[str] = (),
) -> list[MonthlyRow]:
    """Rows for the calls that entered a queue in [``start``, ``end``) (the month ``month``,
    e.g. ``"2026-11"``): per queue and language, per queue, per language, then the total.

    ``queues`` lists queues to show even without calls. Events may come in any order and
    may run past ``end`` (the later facts of calls that entered before it).
    """
    policies = SlPolicies.of(policy)
    language: dict[tuple[str, str], str] = {}
    events = list(events)
    for e in events:
        if isinstance(e, CallEnqueued) and start <= e.at < end:
            language.setdefault((e.queue, e.call_id), e.language or "unknown")
    by_language: dict[str, IntervalAccumulator] = {}
    for e in events:
        if isinstance(e, AgentStateChanged):
            continue
        lang = language.get((e.queue, e.call_id))
        if lang is None:
            continue  # entered outside the month
        acc = by_language.get(lang)
        if acc is None:
            acc = by_language[lang] = IntervalAccumulator(policies)
        acc.feed(e)
    names = sorted({q for q, _ in language} | set(queues))
    langs = sorted(by_language)
    cells: dict[tuple[str, str], tuple[IntervalStats, SlPolicy]] = {}
    for lang, acc in by_language.items():
        for queue in acc.queues():
            cells[(queue, lang)] = (acc.stats(queue, start, end), policies(queue))
    rows: list[MonthlyRow] = []
    default = policies.default
    for queue in names:
        mine = [(lang, cells[(queue, lang)]) for lang in langs if (queue, lang) in cells]
        for lang, part in mine:
            rows.append(_row(month, "queue-language", queue, lang, [part], default))
        own = policies(queue)
        parts = [p for _, p in mine] or [(IntervalStats.empty(own), own)]
        rows.append(_row(month, "queue", queue, ALL, parts, default))
    for lang in langs:
        parts = [cells[(q, lang)] for q in names if (q, lang) in cells]
        rows.append(_row(month, "language", ALL, lang, parts, default))
    everything = list(cells.values()) or [(IntervalStats.empty(default), default)]
    rows.append(_row(month, "total", ALL, ALL, everything, default))
    return rows


def render_monthly_csv(rows: Sequence[MonthlyRow]) -> str:
    """The report as CSV with a header (MONTHLY_COLUMNS); undefined figures are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MONTHLY_COLUMNS)
    for row in rows:
        values = row.values()
        writer.writerow([csv_cell(values[c]) for c in MONTHLY_COLUMNS])
    return out.getvalue()
