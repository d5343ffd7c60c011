"""Capacity: the product's opening vs the same audio in pure dialplan, side by side (issue 13).

For each rate, one step of SIPp callers (hanging up after 12 s, no RTP) against the dialplan
twin (``3119``, Asterisk alone) and one against the product (``311``, Stasis -> line311), on
the same Asterisk in one run. Per step: calls ok/failed, INVITE -> 200 p50/p99 (SIPp's
response-time trace), Stasis entry -> first PlaybackStarted p50/p99 (an ARI observer with
subscribeAll, product only), CPU ms per call of Asterisk and of every line311 process
(``/proc/<pid>/stat`` before/after the step) and the ratios. A rate is *clean* with 0 failed
calls and INVITE -> 200 p99 < 200 ms.

    python -m bench capacity                       # own stack on free ports, 5..40 calls/s
    python -m bench capacity --rates 5,10 --seconds 20
    python -m bench capacity --sip-port 5060 --pid asterisk=PID --pid controller=PID ...

Without ``--sip-port`` it starts its own Asterisk + CRM bridge + controller (bench._stack).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from bench._profile import Profiler, summarise
from bench._stack import TimedObserver, bench_stack
from bench.ari_latency import _latencies
from tests.e2e.capacity import (
    PRODUCT_NUMBER,
    TWIN_NUMBER,
    StepResult,
    loadavg,
    quantile,
    run_step,
)

RATES = (5.0, 10.0, 20.0, 30.0, 40.0)
SECONDS = 30.0
HOLD_MS = 12_000


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench capacity")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES), help="calls/s")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="length of each step")
    parser.add_argument("--hold-ms", type=int, default=HOLD_MS, help="callers hang up after")
    parser.add_argument("--sip-port", type=int, help="a running stack's SIP port (else own)")
    parser.add_argument("--pid", action="append", default=[], help="NAME=PID to watch")
    parser.add_argument("--ari", nargs=3, metavar=("URL", "USER", "PASSWORD"))
    parser.add_argument("--profile", action="store_true", help="py-spy the controller (product)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for line311")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="LABEL:NAME=VALUE,... a stack per variant (levers side by side in one run)",
    )
    return parser.parse_args(argv)


def _steps(
    args: argparse.Namespace,
    workdir: Path,
    sip_port: int,
    processes: dict[str, int],
    observe: tuple[str, str, str] | None,
) -> list[StepResult]:
    results: list[StepResult] = []
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    for rate in rates:
        for target, number in (("twin", TWIN_NUMBER), ("product", PRODUCT_NUMBER)):
            obs = TimedObserver(*observe) if observe and target == "product" else None
            spy = None
            if args.profile and target == "product" and "controller" in processes:
                out = workdir / f"profile-{rate:g}.txt"
                spy = Profiler(processes["controller"], args.seconds + args.hold_ms / 1000, out)
            try:
                step = run_step(
                    workdir / f"{target}-{rate:g}",
                    target=target,
                    number=number,
                    sip_port=sip_port,
                    rate=rate,
                    seconds=args.seconds,
                    hold_ms=args.hold_ms,
                    processes=processes,
                )
                if obs is not None:
                    step.stasis_ms = list(_latencies(obs).values())
                if spy is not None:
                    step.profile = summarise(spy.wait())
            finally:
                if obs is not None:
                    obs.close()
            results.append(step)
    return results


def _fmt(value: float) -> str:
    return "–" if value != value else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _table(results: list[StepResult]) -> str:
    names = [n for n in results[0].cpu if n != "asterisk"]
    head = (
        "| calls/s | target | ok / failed | INVITE→200 p50 / p99 ms | Stasis→prompt p50 / p99 ms"
        " | Asterisk CPU ms/call | "
        + " | ".join(f"{n} CPU ms/call" for n in names)
        + " | line311 / Asterisk CPU | load (1 min) |"
    )
    rows = [head, "|" + "---|" * (8 + len(names))]
    for r in results:
        line311 = sum(r.cpu[n] for n in names)
        ratio = line311 / r.cpu["asterisk"] if r.cpu["asterisk"] > 0 else float("nan")
        rows.append(
            f"| {r.rate:g} | {r.target} | {r.ok} / {r.failed} | "
            f"{_fmt(quantile(r.invite_ms, 0.5))} / {_fmt(quantile(r.invite_ms, 0.99))} | "
            f"{_fmt(quantile(r.stasis_ms, 0.5))} / {_fmt(quantile(r.stasis_ms, 0.99))} | "
            f"{r.cpu_per_call_ms('asterisk'):.1f} | "
            + " | ".join(f"{r.cpu_per_call_ms(n):.1f}" for n in names)
            + f" | {ratio:.2f} | {r.load[0]:.2f} |"
        )
    return "\n".join(rows)


def _summary(results: list[StepResult]) -> str:
    def clean_rate(target: str) -> float:
        return max((r.rate for r in results if r.target == target and r.clean), default=0.0)

    product, twin = clean_rate("product"), clean_rate("twin")
    names = [n for n in results[0].cpu if n != "asterisk"]
    lowest = min(r.rate for r in results)
    pair = {r.target: r for r in results if r.rate == lowest}
    line311 = sum(pair["product"].cpu_per_call_ms(n) for n in names)
    net = line311 - sum(pair["twin"].cpu_per_call_ms(n) for n in names)
    ratio = f"{product / twin:.2f}" if twin else "– (the twin was never clean)"
    return (
        f"- highest clean rate (0 failed, INVITE→200 p99 < 200 ms): product {product:g} "
        f"calls/s, twin {twin:g} calls/s; **product / twin = {ratio}** (goal ≥ 0.8; "
        "capped by the highest rate run)\n"
        f"- at {lowest:g} calls/s: line311 CPU {line311:.1f} ms/call vs Asterisk "
        f"{pair['product'].cpu_per_call_ms('asterisk'):.1f} ms/call with the product "
        f"(**{line311 / max(1e-9, pair['product'].cpu_per_call_ms('asterisk')):.2f}×**, "
        f"goal ≤ 0.3×) and {pair['twin'].cpu_per_call_ms('asterisk'):.1f} ms/call for the "
        f"twin (**{line311 / max(1e-9, pair['twin'].cpu_per_call_ms('asterisk')):.2f}×** "
        "the twin's Asterisk: what `tests/e2e/test_cpu_ratio.py` guards)\n"
        f"- line311 net of its idle cost (its CPU during the twin step, which sends it no "
        f"call, subtracted): {net:.1f} ms/call at {lowest:g} calls/s, "
        f"**{net / max(1e-9, pair['product'].cpu_per_call_ms('asterisk')):.2f}×** Asterisk's"
    )


def _variants(specs: list[str]) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for spec in specs:
        label, _, pairs = spec.partition(":")
        out.append((label, dict(p.split("=", 1) for p in pairs.split(",") if p)))
    return out or [("", {})]


def _own_stack(args: argparse.Namespace, env: dict[str, str]) -> list[StepResult]:
    rtp_ports = max(200, int(max(float(r) for r in args.rates.split(",")) * 34))
    with bench_stack(env, rtp_ports=rtp_ports) as lab:
        processes = lab.processes()
        s = lab.settings
        observe = (s.ari_url, s.ari_user, s.ari_password.get_secret_value())
        return _steps(args, lab.workdir / "capacity", s.sip_port, processes, observe)


def _section(label: str, results: list[StepResult], specs: list[str]) -> str:
    spec = next((v for v in specs if v.partition(":")[0] == label), "")
    head = f"### Variant `{label}`: `{spec.partition(':')[2] or 'shipped settings'}`\n\n"
    return (
        (head if label else "")
        + _table(results)
        + "\n\n"
        + _summary(results)
        + "".join(
            f"\n\n#### Controller profile{' (' + label + ')' if label else ''}, product at "
            f"{r.rate:g} calls/s (py-spy)\n\n{r.profile}"
            for r in results
            if r.profile
        )
        + "\n\n"
    )


def run(argv: list[str] | None = None) -> str:
    args = _parse(argv or [])
    command = "python -m bench capacity" + ("" if not argv else " " + shlex.join(argv))
    before = loadavg()
    variants: dict[str, list[StepResult]] = {}
    if args.sip_port is not None:
        processes = {k: int(v) for k, v in (p.split("=", 1) for p in args.pid)}
        workdir = Path("var/bench-capacity")
        variants[""] = _steps(args, workdir, args.sip_port, processes, args.ari)
    else:
        base = dict(e.split("=", 1) for e in args.env)
        for label, extra in _variants(args.variant):
            variants[label] = _own_stack(args, base | extra)
    after = loadavg()
    return (
        "## Capacity: product vs dialplan twin (issue 13)\n\n"
        f"SIPp callers at fixed rates, {args.seconds:g} s per step, each hanging up after "
        f"{args.hold_ms / 1000:g} s (no RTP sent); the twin (`{TWIN_NUMBER}`, pure dialplan: "
        "answer, greeting, language menu, main menu) then the product (`311`) at each rate, "
        "on the same Asterisk 22 (sid chroot), `line311 serve` and `line311 crm-bridge` as "
        "subprocesses (log level WARNING). CPU = utime + stime from `/proc/<pid>/stat` "
        "across the step, divided by the calls made; Stasis→prompt = channel enters Stasis "
        "→ greeting PlaybackStarted at an independent ARI observer. SIPp's clock moves in "
        "ticks of a few ms (0 = within one). Load: the 1-minute load average at the end of "
        "each step, on a machine other work may share. The twin makes no call record, the "
        "product does (CRM bridge).\n\n"
        + "".join(_section(label, results, args.variant) for label, results in variants.items())
        + f"\n\n_Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in before)}; "
        f"after: {' '.join(f'{x:.2f}' for x in after)} (2 cores shared by SIPp, Asterisk, "
        "line311 and whatever else ran)._\n\n"
        f"Command: `{command}`"
    )
