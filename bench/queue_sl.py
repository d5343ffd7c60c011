"""Service-level accounting throughput: queue events folded per second, and staffing math cost.

A synthetic day of calls (exponential arrivals over 24 h, waits and talk times drawn from a
seeded generator, 70% answered, 20% abandoned, 5% timed out, 5% callbacks) is turned into
queue events and fed to `IntervalAccumulator`, in order and shuffled (out of order within
calls). Also: the same events through the queue_log writer and parser, reading 30-minute
intervals back, and Erlang C / Erlang A staffing at record-day scale. Medians of 5 runs.

    python -m bench queue_sl
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from line311.queue.erlang import agents_needed, agents_needed_erlang_a
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
)
from line311.queue.intervals import IntervalAccumulator
from line311.queue.queue_log import (
    QueueLogTranslator,
    events_from_records,
    format_line,
    parse_lines,
)

CALLS = 100_000
RUNS = 5
DAY0 = 1_296_086_400.0  # 2011-01-27 00:00 UTC, the record day
QUEUES = ("general", "housing", "noise", "sanitation", "spanish")


def synthetic_events(calls: int, seed: int = 311) -> list[QueueEvent]:
    rng = random.Random(seed)
    events: list[QueueEvent] = []
    t = DAY0
    for i in range(calls):
        t += rng.expovariate(calls / 86_400)
        cid, q = f"c{i}", rng.choice(QUEUES)
        wait = rng.expovariate(1 / 25)
        events.append(CallEnqueued(cid, q, t, language="en", topic="noise"))
        roll = rng.random()
        if roll < 0.05:
            events.append(CallbackRequested(cid, q, t + min(wait, 20)))
            wait += 600
        if roll < 0.75:
            talk = rng.expovariate(1 / 180)
            events.append(CallAnswered(cid, q, t + wait, agent_id=f"a{i % 400}"))
            events.append(CallCompleted(cid, q, t + wait + talk, talk, 0.0, 30.0))
        elif roll < 0.95:
            events.append(CallAbandoned(cid, q, t + wait))
        else:
            events.append(CallTimedOut(cid, q, t + 600))
    return events


def _median_seconds(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run() -> str:
    events = synthetic_events(CALLS)
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)

    def fold(evs: list[QueueEvent]) -> IntervalAccumulator:
        acc = IntervalAccumulator()
        acc.feed_all(evs)
        return acc

    in_order = _median_seconds(lambda: fold(events))
    out_of_order = _median_seconds(lambda: fold(shuffled))
    acc = fold(events)
    read = _median_seconds(lambda: acc.intervals(1800))

    def log_round_trip() -> None:
        translator = QueueLogTranslator()
        lines = [format_line(r) for e in events for r in translator.records_for(e)]
        fold(list(events_from_records(parse_lines(lines))))

    queue_log = _median_seconds(log_round_trip)
    peak = 276_827 / 86_400 * 2.5
    erlang_c = _median_seconds(lambda: agents_needed(peak, 300, 30, 0.8))
    erlang_a = _median_seconds(lambda: agents_needed_erlang_a(peak, 300, 120, 30, 0.8))
    n = len(events)
    rows = [
        ("fold events in time order", f"{n / in_order:,.0f} events/s", f"{in_order:.2f} s"),
        ("fold events shuffled", f"{n / out_of_order:,.0f} events/s", f"{out_of_order:.2f} s"),
        ("read 30-min intervals (5 queues, 1 day)", "", f"{read * 1000:.1f} ms"),
        ("queue_log write + parse + fold", f"{n / queue_log:,.0f} events/s", f"{queue_log:.2f} s"),
        (f"Erlang C agents needed (A = {peak * 300:,.0f} E)", "", f"{erlang_c * 1000:.2f} ms"),
        (f"Erlang A agents needed (A = {peak * 300:,.0f} E)", "", f"{erlang_a * 1000:.0f} ms"),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    return (
        f"## Service-level accounting (`python -m bench queue_sl`)\n\n"
        f"{CALLS:,} synthetic calls ({n:,} queue events) over one day, 5 queues; "
        f"medians of {RUNS} runs.\n\n| step | throughput | time |\n|---|---|---|\n{table}"
    )


if __name__ == "__main__":
    print(run())
