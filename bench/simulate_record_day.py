"""NYC 311's record day (2011-01-27, 276,827 calls) through the simulator: wall time and SL.

The real Router and IntervalAccumulator serve every call of the record-day curve, with the
NYC queue set, Erlang C staffing per half-hour (80/30), AHT 300 s (talk + wrap-up), ring 2 s,
callers' patience 180 s (exponential), seed 311. Reports wall time (goal < 60 s), calls and
events simulated per second, the share of time inside ``Router.decide``, and the simulated
SL/ASA next to Erlang C's and Erlang A's predictions for the day and the peak half-hours.

    python -m bench simulate_record_day
"""

from __future__ import annotations

import math
import os
import random
import time

from line311.routing.results import Offer
from line311.routing.router import Router
from line311.sim.simulate import RECORD_DAY, RECORD_DAY_CALLS, SimConfig, simulate

SEED = 311
PEAKS = 4


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    return "∞" if math.isinf(value) else f"{value:.1f} s"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}"


def run() -> str:
    config = SimConfig(calls=RECORD_DAY_CALLS, curve=RECORD_DAY)
    load_before = os.getloadavg()[0]
    spent = [0.0, 0]
    original = Router.decide

    def timed(self: Router, now: float) -> list[Offer]:
        started = time.perf_counter()
        try:
            return original(self, now)
        finally:
            spent[0] += time.perf_counter() - started
            spent[1] += 1

    Router.decide = timed  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        result = simulate(config, random.Random(SEED))
        wall = time.perf_counter() - started
    finally:
        Router.decide = original  # type: ignore[method-assign]
    load_after = os.getloadavg()[0]
    formula = config.policy.formula
    pred, day = result.prediction, result.day
    peaks = sorted(result.intervals, key=lambda r: -r.expected_calls)[:PEAKS]
    rows = [
        "| day | {:,} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            result.offered,
            result.agents_peak,
            _pct(result.service_level),
            _pct(pred.erlang_c_sl),
            _pct(pred.erlang_a_sl),
            _secs(day.asa),
            _secs(pred.erlang_c_asa),
            _secs(pred.erlang_a_asa),
            f"{_pct(day.abandon_rate)} / {_pct(pred.erlang_a_abandon)}",
        )
    ]
    for r in sorted(peaks, key=lambda r: r.start):
        p, s = r.prediction, r.stats
        rows.append(
            f"| {_clock(r.start)} | {s.offered:,} | {p.agents} | "
            f"{_pct(s.service_level(formula))} | {_pct(p.erlang_c_sl)} | {_pct(p.erlang_a_sl)} | "
            f"{_secs(s.asa)} | {_secs(p.erlang_c_asa)} | {_secs(p.erlang_a_asa)} | "
            f"{_pct(s.abandon_rate)} / {_pct(p.erlang_a_abandon)} |"
        )
    table = "\n".join(rows)
    decide_share = spent[0] / wall if wall else 0.0
    by_language = ", ".join(
        f"{f.language} {_secs(f.asa)} ({f.interpreted:,} interpreted)" for f in result.by_language
    )
    return (
        "## Record day simulated (`python -m bench simulate_record_day`)\n\n"
        f"{result.offered:,} calls on the record-day curve, NYC queue set, Erlang C staffing "
        f"per half-hour ({result.agents_distinct:,} CCRs at most, peak {result.agents_peak:,} "
        f"on duty, {result.agent_hours:,.0f} agent-hours), AHT {config.aht:.0f} s, ring "
        f"{config.ring:.0f} s, patience {config.patience:.0f} s, SL {formula.value} "
        f"{config.policy.goal:.0%}/{config.policy.threshold:.0f} s, seed {SEED}.\n\n"
        f"| measure | value |\n|---|---|\n"
        f"| wall time (goal < 60 s) | {wall:.1f} s |\n"
        f"| calls simulated per second | {result.offered / wall:,.0f} |\n"
        f"| events per second | {result.events / wall:,.0f} ({result.events:,} events) |\n"
        f"| `Router.decide` calls / share of wall time | {spent[1]:,} / {decide_share:.0%} "
        f"({spent[0] / max(1, spent[1]) * 1e6:.0f} µs each) |\n"
        f"| offers | {result.offers:,} |\n"
        f"| occupancy | {_pct(result.occupancy)} |\n"
        f"| load average (1 min) before / after | {load_before:.2f} / {load_after:.2f} |\n\n"
        "Simulated vs predicted (C: Erlang C, A: Erlang A with the same patience; the day "
        "row weights the interval predictions by expected calls); the peak half-hours:\n\n"
        "| interval | offered | agents | SL | C SL | A SL | ASA | C ASA | A ASA "
        "| abandoned (sim / A) |\n|---|---|---|---|---|---|---|---|---|---|\n"
        f"{table}\n\n"
        "Erlang C staffs each half-hour for 80/30 assuming nobody hangs up; with callers "
        "who give up after 180 s on average, the few who abandon relieve the queue and the "
        "simulated SL lands near Erlang A's prediction, well above Erlang C's. Simulated "
        "abandons exceed Erlang A's because callers may also hang up while the CCR's phone "
        "rings (Erlang A counts only time in queue); those within 5 s are short abandons, "
        "excluded from SL by the default formula. ASA by language (minority-language "
        f"callers wait for one of few speakers, or the interpreter line): {by_language}."
    )


if __name__ == "__main__":
    print(run())
