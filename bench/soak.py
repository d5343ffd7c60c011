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

``--queued``: the callers go straight to one queue (``python -m bench queue_cost``'s flow,
queue and roster) and ``--agents`` SIPp CCR phones answer them, each call held until its CCR
hangs up; the queue_log's counts and the logs' lines at WARNING or above are reported too.

    python -m bench soak --minutes 30 --rate 5 --queued --env LINE311_LIVE_STATE=redis \
        --env LINE311_IVR_WORKERS=2 --env LINE311_QUEUE_LEGS=workers
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import queue_cost
from bench._load import Sample, SippRun, processes
from bench._stack import BenchStack, bench_stack
from tests.e2e.capacity import PRODUCT_NUMBER

HOLD_MS = 12_000
QUEUED_HOLD_MS = 120_000
"""With ``--queued``: the callers' own hang-up, a ceiling (each CCR ends its call long before)."""


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=10.0, help="calls/s")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for line311")
    parser.add_argument(
        "--queued", action="store_true", help="callers go to one queue, SIPp CCRs answer"
    )
    parser.add_argument("--agents", type=int, default=30, help="CCR phones (--queued)")
    parser.add_argument("--answer-ms", type=int, default=queue_cost.ANSWER_MS)
    parser.add_argument("--talk-ms", type=int, default=queue_cost.TALK_MS)
    parser.add_argument("--wrapup", type=float, default=queue_cost.WRAPUP_S)
    args = parser.parse_args(argv)
    busy = queue_cost.busy_agents(args.rate, args.answer_ms, args.talk_ms, args.wrapup)
    if args.queued and busy > 0.9 * args.agents:
        parser.error(f"--rate {args.rate:g} keeps about {busy:.0f} CCRs busy: add --agents")
    return args


@contextlib.contextmanager
def _queued(args: argparse.Namespace, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``env`` with queue_cost's flow, queue and roster (files kept while the stack runs)."""
    with tempfile.TemporaryDirectory(prefix="line311-soak-") as tmp:
        files = Path(tmp)
        (files / "flow.yaml").write_text(queue_cost.STRAIGHT_TO_QUEUE)
        (files / "queues.yaml").write_text(queue_cost.QUEUES.format(wrapup=args.wrapup))
        (files / "agents.yaml").write_text(
            "agents:\n"
            + "".join(queue_cost.ROSTER_AGENT.format(n=n) for n in range(1, args.agents + 1))
        )
        yield env | {
            "LINE311_FLOW_FILE": str(files / "flow.yaml"),
            "LINE311_QUEUES_FILE": str(files / "queues.yaml"),
            "LINE311_AGENTS_FILE": str(files / "agents.yaml"),
            "LINE311_QUEUE_RING_TIMEOUT": "4",
            "LINE311_QUEUE_PERIODIC_INTERVAL": "0",
        }


def _queue_counts(lab: BenchStack) -> dict[str, int]:
    """queue_log lines by event."""
    counts: dict[str, int] = {}
    for record in queue_cost._queue_log(lab.workdir / "state" / "queue_log"):
        counts[record.event] = counts.get(record.event, 0) + 1
    return counts


def _log_lines(lab: BenchStack) -> list[str]:
    """Per line311 process with lines at WARNING or above: how many, and the first few."""
    logs = {"controller": lab.stack.controller.output(), "crm-bridge": lab.stack.crm.output()}
    logs |= {w.name: w.output() for w in lab.workers}
    out = []
    for name, text in logs.items():
        count, sample = queue_cost.log_findings(text)
        if count:
            out.append(f"{name}: {count} line(s), e.g. " + " / ".join(f"`{m}`" for m in sample))
    return out


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
    hold_ms = QUEUED_HOLD_MS if args.queued else HOLD_MS
    queued: dict[str, int] = {}
    findings: list[str] = []
    with contextlib.ExitStack() as stack:
        if args.queued:
            env = stack.enter_context(_queued(args, env))
        lab = stack.enter_context(
            # two legs (caller and CCR) per queued call, with room to spare
            bench_stack(
                env,
                rtp_ports=max(200, int(args.rate * (50 if args.queued else 34))),
                agent_count=args.agents,
            )
        )
        pids = processes(lab)
        if args.queued:
            calls = max(1, round(args.rate * seconds))
            stack.enter_context(queue_cost.agents_in(lab, args, calls=calls + 10))
        sipp = SippRun(
            lab, lab.workdir / "soak", number="311" if args.queued else PRODUCT_NUMBER,
            rate=args.rate, seconds=seconds, hold_ms=hold_ms,
        )  # fmt: skip
        samples: list[Sample] = [sipp.sample(pids)]
        while sipp.running and samples[-1].at < seconds:
            time.sleep(args.every)
            samples.append(sipp.sample(pids))
        ok, failed = sipp.wait(timeout=hold_ms / 1000 + 120)
        sipp.close()
        if args.queued:
            queued = _queue_counts(lab)
        findings = _log_lines(lab)
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
    if args.queued:
        callers = (
            f"SIPp callers (`311`, no RTP) straight to one queue, answered by {args.agents} SIPp "
            f"CCRs (answer after {args.answer_ms} ms, hang up after {args.talk_ms / 1000:g} s, "
            f"wrap-up {args.wrapup:g} s); queue_log: "
            + ", ".join(f"{e} {queued.get(e, 0)}" for e in ("ENTERQUEUE", "CONNECT", "ABANDON"))
            + "; "
        )
    else:
        callers = (
            f"SIPp callers to the product (`{PRODUCT_NUMBER}`, no RTP), each hanging up after "
            f"{HOLD_MS / 1000:g} s; "
        )
    settings = ", ".join(f"`{e}`" for e in args.env) or "shipped settings"
    logs = "; ".join(findings) or "none"
    return (
        f"## Soak: {args.minutes:g} min at {args.rate:g} calls/s (issue 13, point 5)\n\n"
        + callers
        + f"{sipp.calls} calls, ok / failed {ok} / {failed}; "
        f"{len(samples)} samples every {args.every:g} s, live channels after warm-up "
        f"{live[0] if live else 0}–{live[-1] if live else 0}. Slope: least squares over the "
        f"samples after the first quarter. Settings: {settings}. Lines at WARNING or above: "
        f"{logs}.\n\n" + "\n".join(rows) + f"\n\nCommand: `{command}`"
    )
