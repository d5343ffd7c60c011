"""`line311 simulate`: a synthetic call-center day through the real routing and SL code.

    line311 simulate                                  # an NYC-like weekday, 60,000 calls
    line311 simulate --day record                     # the record day, 276,827 calls
    line311 simulate --calls 5000 --agents 20 --aht 240 --patience 120 --seed 7
    line311 simulate --interval 15 --csv day.csv --json

Agents: ``auto`` staffs each interval with Erlang C's agents needed for the SL goal; a
number keeps that many on duty all day. The queues are the configured ones
(``queues_file``, else the built-in 311 set); the service level uses the configured
formula (``sl_formula``, ``sl_threshold``, ``sl_goal``, ``sl_short_abandon``).
The model is `line311.sim.simulate`; docs/queues.md explains it.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from line311.queue.errors import QueueError
from line311.routing.errors import RoutingError
from line311.routing.queues import QueueSet, default_queues, load_queues_yaml
from line311.sim.simulate import (
    RECORD_DAY,
    RECORD_DAY_CALLS,
    WEEKDAY,
    WEEKDAY_CALLS,
    IntervalResult,
    SimConfig,
    SimulationResult,
    simulate,
)

app = typer.Typer(no_args_is_help=False)

WORST = 5  # intervals shown in the "worst" table
CSV_COLUMNS = (
    "interval_start",
    "expected_calls",
    "offered",
    "answered",
    "answered_within",
    "abandoned",
    "short_abandons",
    "service_level",
    "asa",
    "abandon_rate",
    "longest_wait",
    "occupancy",
    "agents",
    "erlang_c_sl",
    "erlang_c_asa",
    "erlang_a_sl",
    "erlang_a_asa",
    "erlang_a_abandon",
)


def _clock(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    return "∞" if math.isinf(value) else f"{value:.1f}"


def _row(result: SimulationResult, r: IntervalResult) -> dict[str, object]:
    s, p = r.stats, r.prediction
    return {
        "interval_start": _clock(r.start),
        "expected_calls": round(r.expected_calls, 1),
        "offered": s.offered,
        "answered": s.answered,
        "answered_within": s.answered_within,
        "abandoned": s.abandoned,
        "short_abandons": s.short_abandons,
        "service_level": _num(s.service_level(result.config.policy.formula)),
        "asa": _num(s.asa),
        "abandon_rate": _num(s.abandon_rate),
        "longest_wait": _num(s.longest_wait),
        "occupancy": _num(r.agent_time.occupancy),
        "agents": p.agents,
        "erlang_c_sl": _num(p.erlang_c_sl),
        "erlang_c_asa": _num(p.erlang_c_asa),
        "erlang_a_sl": _num(p.erlang_a_sl),
        "erlang_a_asa": _num(p.erlang_a_asa),
        "erlang_a_abandon": _num(p.erlang_a_abandon),
    }


def _document(result: SimulationResult, seconds: float, seed: int) -> dict[str, object]:
    cfg, pred, day = result.config, result.prediction, result.day
    return {
        "inputs": {
            "calls": cfg.calls,
            "day": cfg.curve.name,
            "interval": cfg.interval,
            "aht": cfg.aht,
            "patience": cfg.patience,
            "ring": cfg.ring,
            "agents": "auto" if cfg.agents is None else cfg.agents,
            "seed": seed,
            "sl_formula": cfg.policy.formula.value,
            "sl_threshold": cfg.policy.threshold,
            "sl_goal": cfg.policy.goal,
        },
        "day": {
            "offered": result.offered,
            "answered": result.answered,
            "abandoned": result.abandoned,
            "timed_out": result.timed_out,
            "waiting_at_end": result.waiting_at_end,
            "service_level": _num(result.service_level),
            "asa": _num(day.asa),
            "abandon_rate": _num(day.abandon_rate),
            "longest_wait": _num(day.longest_wait),
            "occupancy": _num(result.occupancy),
            "agents_peak": result.agents_peak,
            "agents_distinct": result.agents_distinct,
            "agent_hours": round(result.agent_hours, 1),
        },
        "prediction": {
            "erlang_c_sl": _num(pred.erlang_c_sl),
            "erlang_c_asa": _num(pred.erlang_c_asa),
            "erlang_a_sl": _num(pred.erlang_a_sl),
            "erlang_a_asa": _num(pred.erlang_a_asa),
            "erlang_a_abandon": _num(pred.erlang_a_abandon),
        },
        "by_language": [
            {
                "language": f.language,
                "offered": f.offered,
                "answered": f.answered,
                "abandoned": f.abandoned,
                "interpreted": f.interpreted,
                "asa": _num(f.asa),
            }
            for f in result.by_language
        ],
        "intervals": [_row(result, r) for r in result.intervals],
        "run": {
            "wall_seconds": round(seconds, 3),
            "events": result.events,
            "decisions": result.decisions,
        },
    }


def _print(result: SimulationResult, seconds: float) -> None:
    console = Console()
    cfg, pred, day = result.config, result.prediction, result.day
    formula = cfg.policy.formula
    console.print(
        f"[bold]Simulated day ({cfg.curve.name} curve)[/]: {result.offered:,} calls, "
        f"{'Erlang C staffing' if cfg.agents is None else f'{cfg.agents} agents'} "
        f"(peak {result.agents_peak}), AHT {cfg.aht:.0f} s, patience "
        f"{'∞' if cfg.patience is None else f'{cfg.patience:.0f} s'}, SL {formula.value} "
        f"{cfg.policy.goal:.0%}/{cfg.policy.threshold:.0f} s — {seconds:.1f} s wall, "
        f"{result.offered / seconds if seconds else 0:,.0f} calls/s"
    )
    totals = Table("", "simulated", "Erlang C", "Erlang A", title="Day")
    totals.add_row(
        "service level",
        _pct(result.service_level),
        _pct(pred.erlang_c_sl),
        _pct(pred.erlang_a_sl),
    )
    totals.add_row("ASA s", _secs(day.asa), _secs(pred.erlang_c_asa), _secs(pred.erlang_a_asa))
    totals.add_row("abandoned", _pct(day.abandon_rate), "-", _pct(pred.erlang_a_abandon))
    totals.add_row("occupancy", _pct(result.occupancy), "", "")
    totals.add_row("longest wait s", _secs(day.longest_wait), "", "")
    for label, value in (
        ("answered", result.answered),
        ("abandoned", result.abandoned),
        ("timed out", result.timed_out),
        ("still waiting at the end", result.waiting_at_end),
        ("agents at peak", result.agents_peak),
        ("agents who worked", result.agents_distinct),
        ("agent hours", round(result.agent_hours)),
    ):
        totals.add_row(label, f"{value:,}", "", "")
    console.print(totals)
    langs = Table("language", "offered", "answered", "abandoned", "interpreted", "ASA s")
    for f in result.by_language:
        langs.add_row(
            f.language,
            f"{f.offered:,}",
            f"{f.answered:,}",
            f"{f.abandoned:,}",
            f"{f.interpreted:,}",
            _secs(f.asa),
        )
    console.print(langs)
    busy = [r for r in result.intervals if r.stats.offered]
    worst = sorted(busy, key=lambda r: r.stats.service_level(formula) or 0.0)[:WORST]
    table = Table(
        "from",
        "offered",
        "agents",
        "SL",
        "C SL",
        "A SL",
        "ASA s",
        "C ASA",
        "aband.",
        "occ.",
        title=f"Worst {len(worst)} intervals (C/A: Erlang C/A prediction)",
    )
    for r in sorted(worst, key=lambda r: r.start):
        p = r.prediction
        table.add_row(
            _clock(r.start),
            f"{r.stats.offered:,}",
            str(p.agents),
            _pct(r.stats.service_level(formula)),
            _pct(p.erlang_c_sl),
            _pct(p.erlang_a_sl),
            _secs(r.stats.asa),
            _secs(p.erlang_c_asa),
            _pct(r.stats.abandon_rate),
            _pct(r.agent_time.occupancy),
        )
    console.print(table)


def _queues(path: Path | None) -> QueueSet:
    if path is None:
        return default_queues()
    return load_queues_yaml(path.read_text(encoding="utf-8"))


@app.callback(invoke_without_command=True)
def simulate_command(
    ctx: typer.Context,
    calls: Annotated[
        int | None, typer.Option(min=0, help="Calls in the day (default: by --day).")
    ] = None,
    day: Annotated[
        Literal["weekday", "record"],
        typer.Option(help="Arrival curve: an NYC weekday (60,000) or the record day (276,827)."),
    ] = "weekday",
    agents: Annotated[
        str, typer.Option(help="'auto' (Erlang C per interval) or a number on duty all day.")
    ] = "auto",
    aht: Annotated[
        float, typer.Option(min=1, help="Average handle time, talk + wrap-up, seconds.")
    ] = 300.0,
    patience: Annotated[
        float, typer.Option(min=0, help="Callers' mean patience, seconds (0: never abandon).")
    ] = 180.0,
    ring: Annotated[float, typer.Option(min=0, help="Seconds an offer rings.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same day).")] = 311,
    interval: Annotated[int, typer.Option(help="Interval length in minutes: 15 or 30.")] = 30,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write the per-interval figures to FILE.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Simulate a call-center day and compare it with Erlang C and Erlang A."""
    from line311.commands.context import settings_from

    if interval not in (15, 30):
        raise typer.BadParameter("--interval must be 15 or 30")
    if agents != "auto" and not (agents.isdigit()):
        raise typer.BadParameter("--agents must be 'auto' or a number")
    settings = settings_from(ctx)
    # The router logs every call at INFO: a simulated day would flood the terminal.
    logging.getLogger("line311.routing").setLevel(logging.WARNING)
    logging.getLogger("line311.queue").setLevel(logging.WARNING)
    curve = RECORD_DAY if day == "record" else WEEKDAY
    config = SimConfig(
        calls=calls
        if calls is not None
        else (RECORD_DAY_CALLS if day == "record" else WEEKDAY_CALLS),
        curve=curve,
        interval=interval * 60,
        aht=aht,
        patience=patience or None,
        ring=ring,
        agents=None if agents == "auto" else int(agents),
        policy=settings.sl_policy(),
    )
    try:
        queues = _queues(settings.queues_file)
        started = time.perf_counter()
        result = simulate(config, random.Random(seed), queues=queues)
        seconds = time.perf_counter() - started
    except (QueueError, RoutingError) as exc:
        typer.secho(f"line311 simulate: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if csv_file is not None:
        with csv_file.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(_row(result, r) for r in result.intervals)
    if as_json:
        typer.echo(json.dumps(_document(result, seconds, seed), indent=2))
    else:
        _print(result, seconds)
