"""Staffing math: Erlang B, Erlang C (M/M/N) and Erlang A (M/M/N+M, callers who abandon).

The public face of the staffing formulas: Erlang B/C and the plain staffing search are in
`line311.queue.erlang_c`, Erlang A (Palm's model with patience) in `line311.queue.erlang_a`;
their theory of operation is in those modules. All functions are pure and deterministic;
times are in seconds.
"""

from __future__ import annotations

from line311.queue.erlang_a import ErlangAResult, agents_needed_erlang_a, erlang_a
from line311.queue.erlang_c import (
    MAX_AGENTS,
    ErlangCResult,
    agents_needed,
    asa,
    erlang_b,
    erlang_c,
    erlang_c_figures,
    occupancy,
    offered_load,
    service_level,
)

__all__ = [
    "MAX_AGENTS",
    "ErlangAResult",
    "ErlangCResult",
    "agents_needed",
    "agents_needed_erlang_a",
    "asa",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "erlang_c_figures",
    "occupancy",
    "offered_load",
    "service_level",
]
