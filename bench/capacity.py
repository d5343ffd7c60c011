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
    python -m bench capacity --asterisks 2         # Kamailio in front of 2 Asterisks (issue 14)
    python -m bench capacity --asterisks 1,2       # both, same rates, one after the other

Without ``--sip-port`` it starts its own Asterisk + CRM bridge + controller (bench._stack).

``--asterisks 2`` runs the same ramp through Kamailio (the stack's SIP address) over two
Asterisks and one controller driving both (``line311 run --asterisks 2``), and adds per step
the calls each Asterisk counted (``calls processed``), each Asterisk's CPU per call *it*
handled, and Kamailio's CPU per call (all its processes). With a 2-Asterisk run, a last part
puts the per-box costs side by side (with 1 Asterisk too, when run) and computes, on paper,
the capacity of N boxes from them (`paper_capacity`) and the boxes NYC's record peak needs
(`record_day_boxes`).
"""

from __future__ import annotations

import argparse
import math
import shlex
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench._profile import Profiler, summarise
from bench._stack import TimedObserver, bench_stack, parse_variants
from bench._traffic import per_call, stack_traffic, tables
from bench._viewers import viewers
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
UTILISATION = 0.7
"""Share of a core kept busy on paper (latency headroom), as in ``bench/scaling.py``."""
SETTLE_S = 2.0
"""`run_step`'s pause after SIPp ends, inside the CPU window."""
TRAFFIC: dict[str, dict[str, dict[str, float]]] = {}
"""Per stack (its variant label): each process's ARI messages and Redis's commands per
product call, over all the stack's steps (`bench._traffic`)."""
RECORD_PEAK_CONCURRENT = 2_700
"""Concurrent calls at NYC 311's record peak (2011-01-27, 276,827 calls that day)."""


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
    parser.add_argument(
        "--asterisks",
        default="1",
        help="Asterisks per stack: 1, 2 (behind Kamailio) or 1,2 (a stack of each, in turn)",
    )
    parser.add_argument(
        "--cores", default="2,8", help="cores per box for the paper capacity (with 2 Asterisks)"
    )
    parser.add_argument(
        "--viewers", type=int, default=0, help="open wallboard live feeds during every step"
    )
    args = parser.parse_args(argv)
    args.fleet = [int(n) for n in str(args.asterisks).split(",") if n.strip()]
    if not args.fleet or any(n not in (1, 2) for n in args.fleet):
        parser.error("--asterisks takes 1, 2 or 1,2")
    if args.sip_port is not None and args.fleet != [1]:
        parser.error("--asterisks needs the bench's own stack (no --sip-port)")
    return args


def _steps(
    args: argparse.Namespace,
    workdir: Path,
    sip_port: int,
    processes: dict[str, int],
    observe: list[tuple[str, str, str]],
    processed: Callable[[], dict[str, int]] | None = None,
) -> list[StepResult]:
    """Twin then product at each rate. ``observe``: the ARI of every Asterisk (Stasis ->
    prompt); ``processed``: each Asterisk's ``calls processed`` counter, read around a step."""
    results: list[StepResult] = []
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    for rate in rates:
        for target, number in (("twin", TWIN_NUMBER), ("product", PRODUCT_NUMBER)):
            observers = [TimedObserver(*ari) for ari in observe] if target == "product" else []
            counted = processed() if processed is not None else {}
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
                step.stasis_ms = [ms for obs in observers for ms in _latencies(obs).values()]
                if processed is not None:
                    after = processed()
                    step.served = {name: after[name] - counted[name] for name in counted}
                if spy is not None:
                    step.profile = summarise(spy.wait())
            finally:
                for obs in observers:
                    obs.close()
            results.append(step)
    return results


def _fmt(value: float) -> str:
    return "–" if value != value else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def asterisk_names(step: StepResult) -> list[str]:
    """The watched Asterisks of a step: ``asterisk``, or ``asterisk-1``..``asterisk-N``."""
    return [n for n in step.cpu if n == "asterisk" or n.startswith("asterisk-")]


def line311_names(step: StepResult) -> list[str]:
    """line311's own processes among the watched ones (neither Asterisk nor Kamailio)."""
    return [n for n in step.cpu if n not in asterisk_names(step) and n != "kamailio"]


def asterisk_ms(step: StepResult) -> float:
    """CPU ms of all the Asterisks together per call made."""
    return 1000 * sum(step.cpu[n] for n in asterisk_names(step)) / max(1, step.calls)


def own_call_ms(step: StepResult, name: str) -> float:
    """CPU ms of Asterisk ``name`` per call *it* handled (its ``calls processed`` during the
    step; with one Asterisk and no count, per call made). NaN when it handled none."""
    served = step.served.get(name)
    if served is None:
        return step.cpu_per_call_ms(name) if len(asterisk_names(step)) == 1 else float("nan")
    return 1000 * step.cpu[name] / served if served > 0 else float("nan")


def per_box_ms(step: StepResult) -> float:
    """CPU ms per call of one Asterisk box: all the Asterisks' CPU over the calls they
    counted (the calls made, without counts)."""
    counted = sum(step.served.get(n, 0) for n in asterisk_names(step))
    total = sum(step.cpu[n] for n in asterisk_names(step))
    return 1000 * total / counted if counted > 0 else asterisk_ms(step)


def per_box_pooled(results: list[StepResult]) -> float:
    """CPU ms per call of one Asterisk box over all the product steps of a stack together."""
    product = [r for r in results if r.target == "product"]
    cpu = sum(r.cpu[n] for r in product for n in asterisk_names(r))
    counted = sum(r.served.get(n, 0) for r in product for n in asterisk_names(r))
    calls = counted if counted > 0 else sum(r.calls for r in product)
    return 1000 * cpu / calls if calls > 0 else float("nan")


def split(step: StepResult) -> str:
    """How the step's calls landed on the Asterisks: ``38 / 37``."""
    return " / ".join(str(step.served.get(n, "?")) for n in asterisk_names(step))


def _table(results: list[StepResult]) -> str:
    if len(asterisk_names(results[0])) > 1:
        return _fleet_table(results)
    names = line311_names(results[0])
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


def _fleet_table(results: list[StepResult]) -> str:
    servers, names = asterisk_names(results[0]), line311_names(results[0])
    edge = ["kamailio"] if "kamailio" in results[0].cpu else []
    head = (
        "| calls/s | target | ok / failed | INVITE→200 p50 / p99 ms | Stasis→prompt p50 / p99 ms"
        f" | calls on {' / '.join(servers)} | "
        + " | ".join(f"{n} CPU ms per own call" for n in servers)
        + " | all Asterisks CPU ms/call | "
        + " | ".join(f"{n} CPU ms/call" for n in edge + names)
        + " | line311 / Asterisk CPU | load (1 min) |"
    )
    rows = [head, "|" + "---|" * (9 + len(servers) + len(edge) + len(names))]
    for r in results:
        line311 = sum(r.cpu[n] for n in names)
        media = sum(r.cpu[n] for n in servers)
        ratio = line311 / media if media > 0 else float("nan")
        rows.append(
            f"| {r.rate:g} | {r.target} | {r.ok} / {r.failed} | "
            f"{_fmt(quantile(r.invite_ms, 0.5))} / {_fmt(quantile(r.invite_ms, 0.99))} | "
            f"{_fmt(quantile(r.stasis_ms, 0.5))} / {_fmt(quantile(r.stasis_ms, 0.99))} | "
            f"{split(r)} | "
            + " | ".join(f"{own_call_ms(r, n):.1f}" for n in servers)
            + f" | {asterisk_ms(r):.1f} | "
            + "".join(f"{r.cpu_per_call_ms(n):.2f} | " for n in edge)
            + " | ".join(f"{r.cpu_per_call_ms(n):.1f}" for n in names)
            + f" | {ratio:.2f} | {r.load[0]:.2f} |"
        )
    return "\n".join(rows)


def _summary(results: list[StepResult]) -> str:
    def clean_rate(target: str) -> float:
        return max((r.rate for r in results if r.target == target and r.clean), default=0.0)

    product, twin = clean_rate("product"), clean_rate("twin")
    names = line311_names(results[0])
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
        f"{asterisk_ms(pair['product']):.1f} ms/call with the product "
        f"(**{line311 / max(1e-9, asterisk_ms(pair['product'])):.2f}×**, "
        f"goal ≤ 0.3×) and {asterisk_ms(pair['twin']):.1f} ms/call for the "
        f"twin (**{line311 / max(1e-9, asterisk_ms(pair['twin'])):.2f}×** "
        "the twin's Asterisk)\n"
        f"- line311 net of its idle cost (its CPU during the twin step, which sends it no "
        f"call, subtracted): {net:.1f} ms/call at {lowest:g} calls/s, "
        f"**{net / max(1e-9, asterisk_ms(pair['product'])):.2f}×** Asterisk's"
    )


