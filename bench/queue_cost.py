"""Queue cost: the controller's CPU per QUEUED call, without and with IVR workers.

``python -m bench capacity`` measures callers who stay in the IVR; with IVR workers the
controller's share of such a call is small (the wallboard's facts), but a caller who asks for a
CCR is moved to the controller, which queues them, rings a CCR, bridges them and writes the
queue leg of the record. This bench measures that queue work.

Two (or three) stacks in one run, one after the other, both with the Redis live state (as shipped):

- ``w0``: no IVR workers, the controller answers the call and queues it itself;
- ``w2``: ``LINE311_IVR_WORKERS=2``, a worker claims the call, runs the flow (straight to the
  queue) and hands the caller over to the controller, which queues them;
- ``w2q``: the same with ``LINE311_QUEUE_LEGS=workers``: the worker keeps the caller and runs
  the queue leg itself, the controller only decides (over the desk link in Redis).

Each stack runs a flow that goes straight to the queue (one ``general`` queue, short wrap-up)
and ``--agents`` SIPp CCR phones registered and logged in at the desk API, answering after
``--answer-ms`` and hanging up after ``--talk-ms``. SIPp callers (no RTP) come at a modest fixed
rate per step and stay until the CCR hangs up; the rates are kept within what the CCRs can
take (`busy_agents` ≤ agents) so that calls are answered quickly and the queue stays short.

Per step: SIPp calls, calls queued / answered (queue_log ENTERQUEUE / CONNECT), records
stored and answered, the wait of the answered calls (records' ``wait_seconds``: ASA p50 and
p90), and the CPU of every process of line311's side (``/proc/<pid>/stat`` before the first
INVITE and once every record is stored; Asterisk, controller, crm-bridge, redis, ivr-worker-K)
over the calls queued. The SIPp processes (callers and CCR phones) are not watched: their CPU
does not count. Before the steps, an idle window measures each process's fixed CPU per second
(timers, the workers' load shares), which the *net* figures take off.

    python -m bench queue_cost                      # w0 and w2, 2, 5 and 10 calls/s, twice each
    python -m bench queue_cost --rates 2 --repeats 1 --variants w0
    python -m bench queue_cost --variants w2,w2q     # the queue leg moved or kept in the worker
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench._profile import Profiler, summarise
from bench._stack import BenchStack, bench_stack
from bench._traffic import per_call, stack_traffic, tables
from bench.capacity import Cost, fit
from line311.queue.queue_log import QueueLogRecord, parse_lines
from line311.sim.sipp import SippPhone, start_agent
from tests.e2e.capacity import StepResult, cpu_seconds, loadavg, quantile, run_step
from tests.fixtures.polling import wait_until

RATES = (2.0, 5.0, 10.0)
REPEATS = 2
SECONDS = 20.0
AGENTS = 56
ANSWER_MS = 100
TALK_MS = 3500
"""From the CCR's answer to its hang-up: the whisper first (the call's language and topic, about
2.6 s in English), then the CCR and the caller bridged."""
WHISPER_S = 2.6
"""The English whisper of the ``general`` topic, seconds: a CCR hanging up sooner is never
bridged to the caller, and the step would leave the connection's work out (`_parse` refuses
a ``--talk-ms`` that short)."""
WRAPUP_S = 0.5
SETUP_S = 0.5
"""Per call, on a CCR's side, besides answer + talk + wrap-up: ringing, bridging (a rough
allowance, for `busy_agents`)."""
HOLD_MS = 60_000
"""The callers' own hang-up: a ceiling, the CCR ends each call long before."""
IDLE_S = 30.0
SETTLE_S = 2.0
VARIANTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("w0", {"LINE311_LIVE_STATE": "redis"}),
    ("w2", {"LINE311_LIVE_STATE": "redis", "LINE311_IVR_WORKERS": "2"}),
    (
        "w2q",
        {
            "LINE311_LIVE_STATE": "redis",
            "LINE311_IVR_WORKERS": "2",
            "LINE311_QUEUE_LEGS": "workers",
        },
    ),
)
STRAIGHT_TO_QUEUE = """\
flow: straight-to-queue
version: 1
start: representative
nodes:
  representative: {kind: queue, topic: general}
"""
QUEUES = """\
queues:
  general:
    requires: "topic:general"
    wrapup_seconds: {wrapup:g}
    interpreter_when_unstaffed: false
"""
ROSTER_AGENT = """\
  agent{n}:
    name: Bench CCR {n}
    endpoint: PJSIP/agent{n}
    skills: {{lang:en: 5, topic:general: 4}}
"""
"""One CCR of the bench's roster (``--agents`` of them: the shipped roster has 8)."""
ENDED = frozenset(
    {
        "COMPLETECALLER",
        "COMPLETEAGENT",
        "ABANDON",
        "EXITWITHTIMEOUT",
        "EXITEMPTY",
        "EXITWITHKEY",
        "TRANSFER",
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
    }
)
"""queue_log events that end a caller's stay in the queue."""
FINDINGS: list[str] = []
"""What the stacks' logs said at WARNING or above, and steps not all bridged (filled by
`_stack_steps`)."""
PROFILES: dict[str, str] = {}
"""With ``--profile``: the controller's py-spy summary in each stack's last step."""
TRAFFIC: dict[str, dict[str, dict[str, float]]] = {}
"""Per stack, per side (the controller's ARI, each worker's, Redis): messages per queued call
over all the stack's steps (`bench._traffic`)."""
ORDER = ("asterisk", "controller", "ivr-worker-1", "ivr-worker-2", "crm-bridge", "redis")


