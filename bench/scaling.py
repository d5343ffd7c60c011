"""Scaling curve on paper (issue 13, point 4): calls/s for 1 -> 2 -> 4 controller workers.

COMPUTED, not measured: from CPU ms per call measured by ``python -m bench capacity`` on the
reference machine (Asterisk, controller, CRM bridge), for a box with ``--cores`` cores:

    workers  W * u * 1000 / c_ctl           (each worker is one Python thread: one core at most)
    bridge   u * 1000 / c_crm               (one CRM bridge process)
    box      u * cores * 1000 / (c_ast + c_ctl + c_crm)   (every core shared by everyone)
    capacity = min(workers, bridge, box)

``u`` is the utilisation kept for latency headroom (0.7: an event loop at 70 % still answers
in milliseconds). Asterisk is multi-threaded and limited only by the box row.

    python -m bench scaling            # the costs measured on the reference machine (MEASURED)
    python -m bench scaling --asterisk-ms 25.9 --controller-ms 7.3 --crm-ms 3.1 \
        --measured-clean 40 --cores 8,16
"""

from __future__ import annotations

import argparse
import shlex

WORKERS = (1, 2, 4)
MEASURED = {"asterisk_ms": 25.9, "controller_ms": 7.3, "crm_ms": 3.1, "measured_clean": 40.0}
"""Defaults: the shipped stack at 20 calls/s in docs/benchmarks.md "Capacity" (2026-12-04);
the clean rate is a lower bound (the highest rate run)."""


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench scaling")
    parser.add_argument("--asterisk-ms", type=float, help="Asterisk CPU ms/call")
    parser.add_argument("--controller-ms", type=float, help="controller CPU ms/call")
    parser.add_argument("--crm-ms", type=float, help="CRM bridge CPU ms/call")
    parser.add_argument("--cores", default="8,16", help="bigger boxes, comma-separated")
    parser.add_argument(
        "--measured-clean", type=float, help="clean calls/s measured here (1 worker, 2 cores)"
    )
    parser.add_argument("--utilisation", type=float, default=0.7)
    args = parser.parse_args(argv)
    for name, value in MEASURED.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def capacity(
    workers: int, cores: int, c_ast: float, c_ctl: float, c_crm: float, u: float
) -> tuple[float, float, float]:
    """(workers limit, bridge limit, box limit) in calls/s; the capacity is their minimum."""
    return (
        workers * u * 1000 / c_ctl,
        u * 1000 / c_crm if c_crm > 0 else float("inf"),
        u * cores * 1000 / (c_ast + c_ctl + c_crm),
    )


def run(argv: list[str] | None = None) -> str:
    argv = argv or []
    a = _parse(argv)
    costs = (a.asterisk_ms, a.controller_ms, a.crm_ms, a.utilisation)
    here = min(capacity(1, 2, *costs))
    k = a.measured_clean / here if a.measured_clean else 1.0
    rows = [
        "| workers | cores | workers limit | bridge limit | box limit | capacity calls/s "
        "| × k (calibrated) |",
        "|---|---|---|---|---|---|---|",
    ]
    for cores in sorted({2, *(int(c) for c in a.cores.split(","))}):
        for w in WORKERS:
            lim = capacity(w, cores, *costs)
            rows.append(
                f"| {w} | {cores} | {lim[0]:.0f} | {lim[1]:.0f} | {lim[2]:.0f} | "
                f"**{min(lim):.0f}** | {k * min(lim):.0f} |"
            )
    calibration = (
        f"k = {k:.2f}: the clean rate measured here ({a.measured_clean:g} calls/s, 1 worker, "
        f"2 cores, p99 < 200 ms, SIPp on the same box; a lower bound, the highest rate run) over "
        f"the model's {here:.0f}; the last column assumes the same ratio on every box."
        if a.measured_clean
        else "k = 1 (no measured clean rate given)."
    )
    return (
        "## Scaling 1 → 2 → 4 controller workers, COMPUTED (issue 13, point 4)\n\n"
        "Not a measurement: a model fed with CPU ms per call measured by `python -m bench "
        f"capacity` (Asterisk {a.asterisk_ms:g}, controller {a.controller_ms:g}, CRM bridge "
        f"{a.crm_ms:g} ms per call), utilisation u = {a.utilisation:g}:\n\n"
        "    workers limit = W × u × 1000 / c_controller   (one Python thread per worker)\n"
        "    bridge limit  = u × 1000 / c_crm               (one CRM bridge process)\n"
        "    box limit     = u × cores × 1000 / (c_asterisk + c_controller + c_crm)\n"
        "    capacity      = min(workers, bridge, box)\n\n"
        + "\n".join(rows)
        + "\n\n"
        + calibration
        + "\n\nOn 2 cores the box is the limit whatever the number of workers; extra workers "
        "pay off once cores outnumber what Asterisk and the bridge need. The bridge (one "
        "process) becomes the next single-core limit unless records are batched or it runs "
        "several workers too.\n\n"
        f"Command: `{shlex.join(['python', '-m', 'bench', 'scaling', *argv])}`"
    )
