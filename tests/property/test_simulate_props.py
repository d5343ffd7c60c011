"""The day simulator over random small configurations: calls are conserved, figures stay
in range, the real router never double-books a CCR (the simulator raises if it does)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.sim.simulate import RECORD_DAY, WEEKDAY, SimConfig, simulate

CONFIGS = st.builds(
    SimConfig,
    calls=st.integers(0, 150),
    curve=st.sampled_from([WEEKDAY, RECORD_DAY]),
    interval=st.sampled_from([900, 1800]),
    aht=st.floats(61.0, 600.0),
    talk_distribution=st.sampled_from(["exponential", "lognormal"]),
    patience=st.none() | st.floats(1.0, 600.0),
    ring=st.floats(0.0, 10.0),
    agents=st.none() | st.integers(0, 6),
    drain=st.sampled_from([0.0, 600.0, 7200.0]),
    erlang_a=st.just(False),
)


@settings(max_examples=30, deadline=None)
@given(config=CONFIGS, seed=st.integers(0, 2**32))
def test_random_small_days_conserve_calls_and_keep_figures_in_range(
    config: SimConfig, seed: int
) -> None:
    r = simulate(config, random.Random(seed))
    assert r.answered + r.abandoned + r.timed_out + r.waiting_at_end == r.offered == config.calls
    assert r.anomalies == 0
    assert r.day.answered_within <= r.day.answered
    for i in r.intervals:
        sl = i.stats.service_level(config.policy.formula)
        assert sl is None or 0.0 <= sl <= 1.0
        occupancy = i.agent_time.occupancy
        assert occupancy is None or -1e-9 <= occupancy <= 1.0 + 1e-9
        assert i.stats.longest_wait >= 0.0
    if r.answered:
        assert r.day.asa is not None
        assert r.day.asa >= config.ring - 1e-6
    assert r.agents_peak <= max(r.staffing, default=0)
