"""Service level, defined: the SL policy (threshold, goal, formula) and mergeable statistics.

`line311.queue.service_level` is the public face (it adds per-queue policies and the
judgement of a queue against its goal, and re-exports these names).

Theory of operation
-------------------
*Define it, don't guess it.* "80/30" means 80% of calls answered within 30 seconds, but
"of which calls?" has several answers (see `SlFormula`). The counters of `IntervalStats` are
enough to compute every one of them afterwards, so the formula is a reporting choice, not a
counting one; only the two thresholds (answer threshold T and short-abandon threshold S) are
fixed when counting, and `IntervalStats` remembers them so that figures counted under different
thresholds are never added together.

Mergeability: every field of `IntervalStats` is a sum, except ``longest_wait`` (a maximum), so
the statistics of a 30-minute interval, a day or any date range are exactly the sum (`+`) of the
15-minute intervals inside it (`line311.queue.intervals.IntervalAccumulator` keeps those).
Likewise `AgentTimeStats` (agent time by activity, hence occupancy).

Callbacks keep the caller's place: a callback request does not end the wait; the call counts as
answered (its wait measured from the original enqueue) when the resident is reached, or as
abandoned if the callback fails. Calls the queue gives up on (timeouts) are never counted as a
success and never excused: they are in every denominator except formula 2's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Final

from line311.queue.errors import IncompatibleStatsError, InvalidParameterError

__all__ = [
    "BASE_INTERVAL",
    "DEFAULT_POLICY",
    "AgentTimeStats",
    "IntervalStats",
    "LiveQueueFigures",
    "SlFormula",
    "SlPolicy",
    "interval_start",
    "merge_stats",
]

BASE_INTERVAL: Final = 900  # seconds: the finest interval kept; 30 min, days... are sums of it


class SlFormula(enum.StrEnum):
    """The five service-level definitions (reference.md, "Service level — define it").

    With A_t = answered within T, AB_t / AB_>t = abandoned within / after T, AB_s = abandoned
    within the short-abandon threshold S, and TO = calls the queue timed out:
    """

    #: 1. (A_t + AB_t) / (answered + abandoned + TO)  — Asterisk "SL2"
    ASTERISK_SL2 = "asterisk-sl2"
    #: 2. A_t / answered  — Asterisk "SL", Wazo qos (abandons ignored)
    ANSWERED_ONLY = "answered-only"
    #: 3. A_t / (answered + abandoned + TO)  — every abandon counts against the center
    ALL_CALLS = "all-calls"
    #: 4. A_t / (answered + AB_>t + TO)  — abandons within T excluded
    EXCLUDE_ABANDONS_WITHIN_THRESHOLD = "exclude-abandons-within-threshold"
    #: 5. A_t / (answered + (abandoned − AB_s) + TO)  — only short abandons (≤ S) excluded
    EXCLUDE_SHORT_ABANDONS = "exclude-short-abandons"


@dataclass(frozen=True, slots=True)
class SlPolicy:
    """How service level is counted and judged for a queue.

    The default is 80/30 with formula 5 (`SlFormula.EXCLUDE_SHORT_ABANDONS`) and a 5-second
    short-abandon threshold. Why: 311 reporting excludes short abandons (callers who hang up
    in the first seconds — misdials, or a question the IVR's announcements already answered —
    say nothing about how fast the center answers). Formula 4 goes further and excuses every
    abandon within the 30-second threshold, so a resident who waited 29 s and gave up would
    not count against the center; formula 5 only excuses the genuinely short ones, which is
    the honest figure to publish. Formula 2 (Asterisk's "SL") ignores abandons entirely and
    can show 100% while half the callers give up.

    A call answered or abandoned after exactly T (or S) seconds counts as *within* (``<=``),
    as Asterisk's ``servicelevel`` does.
    """

    threshold: float = 30.0
    goal: float = 0.80
    formula: SlFormula = SlFormula.EXCLUDE_SHORT_ABANDONS
    short_abandon_threshold: float = 5.0

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise InvalidParameterError(f"SL threshold must be > 0 seconds, got {self.threshold}")
        if not 0.0 < self.goal <= 1.0:
            raise InvalidParameterError(f"SL goal must be in (0, 1], got {self.goal}")
        if not self.short_abandon_threshold >= 0:
            raise InvalidParameterError(
                f"short-abandon threshold must be >= 0 seconds, got {self.short_abandon_threshold}"
            )


DEFAULT_POLICY: Final = SlPolicy()


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


@dataclass(frozen=True, slots=True)
class IntervalStats:
    """Counters of one queue over one stretch of time (an interval, a day, a date range).

    All fields are sums except ``longest_wait`` (a maximum); `+` merges two stretches.
    ``threshold`` and ``short_abandon_threshold`` are the T and S the "within" counts were taken
    with. Derived figures return None when undefined (nothing to divide by).
    """

    threshold: float = DEFAULT_POLICY.threshold
    short_abandon_threshold: float = DEFAULT_POLICY.short_abandon_threshold
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_within: int = 0
    short_abandons: int = 0
    timed_out: int = 0
    callbacks_requested: int = 0
    handled: int = 0
    answer_wait_total: float = 0.0
    abandon_wait_total: float = 0.0
    longest_wait: float = 0.0
    talk_total: float = 0.0
    hold_total: float = 0.0
    wrapup_total: float = 0.0

    @classmethod
    def empty(cls, policy: SlPolicy = DEFAULT_POLICY) -> IntervalStats:
        """Zero counters for ``policy``'s thresholds."""
        return cls(
            threshold=policy.threshold, short_abandon_threshold=policy.short_abandon_threshold
        )

    def __add__(self, other: IntervalStats) -> IntervalStats:
        if not isinstance(other, IntervalStats):
            return NotImplemented
        if (self.threshold, self.short_abandon_threshold) != (
            other.threshold,
            other.short_abandon_threshold,
        ):
            raise IncompatibleStatsError(
                "cannot merge statistics counted with thresholds "
                f"T={self.threshold}/S={self.short_abandon_threshold} and "
                f"T={other.threshold}/S={other.short_abandon_threshold}"
            )
        values: dict[str, float] = {}
        for f in fields(self):
            name = f.name
            if name in ("threshold", "short_abandon_threshold"):
                continue
            if name == "longest_wait":
                values[name] = max(self.longest_wait, other.longest_wait)
            else:
                values[name] = getattr(self, name) + getattr(other, name)
        return IntervalStats(
            threshold=self.threshold,
            short_abandon_threshold=self.short_abandon_threshold,
            **values,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ derived figures
    def sl_terms(self, formula: SlFormula = DEFAULT_POLICY.formula) -> tuple[int, int]:
        """(numerator, denominator) of the service level by ``formula``: calls that count as
        met, and calls that count at all."""
        a_t = self.answered_within
        if formula is SlFormula.ANSWERED_ONLY:
            return a_t, self.answered
        if formula is SlFormula.ASTERISK_SL2:
            return a_t + self.abandoned_within, self.answered + self.abandoned + self.timed_out
        if formula is SlFormula.ALL_CALLS:
            return a_t, self.answered + self.abandoned + self.timed_out
        if formula is SlFormula.EXCLUDE_ABANDONS_WITHIN_THRESHOLD:
            late = self.abandoned - self.abandoned_within
            return a_t, self.answered + late + self.timed_out
        if formula is SlFormula.EXCLUDE_SHORT_ABANDONS:
            counted = self.abandoned - self.short_abandons
            return a_t, self.answered + counted + self.timed_out
        raise InvalidParameterError(f"unknown SL formula {formula!r}")  # pragma: no cover

    def service_level(self, formula: SlFormula = DEFAULT_POLICY.formula) -> float | None:
        """The service level by ``formula``, in [0, 1]; None when no call counts yet."""
        return _ratio(*self.sl_terms(formula))

    def meets(self, policy: SlPolicy = DEFAULT_POLICY) -> bool | None:
        """Whether the SL reaches ``policy.goal``; None when SL is undefined."""
        self._check_policy(policy)
        sl = self.service_level(policy.formula)
        return None if sl is None else sl >= policy.goal

    @property
    def asa(self) -> float | None:
        """Average speed of answer: total wait of answered calls / answered (seconds)."""
        return _ratio(self.answer_wait_total, self.answered)

    @property
    def abandon_rate(self) -> float | None:
        """Abandoned / offered (short abandons included)."""
        return _ratio(self.abandoned, self.offered)

    @property
    def average_abandon_wait(self) -> float | None:
        """How long callers who abandoned had waited, on average (seconds)."""
        return _ratio(self.abandon_wait_total, self.abandoned)

    @property
    def handle_total(self) -> float:
        """Talk + hold + wrap-up of the calls handled (seconds)."""
        return self.talk_total + self.hold_total + self.wrapup_total

    @property
    def aht(self) -> float | None:
        """Average handle time: (talk + hold + wrap-up) / calls handled (seconds)."""
        return _ratio(self.handle_total, self.handled)

    def _check_policy(self, policy: SlPolicy) -> None:
        if (policy.threshold, policy.short_abandon_threshold) != (
            self.threshold,
            self.short_abandon_threshold,
        ):
            raise IncompatibleStatsError(
                f"statistics were counted with T={self.threshold}/S={self.short_abandon_threshold}"
                f", not T={policy.threshold}/S={policy.short_abandon_threshold}"
            )


def merge_stats(parts: Iterable[IntervalStats], policy: SlPolicy = DEFAULT_POLICY) -> IntervalStats:
    """The sum of ``parts`` (empty counters for ``policy`` when there are none)."""
    total = IntervalStats.empty(policy)
    for part in parts:
        total = total + part
    return total


@dataclass(frozen=True, slots=True)
class AgentTimeStats:
    """Seconds agents spent in each activity over a stretch of time (all agents together).

    Staffed time is available + reserved + on call + wrap-up; paused and logged-out time are
    not staffed. Busy time is on call + wrap-up (the handle time Erlang's occupancy A/N models;
    ringing is not handle time). Occupancy = busy / staffed.
    """

    available: float = 0.0
    reserved: float = 0.0
    on_call: float = 0.0
    wrap_up: float = 0.0
    paused: float = 0.0

    def __add__(self, other: AgentTimeStats) -> AgentTimeStats:
        if not isinstance(other, AgentTimeStats):
            return NotImplemented
        return AgentTimeStats(
            available=self.available + other.available,
            reserved=self.reserved + other.reserved,
            on_call=self.on_call + other.on_call,
            wrap_up=self.wrap_up + other.wrap_up,
            paused=self.paused + other.paused,
        )

    @property
    def staffed(self) -> float:
        return self.available + self.reserved + self.on_call + self.wrap_up

    @property
    def busy(self) -> float:
        return self.on_call + self.wrap_up

    @property
    def occupancy(self) -> float | None:
        """Busy time / staffed time, in [0, 1]; None when nobody was staffed."""
        return _ratio(self.busy, self.staffed)


@dataclass(frozen=True, slots=True)
class LiveQueueFigures:
    """A queue right now: calls waiting (on hold), callbacks pending and the longest wait.

    ``past_threshold_entered`` holds when each caller now waiting longer than T entered the
    queue (sorted): such a call will count as a miss in the interval it *entered*, so a
    projection of an interval's or a day's SL counts only the ones that entered in it
    (`waiting_past_threshold_entered`); ``waiting_past_threshold`` counts them all.
    """

    queue: str
    now: float
    waiting: int
    callbacks_pending: int
    longest_wait: float  # of the calls still waiting (on hold or for a callback); 0 when none
    oldest_enqueued_at: float | None
    waiting_past_threshold: int = 0  # of those, how many have waited longer than the queue's T
    past_threshold_entered: tuple[float, ...] = ()

    def waiting_past_threshold_entered(
        self, start: float, end: float, length: int = BASE_INTERVAL
    ) -> int:
        """How many callers now waiting past T entered the queue in a ``length``-second
        interval starting in [``start``, ``end``): the misses still to come of the statistics
        of those intervals (`IntervalAccumulator.intervals` of ``length``)."""
        return sum(
            1 for at in self.past_threshold_entered if start <= interval_start(at, length) < end
        )


def interval_start(at: float, length: int = BASE_INTERVAL) -> int:
    """The start (POSIX seconds) of the ``length``-second interval that holds ``at``."""
    return int(at // length) * length
