"""What every process costs with no call at all (issue 13, goal 3): CPU and wake-ups per second.

A line311 process that polls pays for it on every box, all night, and in the capacity ratio
at low rates (the capacity bench's "net of idle" line takes it off). Per variant a bench stack
(`bench._stack`) is started, left to settle, then watched for ``--seconds`` with no call:
CPU = utime + stime from ``/proc/<pid>/stat`` (descendants included), wake-ups = context
switches (voluntary + involuntary, every thread of the process and its descendants, from
``/proc/<pid>/task/*/status``): a process that sleeps until something happens has few.

    python -m bench idle                                   # shipped: Redis live state
    python -m bench idle --variant run:LINE311_LIVE_STATE=redis,LINE311_DASHBOARD_PROCESS=true
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from bench._stack import bench_stack, parse_variants
from tests.e2e.capacity import cpu_seconds, family

SHIPPED = "shipped:LINE311_LIVE_STATE=redis"
SETTLE_S = 10.0
"""After start-up: the stack's first reads, connections and re-syncs are over."""


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench idle")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the watch")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help=f"LABEL:NAME=VALUE,... a stack per variant (default {SHIPPED})",
    )
    return parser.parse_args(argv)


def switches(pid: int) -> int:
    """Context switches so far of ``pid``'s threads and of its live descendants' threads."""
    total = 0
    for member in family(pid):
        try:
            tasks = list(Path(f"/proc/{member}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                status = (task / "status").read_text()
            except OSError:
                continue
            total += sum(
                int(line.split()[1])
                for line in status.splitlines()
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"))
            )
    return total


def _variants(specs: list[str]) -> list[tuple[str, dict[str, str]]]:
    return parse_variants(specs or [SHIPPED])


def watch(env: dict[str, str], seconds: float) -> dict[str, tuple[float, float]]:
    """name -> (CPU ms/s, wake-ups/s) of every process of a fresh stack, idle."""
    with bench_stack(env) as lab:
        pids = lab.processes()
        time.sleep(SETTLE_S)
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items()}
        sw0 = {n: switches(p) for n, p in pids.items()}
        started = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        cpu1 = {n: cpu_seconds(p) for n, p in pids.items()}
        sw1 = {n: switches(p) for n, p in pids.items()}
    return {n: (1000 * (cpu1[n] - cpu0[n]) / elapsed, (sw1[n] - sw0[n]) / elapsed) for n in pids}


def table(results: list[tuple[str, dict[str, tuple[float, float]]]]) -> str:
    rows = [
        "| variant | process | CPU ms/s | wake-ups/s |",
        "|---|---|---|---|",
    ]
    for label, per in results:
        for name, (cpu, wakes) in per.items():
            rows.append(f"| {label} | {name} | {cpu:.2f} | {wakes:.0f} |")
        own = [v for n, v in per.items() if not n.startswith(("asterisk", "kamailio"))]
        rows.append(
            f"| {label} | **line311 in all** | **{sum(c for c, _ in own):.2f}** "
            f"| **{sum(w for _, w in own):.0f}** |"
        )
    return "\n".join(rows)


def run(argv: list[str] | None = None) -> str:
    args = _parse(argv or [])
    command = "python -m bench idle" + ("" if not argv else " " + shlex.join(argv))
    results = [(label, watch(env, args.seconds)) for label, env in _variants(args.variant)]
    return (
        "## Idle cost: CPU and wake-ups with no call (issue 13, goal 3)\n\n"
        f"Each variant's stack started, left {SETTLE_S:g} s to settle, then watched "
        f"{args.seconds:g} s with no call. CPU = utime + stime (`/proc/<pid>/stat`, "
        "descendants included); wake-ups = context switches of every thread (voluntary + "
        "involuntary). Redis counts among line311's processes (the live state `line311 run` "
        "starts).\n\n" + table(results) + f"\n\nCommand: `{command}`"
    )
