"""The simulation's inputs and outputs: arrival curves, caller and CCR mixes, `SimConfig`,
staffing, and the per-interval and per-day results (pure; `line311.sim.simulate` runs a day).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from line311.queue.erlang import agents_needed
from line311.queue.errors import InvalidParameterError
from line311.queue.service_level import (
    DEFAULT_POLICY,
    AgentTimeStats,
    IntervalStats,
    SlPolicy,
)
from line311.routing.agents import AgentProfile

__all__ = [
    "DAY",
    "DAY0",
    "LANGUAGE_MIX",
    "RECORD_DAY",
    "RECORD_DAY_CALLS",
    "TOPIC_MIX",
    "WEEKDAY",
    "WEEKDAY_CALLS",
    "ArrivalCurve",
    "DayPrediction",
    "IntervalResult",
    "LanguageFigures",
    "Prediction",
    "SimConfig",
    "SimulationResult",
    "Staffing",
    "arrival_times",
    "auto_staffing",
]

DAY: Final = 86_400
DAY0: Final = 1_296_104_400.0
"""2011-01-27 00:00 in New York (05:00 UTC): NYC 311's record day, 276,827 calls."""
WEEKDAY_CALLS: Final = 60_000
RECORD_DAY_CALLS: Final = 276_827


def _half_hours(hourly: Sequence[float]) -> tuple[float, ...]:
    """48 half-hour volumes from 24 hourly ones, each half leaning toward its neighbour."""
    out: list[float] = []
    for h, w in enumerate(hourly):
        before, after = hourly[h - 1], hourly[(h + 1) % 24]
        out += [(3 * w + before) / 8, (3 * w + after) / 8]
    return tuple(round(x, 4) for x in out)


