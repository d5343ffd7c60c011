"""Erlang A (Palm's model: M/M/N+M): staffing when waiting callers abandon.

*Erlang A* (Palm's model: M/M/N+M) adds patience: each waiting caller abandons at rate
θ = 1 / mean patience. The number of calls in the system is a birth–death chain with birth
rate λ and death rate min(k, N)·μ + max(k − N, 0)·θ (μ = 1/AHT), which is stable for any N.
Its stationary law, written relative to π_N, is the Erlang-B part below N and

    π_{N+j} = π_N · Π_{i=1..j} λ / (Nμ + iθ),
    π_N     = E_B / (1 + (𝒜 − 1)·E_B),   𝒜 = Σ_{j≥0} Π_{i=1..j} λ / (Nμ + iθ)

(𝒜 is Mandelbaum & Zeltyn's A(Nμ/θ, λ/θ)); P(wait) = 𝒜·π_N and, by Little's law on the
abandonment flow, P(abandon) = θ·E[queue] / λ. These are the standard Palm/Erlang-A formulas of
O. Garnett, A. Mandelbaum and M. Reiman, "Designing a call center with impatient customers",
MSOM 4(3), 2002, and A. Mandelbaum and S. Zeltyn, "The Palm/Erlang-A queue, with applications
to call centers" (Technion, 2005). An arriving caller who finds j callers ahead reaches an agent
after stages of rate Nμ + iθ (i = j … 0) while their own patience runs out at rate θ; the
chance of being served, and the expected wait of those served, follow by a short recursion
over j. The *distribution* of the wait (needed for SL(t)) is computed by uniformization of
that absorbing chain — a sum of positive terms, so it stays accurate where the closed forms
(alternating sums of exponentials) lose every digit. The series are truncated when their
terms fall below 1e-15 of the total; the code works with logarithms where terms could
overflow (an understaffed record day). The test suite checks the results against an
independent discrete-event simulation and against Erlang C as θ → 0.

All functions are pure and deterministic; times are in seconds. The validation helpers and
Erlang B come from `line311.queue.erlang_c`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from line311.queue.erlang_c import (
    MAX_AGENTS,
    _agents,
    _goal,
    _max_occupancy,
    _non_negative,
    _positive,
    offered_load,
)
from line311.queue.errors import InvalidParameterError, StaffingError
from line311.queue.service_level import SlFormula

__all__ = ["ErlangAResult", "agents_needed_erlang_a", "erlang_a"]

_TAIL: Final = 1e-15
_MAX_QUEUE_STATES: Final = 200_000


# ---------------------------------------------------------------------------- Erlang A
@dataclass(frozen=True, slots=True)
class ErlangAResult:
    """Erlang A (M/M/N+M) figures for ``agents`` agents and mean ``patience`` seconds.

    Probabilities are per offered call. ``answered_within`` is P(answered with wait ≤ T);
    ``abandoned_within`` / ``short_abandoned`` are P(abandon with wait ≤ T / ≤ S).
    ``service_level`` applies ``formula`` to them (see `SlFormula`).
    """

    agents: int
    arrival_rate: float
    aht: float
    patience: float
    threshold: float
    offered_load: float
    p_wait: float
    p_abandon: float
    answered_within: float
    abandoned_within: float
    short_abandoned: float
    formula: SlFormula
    service_level: float
    asa: float  # mean wait of the answered calls (seconds)
    average_wait: float  # mean time in queue of every call, answered or abandoned (seconds)
    occupancy: float  # handled load / N


def _log_b(n: int, a: float) -> float:
    """log of Erlang B, robust where B underflows (N far above A)."""
    if a == 0:
        return 0.0 if n == 0 else -math.inf
    # 1/B_k = 1 + (k/A)/B_{k-1}; in logs: lb_k = -log1p(k/A * exp(-lb_{k-1}))
    lb = 0.0
    for k in range(1, n + 1):
        x = math.log(k / a) - lb  # log of (k/A)/B_{k-1}
        lb = -(x + math.log1p(math.exp(-x))) if x > 0 else -math.log1p(math.exp(x))
    return lb


def _queue_weights(lam: float, nmu: float, theta: float) -> tuple[list[float], float]:
    """Relative weights w_j ∝ Π_{i≤j} λ/(Nμ+iθ) (max weight 1) and the log of the scale."""
    logs = [0.0]
    log_r = 0.0
    peak = max(0.0, (lam - nmu) / theta)
    best = 0.0
    j = 0
    while True:
        j += 1
        log_r += math.log(lam / (nmu + j * theta))
        logs.append(log_r)
        best = max(best, log_r)
        if j > peak and log_r - best < math.log(_TAIL) - 10:
            break
        if j > _MAX_QUEUE_STATES:
            raise InvalidParameterError(
                "Erlang A: callers this patient at this load would queue by the hundred "
                "thousand; check the inputs, or use Erlang C (patience is negligible)"
            )
    return [math.exp(x - best) for x in logs], best


def _absorption(
    start: list[float], nmu: float, theta: float, times: list[float]
) -> list[tuple[float, float]]:
    """For a tagged waiting caller whose initial position is distributed as ``start`` (mass on
    j = callers ahead), P(served with wait ≤ t) and P(abandoned with wait ≤ t) for each t."""
    size = len(start)
    big = nmu + size * theta  # uniformization rate ≥ every exit rate
    horizon = max(times) * big
    steps = math.ceil(horizon + 10 * math.sqrt(horizon) + 20) if horizon > 0 else 0
    forward = [(nmu + j * theta) / big for j in range(size)]  # move up one place (or get served)
    stay = [1.0 - (nmu + (j + 1) * theta) / big for j in range(size)]
    quit_p = theta / big
    x = list(start)
    served_cum = [0.0]
    abandoned_cum = [0.0]
    served = abandoned = 0.0
    for _ in range(steps):
        served += x[0] * forward[0]
        abandoned += sum(x) * quit_p
        x = [x[j] * stay[j] + x[j + 1] * forward[j + 1] for j in range(size - 1)] + [
            x[-1] * stay[-1]
        ]
        served_cum.append(served)
        abandoned_cum.append(abandoned)
    out = []
    for t in times:
        mean = big * t
        if mean == 0:
            out.append((0.0, 0.0))
            continue
        s = ab = 0.0
        for k in range(steps + 1):
            w = math.exp(-mean + k * math.log(mean) - math.lgamma(k + 1))
            s += w * served_cum[k]
            ab += w * abandoned_cum[k]
        out.append((s, ab))
    return out


def erlang_a(
    n: int,
    arrival_rate: float,
    aht: float,
    patience: float,
    threshold: float,
    *,
    formula: SlFormula = SlFormula.EXCLUDE_SHORT_ABANDONS,
    short_abandon_threshold: float = 5.0,
) -> ErlangAResult:
    """Erlang A figures for ``n`` agents; ``patience`` is the callers' mean patience (seconds).

    Stable for any ``n`` (abandonment bounds the queue). ``formula`` chooses how abandons
    count in ``service_level``, as for measured SL.
    """
    _agents(n)
    lam = _non_negative("arrival rate", arrival_rate)
    aht = _positive("AHT", aht)
    patience = _positive("patience", patience)
    threshold = _non_negative("threshold", threshold)
    short = _non_negative("short-abandon threshold", short_abandon_threshold)
    a = lam * aht
    mu, theta = 1.0 / aht, 1.0 / patience
    nmu = n * mu

    if lam == 0:
        return ErlangAResult(
            agents=n,
            arrival_rate=0.0,
            aht=aht,
            patience=patience,
            threshold=threshold,
            offered_load=0.0,
            p_wait=0.0,
            p_abandon=0.0,
            answered_within=1.0,
            abandoned_within=0.0,
            short_abandoned=0.0,
            formula=formula,
            service_level=1.0,
            asa=0.0,
            average_wait=0.0,
            occupancy=0.0,
        )

    # Stationary law: π_N relative to the queue part, in logs to survive overload.
    weights, log_scale = _queue_weights(lam, nmu, theta)
    total_w = math.fsum(weights)
    log_b = _log_b(n, a)
    # mass below N relative to π_N: 1/E_B − 1 = (1 − B)/B
    below = 0.0
    if log_b < 0:
        log_below = math.log1p(-math.exp(log_b)) - log_b - log_scale
        below = math.inf if log_below > 700 else math.exp(log_below)  # inf: nobody waits
    norm = below + total_w
    q = [w / norm for w in weights]  # q_j = P(arrival finds N + j in system)
    p_wait = math.fsum(q)

    # Served probability g_j and E[wait; served] h_j for a caller with j ahead.
    g_prev, h_prev = 1.0, 0.0
    served_waiting = wait_served = 0.0
    mean_queue = 0.0
    for j, qj in enumerate(q):
        out_rate = nmu + (j + 1) * theta
        p_forward = (nmu + j * theta) / out_rate
        g = p_forward * g_prev
        h = p_forward * (g_prev / out_rate + h_prev)
        served_waiting += qj * g
        wait_served += qj * h
        mean_queue += j * qj
        g_prev, h_prev = g, h
    p_answered = (1.0 - p_wait) + served_waiting
    p_abandon = theta * mean_queue / lam

    times = [threshold, short]
    (s_t, ab_t), (_, ab_s) = _absorption(q, nmu, theta, times) if n > 0 else [(0.0, 0.0)] * 2
    if n == 0:  # nobody is ever served; a caller abandons within t with 1 − e^{−θt}
        ab_t, ab_s = 1 - math.exp(-theta * threshold), 1 - math.exp(-theta * short)
    answered_within = (1.0 - p_wait) + s_t
    sl = _formula_sl(formula, answered_within, ab_t, ab_s, p_answered)
    return ErlangAResult(
        agents=n,
        arrival_rate=lam,
        aht=aht,
        patience=patience,
        threshold=threshold,
        offered_load=a,
        p_wait=p_wait,
        p_abandon=min(1.0, p_abandon),
        answered_within=min(1.0, answered_within),
        abandoned_within=min(1.0, ab_t),
        short_abandoned=min(1.0, ab_s),
        formula=formula,
        service_level=sl,
        asa=wait_served / p_answered if p_answered > 0 else math.inf,
        average_wait=mean_queue / lam,
        occupancy=min(1.0, lam * p_answered / nmu) if n > 0 else 0.0,
    )


def _formula_sl(
    formula: SlFormula, a_t: float, ab_t: float, ab_s: float, p_answered: float
) -> float:
    # Per offered call: answered + abandoned = 1 (there are no timeouts in the model).
    if formula is SlFormula.ASTERISK_SL2:
        value = a_t + ab_t
    elif formula is SlFormula.ANSWERED_ONLY:
        value = a_t / p_answered if p_answered > 0 else 0.0
    elif formula is SlFormula.ALL_CALLS:
        value = a_t
    elif formula is SlFormula.EXCLUDE_ABANDONS_WITHIN_THRESHOLD:
        value = a_t / (1.0 - ab_t) if ab_t < 1 else 0.0
    else:
        value = a_t / (1.0 - ab_s) if ab_s < 1 else 0.0
    return min(1.0, max(0.0, value))


def agents_needed_erlang_a(
    arrival_rate: float,
    aht: float,
    patience: float,
    threshold: float,
    goal: float,
    max_occupancy: float | None = None,
    *,
    formula: SlFormula = SlFormula.EXCLUDE_SHORT_ABANDONS,
    short_abandon_threshold: float = 5.0,
    max_agents: int = MAX_AGENTS,
) -> ErlangAResult:
    """The fewest agents whose Erlang A service level (by ``formula``) reaches ``goal`` and
    whose occupancy is at most ``max_occupancy`` (when given).

    Service level rises with the number of agents, so the search brackets the answer by
    doubling from a square-root-staffing guess and then bisects.
    """
    _goal(goal)
    _max_occupancy(max_occupancy)

    def figures(n: int) -> ErlangAResult:
        return erlang_a(
            n,
            arrival_rate,
            aht,
            patience,
            threshold,
            formula=formula,
            short_abandon_threshold=short_abandon_threshold,
        )

    def ok(r: ErlangAResult) -> bool:
        return r.service_level >= goal and (max_occupancy is None or r.occupancy <= max_occupancy)

    a = offered_load(arrival_rate, aht)
    if a == 0:
        return figures(0)
    low = 0  # known not ok (n = 0 never serves anyone)
    high = min(max_agents, max(1, math.ceil(a + math.sqrt(a))))
    found = figures(high)
    while not ok(found):
        if high >= max_agents:
            raise StaffingError(
                f"more than {max_agents} agents would be needed for A = {a:.1f} Erlangs"
            )
        low, high = high, min(max_agents, high * 2)
        found = figures(high)
    while high - low > 1:
        mid = (low + high) // 2
        candidate = figures(mid)
        if ok(candidate):
            high, found = mid, candidate
        else:
            low = mid
    return found
