"""Scaling curve on paper (issue 13, point 4): calls/s for 0 -> 1 -> 2 -> 4 -> 8 IVR workers.

COMPUTED, not measured: from CPU ms per call measured by ``python -m bench capacity`` on the
reference machine, without IVR workers (``--variant w0:``: the controller runs every call) and
with them (``--variant w2:LINE311_IVR_WORKERS=2``: each worker runs the IVR of the calls it
claims; the controller keeps the queues and the wallboard), and by ``python -m bench
queue_cost`` (the controller's CPU per queued call, without and with workers), for a box with
``--cores`` cores:

    W = 0   controller  u * 1000 / (c_ctl + s * q_w0)   (the one Python process runs every
                                                          call, and queues a share s of them)
    W >= 1  workers     W * u * 1000 / c_wrk            (each worker: one core at most)
            controller  u * 1000 / (c_rest + s * q)     (what is left to it per call: the
                                                          wallboard's facts; and the queue
                                                          work of the share s that is queued)
    legs    workers     W * u * 1000 / (c_wrk + s * q_wl)   (``queue_legs = workers``: a
                                                          worker also runs its queued callers'
                                                          legs, q_wl ms each)
            controller  u * 1000 / (r_l + s * q_l)      (the workers' IVR facts, r_l per
                                                          call, and the router's side of
                                                          the queued ones, q_l more each)
    both    bridge      u * 1000 / c_crm                (one CRM bridge process)
            dashboard   u * 1000 / c_dash               (one dashboard process)
            box         u * cores * 1000 / (c_ast + every line311 process's ms per call,
                                            the controller's s * q included)
    capacity = min(those limits)

``u`` is the utilisation kept for latency headroom (0.7: an event loop at 70 % still answers
in milliseconds). Asterisk is multi-threaded and limited only by the box row. ``c_*`` are per
call of the capacity benchmark's callers, who stay in the IVR; ``q`` / ``q_w0`` are the
controller's net ms per call of queue_cost's callers, who go straight to the queue (answer,
hand-off with workers, queue, ring a CCR, bridge, record). A real queued caller goes through
the IVR first, so every call pays ``c_rest`` (or ``c_ctl``) and a queued one ``q`` on top: this
counts the per-call set-up (answer, record) twice for queued calls, an overestimate.
``s`` (``--queued-share``, default 0.5): the share of calls that reach a CCR (NYC 311
resolves more than half of its calls in the IVR). The CCR leg's Asterisk CPU is not in the box
row (see the queue_cost section).

    python -m bench scaling            # the costs measured on the reference machine (MEASURED)
    python -m bench scaling --worker-ms 4.8 --rest-ms 1.4 --cores 8,16
    python -m bench scaling --queued-share 0.8 --queued-ms 6
"""

from __future__ import annotations

import argparse
import shlex

