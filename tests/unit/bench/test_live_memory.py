"""bench live_memory on a small load: its table has each figure, and the forgetting ones keep
fewer calls than the ones that never forget."""

from __future__ import annotations

import re

from bench.live_memory import run


def test_given_three_small_days_then_the_forgetting_figures_keep_two_days_of_calls() -> None:
    body = run(["--days", "3", "--calls", "300"])
    kept = {
        name: int(last.replace(",", ""))
        for name, last in re.findall(r"^\| (\w+: [^|]+?) \|.*\| ([\d,]+) \|$", body, re.M)
    }
    assert len(kept) == 4
    never = kept["controller: IntervalAccumulator, never forgets"]
    assert kept["wallboard: LiveState, never forgets"] == never
    assert kept["controller: IntervalAccumulator(keep=KEEP_CALLS)"] < never
    assert kept["wallboard: LiveState"] < never
    assert "forgets (one an hour of the events' time)" in body