@dataclass(frozen=True, slots=True)
class ArrivalCurve:
    """Relative call volume over one day, in equal slices (48 half-hours for the built-ins)."""

    name: str
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.weights or DAY % len(self.weights):
            raise InvalidParameterError("an arrival curve needs a number of slices dividing 24 h")
        if any(not (w >= 0 and math.isfinite(w)) for w in self.weights) or not sum(self.weights):
            raise InvalidParameterError("arrival curve weights must be >= 0, not all zero")

    @property
    def slice(self) -> float:
        return DAY / len(self.weights)

    def expected(self, total: float, interval: int) -> list[float]:
        """Expected calls in each ``interval``-second interval of the day, for ``total`` calls."""
        scale = total / sum(self.weights)
        width = self.slice
        out: list[float] = []
        for i in range(DAY // interval):
            lo, hi = i * interval, (i + 1) * interval
            mass = 0.0
            for s in range(int(lo // width), min(len(self.weights), math.ceil(hi / width))):
                overlap = min(hi, (s + 1) * width) - max(lo, s * width)
                mass += self.weights[s] * overlap / width
            out.append(mass * scale)
        return out


# Hourly shape of an NYC 311 weekday: quiet nights, a ramp from 6 am, the peak from 9 to noon,
# a long afternoon, a slow evening decline (percent of the day's calls, hour by hour).
_WEEKDAY_HOURLY = (1.2, 0.8, 0.6, 0.5, 0.5, 0.8, 1.8, 3.5, 5.8, 7.2, 7.4, 7.1,
                   6.6, 6.7, 6.5, 6.0, 5.3, 4.6, 4.0, 3.6, 3.3, 3.0, 2.4, 1.8)  # fmt: skip
# The record day (2011-01-27): 19 inches of snow overnight; residents call from 5 am about
# school closures, alternate side parking, unplowed streets and heat, then a long plateau.
_RECORD_HOURLY = (1.0, 0.7, 0.6, 0.7, 1.2, 2.6, 5.0, 7.4, 8.4, 8.2, 7.6, 7.0,
                  6.4, 6.1, 5.8, 5.4, 4.9, 4.3, 3.7, 3.2, 2.8, 2.4, 1.9, 1.4)  # fmt: skip

WEEKDAY: Final = ArrivalCurve("weekday", _half_hours(_WEEKDAY_HOURLY))
RECORD_DAY: Final = ArrivalCurve("record", _half_hours(_RECORD_HOURLY))

LANGUAGE_MIX: Final[tuple[tuple[str, float], ...]] = (
    ("en", 0.800),
    ("es", 0.140),
    ("cmn", 0.020),
    ("ru", 0.015),
    ("yue", 0.010),
    ("ht", 0.010),
    ("ko", 0.005),
)
"""Callers' languages (NYC 311 offers English plus these six in the IVR)."""
TOPIC_MIX: Final[tuple[tuple[str, float], ...]] = (
    ("general", 0.40),
    ("housing", 0.17),
    ("noise", 0.14),
    ("parking", 0.14),
    ("sanitation", 0.10),
    ("social_services", 0.05),
)
"""Callers' topics; a topic goes to the queue of the same name (else the first queue)."""
AGENT_LANGUAGES: Final[tuple[tuple[str, float], ...]] = (
    ("es", 0.24),
    ("cmn", 0.04),
    ("ru", 0.03),
    ("yue", 0.02),
    ("ht", 0.02),
    ("ko", 0.015),
)
"""Share of generated CCRs speaking each language besides English (the rest: English only)."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One simulated day. Times in seconds; ``aht`` is talk + wrap-up (the queue's)."""

    calls: int = WEEKDAY_CALLS
    curve: ArrivalCurve = WEEKDAY
    interval: int = 1800
    aht: float = 300.0
    talk_distribution: Literal["exponential", "lognormal"] = "exponential"
    talk_cv: float = 1.0
    """Coefficient of variation of lognormal talk times."""
    patience: float | None = 180.0
    """Mean patience of callers (exponential); None: nobody abandons."""
    ring: float = 2.0
    agents: int | None = None
    """Agents on duty all day; None: Erlang C per interval (or ``staffing``)."""
    staffing: tuple[int, ...] | None = None
    """Agents on duty per interval (overrides ``agents``)."""
    languages: tuple[tuple[str, float], ...] = LANGUAGE_MIX
    topics: tuple[tuple[str, float], ...] = TOPIC_MIX
    agent_languages: tuple[tuple[str, float], ...] = AGENT_LANGUAGES
    policy: SlPolicy = DEFAULT_POLICY
    drain: float = 7200.0
    """Seconds after midnight during which calls in progress may still finish."""
    day_start: float = DAY0
    erlang_a: bool = True
    """Also compute Erlang A's prediction (needs ``patience``)."""

    def __post_init__(self) -> None:
        if self.calls < 0:
            raise InvalidParameterError(f"calls must be >= 0, got {self.calls}")
        if self.interval not in (900, 1800):
            raise InvalidParameterError(f"interval must be 900 or 1800 s, got {self.interval}")
        if self.day_start % self.interval:
            raise InvalidParameterError("day_start must be aligned to the interval")
        if not (self.aht > 0 and math.isfinite(self.aht)):
            raise InvalidParameterError(f"aht must be > 0, got {self.aht}")
        if not self.talk_cv > 0:
            raise InvalidParameterError(f"talk_cv must be > 0, got {self.talk_cv}")
        if self.patience is not None and not self.patience > 0:
            raise InvalidParameterError(f"patience must be > 0 (or None), got {self.patience}")
        if not 0 <= self.ring < self.policy.threshold:
            raise InvalidParameterError("ring must be >= 0 and below the SL threshold")
        if self.agents is not None and self.agents < 0:
            raise InvalidParameterError(f"agents must be >= 0, got {self.agents}")
        if self.staffing is not None and (
            len(self.staffing) != self.intervals or min(self.staffing, default=0) < 0
        ):
            raise InvalidParameterError(f"staffing needs {self.intervals} counts >= 0")
        if self.drain < 0:
            raise InvalidParameterError("drain must be >= 0")
        for name, mix in (("languages", self.languages), ("topics", self.topics)):
            if not mix or any(not w >= 0 for _, w in mix) or not sum(w for _, w in mix) > 0:
                raise InvalidParameterError(f"{name}: weights must be >= 0, not all zero")

    @property
    def intervals(self) -> int:
        return DAY // self.interval

    @property
    def service_time(self) -> float:
        """What a call costs a CCR: ring + talk + wrap-up (Erlang's AHT)."""
        return self.aht + self.ring


@dataclass(frozen=True, slots=True)
class Staffing:
    """Agents on duty per interval and the profiles they are drawn from (first ones first)."""

    profiles: tuple[AgentProfile, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Prediction:
    """Erlang's figures for one interval's expected load and staffing."""

    agents: int
    offered_load: float
    erlang_c_sl: float
    erlang_c_asa: float  # seconds; math.inf when agents <= load
    erlang_a_sl: float | None = None
    erlang_a_asa: float | None = None
    erlang_a_abandon: float | None = None


@dataclass(frozen=True, slots=True)
class IntervalResult:
    """One interval: what the simulation measured next to what Erlang predicted."""

    start: float
    """Seconds from the day's start."""
    expected_calls: float
    stats: IntervalStats
    """All queues together, calls counted in the interval they entered."""
    agent_time: AgentTimeStats
    prediction: Prediction


@dataclass(frozen=True, slots=True)
class LanguageFigures:
    language: str
    offered: int
    answered: int
    abandoned: int
    interpreted: int
    """Answered by a CCR not speaking the language, with the interpreter line."""
    wait_total: float

    @property
    def asa(self) -> float | None:
        return self.wait_total / self.answered if self.answered else None


@dataclass(frozen=True, slots=True)
class DayPrediction:
    """Erlang's interval predictions weighted by expected calls (ASA: by answered calls)."""

    erlang_c_sl: float
    erlang_c_asa: float
    erlang_a_sl: float | None
    erlang_a_asa: float | None
    erlang_a_abandon: float | None


@dataclass(frozen=True, slots=True)
class SimulationResult:
    config: SimConfig
    intervals: tuple[IntervalResult, ...]
    day: IntervalStats
    day_agent_time: AgentTimeStats
    by_queue: Mapping[str, IntervalStats]
    by_language: tuple[LanguageFigures, ...]
    prediction: DayPrediction
    offered: int
    answered: int
    abandoned: int
    timed_out: int
    waiting_at_end: int
    """Callers still waiting (or ringing) when the simulation stopped."""
    in_progress_at_end: int
    """Answered calls still talking when the simulation stopped."""
    agents_peak: int
    agents_distinct: int
    agent_hours: float
    events: int
    decisions: int
    offers: int
    ended_at: float
    """Seconds from the day's start at which the simulation stopped."""
    max_concurrent_agents_busy: int = 0
    anomalies: int = 0
    staffing: tuple[int, ...] = field(default=())

    @property
    def service_level(self) -> float | None:
        return self.day.service_level(self.config.policy.formula)

    @property
    def occupancy(self) -> float | None:
        return self.day_agent_time.occupancy


# ------------------------------------------------------------------ inputs


def arrival_times(curve: ArrivalCurve, calls: int, rng: random.Random) -> list[float]:
    """``calls`` arrival times in [0, 86400), sorted, i.i.d. with density ∝ the curve."""
    if calls == 0:
        return []
    width = curve.slice
    total = 0.0
    cum: list[float] = []
    for w in curve.weights:
        total += w
        cum.append(total)
    slices = rng.choices(range(len(curve.weights)), cum_weights=cum, k=calls)
    rand = rng.random
    times = [(s + rand()) * width for s in slices]
    times.sort()
    return times


MAX_STAFFED_GOAL: Final = 0.999
"""The highest service-level goal auto-staffing aims at (see `auto_staffing`)."""


def auto_staffing(config: SimConfig) -> tuple[int, ...]:
    """Erlang C's agents needed for each interval's expected load (80/30 by the policy).

    A goal of 100 % (which a policy may set) is staffed as `MAX_STAFFED_GOAL`: under Erlang C
    some caller always waits past any threshold, so no number of agents reaches 100 %."""
    policy = config.policy
    threshold = max(0.0, policy.threshold - config.ring)
    goal = min(policy.goal, MAX_STAFFED_GOAL)
    out = []
    for expected in config.curve.expected(config.calls, config.interval):
        rate = expected / config.interval
        needed = agents_needed(rate, config.service_time, threshold, goal)
        out.append(needed.agents)
    return tuple(out)