WORKERS = (0, 1, 2, 4, 8, 16)
LEGS_REST_MS = 0.18
LEGS_QUEUED_MS = 1.56
DASHBOARD_MS = 0.09
MEASURED = {
    "asterisk_ms": 10.4,
    "controller_ms": 3.3,
    "crm_ms": 0.4,
    "redis_ms": 0.3,
    "worker_ms": 4.8,
    "rest_ms": 1.4,
    "worker_redis_ms": 0.7,
    "worker_crm_ms": 0.5,
    "queued_ms": 15.8,
    "queued_ms_w0": 16.0,
    "legs_rest_ms": LEGS_REST_MS,
    "legs_queued_ms": LEGS_QUEUED_MS,
    "legs_worker_ms": 10.8,
    "dashboard_ms": DASHBOARD_MS,
}
"""Defaults: docs/benchmarks.md "Capacity with IVR workers" at 20 calls/s (2026-12-05): without
workers (controller, bridge, Redis) and with 2 (each worker's CPU per call *it* ran, i.e. twice
its per-step figure; the controller's, the bridge's and Redis's per call). ``queued_ms`` /
``queued_ms_w0``: docs/benchmarks.md "Queue cost" (2026-12-05, callers bridged to their CCR:
an earlier run measured calls whose CCR hung up during the whisper), the controller's net ms
per queued call with 2 workers / without, median over the steps. ``legs_queued_ms`` /
``legs_worker_ms`` (``queue_legs = workers``): the controller's and the workers' (together)
net ms per queued call, as ratios to ``w2``'s controller measured in one run of ``python -m
bench queue_cost --variants w0,w2,w2q`` (2026-12-06, the second run of the day: the controller
12.14 / 23.01; the two workers together 15.74 / 23.01 more than with the hand-off), applied to
``queued_ms``: that day's box was slower than the reference one, the ratios are what carry
over.

``legs_rest_ms``, ``legs_queued_ms`` and ``dashboard_ms`` (the controller's and the
dashboard's side with the legs in the workers) are MEASURED under load by ``python -m bench
router_load`` (docs/benchmarks.md "Router load", 2026-12-06, one run, three ramps, after the
cuts of that evening: the queue events insert, the queue_log thread's wake-ups, the pick of a
CCR, the journal's encoding), not taken at a few calls/s, where every message wakes the
controller alone (queue_cost's 10 calls/s gave 8.3 ms per queued call). The mixed ramp (half
the calls resolved in the IVR) kept up with 1,200 calls/s; the step nearest the model's ``u``
(70 % of the controller's core) was 800 calls/s (63 %): 0.80 ms per call. At the same rates
of each kind (400/s) the pure ramps gave 0.18 ms per call resolved in the IVR (the two IVR
facts relayed to the wallboard: ``legs_rest_ms``, which every call pays) and 1.46 per queued
call (its IVR facts, the desk messages, the router, the figures): ``legs_queued_ms`` = (1.46
− 0.18) × 7.3 / 6 for the messages a real leg sends against the bench's six = 1.56. The
dashboard process spent 0.09 ms per call there. With s = 0.5 that is 0.96 ms per call, where
the mixed ramp measured 0.80: the model is on the safe side. The run before it (the same
command, 10 minutes earlier, without the 1,600 step) gave 0.21 and 1.51 (0.71 ms per call
measured at 1,000 calls/s, 70 % busy); before the cuts, the same command gave 0.50 and 3.01
(a controller limit of 349 calls/s in the model)."""
QUEUED_SHARE = 0.5
"""Share of calls that reach a CCR: NYC 311 resolves more than half in the IVR."""


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
    parser.add_argument(
        "--queued-ms", type=float, help="controller ms more per queued call, with IVR workers"
    )
    parser.add_argument(
        "--queued-ms-w0", type=float, help="controller ms more per queued call, no workers"
    )
    parser.add_argument(
        "--legs-queued-ms",
        type=float,
        help="controller ms per queued call, with queue_legs = workers",
    )
    parser.add_argument(
        "--legs-rest-ms",
        type=float,
        help="controller ms per call, with queue_legs = workers (the IVR facts)",
    )
    parser.add_argument("--dashboard-ms", type=float, help="the dashboard process's ms per call")
    parser.add_argument(
        "--legs-worker-ms",
        type=float,
        help="the workers' ms per queued call in all, with queue_legs = workers",
    )
    parser.add_argument(
        "--queued-share", type=float, default=QUEUED_SHARE, help="share of calls queued (0..1)"
    )
    parser.add_argument("--cores", default="8,16,32", help="bigger boxes, comma-separated")
    parser.add_argument("--utilisation", type=float, default=0.7)
    args = parser.parse_args(argv)
    if not 0 <= args.queued_share <= 1:
        parser.error("--queued-share is a share of the calls, 0..1")
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