# ---------------------------------------------------------------------- pure helpers
def busy_agents(
    rate: float, answer_ms: int, talk_ms: int, wrapup_s: float, setup_s: float = SETUP_S
) -> float:
    """CCRs kept busy on average by ``rate`` calls/s (Little's law: rate × time each call
    holds a CCR: ringing and bridging, answer delay, talk, wrap-up)."""
    return rate * (setup_s + answer_ms / 1000 + talk_ms / 1000 + wrapup_s)


@dataclass(frozen=True, slots=True)
class Row:
    """A call record, as far as this bench reads it."""

    call_id: str
    outcome: str
    queued: bool
    answered: bool
    wait_seconds: float | None


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """What happened to one step's calls in the queue."""

    entered: int
    """ENTERQUEUE lines."""
    connected: int
    """CONNECT lines."""
    ended: int
    """Callers whose stay in the queue ended (COMPLETE*, ABANDON, EXIT*, transfers)."""
    records: int
    answered: int
    """Records with a CCR's answer."""
    outcomes: dict[str, int]
    waits: list[float]
    """``wait_seconds`` of the answered calls."""

    @property
    def asa_p50(self) -> float:
        return quantile(self.waits, 0.5) if self.waits else float("nan")

    @property
    def asa_p90(self) -> float:
        return quantile(self.waits, 0.9) if self.waits else float("nan")


def queue_figures(log: Iterable[QueueLogRecord], rows: Iterable[Row]) -> QueueFigures:
    """`QueueFigures` of one step from its queue_log lines and its call records."""
    log, rows = list(log), list(rows)
    outcomes: dict[str, int] = {}
    for r in rows:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return QueueFigures(
        entered=sum(1 for r in log if r.event == "ENTERQUEUE"),
        connected=sum(1 for r in log if r.event == "CONNECT"),
        ended=len({r.call_id for r in log if r.event in ENDED}),
        records=len(rows),
        answered=sum(1 for r in rows if r.answered),
        outcomes=outcomes,
        waits=[r.wait_seconds for r in rows if r.answered and r.wait_seconds is not None],
    )


def per_call_ms(cpu_s: float, calls: int) -> float:
    """CPU seconds over ``calls``, in ms per call (NaN without calls)."""
    return 1000 * cpu_s / calls if calls > 0 else float("nan")


def net_per_call_ms(cpu_s: float, window_s: float, idle_ms_per_s: float, calls: int) -> float:
    """Like `per_call_ms`, the process's fixed CPU (``idle_ms_per_s`` over the ``window_s``
    of the step) taken off first."""
    return per_call_ms(cpu_s - idle_ms_per_s * window_s / 1000, calls)


def median(values: Iterable[float]) -> float:
    kept = [v for v in values if v == v]
    return statistics.median(kept) if kept else float("nan")


