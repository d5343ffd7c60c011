"""Memory of the live figures over days of calls: the controller's `IntervalAccumulator` and
the wallboard's `LiveState`, each as shipped (forgetting each call two days on) and as one
that never forgets (what they were before), in process.

Days of synthetic calls (`tests.fixtures.call_days`: IVR, queue, answers, abandons, time-outs,
callbacks) are fed in time order, one day at a time; after each day the memory each one holds
is measured with `tracemalloc` (the day's facts released first). Also: the cost per event of
the accumulator as shipped against one that never forgets, and its longest `forget`.

    python -m bench live_memory                       # 6 days of 60,000 calls
    python -m bench live_memory --days 8 --calls 20000
"""

from __future__ import annotations

import argparse
import gc
import shlex
import time
import tracemalloc
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from line311.dashboard.facts import QUEUE_EVENTS, Fact
from line311.dashboard.state import LiveState
from line311.queue.intervals import KEEP_CALLS, IntervalAccumulator
from tests.fixtures.call_days import call_days

NY = ZoneInfo("America/New_York")


class _Remembers(LiveState):
    def forget(self, now: float) -> None:
        pass


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench live_memory")
    parser.add_argument("--days", type=int, default=6, help="days of calls")
    parser.add_argument("--calls", type=int, default=60_000, help="calls a day")
    return parser.parse_args(argv)


def _feeder(owner: Any) -> Callable[[Fact], object]:
    if isinstance(owner, LiveState):
        return owner.apply
    feed = owner.feed

    def queue_only(fact: Fact) -> None:
        if isinstance(fact, QUEUE_EVENTS):
            feed(fact)

    return queue_only


def _days(make: Callable[[], Any], days: int, calls: int) -> tuple[list[float], int]:
    """MiB held after each day, and the calls the accumulator remembers at the end."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    owner = make()
    feed = _feeder(owner)
    held = []
    for day in range(days):
        for fact in call_days(1, calls, seed=day, first=day):
            feed(fact)
        gc.collect()
        held.append((tracemalloc.get_traced_memory()[0] - base) / 2**20)
    tracemalloc.stop()
    acc = owner.accumulator if isinstance(owner, LiveState) else owner
    return held, len(acc._calls)


def _cost(days: int, calls: int, rounds: int = 3) -> tuple[float, float, float, int]:
    """µs per event never forgetting and as shipped (the best of ``rounds``, taken in turn),
    the longest forget (ms) and how many forgets a run makes."""
    events = [f for f in call_days(days, calls) if isinstance(f, QUEUE_EVENTS)]
    per_event: dict[float | None, float] = {}
    longest, forgets = 0.0, 0
    for _ in range(rounds):
        for keep in (None, KEEP_CALLS):
            acc = IntervalAccumulator(keep=keep)
            forget = acc.forget
            forgets = 0

            def timed(before: float, forget: Callable[[float], int] = forget) -> int:
                nonlocal longest, forgets
                started = time.perf_counter()
                dropped = forget(before)
                longest = max(longest, time.perf_counter() - started)
                forgets += 1
                return dropped

            acc.forget = timed  # type: ignore[method-assign]
            gc.collect()
            started = time.perf_counter()
            for event in events:
                acc.feed(event)
            spent = (time.perf_counter() - started) / len(events) * 1e6
            per_event[keep] = min(spent, per_event.get(keep, spent))
    return per_event[None], per_event[KEEP_CALLS], longest * 1000, forgets


def run(argv: list[str] | None = None) -> str:
    args = _parse(argv or [])
    command = "python -m bench live_memory" + ("" if not argv else " " + shlex.join(argv))
    owners: list[tuple[str, Callable[[], Any]]] = [
        ("controller: IntervalAccumulator, never forgets", IntervalAccumulator),
        (
            "controller: IntervalAccumulator(keep=KEEP_CALLS)",
            lambda: IntervalAccumulator(keep=KEEP_CALLS),
        ),
        ("wallboard: LiveState, never forgets", lambda: _Remembers(tz=NY)),
        ("wallboard: LiveState", lambda: LiveState(tz=NY)),
    ]
    days = range(1, args.days + 1)
    rows = [
        "| figures | " + " | ".join(f"day {d}" for d in days) + " | calls kept at the end |",
        "|---|" + "---:|" * (args.days + 1),
    ]
    for name, make in owners:
        held, kept = _days(make, args.days, args.calls)
        rows.append(f"| {name} | " + " | ".join(f"{m:.1f}" for m in held) + f" | {kept:,} |")
    never, shipped, longest, forgets = _cost(min(args.days, 4), args.calls)
    return (
        f"## Memory of the live figures over days (`{command}`)\n\n"
        f"{args.calls:,} calls a day (`tests.fixtures.call_days`: 80% reach a queue) fed in "
        f"time order; MiB held after each day (`tracemalloc`), in process. A dict's table "
        f"grows in steps, so the forgetting ones step up once (day 4 at 60,000 calls a day) "
        f"and stay flat after.\n\n"
        + "\n".join(rows)
        + f"\n\nFeeding the accumulator {min(args.days, 4)} days of these calls (best of 3): "
        f"{never:.2f} µs per event never forgetting, {shipped:.2f} µs as shipped, whose "
        f"{forgets} forgets (one an hour of the events' time) took {longest:.1f} ms at most."
    )


if __name__ == "__main__":
    print(run())