def limits(
    workers: int, cores: int, a: argparse.Namespace, *, legs: bool = False
) -> dict[str, float]:
    """Each limit in calls/s for ``workers`` IVR workers (0: the controller alone); ``legs``:
    the workers run their queued callers' legs (``queue_legs = workers``)."""
    u, s = a.utilisation, a.queued_share
    if legs and workers > 0:
        worker = a.worker_ms + s * a.legs_worker_ms
        controller = a.legs_rest_ms + s * a.legs_queued_ms
        line311 = worker + controller + a.worker_crm_ms + a.worker_redis_ms + a.dashboard_ms
        return {
            "workers": workers * u * 1000 / worker,
            "controller": u * 1000 / controller,
            "bridge": u * 1000 / a.worker_crm_ms,
            "dashboard": u * 1000 / a.dashboard_ms,
            "box": u * cores * 1000 / (a.asterisk_ms + line311),
        }
    if workers == 0:
        controller = a.controller_ms + s * a.queued_ms_w0
        line311 = controller + a.crm_ms + a.redis_ms + a.dashboard_ms
        return {
            "workers": float("inf"),
            "controller": u * 1000 / controller,
            "bridge": u * 1000 / a.crm_ms,
            "dashboard": u * 1000 / a.dashboard_ms,
            "box": u * cores * 1000 / (a.asterisk_ms + line311),
        }
    controller = a.rest_ms + s * a.queued_ms
    line311 = a.worker_ms + controller + a.worker_crm_ms + a.worker_redis_ms + a.dashboard_ms
    return {
        "workers": workers * u * 1000 / a.worker_ms,
        "controller": u * 1000 / controller,
        "bridge": u * 1000 / a.worker_crm_ms,
        "dashboard": u * 1000 / a.dashboard_ms,
        "box": u * cores * 1000 / (a.asterisk_ms + line311),
    }


def _controller_note(a: argparse.Namespace) -> str:
    """What the queued share does to the one controller: its limit without and with workers,
    and the share of queued calls at which workers stop raising it above the IVR's."""
    u, s = a.utilisation, a.queued_share
    w0 = u * 1000 / (a.controller_ms + s * a.queued_ms_w0)
    w = u * 1000 / (a.rest_ms + s * a.queued_ms)
    ivr_only = u * 1000 / a.rest_ms
    legs = u * 1000 / (a.legs_rest_ms + s * a.legs_queued_ms)
    return (
        f"A queued call costs the controller q = {a.queued_ms:g} ms with workers "
        f"({a.queued_ms / a.rest_ms:.1f}× what it keeps of an IVR-only call, "
        f"{a.rest_ms:g} ms), so with s = {s:g} its limit is **{w:.0f} calls/s with workers** "
        f"(vs {ivr_only:.0f} if no call were queued) and **{w0:.0f} without**: workers raise "
        f"it by {w / w0:.2f}×, whatever their number. With the legs in the workers "
        f"(`queue_legs = workers`) the controller keeps r_l = {a.legs_rest_ms:g} ms of every "
        f"call and q_l = {a.legs_queued_ms:g} ms more of a queued one, and its limit is "
        f"**{legs:.0f} calls/s** ({legs / w:.2f}× the hand-off's), "
        f"while the workers take q_wl = {a.legs_worker_ms:g} ms of it, spread over them. Where "
        "the controller is the limit, the lever is its CPU per queued call, not more workers."
    )


def _cell(value: float) -> str:
    return "–" if value == float("inf") else f"{value:.0f}"


