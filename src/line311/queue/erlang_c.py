"""Erlang B and Erlang C (M/M/N, nobody abandons): formulas and the staffing search.

Calls arrive at rate λ (per second) and take AHT seconds to handle, so the offered load is
A = λ·AHT Erlangs; N agents serve them.

*Erlang B* uses the recurrence B₀ = 1, B_k = A·B_{k−1} / (k + A·B_{k−1}): every term lies in
[0, 1], so there are no factorials or powers to overflow and A in the thousands is fine.

*Erlang C* (nobody abandons), for N > A::

    P(wait) = N·B / (N − A·(1 − B))
    SL(t)   = 1 − P(wait)·exp(−(N − A)·t / AHT)
    ASA     = P(wait)·AHT / (N − A)
    occupancy = A / N

With N ≤ A the queue grows without bound: P(wait) = 1, SL = 0, ASA = ∞.

All functions are pure and deterministic; times are in seconds. `line311.queue.erlang` is
the public face (Erlang A lives in `line311.queue.erlang_a`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from line311.queue.errors import InvalidParameterError, StaffingError

__all__ = [
    "MAX_AGENTS",
    "ErlangCResult",
    "agents_needed",
    "asa",
    "erlang_b",
    "erlang_c",
    "erlang_c_figures",
    "occupancy",
    "offered_load",
    "service_level",
]

MAX_AGENTS: Final = 100_000


# ---------------------------------------------------------------------------- validation
def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InvalidParameterError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _non_negative(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise InvalidParameterError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def _agents(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidParameterError(f"number of agents must be an integer >= 0, got {n!r}")
    return n


def _goal(goal: float) -> float:
    if not (isinstance(goal, int | float) and 0 < goal < 1):
        raise InvalidParameterError(f"service-level goal must be in (0, 1), got {goal!r}")
    return float(goal)


def _max_occupancy(value: float | None) -> float | None:
    if value is not None and not (isinstance(value, int | float) and 0 < value <= 1):
        raise InvalidParameterError(f"maximum occupancy must be in (0, 1], got {value!r}")
    return value


# ---------------------------------------------------------------------------- Erlang B / C
def offered_load(arrival_rate: float, aht: float) -> float:
    """A = λ·AHT in Erlangs (``arrival_rate`` in calls per second, ``aht`` in seconds)."""
    return _non_negative("arrival rate", arrival_rate) * _positive("AHT", aht)


def erlang_b(n: int, a: float) -> float:
    """Blocking probability of N servers with offered load A (Erlang B), by the recurrence."""
    _agents(n)
    _non_negative("offered load", a)
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def _p_wait_from_b(n: int, a: float, b: float) -> float:
    if n <= a:
        return 1.0
    return n * b / (n - a * (1.0 - b))


def erlang_c(n: int, a: float) -> float:
    """P(wait): the probability that a caller has to wait (Erlang C). 1.0 when N ≤ A."""
    return _p_wait_from_b(n, a, erlang_b(n, a))


def service_level(n: int, a: float, aht: float, threshold: float) -> float:
    """SL(t): the fraction of callers answered within ``threshold`` seconds (Erlang C)."""
    _positive("AHT", aht)
    _non_negative("threshold", threshold)
    return _sl(n, a, aht, threshold, erlang_c(n, a))


def _sl(n: int, a: float, aht: float, threshold: float, p_wait: float) -> float:
    if n <= a:
        return 0.0
    return max(0.0, 1.0 - p_wait * math.exp(-(n - a) * threshold / aht))


def asa(n: int, a: float, aht: float) -> float:
    """Average speed of answer in seconds (Erlang C); infinite when N ≤ A."""
    _positive("AHT", aht)
    return _asa(n, a, aht, erlang_c(n, a))


def _asa(n: int, a: float, aht: float, p_wait: float) -> float:
    if n <= a:
        return math.inf
    return p_wait * aht / (n - a)


def occupancy(n: int, a: float) -> float:
    """A / N, the fraction of staffed time agents spend handling calls (capped at 1)."""
    if _agents(n) == 0:
        raise InvalidParameterError("occupancy needs at least one agent")
    return min(1.0, _non_negative("offered load", a) / n)


@dataclass(frozen=True, slots=True)
class ErlangCResult:
    """Erlang C figures for ``agents`` agents."""

    agents: int
    arrival_rate: float  # calls per second
    aht: float
    threshold: float
    offered_load: float  # Erlangs
    p_wait: float
    service_level: float
    asa: float  # seconds; math.inf when agents <= offered load
    occupancy: float


def _c_result(n: int, rate: float, aht: float, threshold: float, b: float) -> ErlangCResult:
    a = rate * aht
    if n == 0:  # only meaningful with no calls: then nobody waits
        idle = a == 0
        return ErlangCResult(
            agents=0,
            arrival_rate=rate,
            aht=aht,
            threshold=threshold,
            offered_load=a,
            p_wait=0.0 if idle else 1.0,
            service_level=1.0 if idle else 0.0,
            asa=0.0 if idle else math.inf,
            occupancy=0.0,
        )
    p_wait = _p_wait_from_b(n, a, b)
    return ErlangCResult(
        agents=n,
        arrival_rate=rate,
        aht=aht,
        threshold=threshold,
        offered_load=a,
        p_wait=p_wait,
        service_level=_sl(n, a, aht, threshold, p_wait),
        asa=_asa(n, a, aht, p_wait),
        occupancy=min(1.0, a / n),
    )


def erlang_c_figures(n: int, arrival_rate: float, aht: float, threshold: float) -> ErlangCResult:
    """Every Erlang C figure for ``n`` agents at once."""
    a = offered_load(arrival_rate, aht)
    _non_negative("threshold", threshold)
    return _c_result(_agents(n), float(arrival_rate), float(aht), float(threshold), erlang_b(n, a))


def agents_needed(
    arrival_rate: float,
    aht: float,
    threshold: float,
    goal: float,
    max_occupancy: float | None = None,
    *,
    max_agents: int = MAX_AGENTS,
) -> ErlangCResult:
    """The fewest agents whose Erlang C service level within ``threshold`` s reaches ``goal``
    (and whose occupancy A/N is at most ``max_occupancy``, when given).

    ``arrival_rate`` is in calls per second (100 calls per 30 minutes is 100 / 1800). With no
    calls, no agents are needed. Raises `StaffingError` past ``max_agents``.
    """
    a = offered_load(arrival_rate, aht)
    _non_negative("threshold", threshold)
    _goal(goal)
    _max_occupancy(max_occupancy)
    rate, aht, threshold = float(arrival_rate), float(aht), float(threshold)
    if a == 0:
        return _c_result(0, rate, aht, threshold, 1.0)
    n = math.floor(a) + 1
    b = erlang_b(n, a)
    while n <= max_agents:
        result = _c_result(n, rate, aht, threshold, b)
        if result.service_level >= goal and (
            max_occupancy is None or result.occupancy <= max_occupancy
        ):
            return result
        n += 1
        b = a * b / (n + a * b)
    raise StaffingError(f"more than {max_agents} agents would be needed for A = {a:.1f} Erlangs")