# ---------------------------------------------------------------------- on paper (issue 14)
@dataclass(frozen=True, slots=True)
class Cost:
    """CPU of one role: ms per call more (the slope of its CPU over the calls of the steps)
    and ms per second whatever the load (the fit's intercept over the step's length)."""

    per_call: float
    per_second: float = 0.0

    def rate(self, cores: float, u: float) -> float:
        """Calls/s that ``cores`` cores kept at ``u`` carry."""
        budget = u * cores * 1000 - max(0.0, self.per_second)
        return budget / self.per_call if self.per_call > 0 else math.inf


def fit(points: list[tuple[float, float]], seconds: float) -> Cost:
    """Least squares of CPU ms = fixed + per_call × calls over the steps ``(calls, CPU ms)``;
    ``seconds``: the length of a step, to turn the fixed part into ms per second. With one
    number of calls only: CPU over calls, nothing fixed."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    if len(set(xs)) < 2:
        return Cost(sum(ys) / max(1.0, sum(xs)))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return Cost(slope, (my - slope * mx) / seconds)


@dataclass(frozen=True, slots=True)
class Costs:
    """What each role costs, fitted over the product steps of one stack."""

    asterisk: Cost
    """One Asterisk box: per call it handles, and its own fixed share."""
    kamailio: Cost
    controller: Cost
    crm: Cost


def measured_costs(results: list[StepResult], seconds: float) -> Costs:
    """`fit` of every role over the product steps of one stack (``seconds``: step length)."""
    product = [r for r in results if r.target == "product"]
    boxes = len(asterisk_names(product[0]))

    def counted(r: StepResult) -> float:
        served = sum(r.served.get(n, 0) for n in asterisk_names(r))
        return float(served if served > 0 else r.calls)

    def role(name: str) -> Cost:
        return fit([(float(r.calls), 1000 * r.cpu.get(name, 0.0)) for r in product], seconds)

    media = fit(
        [(counted(r), 1000 * sum(r.cpu[n] for n in asterisk_names(r))) for r in product],
        seconds,
    )
    return Costs(
        asterisk=Cost(media.per_call, media.per_second / boxes),
        kamailio=role("kamailio"),
        controller=role("controller"),
        crm=role("crm-bridge"),
    )


@dataclass(frozen=True, slots=True)
class Paper:
    """Calls/s each role allows with ``boxes`` Asterisk boxes of ``cores`` cores; the
    capacity is the smallest."""

    boxes: int
    cores: int
    asterisks: float
    kamailio: float
    controller: float
    crm: float

    @property
    def capacity(self) -> float:
        return min(self.asterisks, self.kamailio, self.controller, self.crm)

    @property
    def limit(self) -> str:
        """The role that sets the capacity."""
        limits = {
            "Asterisks": self.asterisks,
            "Kamailio": self.kamailio,
            "controller": self.controller,
            "CRM bridge": self.crm,
        }
        return min(limits, key=lambda k: limits[k])


def paper_capacity(boxes: int, cores: int, cost: Costs, u: float = UTILISATION) -> Paper:
    """Calls/s of ``boxes`` Asterisks of ``cores`` cores behind one Kamailio box of as many
    cores, with one controller and one CRM bridge (one Python thread each: one core), every
    core kept at ``u`` (a role's fixed ms/s taken off its budget first):

        asterisks  = boxes × (u × cores × 1000 − fixed) / per_call
        kamailio   = (u × cores × 1000 − fixed) / per_call
        controller = (u × 1000 − fixed) / per_call
        crm        = (u × 1000 − fixed) / per_call
    """
    return Paper(
        boxes=boxes,
        cores=cores,
        asterisks=boxes * cost.asterisk.rate(cores, u),
        kamailio=cost.kamailio.rate(cores, u),
        controller=cost.controller.rate(1, u),
        crm=cost.crm.rate(1, u),
    )


def record_day_boxes(
    per_call_ms: float,
    hold_s: float,
    cores: int,
    *,
    concurrent: int = RECORD_PEAK_CONCURRENT,
    u: float = UTILISATION,
) -> tuple[float, int]:
    """(cores busy, Asterisk boxes needed) for ``concurrent`` calls, from the CPU ms per call
    of calls lasting ``hold_s`` (its per-second share: the set-up counted as if spread over
    the call, so an overestimate for longer calls), boxes of ``cores`` kept at ``u``; the
    spare box that absorbs a failed peer's new calls is not included."""
    busy = concurrent * per_call_ms / hold_s / 1000
    return busy, max(1, math.ceil(busy / (cores * u)))


def _ratio(a: float, b: float) -> str:
    ratio = a / b if b > 0 else float("nan")
    return "–" if ratio != ratio else f"{ratio:.2f}"


def _paper(
    runs: dict[tuple[str, int], list[StepResult]], cores: list[int], hold_s: float, step_s: float
) -> str:
    """1 vs 2 Asterisks per box, then the capacity of N boxes on paper (per variant label)."""
    out = []
    for (label, n), fleet in runs.items():
        if n < 2:
            continue
        one = runs.get((label, 1))
        rows = [
            "| calls/s | target | Asterisk CPU ms/call, 1 Asterisk | per own call, "
            + " / ".join(asterisk_names(fleet[0]))
            + " | 2 / 1 | Kamailio ms/call | controller ms/call, 1 / 2 Asterisks |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in fleet:
            twin = next((o for o in one or [] if (o.rate, o.target) == (r.rate, r.target)), None)
            base = per_box_ms(twin) if twin is not None else float("nan")
            rows.append(
                f"| {r.rate:g} | {r.target} | {_fmt(base)} | "
                + " / ".join(f"{own_call_ms(r, s):.1f}" for s in asterisk_names(r))
                + f" | {_ratio(per_box_ms(r), base)} | {r.cpu_per_call_ms('kamailio'):.2f} | "
                + (f"{twin.cpu_per_call_ms('controller'):.1f}" if twin is not None else "–")
                + f" / {r.cpu_per_call_ms('controller'):.1f} |"
            )
        cost = measured_costs(fleet, step_s)
        base_cost = measured_costs(one, step_s) if one else None
        fits = [
            "| role | 1 Asterisk: ms/call | fixed ms/s | 2 Asterisks: ms/call | fixed ms/s "
            "| ms/call 2 / 1 |",
            "|---|---|---|---|---|---|",
        ]
        for role, mine, theirs in (
            ("Asterisk (one box)", cost.asterisk, base_cost.asterisk if base_cost else None),
            ("Kamailio", cost.kamailio, None),  # no Kamailio in front of one Asterisk
            ("controller", cost.controller, base_cost.controller if base_cost else None),
            ("CRM bridge", cost.crm, base_cost.crm if base_cost else None),
        ):
            fits.append(
                f"| {role} | "
                + (f"{theirs.per_call:.1f} | {theirs.per_second:.0f}" if theirs else "– | –")
                + f" | {mine.per_call:.2f} | {mine.per_second:.0f} | "
                + (
                    f"{mine.per_call / theirs.per_call:.2f}"
                    if theirs and theirs.per_call > 0
                    else "–"
                )
                + " |"
            )
        paper = [
            "| Asterisk boxes | cores each | Asterisks limit | Kamailio limit | controller "
            "limit | CRM bridge limit | capacity calls/s | × one box | set by |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in cores:
            single = paper_capacity(1, c, cost).capacity
            for boxes in (1, 2, 4):
                p = paper_capacity(boxes, c, cost)
                paper.append(
                    f"| {boxes} | {c} | {p.asterisks:.0f} | {p.kamailio:.0f} | "
                    f"{p.controller:.0f} | {p.crm:.0f} | **{p.capacity:.0f}** | "
                    f"{p.capacity / single:.2f} | {p.limit} |"
                )
        pooled = (
            "All product steps pooled (Asterisk CPU over the calls counted): "
            f"{per_box_pooled(one):.1f} ms per call with 1 Asterisk, "
            f"{per_box_pooled(fleet):.1f} with 2: "
            f"**{per_box_pooled(fleet) / per_box_pooled(one):.2f}×**.\n\n"
            if one
            else ""
        )
        busy, boxes = record_day_boxes(cost.asterisk.per_call, hold_s, max(cores))
        head = f"### Per box, 1 vs 2 Asterisks{f' (variant `{label}`)' if label else ''}\n\n"
        out.append(
            head + "Averages per step (CPU over calls: a fixed cost per second weighs more at low "
            "rates):\n\n"
            + "\n".join(rows)
            + "\n\nFitted over the product steps (least squares of CPU ms = fixed + ms/call × "
            f"calls; fixed over the {step_s:g}-s step; an Asterisk's fixed share is the "
            "fleet's divided by its size):\n\n"
            + "\n".join(fits)
            + "\n\n"
            + pooled
            + f"#### Capacity of N boxes, on paper (u = {UTILISATION})\n\n"
            "From the 2-Asterisk fit (each role's fixed ms/s taken off its budget first):\n\n"
            "    asterisks  = N × (u × cores × 1000 − fixed) / ms_per_call   (per box)\n"
            "    kamailio   = (u × cores × 1000 − fixed) / ms_per_call       (one such box)\n"
            "    controller = (u × 1000 − fixed) / ms_per_call               (one process)\n"
            "    crm        = (u × 1000 − fixed) / ms_per_call               (one process)\n"
            "    capacity   = min of them\n\n"
            + "\n".join(paper)
            + f"\n\nRecord peak ({RECORD_PEAK_CONCURRENT:,} concurrent): Asterisk "
            f"{cost.asterisk.per_call:.1f} ms per {hold_s:g}-s call = "
            f"{cost.asterisk.per_call / hold_s:.2f} ms per call-second → {busy:.1f} cores "
            f"busy, **{boxes}** box(es) of {max(cores)} cores at u = {UTILISATION} (+1 spare)\n\n"
        )
    return "".join(out)


def _variants(specs: list[str]) -> list[tuple[str, dict[str, str]]]:
    return parse_variants(specs) or [("", {})]


def _own_stack(
    args: argparse.Namespace, env: dict[str, str], asterisks: int, label: str = ""
) -> list[StepResult]:
    rtp_ports = max(200, int(max(float(r) for r in args.rates.split(",")) * 34))
    with bench_stack(env, rtp_ports=rtp_ports, asterisks=asterisks) as lab:
        token = lab.stack.supervisor_token() if args.viewers else ""
        counted = stack_traffic(lab)
        with viewers(lab.stack.http_port, token, args.viewers) as seen:
            results = _steps(
                args, lab.workdir / "capacity", lab.settings.sip_port, lab.processes(),
                lab.ari(), lab.processed,
            )  # fmt: skip
        if args.viewers and seen.connected < args.viewers:
            raise RuntimeError(f"only {seen.connected} of {args.viewers} live feeds opened")
        # the twin's calls never reach line311: what it heard and said was for the product's
        calls = sum(r.calls for r in results if r.target == "product")
        now = stack_traffic(lab)
        TRAFFIC[label] = {side: per_call(counted[side], now[side], calls) for side in now}
        return results


def _section(
    label: str, results: list[StepResult], specs: list[str], n: int = 1, fleet: bool = False
) -> str:
    """One stack's table and summary; ``fleet``: the run compares stacks of 1 and N
    Asterisks, so each is headed by its size."""
    spec = next((v for v in specs if v.partition(":")[0] == label), "")
    settings = spec.partition(":")[2] or "shipped settings"
    head = f"### Variant `{label}`: `{settings}`\n\n" if label else ""
    if fleet:
        size = f"{n} Asterisks behind Kamailio" if n > 1 else "1 Asterisk"
        head = f"### {size}" + (f", variant `{label}`: `{settings}`" if label else "") + "\n\n"
    return (
        head
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


FLEET_NOTE = (
    "With 2 Asterisks, SIPp calls Kamailio (the stack's SIP address), whose dispatcher "
    "alternates the calls over two Asterisks on this same box, and one controller drives "
    "both over ARI (as `line311 run --asterisks 2`). Calls on each = each Asterisk's `calls "
    "processed` counter across the step; *per own call* = that Asterisk's CPU over the calls "
    "it handled; Kamailio = its main process and every child. Both Asterisks share the same "
    "2 cores, so the absolute capacity of this box does not double: what carries over to "
    "separate boxes is the CPU per call of each.\n\n"
)


def run(argv: list[str] | None = None) -> str:
    args = _parse(argv or [])
    command = "python -m bench capacity" + ("" if not argv else " " + shlex.join(argv))
    before = loadavg()
    runs: dict[tuple[str, int], list[StepResult]] = {}
    TRAFFIC.clear()
    if args.sip_port is not None:
        processes = {k: int(v) for k, v in (p.split("=", 1) for p in args.pid)}
        workdir = Path("var/bench-capacity")
        ari = [(args.ari[0], args.ari[1], args.ari[2])] if args.ari else []
        runs[("", 1)] = _steps(args, workdir, args.sip_port, processes, ari)
    else:
        base = dict(e.split("=", 1) for e in args.env)
        for label, extra in _variants(args.variant):
            for n in args.fleet:
                tag = label if len(args.fleet) == 1 else f"{label} {n}×Asterisk".strip()
                runs[(label, n)] = _own_stack(args, base | extra, n, tag)
    after = loadavg()
    fleet = max(args.fleet) > 1
    title = (
        "## Capacity with 2 Asterisks behind Kamailio (issue 14)"
        if fleet
        else "## Capacity: product vs dialplan twin (issue 13)"
    )
    cores = [int(c) for c in args.cores.split(",") if c.strip()]
    step_s = args.seconds + args.hold_ms / 1000 + SETTLE_S
    return (
        f"{title}\n\n"
        f"SIPp callers at fixed rates, {args.seconds:g} s per step, each hanging up after "
        f"{args.hold_ms / 1000:g} s (no RTP sent); the twin (`{TWIN_NUMBER}`, pure dialplan: "
        "answer, greeting, language menu, main menu) then the product (`311`) at each rate, "
        "on the same Asterisk 22 (sid chroot), `line311 serve` and `line311 crm-bridge` as "
        "subprocesses (log level WARNING). CPU = utime + stime from `/proc/<pid>/stat` "
        "across the step, divided by the calls made; Stasis→prompt = channel enters Stasis "
        "→ greeting PlaybackStarted at an independent ARI observer. SIPp's clock moves in "
        "ticks of a few ms (0 = within one). Load: the 1-minute load average at the end of "
        "each step, on a machine other work may share. The twin makes no call record, the "
        "product does (CRM bridge)."
        + (
            f" {args.viewers} wallboard viewers hold `/api/live` open on the stack's HTTP port "
            "during every step (in the controller, or in `line311 dashboard` with "
            "`LINE311_DASHBOARD_PROCESS=true`)."
            if args.viewers
            else ""
        )
        + "\n\n"
        + (FLEET_NOTE if fleet else "")
        + "".join(
            _section(label, results, args.variant, n, fleet) for (label, n), results in runs.items()
        )
        + (_paper(runs, cores, args.hold_ms / 1000, step_s) if fleet else "")
        + ("\n\n" + tables(TRAFFIC, "product call") if TRAFFIC else "")
        + f"\n\n_Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in before)}; "
        f"after: {' '.join(f'{x:.2f}' for x in after)} (2 cores shared by SIPp, Asterisk, "
        "line311 and whatever else ran)._\n\n"
        f"Command: `{command}`"
    )