def run(argv: list[str] | None = None) -> str:
    argv = argv or []
    a = _parse(argv)
    rows = [
        "| IVR workers | queue legs in | cores | workers limit | controller limit | bridge limit "
        "| dashboard limit | box limit | capacity calls/s | what limits it |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cores in sorted({2, *(int(c) for c in a.cores.split(","))}):
        for w in WORKERS:
            for legs in (False, True) if w else (False,):
                lim = limits(w, cores, a, legs=legs)
                least = min(lim, key=lambda k: lim[k])
                rows.append(
                    f"| {w} | {'workers' if legs else 'controller'} | {cores} | "
                    f"{_cell(lim['workers'])} | {_cell(lim['controller'])} | "
                    f"{_cell(lim['bridge'])} | {_cell(lim['dashboard'])} | {_cell(lim['box'])} "
                    f"| **{lim[least]:.0f}** | "
                    f"{least} |"
                )
    return (
        "## Scaling "
        + " → ".join(str(w) for w in WORKERS)
        + " IVR workers, COMPUTED (issue 13, point 4)\n\n"
        "Not a measurement: a model fed with CPU ms per call measured by `python -m bench "
        'capacity` (section "Capacity with IVR workers"). Without workers: Asterisk '
        f"{a.asterisk_ms:g}, controller {a.controller_ms:g}, CRM bridge {a.crm_ms:g}, Redis "
        f"{a.redis_ms:g} ms per call. With workers: each worker {a.worker_ms:g} ms per call it "
        f"runs, controller {a.rest_ms:g}, bridge {a.worker_crm_ms:g}, Redis "
        f"{a.worker_redis_ms:g} ms per call. Queued calls (`python -m bench queue_cost`, "
        'section "Queue cost"): the controller spends q = '
        f"{a.queued_ms:g} ms more per queued call with workers, q_w0 = {a.queued_ms_w0:g} "
        f"without; with the queue legs in the workers the workers spend q_wl = "
        f"{a.legs_worker_ms:g} ms more (the ratio of one `python -m bench queue_cost "
        "--variants w0,w2,w2q` run, 2026-12-06, applied to q) and the controller keeps "
        f"r_l = {a.legs_rest_ms:g} ms of every call (the worker's IVR facts) and q_l = "
        f"{a.legs_queued_ms:g} ms more of a queued one, the dashboard process "
        f"c_dash = {a.dashboard_ms:g} ms of every call (all three measured under load by "
        "`python -m bench router_load`, where the controller's core was 70 % busy; q_l "
        "scaled to the messages of a real leg; at 10 calls/s each message wakes the "
        "controller alone and a queued call costs it 8.3); "
        f"a share s = {a.queued_share:g} of the calls reaches a CCR. Utilisation "
        f"u = {a.utilisation:g}:\n\n"
        "    W = 0   controller limit = u × 1000 / (c_controller + s × q_w0)  (one process: "
        "every call, and its queues)\n"
        "    W ≥ 1   workers limit    = W × u × 1000 / c_worker               (a core per worker "
        "at most)\n"
        "            controller limit = u × 1000 / (c_controller_left + s × q) (the wallboard's "
        "facts, the queues)\n"
        "    legs    workers limit    = W × u × 1000 / (c_worker + s × q_wl)  (queue_legs = "
        f"workers: the legs in the workers, q_wl = {a.legs_worker_ms:g})\n"
        "            controller limit = u × 1000 / (r_l + s × q_l)            (the IVR facts "
        f"and the router's side only, r_l = {a.legs_rest_ms:g}, q_l = {a.legs_queued_ms:g})\n"
        "    both    bridge limit     = u × 1000 / c_crm\n"
        "            dashboard limit  = u × 1000 / c_dash\n"
        "            box limit        = u × cores × 1000 / (c_asterisk + all of line311's, "
        "s × q included)\n"
        "    capacity = min(limits)\n\n"
        "c_* are per call of callers who stay in the IVR; q per call of callers who go "
        "straight to the queue (answer, hand-off, queue, ring, bridge, record), added on top "
        "for the share s: a queued call's set-up is counted twice, an overestimate. The CCR "
        "leg's Asterisk CPU is not in the box limit.\n\n"
        + "\n".join(rows)
        + "\n\nOn 2 cores the box is the limit whatever the number of workers, and workers cost "
        "more CPU per call in all (every worker hears every broadcast; claims, hand-offs and the "
        "wallboard's facts go through Redis): keep `ivr_workers = 0` there. Once cores "
        "outnumber what Asterisk needs, the single controller process is the limit without "
        "workers, and with them the IVR's share of each call spreads over W processes while "
        "the controller keeps every queued call's queue work. " + _controller_note(a) + "\n\n"
        f"Command: `{shlex.join(['python', '-m', 'bench', 'scaling', *argv])}`"
    )