# ---------------------------------------------------------------------- one step
@dataclass
class Step:
    variant: str
    result: StepResult
    window_s: float
    """Seconds between the two CPU readings (about: the call to `run_step`)."""
    queue: QueueFigures
    idle: dict[str, float] = field(default_factory=dict)
    """Each process's fixed CPU, ms per second (the stack's idle window)."""

    @property
    def calls(self) -> int:
        """The denominator: calls that entered the queue (SIPp's calls if none did)."""
        return self.queue.entered or self.result.calls

    def ms(self, name: str) -> float:
        return per_call_ms(self.result.cpu.get(name, float("nan")), self.calls)

    def net_ms(self, name: str) -> float:
        return net_per_call_ms(
            self.result.cpu.get(name, float("nan")),
            self.window_s,
            self.idle.get(name, 0.0),
            self.calls,
        )


def _rows(db: Path) -> dict[str, Row]:
    """Every call record in the CRM bridge's database (read-only; retried while locked)."""
    if not db.exists():
        return {}
    query = "SELECT call_id, outcome, queue_leg, queue_answered_at, wait_seconds FROM calls"
    for _ in range(50):
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            ) as conn:
                out = {}
                for call_id, outcome, leg, answered_at, wait in conn.execute(query):
                    queued = leg is not None and json.loads(leg) is not None
                    out[call_id] = Row(call_id, outcome, queued, answered_at is not None, wait)
                return out
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            time.sleep(0.1)  # locked by the bridge's write
    raise RuntimeError(f"{db} stayed locked")


def log_findings(text: str, keep: int = 3) -> tuple[int, list[str]]:
    """(lines at WARNING or above, the first ``keep`` distinct messages) of a line311 log,
    the message being what follows the level (times and ids differ from call to call)."""
    count, seen = 0, list[str]()
    for line in text.splitlines():
        for level in (" WARNING ", " ERROR ", " CRITICAL ", "Traceback"):
            if level in line:
                count += 1
                message = line.split(level, 1)[1].strip() if level != "Traceback" else line
                message = re.sub(r" \[[^\]]*\]$", "", message)[:160]  # the call context
                if message not in seen and len(seen) < keep:
                    seen.append(message)
                break
    return count, seen


def _queue_log(path: Path) -> list[QueueLogRecord]:
    return list(parse_lines(path.read_text().splitlines())) if path.exists() else []


class Desk:
    """The desk API of a bench stack, signed in as a supervisor."""

    def __init__(self, lab: BenchStack) -> None:
        self.base = f"http://127.0.0.1:{lab.stack.http_port}/api/desk"
        self.headers = {"Authorization": f"Bearer {lab.stack.supervisor_token()}"}

    def login(self, agent: str) -> None:
        r = httpx.post(f"{self.base}/agents/{agent}/login", headers=self.headers, timeout=5)
        r.raise_for_status()

    def states(self) -> dict[str, str]:
        r = httpx.get(f"{self.base}/agents", headers=self.headers, timeout=5)
        r.raise_for_status()
        return {a["agent_id"]: a["state"] for a in r.json()["agents"]}


@contextlib.contextmanager
def agents_in(lab: BenchStack, args: argparse.Namespace, calls: int) -> Iterator[list[SippPhone]]:
    """``args.agents`` CCR phones registered and logged in; stopped on the way out."""
    s = lab.settings
    phones: list[SippPhone] = []
    try:
        for k in range(1, args.agents + 1):
            phones.append(
                start_agent(
                    lab.workdir / "agents" / f"agent{k}",
                    s.sip_port,
                    f"agent{k}",
                    s.agent_password.get_secret_value(),
                    answer_ms=args.answer_ms,
                    talk_ms=args.talk_ms,
                    calls=calls,
                )
            )
        desk = Desk(lab)
        names = [f"agent{k}" for k in range(1, args.agents + 1)]
        for name in names:
            desk.login(name)
        wait_until(
            lambda: all(desk.states().get(n) == "available" for n in names),
            20,
            "every CCR available",
        )
        yield phones
    finally:
        for phone in phones:
            phone.stop()


def _idle(processes: Mapping[str, int], seconds: float) -> dict[str, float]:
    """Each process's CPU ms per second over ``seconds`` without calls."""
    before = {n: cpu_seconds(p) for n, p in processes.items()}
    started = time.monotonic()
    time.sleep(seconds)
    after = {n: cpu_seconds(p) for n, p in processes.items()}
    window = time.monotonic() - started
    return {n: 1000 * (after[n] - before[n]) / window for n in processes}


