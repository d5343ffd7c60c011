"""Time in the routing core is always passed in: whatever takes a ``now`` needs one.

A ``now`` with a default is a clock that reads 1970: `register_agent(profile)` left every CCR
registered at start-up "logged out since" 0.0 on the desk API (``state_since``) until they
first logged in.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from line311.queue.leg import QueuedCall
from line311.routing.agents import Agent
from line311.routing.router import Router
from line311.routing.store import InMemoryRoutingStore
from tests.unit.routing.helpers import ccr, router

TIMED = ("now", "at", "entered_at")


def _callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    for cls in (Router, Agent, InMemoryRoutingStore, QueuedCall):
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_") or name == "__init__":
                yield f"{cls.__name__}.{name}", member


def test_every_time_the_core_takes_is_passed_in() -> None:
    defaulted = [
        f"{name}({param.name}={param.default!r})"
        for name, fn in _callables()
        for param in inspect.signature(fn).parameters.values()
        if param.name in TIMED and param.default is not inspect.Parameter.empty
    ]
    assert defaulted == []


def test_given_a_ccr_registered_at_start_up_then_logged_out_since_then() -> None:
    r = router()
    r.register_agent(ccr("a1", "lang:en=5, topic:general=3"), now=1_700_000_000.0)
    figures = r.agent_figures("a1", now=1_700_000_060.0)
    assert figures.state_since == 1_700_000_000.0
    assert figures.time_in_state[figures.state] == 60.0
