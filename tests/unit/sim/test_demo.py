"""The pure parts of `line311 demo`: arrival curves, mixes and resident scripts."""

from __future__ import annotations

import random

import pytest

from line311.sim.demo import (
    LANGUAGE_DIGITS,
    DemoError,
    DemoPlan,
    arrival_times,
    parse_mix,
    resident_script,
)
from line311.sim.sipp import Cue


@pytest.mark.parametrize("curve", ["flat", "ramp", "peak"])
def test_given_a_rate_and_a_curve_then_arrivals_average_that_rate(curve: str) -> None:
    plan = DemoPlan(calls_per_minute=20, minutes=60, curve=curve)
    times = arrival_times(plan, random.Random(1))
    assert times == sorted(times)
    assert all(0 <= t < 3600 for t in times)
    assert 1100 < len(times) < 1300  # 1200 expected


def test_given_a_ramp_then_the_second_half_is_busier() -> None:
    times = arrival_times(DemoPlan(calls_per_minute=20, minutes=60, curve="ramp"), random.Random(2))
    first = sum(1 for t in times if t < 1800)
    assert len(times) - first > 1.5 * first


def test_given_a_mix_text_then_it_is_parsed_and_checked() -> None:
    assert parse_mix("en=60, es=25", LANGUAGE_DIGITS, "language") == {"en": 60.0, "es": 25.0}
    for bad in ("xx=1", "en", "en=-1", "en=0", "en=a"):
        with pytest.raises(DemoError):
            parse_mix(bad, LANGUAGE_DIGITS, "language")


def test_given_a_plan_then_residents_key_their_language_then_their_topic() -> None:
    plan = DemoPlan(languages={"es": 1}, topics={"closures": 1})
    resident = resident_script(plan, random.Random(3))
    assert [d for _, d in resident.dtmf] == ["2", "3", "1"]
    assert isinstance(resident.dtmf[0][0], Cue)  # as the language menu starts
    queued = resident_script(DemoPlan(topics={"ccr": 1}), random.Random(3))
    assert queued.dtmf[-1][1] == "0"
