"""Memory per concurrent call (issue 13, point 5): RSS of Asterisk and every line311 process.

SIPp callers (no RTP) ramp to ``--calls`` concurrent product calls (``311``), each held
until all are up; RSS (``VmRSS`` of each process and its descendants) and Asterisk's channel
count are sampled every second. Reported: RSS idle, at the peak of concurrent channels, the
difference scaled to 1,000 concurrent calls, and after everyone hung up.

    python -m bench memory                      # 1,000 calls at 25 calls/s
    python -m bench memory --calls 400 --rate 20
"""

from __future__ import annotations

import argparse
import shlex
import time

from bench._load import Sample, SippRun, processes
from bench._stack import bench_stack
from tests.e2e.capacity import PRODUCT_NUMBER


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench memory")
    parser.add_argument("--calls", type=int, default=1000, help="concurrent calls wanted")
    parser.add_argument("--rate", type=float, default=25.0, help="calls/s while ramping")
    parser.add_argument("--hold-s", type=float, default=20.0, help="held after the last call")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> str:
    args = _parse(argv or [])
    command = "python -m bench memory" + ("" if not argv else " " + shlex.join(argv))
    ramp = args.calls / args.rate
    hold_ms = int((ramp + args.hold_s) * 1000)
    with bench_stack(rtp_ports=2 * args.calls + 200) as lab:
        pids = processes(lab)
        time.sleep(3.0)  # the stack's start-up settles before the idle sample
        sipp = SippRun(
            lab, lab.workdir / "memory", number=PRODUCT_NUMBER, rate=args.rate, seconds=ramp,
            hold_ms=hold_ms,
        )  # fmt: skip
        idle = sipp.sample(pids)
        samples: list[Sample] = []
        while sipp.running and (not samples or samples[-1].at < ramp + args.hold_s):
            samples.append(sipp.sample(pids))
            time.sleep(1.0)
        ok, failed = sipp.wait(timeout=ramp + args.hold_s + 120)
        time.sleep(5.0)  # channels destroyed, records written
        after = sipp.sample(pids)
        sipp.close()
    peak = max(samples, key=lambda s: (s.channels, s.at))
    names = list(pids)
    scale = 1000 / max(1, peak.channels)
    rows = [
        "| process | RSS idle MiB | RSS at peak MiB | growth per 1,000 concurrent calls MiB "
        "| KiB per call | RSS after hang-up MiB |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        growth = peak.rss[name] - idle.rss[name]
        rows.append(
            f"| {name} | {idle.rss[name]:.0f} | {peak.rss[name]:.0f} | {growth * scale:.0f} "
            f"| {1024 * growth / max(1, peak.channels):.0f} | {after.rss[name]:.0f} |"
        )
    total = sum(peak.rss[n] - idle.rss[n] for n in names if n != "asterisk")
    return (
        "## Memory per concurrent call (issue 13, point 5)\n\n"
        f"{sipp.calls} SIPp calls to the product (`{PRODUCT_NUMBER}`, no RTP) at "
        f"{args.rate:g} calls/s, each held {hold_ms / 1000:g} s so they are all up at once; "
        f"peak {peak.channels} concurrent channels at {peak.at:.0f} s (Asterisk's "
        "`GET /channels`); calls ok / failed "
        f"{ok} / {failed}. RSS = `VmRSS` of the process and its descendants.\n\n"
        + "\n".join(rows)
        + f"\n\nAll line311 processes together: **{total * scale:.0f} MiB per 1,000 concurrent "
        f"calls**; Asterisk {(peak.rss['asterisk'] - idle.rss['asterisk']) * scale:.0f} MiB.\n\n"
        f"Command: `{command}`"
    )