def _stack_steps(
    label: str, env: dict[str, str], args: argparse.Namespace, files: Path
) -> list[Step]:
    rates = [r for _ in range(args.repeats) for r in args.rate_list]
    total = sum(max(1, round(r * args.seconds)) for r in rates)
    env = env | {
        "LINE311_FLOW_FILE": str(files / "straight-to-queue.yaml"),
        "LINE311_QUEUES_FILE": str(files / "queues.yaml"),
        "LINE311_AGENTS_FILE": str(files / "agents.yaml"),
        "LINE311_QUEUE_RING_TIMEOUT": "4",
        "LINE311_QUEUE_PERIODIC_INTERVAL": "0",
    }
    rtp_ports = max(200, int(max(args.rate_list) * 40))
    out: list[Step] = []
    with bench_stack(env, rtp_ports=rtp_ports, agent_count=args.agents) as lab:
        processes = lab.processes()
        db = lab.workdir / "line311.db"
        log_path = lab.workdir / "state" / "queue_log"
        with agents_in(lab, args, calls=total + 10):
            idle = _idle(processes, args.idle)
            counted_before = stack_traffic(lab)
            for n, rate in enumerate(rates, start=1):
                known = set(_rows(db))
                lines = len(_queue_log(log_path))
                expected = max(1, round(rate * args.seconds))

                def done(known: set[str] = known, expected: int = expected) -> None:
                    # every call's record stored (the bridge's work inside the CPU window)
                    with contextlib.suppress(AssertionError):
                        wait_until(
                            lambda: len(set(_rows(db)) - known) >= expected,
                            60,
                            "the step's call records",
                            step=0.5,
                        )

                spy = None
                if getattr(args, "profile", False) and n == len(rates):
                    spy = Profiler(
                        processes["controller"], args.seconds, lab.workdir / f"profile-{n}.txt"
                    )
                started = time.monotonic()
                result = run_step(
                    lab.workdir / f"step{n}",
                    target=label,
                    number="311",
                    sip_port=lab.settings.sip_port,
                    rate=rate,
                    seconds=args.seconds,
                    hold_ms=HOLD_MS,
                    processes=processes,
                    settle=SETTLE_S,
                    until=done,
                )
                window = time.monotonic() - started
                if spy is not None:
                    PROFILES[label] = summarise(spy.wait())
                rows = [r for c, r in _rows(db).items() if c not in known]
                figures = queue_figures(_queue_log(log_path)[lines:], rows)
                out.append(Step(label, result, window, figures, idle))
            counted_after = stack_traffic(lab)
            queued = sum(step.calls for step in out)
            TRAFFIC[label] = {
                side: per_call(counted_before[side], counted_after[side], queued)
                for side in counted_after
            }
            joined = sum(  # the controller's, or the workers' with the legs there
                counts.get("POST /bridges/{id}/addChannel", 0.0)
                for side, counts in TRAFFIC[label].items()
                if side.endswith(" ARI")
            )
            if joined < 0.95:  # each caller joins their CCR's bridge once
                FINDINGS.append(
                    f"{label}: {joined:.2f} bridge joins per queued call, not 1: "
                    "callers were not all bridged to their CCR"
                )
        logs = {"controller": lab.stack.controller.output(), "crm-bridge": lab.stack.crm.output()}
        logs |= {w.name: w.output() for w in lab.workers}
        for name, text in logs.items():
            count, sample = log_findings(text)
            if count:
                FINDINGS.append(
                    f"{label} {name}: {count} line(s) ≥ WARNING, e.g. "
                    + " / ".join(f"`{m}`" for m in sample)
                )
    return out


