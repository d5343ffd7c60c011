"""Soak (issue 13, point 5): steady product load, RSS sampled, growth per minute reported.

SIPp callers at ``--rate`` calls/s (default 10, half the product's clean rate on the
reference machine) to the product for ``--minutes``, each hanging up after 12 s. RSS of
Asterisk and every line311 process is sampled every 10 s; the slope (least squares, MiB per
minute) is taken over the samples after the first quarter (warm-up: caches, pools, the
steady number of live calls). A leak shows as a slope that stays positive run after run.

    python -m bench soak --minutes 30
    python -m bench soak --minutes 4 --rate 10
    python -m bench soak --minutes 30 --rate 25 --env LINE311_LIVE_STATE=redis   # as shipped

``--env NAME=VALUE`` sets line311's settings for the stack (with ``LINE311_LIVE_STATE=redis``
the bench's own redis-server is started and sampled too).
"""

from __future__ import annotations

import argparse
import shlex
import time

from bench._load import Sample, SippRun, processes
from bench._stack import bench_stack
from tests.e2e.capacity import PRODUCT_NUMBER

HOLD_MS = 12_000


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0, help="calls/s")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for line311")
    return parser.parse_args(argv)


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MiB) points, in MiB per minute (0 for < 2 points)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return 60 * sum((x - mx) * (y - my) for x, y in points) / var


def run(argv: list[str] | None = None) -> str:
    args = _parse(argv or [])
    command = "python -m bench soak" + ("" if not argv else " " + shlex.join(argv))
    seconds = args.minutes * 60
    env = dict(e.split("=", 1) for e in args.env)
    with bench_stack(env, rtp_ports=max(200, int(args.rate * 34))) as lab:
        pids = processes(lab)
        sipp = SippRun(
            lab, lab.workdir / "soak", number=PRODUCT_NUMBER, rate=args.rate, seconds=seconds,
            hold_ms=HOLD_MS,
        )  # fmt: skip
        samples: list[Sample] = [sipp.sample(pids)]
        while sipp.running and samples[-1].at < seconds:
            time.sleep(args.every)
            samples.append(sipp.sample(pids))
        ok, failed = sipp.wait(timeout=HOLD_MS / 1000 + 120)
        sipp.close()
    steady = [s for s in samples if s.at >= seconds / 4]
    rows = [
        "| process | RSS start MiB | RSS after warm-up MiB | RSS end MiB | slope after warm-up "
        "MiB/min |",
        "|---|---|---|---|---|",
    ]
    for name in pids:
        slope = slope_per_minute([(s.at, s.rss[name]) for s in steady])
        rows.append(
            f"| {name} | {samples[0].rss[name]:.0f} | {steady[0].rss[name]:.0f} | "
            f"{samples[-1].rss[name]:.0f} | {slope:+.2f} |"
        )
    live = sorted(s.channels for s in steady)
    return (
        f"## Soak: {args.minutes:g} min at {args.rate:g} calls/s (issue 13, point 5)\n\n"
        f"SIPp callers to the product (`{PRODUCT_NUMBER}`, no RTP), each hanging up after "
        f"{HOLD_MS / 1000:g} s; {sipp.calls} calls, ok / failed {ok} / {failed}; "
        f"{len(samples)} samples every {args.every:g} s, live channels after warm-up "
        f"{live[0] if live else 0}–{live[-1] if live else 0}. Slope: least squares over the "
        "samples after the first quarter.\n\n" + "\n".join(rows) + f"\n\nCommand: `{command}`"
    )
