"""Pure dialplan through the shipped Asterisk configuration at 40 calls/s (issue 13, point 1).

One SIPp step against the dialplan twin of the product's opening (``3119``: answer, greeting,
language menu, main menu; Asterisk alone) at ``--rate`` calls/s for ``--seconds``, each
caller hanging up after 12 s: calls ok/failed, INVITE -> 200 p50/p99, Asterisk's CPU per call.
The goal is 0 failed calls at 40 calls/s for 60 s (no DNS or other blocking lookup per call).

    python -m bench twin_rate
    python -m bench twin_rate --rate 40 --seconds 60
"""

from __future__ import annotations

import argparse
import shlex

from bench._load import processes
from bench._stack import bench_stack
from tests.e2e.capacity import TWIN_NUMBER, loadavg, quantile, run_step

HOLD_MS = 12_000


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench twin_rate")
    parser.add_argument("--rate", type=float, default=40.0, help="calls/s")
    parser.add_argument("--seconds", type=float, default=60.0)
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> str:
    args = _parse(argv or [])
    command = "python -m bench twin_rate" + ("" if not argv else " " + shlex.join(argv))
    before = loadavg()
    with bench_stack(rtp_ports=max(200, int(args.rate * 34))) as lab:
        pid = processes(lab)["asterisk"]
        step = run_step(
            lab.workdir / "twin",
            target="twin",
            number=TWIN_NUMBER,
            sip_port=lab.settings.sip_port,
            rate=args.rate,
            seconds=args.seconds,
            hold_ms=HOLD_MS,
            processes={"asterisk": pid},
        )
    verdict = "**clean**" if step.clean else "**not clean**"
    return (
        f"## Pure dialplan at {args.rate:g} calls/s × {args.seconds:g} s (issue 13, point 1)\n\n"
        f"SIPp callers (no RTP, hanging up after {HOLD_MS / 1000:g} s) to the dialplan twin "
        f"`{TWIN_NUMBER}` through the shipped Asterisk configuration (sid chroot, rendered "
        "templates, the bench's private instance).\n\n"
        "| calls | ok / failed | INVITE→200 p50 / p99 ms | Asterisk CPU ms/call | verdict |\n"
        "|---|---|---|---|---|\n"
        f"| {step.calls} | {step.ok} / {step.failed} | {quantile(step.invite_ms, 0.5):.1f} / "
        f"{quantile(step.invite_ms, 0.99):.1f} | {step.cpu_per_call_ms('asterisk'):.1f} | "
        f"{verdict} (0 failed, p99 < 200 ms) |\n\n"
        f"_Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in before)}; after: "
        f"{' '.join(f'{x:.2f}' for x in step.load)}._\n\n"
        f"Command: `{command}`"
    )
