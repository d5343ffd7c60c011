"""`line311 staffing erlang-c|erlang-a`: how many CCRs a half-hour needs for its service goal.

    line311 staffing erlang-c --calls 100 --interval 1800 --aht 180 --threshold 30 --goal 0.8
    line311 staffing erlang-a --calls 100 --aht 180 --patience 120 --json

Prints the agents needed and, around that number, what each staffing level would give.
``--agents N`` evaluates N agents instead of searching. The math is `line311.queue.erlang`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from line311.queue.erlang import (
    ErlangAResult,
    ErlangCResult,
    agents_needed,
    agents_needed_erlang_a,
    erlang_a,
    erlang_c_figures,
)
from line311.queue.service_level import DEFAULT_POLICY, SlFormula

app = typer.Typer(no_args_is_help=True)

Calls = Annotated[float, typer.Option(min=0, help="Calls offered in the interval.")]
Interval = Annotated[float, typer.Option(min=1, help="Interval length in seconds.")]
Aht = Annotated[float, typer.Option(min=0.001, help="Average handle time, seconds.")]
Threshold = Annotated[float, typer.Option(min=0, help="Answer within this many seconds.")]
Goal = Annotated[float, typer.Option(min=0.01, max=0.99, help="Service-level goal (0.8 = 80%).")]
MaxOccupancy = Annotated[
    float | None, typer.Option(min=0.01, max=1.0, help="Also keep occupancy at or below this.")
]
Agents = Annotated[int | None, typer.Option(min=0, help="Evaluate this many agents instead.")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
SPREAD = (-2, -1, 0, 1, 2, 3)  # staffing levels shown around the answer


def _number(value: float) -> float | None:
    return None if math.isinf(value) or math.isnan(value) else value


def _dump(result: ErlangCResult | ErlangAResult) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in asdict(result).items():
        out[key] = _number(value) if isinstance(value, float) else value
    return out


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _secs(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.1f} s"


def _emit(
    model: str,
    inputs: dict[str, object],
    needed: int | None,
    chosen: ErlangCResult | ErlangAResult,
    around: list[ErlangCResult] | list[ErlangAResult],
    as_json: bool,
) -> None:
    if as_json:
        document = {
            "model": model,
            "inputs": inputs,
            "agents_needed": needed,
            "figures": _dump(chosen),
            "around": [_dump(r) for r in around],
        }
        typer.echo(json.dumps(document, indent=2))
        return
    console = Console()
    load = chosen.offered_load
    if needed is not None:
        console.print(
            f"[bold]{model}[/]: offered load {load:.2f} Erlangs → "
            f"[bold green]{needed} agents needed[/]"
        )
    else:
        console.print(f"[bold]{model}[/]: offered load {load:.2f} Erlangs, {chosen.agents} agents")
    table = Table("agents", "service level", "P(wait)", "ASA", "occupancy")
    with_abandon = isinstance(chosen, ErlangAResult)
    if with_abandon:
        table.add_column("abandoned")
    for r in around:
        cells = [
            str(r.agents),
            _pct(r.service_level),
            _pct(r.p_wait),
            _secs(r.asa),
            _pct(r.occupancy),
        ]
        if isinstance(r, ErlangAResult):
            cells.append(_pct(r.p_abandon))
        style = "bold" if r.agents == chosen.agents else None
        table.add_row(*cells, style=style)
    console.print(table)


@app.command("erlang-c")
def erlang_c_command(
    calls: Calls = 100,
    interval: Interval = 1800,
    aht: Aht = 180,
    threshold: Threshold = DEFAULT_POLICY.threshold,
    goal: Goal = DEFAULT_POLICY.goal,
    max_occupancy: MaxOccupancy = None,
    agents: Agents = None,
    as_json: AsJson = False,
) -> None:
    """Erlang C: agents needed when callers never give up (the classic, conservative model)."""
    rate = calls / interval
    inputs: dict[str, object] = {
        "calls": calls,
        "interval": interval,
        "aht": aht,
        "threshold": threshold,
        "goal": goal,
        "max_occupancy": max_occupancy,
    }
    needed = agents_needed(rate, aht, threshold, goal, max_occupancy)
    chosen = needed if agents is None else erlang_c_figures(agents, rate, aht, threshold)
    around = [
        erlang_c_figures(n, rate, aht, threshold)
        for n in sorted({max(1, chosen.agents + d) for d in SPREAD})
    ]
    _emit("Erlang C", inputs, needed.agents, chosen, around, as_json)


@app.command("erlang-a")
def erlang_a_command(
    patience: Annotated[float, typer.Option(min=0.001, help="Callers' mean patience, seconds.")],
    calls: Calls = 100,
    interval: Interval = 1800,
    aht: Aht = 180,
    threshold: Threshold = DEFAULT_POLICY.threshold,
    goal: Goal = DEFAULT_POLICY.goal,
    max_occupancy: MaxOccupancy = None,
    formula: Annotated[
        SlFormula, typer.Option(help="How abandons count in the service level.")
    ] = DEFAULT_POLICY.formula,
    short_abandon: Annotated[
        float, typer.Option(min=0, help="Short-abandon threshold, seconds.")
    ] = DEFAULT_POLICY.short_abandon_threshold,
    agents: Agents = None,
    as_json: AsJson = False,
) -> None:
    """Erlang A: agents needed when callers abandon after a mean ``--patience``."""
    rate = calls / interval
    inputs: dict[str, object] = {
        "calls": calls,
        "interval": interval,
        "aht": aht,
        "patience": patience,
        "threshold": threshold,
        "goal": goal,
        "max_occupancy": max_occupancy,
        "formula": formula.value,
        "short_abandon": short_abandon,
    }

    def figures(n: int) -> ErlangAResult:
        return erlang_a(
            n,
            rate,
            aht,
            patience,
            threshold,
            formula=formula,
            short_abandon_threshold=short_abandon,
        )

    needed = agents_needed_erlang_a(
        rate,
        aht,
        patience,
        threshold,
        goal,
        max_occupancy,
        formula=formula,
        short_abandon_threshold=short_abandon,
    )
    chosen = needed if agents is None else figures(agents)
    around = [figures(n) for n in sorted({max(1, chosen.agents + d) for d in SPREAD})]
    _emit("Erlang A", inputs, needed.agents, chosen, around, as_json)
