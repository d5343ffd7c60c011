"""Strategies are pure functions of the candidates, the call's needs and the context."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from line311.routing.agents import Agent, AgentProfile
from line311.routing.errors import RoutingConfigError, UnknownStrategyError
from line311.routing.skills import Requirements, SkillSet
from line311.routing.strategies import DEFAULT_STRATEGIES, StrategyContext, StrategyRegistry

NEED = Requirements.parse("lang:en AND topic:housing")


def make(seq: int, skills: dict[str, int], idle: float, handled: int = 0) -> Agent:
    a = Agent(AgentProfile(f"a{seq}", "x", f"PJSIP/a{seq}", SkillSet(skills)), seq=seq, now=0)
    a.idle_since = idle
    a.calls_handled = handled
    return a


POOL = [
    make(1, {"lang:en": 3, "topic:housing": 3}, idle=50, handled=9),
    make(2, {"lang:en": 5, "topic:housing": 5}, idle=80, handled=4),
    make(3, {"lang:en": 3, "topic:housing": 3, "lang:es": 5, "topic:noise": 5}, idle=10, handled=4),
    make(4, {"lang:en": 5, "topic:housing": 5}, idle=20, handled=7),
]


def pick(name: str, last_seq: int | None = None, seed: int = 0) -> str:
    ctx = StrategyContext(now=100.0, rng=random.Random(seed), last_seq=last_seq)
    return DEFAULT_STRATEGIES[name](POOL, NEED, ctx).agent_id


def test_best_skill_then_longest_idle():
    assert pick("best_skill_longest_idle") == "a4"


@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),  # lang:en level (0: not in the skill set)
            st.integers(1, 5),  # topic:housing level
            st.none() | st.integers(0, 200),  # idle since (None: unknown, counts as now)
        ),
        min_size=1,
        max_size=12,
    )
)
def test_best_skill_then_longest_idle_is_the_minimum_of_its_key(
    rows: list[tuple[int, int, int | None]],
) -> None:
    pool = []
    for seq, (en, housing, idle) in enumerate(rows, start=1):
        skills = {"topic:housing": housing} | ({"lang:en": en} if en else {})
        agent = make(seq, skills, idle=0)
        agent.idle_since = None if idle is None else float(idle)
        pool.append(agent)
    ctx = StrategyContext(now=100.0, rng=random.Random(0))

    def key(a: Agent) -> tuple[int, float, int]:
        idle = ctx.now if a.idle_since is None else a.idle_since
        return (-NEED.score(a.skills), idle, a.seq)

    chosen = DEFAULT_STRATEGIES["best_skill_longest_idle"](pool, NEED, ctx)
    assert chosen is min(pool, key=key)


def test_longest_idle():
    assert pick("longest_idle") == "a3"


def test_fewest_calls_then_longest_idle():
    assert pick("fewest_calls") == "a3"


def test_most_skilled_overall():
    assert pick("most_skilled") == "a3"


def test_round_robin_remembers_and_wraps():
    assert pick("round_robin") == "a1"
    assert pick("round_robin", last_seq=2) == "a3"
    assert pick("round_robin", last_seq=4) == "a1"


def test_random_is_deterministic_for_a_seed_and_covers_the_pool():
    assert pick("random", seed=7) == pick("random", seed=7)
    assert {pick("random", seed=s) for s in range(50)} == {"a1", "a2", "a3", "a4"}


def test_a_registry_refuses_unknown_duplicate_and_bad_names():
    reg = DEFAULT_STRATEGIES.copy()

    @reg.register("first")
    def first(candidates, need, ctx):
        return candidates[0]

    assert reg["first"] is first
    assert "first" not in DEFAULT_STRATEGIES
    assert len(reg) == len(DEFAULT_STRATEGIES) + 1
    with pytest.raises(RoutingConfigError, match="already registered"):
        reg.add("first", first)
    with pytest.raises(RoutingConfigError, match="bad strategy name"):
        reg.add("no spaces", first)
    with pytest.raises(UnknownStrategyError, match="registered"):
        StrategyRegistry()["ringall"]
