"""Scaling curve on paper (issue 13, point 4): calls/s for 0 -> 1 -> 2 -> 4 IVR workers.

COMPUTED, not measured: from CPU ms per call measured by ``python -m bench capacity`` on the
reference machine, without IVR workers (``--variant w0:``: the controller runs every call) and
with them (``--variant w2:LINE311_IVR_WORKERS=2``: each worker runs the IVR of the calls it
claims; the controller keeps the queues and the wallboard), for a box with ``--cores`` cores:

    W = 0   controller  u * 1000 / c_ctl        (the one Python process runs every call)
    W >= 1  workers     W * u * 1000 / c_wrk    (each worker: one core at most)
            controller  u * 1000 / c_rest       (what is left to it per call: the wallboard's
                                                 facts; the queue work of queued calls)
    both    bridge      u * 1000 / c_crm        (one CRM bridge process)
            box         u * cores * 1000 / (c_ast + every line311 process's ms per call)
    capacity = min(those limits)

``u`` is the utilisation kept for latency headroom (0.7: an event loop at 70 % still answers
in milliseconds). Asterisk is multi-threaded and limited only by the box row. The costs are
per call of the benchmark's callers, who stay in the IVR (the resolved-in-IVR half of the
line); a queued call adds its queue work to the controller, which stays one process.

    python -m bench scaling            # the costs measured on the reference machine (MEASURED)
    python -m bench scaling --worker-ms 4.8 --rest-ms 1.4 --cores 8,16
"""

from __future__ import annotations

import argparse
import shlex

WORKERS = (0, 1, 2, 4)
MEASURED = {
    "asterisk_ms": 10.4,
    "controller_ms": 3.3,
    "crm_ms": 0.4,
    "redis_ms": 0.3,
    "worker_ms": 4.8,
    "rest_ms": 1.4,
    "worker_redis_ms": 0.7,
    "worker_crm_ms": 0.5,
}
"""Defaults: docs/benchmarks.md "Capacity with IVR workers" at 20 calls/s (2026-12-05): without
workers (controller, bridge, Redis) and with 2 (each worker's CPU per call *it* ran, i.e. twice
its per-step figure; the controller's, the bridge's and Redis's per call)."""


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench scaling")
    parser.add_argument("--asterisk-ms", type=float, help="Asterisk CPU ms/call")
    parser.add_argument("--controller-ms", type=float, help="controller ms/call, no workers")
    parser.add_argument("--crm-ms", type=float, help="CRM bridge ms/call, no workers")
    parser.add_argument("--redis-ms", type=float, help="Redis ms/call, no workers")
    parser.add_argument("--worker-ms", type=float, help="an IVR worker's ms per call it runs")
    parser.add_argument("--rest-ms", type=float, help="controller ms/call with IVR workers")
    parser.add_argument("--worker-redis-ms", type=float, help="Redis ms/call with IVR workers")
    parser.add_argument("--worker-crm-ms", type=float, help="CRM bridge ms/call with workers")
    parser.add_argument("--cores", default="8,16", help="bigger boxes, comma-separated")
    parser.add_argument("--utilisation", type=float, default=0.7)
    args = parser.parse_args(argv)
    for name, value in MEASURED.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def capacity(
    workers: int, cores: int, c_ast: float, c_ctl: float, c_crm: float, u: float
) -> tuple[float, float, float]:
    """Without IVR workers: (controller limit, bridge limit, box limit) in calls/s (each
    process's ms per call; ``workers`` only multiplies the controller's line, as several
    identical processes would)."""
    return (
        workers * u * 1000 / c_ctl,
        u * 1000 / c_crm if c_crm > 0 else float("inf"),
        u * cores * 1000 / (c_ast + c_ctl + c_crm),
    )


def limits(workers: int, cores: int, a: argparse.Namespace) -> dict[str, float]:
    """Each limit in calls/s for ``workers`` IVR workers (0: the controller alone)."""
    u = a.utilisation
    if workers == 0:
        line311 = a.controller_ms + a.crm_ms + a.redis_ms
        return {
            "workers": float("inf"),
            "controller": u * 1000 / a.controller_ms,
            "bridge": u * 1000 / a.crm_ms,
            "box": u * cores * 1000 / (a.asterisk_ms + line311),
        }
    line311 = a.worker_ms + a.rest_ms + a.worker_crm_ms + a.worker_redis_ms
    return {
        "workers": workers * u * 1000 / a.worker_ms,
        "controller": u * 1000 / a.rest_ms,
        "bridge": u * 1000 / a.worker_crm_ms,
        "box": u * cores * 1000 / (a.asterisk_ms + line311),
    }


def _cell(value: float) -> str:
    return "–" if value == float("inf") else f"{value:.0f}"


def run(argv: list[str] | None = None) -> str:
    argv = argv or []
    a = _parse(argv)
    rows = [
        "| IVR workers | cores | workers limit | controller limit | bridge limit | box limit "
        "| capacity calls/s | what limits it |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cores in sorted({2, *(int(c) for c in a.cores.split(","))}):
        for w in WORKERS:
            lim = limits(w, cores, a)
            least = min(lim, key=lambda k: lim[k])
            rows.append(
                f"| {w} | {cores} | {_cell(lim['workers'])} | {_cell(lim['controller'])} | "
                f"{_cell(lim['bridge'])} | {_cell(lim['box'])} | **{lim[least]:.0f}** | "
                f"{least} |"
            )
    return (
        "## Scaling 0 → 1 → 2 → 4 IVR workers, COMPUTED (issue 13, point 4)\n\n"
        "Not a measurement: a model fed with CPU ms per call measured by `python -m bench "
        'capacity` (section "Capacity with IVR workers"). Without workers: Asterisk '
        f"{a.asterisk_ms:g}, controller {a.controller_ms:g}, CRM bridge {a.crm_ms:g}, Redis "
        f"{a.redis_ms:g} ms per call. With workers: each worker {a.worker_ms:g} ms per call it "
        f"runs, controller {a.rest_ms:g}, bridge {a.worker_crm_ms:g}, Redis "
        f"{a.worker_redis_ms:g} ms per call. Utilisation u = {a.utilisation:g}:\n\n"
        "    W = 0   controller limit = u × 1000 / c_controller      (one process: every call)\n"
        "    W ≥ 1   workers limit    = W × u × 1000 / c_worker      (a core per worker at most)\n"
        "            controller limit = u × 1000 / c_controller_left (the queues, the wallboard)\n"
        "    both    bridge limit     = u × 1000 / c_crm\n"
        "            box limit        = u × cores × 1000 / (c_asterisk + all of line311's)\n"
        "    capacity = min(limits)\n\n"
        + "\n".join(rows)
        + "\n\nOn 2 cores the box is the limit whatever the number of workers, and workers cost "
        "more CPU per call in all (every worker hears every broadcast; claims, hand-offs and the "
        "wallboard's facts go through Redis): keep `ivr_workers = 0` there. Once cores "
        "outnumber what Asterisk needs, the single controller process is the limit without "
        "workers, and with them the IVR's share of each call spreads over W processes. The "
        "controller stays one process for the queues: queued calls' queue work (not in these "
        "IVR-only costs) is its next limit, then the one CRM bridge.\n\n"
        f"Command: `{shlex.join(['python', '-m', 'bench', 'scaling', *argv])}`"
    )