# ---------------------------------------------------------------------- report
def _f(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


def _names(steps: list[Step]) -> list[str]:
    seen = {n for s in steps for n in s.result.cpu}
    return [n for n in ORDER if n in seen] + sorted(seen - set(ORDER))


def _step_table(steps: list[Step]) -> str:
    names = _names(steps)
    rows = [
        "| stack | calls/s | SIPp ok / failed | queued | answered (CONNECT) | records, answered "
        "| ASA p50 / p90 s | " + " | ".join(names) + " | load |",
        "|---|---|---|---|---|---|---|" + "---|" * len(names) + "---|",
    ]
    for s in steps:
        q, r = s.queue, s.result
        rows.append(
            f"| {s.variant} | {r.rate:g} | {r.ok} / {r.failed} | {q.entered} | {q.connected} | "
            f"{q.records}, {q.answered} | {_f(q.asa_p50, 2)} / {_f(q.asa_p90, 2)} | "
            + " | ".join(f"{_f(s.ms(n), 2)} ({_f(s.net_ms(n), 2)})" for n in names)
            + f" | {r.load[0]:.2f} |"
        )
    return "\n".join(rows)


def slope(steps: list[Step], name: str) -> Cost:
    """`bench.capacity.fit` of ``name``'s CPU over the steps' queued calls: ms per call more
    (the slope) and the fixed ms per second under load (the intercept over the mean window)."""
    present = [s for s in steps if name in s.result.cpu]
    if not present:
        return Cost(float("nan"))
    window = statistics.fmean(s.window_s for s in present)
    return fit([(float(s.calls), 1000 * s.result.cpu[name]) for s in present], window)


def _summary_table(runs: dict[str, list[Step]]) -> str:
    names = _names([s for steps in runs.values() for s in steps])
    rows = [
        "| process | "
        + " | ".join(
            f"{v}: idle ms/s | {v}: ms per queued call, median | {v}: net, median "
            f"| {v}: fitted ms/call (fixed ms/s)"
            for v in runs
        )
        + " |",
        "|---|" + "---|---|---|---|" * len(runs),
    ]
    for n in names:
        cells = []
        for steps in runs.values():
            present = [s for s in steps if n in s.result.cpu]
            if not present:
                cells.append("– | – | – | –")
                continue
            fitted = slope(present, n)
            cells.append(
                f"{_f(present[0].idle.get(n, float('nan')), 1)} | "
                f"{_f(median(s.ms(n) for s in present), 2)} | "
                f"**{_f(median(s.net_ms(n) for s in present), 2)}** | "
                f"{_f(fitted.per_call, 2)} ({_f(fitted.per_second, 1)})"
            )
        rows.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def headline(runs: Mapping[str, list[Step]]) -> dict[str, float]:
    """The figures `bench.scaling` takes: the controller's net ms per queued call per stack
    (``controller_<label>``) and each other process's."""
    out: dict[str, float] = {}
    for label, steps in runs.items():
        for n in _names(steps):
            out[f"{n}_{label}"] = median(s.net_ms(n) for s in steps if n in s.result.cpu)
    return out


DESCRIBED = {
    "w0": "no IVR workers: the controller answers and queues every call",
    "w2": "`LINE311_IVR_WORKERS=2`: a worker claims the call, runs the flow and hands the "
    "caller over to the controller, which queues them",
    "w2q": "the same with `LINE311_QUEUE_LEGS=workers`: the worker keeps the caller and runs "
    "the queue leg, the controller only decides, over the desk link in Redis",
}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench queue_cost")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES), help="calls/s")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="times each rate is run")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="length of each step")
    parser.add_argument("--agents", type=int, default=AGENTS, help="CCR phones logged in")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the controller in each stack's last step"
    )
    parser.add_argument("--answer-ms", type=int, default=ANSWER_MS)
    parser.add_argument("--talk-ms", type=int, default=TALK_MS)
    parser.add_argument("--wrapup", type=float, default=WRAPUP_S, help="wrap-up seconds")
    parser.add_argument("--idle", type=float, default=IDLE_S, help="idle window, seconds")
    parser.add_argument("--variants", default="w0,w2", help="stacks to run: w0,w2,w2q")
    args = parser.parse_args(argv)
    args.rate_list = [float(r) for r in args.rates.split(",") if r.strip()]
    known = dict(VARIANTS)
    args.variant_list = [v for v in args.variants.split(",") if v.strip()]
    if not args.rate_list or any(v not in known for v in args.variant_list):
        parser.error(f"--rates needs numbers, --variants some of {sorted(known)}")
    if args.talk_ms / 1000 < WHISPER_S + 0.5:
        parser.error(
            f"--talk-ms {args.talk_ms}: the CCR would hang up during the {WHISPER_S:g}-s "
            "whisper, before being bridged to the caller (give at least "
            f"{1000 * (WHISPER_S + 0.5):.0f})"
        )
    busiest = busy_agents(max(args.rate_list), args.answer_ms, args.talk_ms, args.wrapup)
    if busiest > args.agents:
        parser.error(
            f"{max(args.rate_list):g} calls/s keeps {busiest:.1f} CCRs busy: more than "
            f"--agents {args.agents} (the queue would grow: lower the rate or add agents)"
        )
    return args


def run(argv: list[str] | None = None) -> str:
    argv = argv or []
    args = _parse(argv)
    before = loadavg()
    runs: dict[str, list[Step]] = {}
    FINDINGS.clear()
    PROFILES.clear()
    TRAFFIC.clear()
    with tempfile.TemporaryDirectory(prefix="line311-qcost-") as tmp:
        files = Path(tmp)
        (files / "straight-to-queue.yaml").write_text(STRAIGHT_TO_QUEUE)
        (files / "queues.yaml").write_text(QUEUES.format(wrapup=args.wrapup))
        (files / "agents.yaml").write_text(
            "agents:\n" + "".join(ROSTER_AGENT.format(n=n) for n in range(1, args.agents + 1))
        )
        for label in args.variant_list:
            runs[label] = _stack_steps(label, dict(VARIANTS)[label], args, files)
    after = loadavg()
    head = headline(runs)
    busiest = busy_agents(max(args.rate_list), args.answer_ms, args.talk_ms, args.wrapup)
    lines = [
        f"controller {_f(head.get(f'controller_{v}', float('nan')), 2)} ms ({v})" for v in runs
    ]
    command = shlex.join(["python", "-m", "bench", "queue_cost", *argv])
    return (
        "## Queue cost: the controller's CPU per queued call, without and with IVR workers\n\n"
        f"{len(runs)} stack(s) one after the other on the same box, with the Redis live "
        "state: "
        + "; ".join(f"`{v}` ({DESCRIBED[v]})" for v in runs)
        + ". The flow goes straight to one `general` "
        f"queue (wrap-up {args.wrapup:g} s, ring timeout 4 s, no periodic message); "
        f"{args.agents} SIPp CCR phones, registered and logged in at the desk API, answer after "
        f"{args.answer_ms} ms and hang up after {args.talk_ms / 1000:g} s. SIPp callers (no RTP) "
        f"at {args.rates} calls/s for {args.seconds:g} s per step, each rate {args.repeats}×, "
        f"stay until the CCR hangs up (at the highest rate about {busiest:.1f} CCRs busy of "
        f"{args.agents}: the queue stays short).\n\n"
        "CPU = utime + stime from `/proc/<pid>/stat` (descendants included) from before the "
        "first INVITE until every record of the step is stored + "
        f"{SETTLE_S:g} s, over the calls queued (ENTERQUEUE); in brackets *net*: each process's "
        f"fixed CPU per second, measured in a {args.idle:g}-s idle window with the CCRs logged "
        "in, taken off first. SIPp (callers and CCR phones) is not watched: its CPU does not "
        "count. ASA = records' `wait_seconds` of the answered calls (queue entry → CCR "
        "answer). Queued / answered from the queue_log (ENTERQUEUE / CONNECT); records from "
        "the CRM bridge's database. *Fitted*: least squares of CPU ms = fixed + ms/call × "
        "calls over the stack's steps (`bench.capacity.fit`), the marginal cost of a queued "
        "call, and the fixed part under load in ms/s.\n\n"
        "### Per step (ms per queued call, net in brackets)\n\n"
        + _step_table([s for steps in runs.values() for s in steps])
        + "\n\n### Per process, over the steps\n\n"
        + _summary_table(runs)
        + "\n\n"
        + (tables(TRAFFIC, "queued call") if TRAFFIC else "")
        + "Per queued call, net medians: "
        + ", ".join(lines)
        + ".\n\n"
        + (
            "Logs at WARNING or above (log level WARNING):\n\n"
            + "\n".join(f"- {f}" for f in FINDINGS)
            + "\n\n"
            if FINDINGS
            else "No line at WARNING or above in the controller's, workers' or bridge's logs.\n\n"
        )
        + "".join(
            f"### Controller profile, `{label}`, last step (py-spy)\n\n{text}\n\n"
            for label, text in PROFILES.items()
        )
        + f"_Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in before)}; "
        f"after: {' '.join(f'{x:.2f}' for x in after)}._\n\n"
        f"Command: `{command}`"
    )
