"""Router load: how many queued calls per second the controller's one router process decides.

With ``queue_legs = workers`` the IVR workers run every queued caller's leg (music, ringing the
CCR, the bridge) and the controller only decides: it reads the legs' messages on the desk link
(Redis streams), runs the router and keeps the figures (queue_log, the SL accumulator, the
wallboard and its journal, the queue events table). That process is the one part of line311 a
second box does not multiply (docs/scaling.md). On this 2-core box Asterisk, SIPp and the
workers use up the cores long before the controller is busy (``python -m bench queue_cost``
measures it at up to 10 calls/s), so this bench drives the controller alone, at rates real
legs could not reach here:

- a real stack (`bench._stack`: Asterisk, CRM bridge, Redis, the controller with
  ``ivr_workers = 1`` and ``queue_legs = workers``), ``--agents`` CCRs in the roster (NYC runs
  400+), logged in at the desk API, one ``general`` queue with a ``--wrapup`` wrap-up;
- a load generator in this process speaking the desk link as an IVR worker does
  (`line311.live.desk.DeskLink`, app ``line311-w9``): per call the ``enqueue``; on the
  router's ``AgentOffered`` the leg's ``AcceptOffer`` (the CCR answered at once); on
  ``OfferAccepted`` the ``CallAnswered`` fact; ``--talk`` seconds later the ``CallCompleted``
  fact, the ``ReleaseAgent`` and the ``end``. Six messages in, three out, per call (a real
  leg sends seven to eight: the screen pop's ``ivr`` and a position question now and then);
- rates rising step by step, each for ``--seconds``.

Per step: calls started / completed / refused, the rate achieved, the controller's CPU
(utime + stime, net of its idle CPU per second) per call and as a share of one core, Redis's
and the generator's CPU, and the router's reaction as the generator sees it: enqueue →
``admitted`` and enqueue → ``AgentOffered`` (both through Redis twice), p50 / p99. The
controller's limit is where its core is full: the achieved rate stops following the offered
one and the reaction grows.

    python -m bench router_load                        # 25 .. 400 calls/s, 400 CCRs
    python -m bench router_load --rates 50,100 --seconds 10 --no-doc
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from bench._profile import Profiler, summarise
from bench._stack import BenchStack, bench_stack
from bench.queue_cost import QUEUES, ROSTER_AGENT, Desk  # one queue, N English CCRs
from line311.call.commands import AcceptOffer, Command, EmitQueueEvent, ReleaseAgent
from line311.call.events import AgentOffered, OfferAccepted
from line311.live.desk import DeskLink, DeskMessage, decode_event, encode_command
from line311.queue.events import CallAnswered, CallCompleted
from tests.e2e.capacity import cpu_seconds, loadavg, quantile

RATES = (50.0, 100.0, 200.0, 400.0, 600.0, 800.0, 1000.0, 1200.0)
SECONDS = 10.0
AGENTS = 400
TALK_S = 0.1
WRAPUP_S = 0.1
PROFILES: dict[float, str] = {}
"""Rate -> the controller's py-spy summary (``--profile``)."""
OFFER_P99_MS = 250.0
"""A step the router kept up with: every call ended, enqueue → offer p99 within this."""
IDLE_S = 5.0
DRAIN_S = 10.0
ME = "line311-w9"
"""The generator's app name on the desk link (no worker of the stack has it)."""


@dataclass
class Call:
    started: float
    admitted: float | None = None
    offered: float | None = None
    agent: str | None = None
    done: bool = False


@dataclass
class Step:
    rate: float
    seconds: float
    started: int = 0
    completed: int = 0
    refused: int = 0
    admit_ms: list[float] = field(default_factory=list)
    offer_ms: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """Process -> CPU seconds over the step (generator: this process)."""
    window: float = 0.0

    @property
    def achieved(self) -> float:
        return self.completed / self.window if self.window else 0.0


class Generator:
    """The IVR worker's side of the desk link for synthetic queued calls."""

    def __init__(self, link: DeskLink, controller: str, talk: float, wrapup: float) -> None:
        self.link = link
        self.controller = controller
        self.talk = talk
        self.wrapup = wrapup
        self.calls: dict[str, Call] = {}
        self.step: Step | None = None
        self.unexpected = 0
        self._n = 0

    def _send(self, kind: str, call_id: str, body: dict[str, object]) -> None:
        self.link.send(self.controller, DeskMessage(kind, call_id, ME, body))

    def _cmd(self, call_id: str, command: Command) -> None:
        self._send("cmd", call_id, {"command": encode_command(command)})

    def start_call(self) -> None:
        assert self.step is not None
        self._n += 1
        call_id = f"bench-{self._n}"
        self.calls[call_id] = Call(time.monotonic())
        self.step.started += 1
        body = {"topic": "general", "language": "en", "priority": 0, "entered_at": time.time()}
        self._send("enqueue", call_id, body)

    async def follow(self) -> None:
        async for message in self.link.messages():
            self.on(message)

    def on(self, message: DeskMessage) -> None:
        call = self.calls.get(message.call_id)
        step = self.step
        if call is None or step is None:
            return
        now = time.monotonic()
        if message.kind == "admitted":
            if "error" in message.body:
                step.refused += 1
                call.done = True
                return
            call.admitted = now
            step.admit_ms.append(1000 * (now - call.started))
            return
        if message.kind != "event":
            return
        event = decode_event(message.body["event"])
        if isinstance(event, AgentOffered):
            call.offered, call.agent = now, event.agent_id
            step.offer_ms.append(1000 * (now - call.started))
            self._cmd(message.call_id, AcceptOffer(event.agent_id))  # the CCR answered
        elif isinstance(event, OfferAccepted) and call.agent is not None:
            self._cmd(
                message.call_id,
                EmitQueueEvent(CallAnswered(message.call_id, "general", time.time(), call.agent)),
            )
            asyncio.get_running_loop().call_later(self.talk, self._hang_up, message.call_id)
        else:
            self.unexpected += 1

    def _hang_up(self, call_id: str) -> None:
        call = self.calls[call_id]
        assert call.agent is not None
        completed = CallCompleted(
            call_id, "general", time.time(), talk_seconds=self.talk,
            wrapup_seconds=self.wrapup, ended_by="caller",
        )  # fmt: skip
        self._cmd(call_id, EmitQueueEvent(completed))
        self._cmd(call_id, ReleaseAgent(call.agent))
        self._send("end", call_id, {"finished": True})
        call.done = True
        if self.step is not None:
            self.step.completed += 1

    def open_calls(self) -> int:
        return sum(1 for c in self.calls.values() if not c.done)


def _cpu(processes: dict[str, int]) -> dict[str, float]:
    out = {name: cpu_seconds(pid) for name, pid in processes.items()}
    out["generator"] = time.process_time()
    return out


async def _drive(lab: BenchStack, args: argparse.Namespace) -> tuple[list[Step], dict[str, float]]:
    redis = lab.redis
    assert redis is not None
    env = lab.stack.env
    client = aioredis.Redis(
        host="127.0.0.1", port=redis.port, password=env["LINE311_REDIS_PASSWORD"],
        decode_responses=True, socket_timeout=5.0,
    )  # fmt: skip
    link = DeskLink(client, me=ME, block_ms=200)
    gen = Generator(link, env.get("LINE311_ARI_APP", "line311"), args.talk, args.wrapup)
    processes = {k: v for k, v in lab.processes().items() if k in ("controller", "redis")}
    steps: list[Step] = []
    PROFILES.clear()
    async with asyncio.TaskGroup() as tg:
        await link.open()
        writer = tg.create_task(link.run())
        reader = tg.create_task(gen.follow())
        # idle: each process's fixed CPU per second, taken off the steps' figures
        before, t0 = _cpu(processes), time.monotonic()
        await asyncio.sleep(args.idle)
        after, t1 = _cpu(processes), time.monotonic()
        idle = {k: (after[k] - before[k]) / (t1 - t0) for k in after}
        for rate in args.rate_list:
            step = gen.step = Step(rate, args.seconds)
            spy = None
            if rate == args.profile:
                out = lab.workdir / f"profile-{rate:g}.txt"
                spy = Profiler(processes["controller"], args.seconds, out)
            before, t0 = _cpu(processes), time.monotonic()
            tick, sent = 0.02, 0
            while (elapsed := time.monotonic() - t0) < args.seconds:
                due = int(rate * elapsed) - sent
                for _ in range(due):
                    gen.start_call()
                sent += max(due, 0)
                await asyncio.sleep(tick)
            deadline = time.monotonic() + DRAIN_S
            while gen.open_calls() and time.monotonic() < deadline:  # noqa: ASYNC110 - a bounded drain
                await asyncio.sleep(0.05)
            after, t1 = _cpu(processes), time.monotonic()
            step.window = t1 - t0
            if spy is not None:
                PROFILES[rate] = summarise(await asyncio.to_thread(spy.wait))
            step.cpu = {k: after[k] - before[k] for k in after}
            steps.append(step)
            gen.calls = {k: c for k, c in gen.calls.items() if not c.done}
            if gen.open_calls() > step.started // 2:
                break  # far past the limit: the next steps would only pile up
        writer.cancel()
        reader.cancel()
    await client.aclose()
    return steps, idle


def _ms(values: list[float], q: float) -> str:
    return f"{quantile(values, q):.1f}" if values else "-"


def _table(steps: list[Step], idle: dict[str, float]) -> str:
    rows = [
        "| offered calls/s | completed | refused | achieved calls/s | controller ms/call (net) "
        "| controller core | redis ms/call | generator ms/call | enqueue→admitted p50 / p99 ms "
        "| enqueue→offer p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        n = max(s.completed, 1)
        ctl = s.cpu["controller"]
        net = ctl - idle["controller"] * s.window
        rows.append(
            f"| {s.rate:g} | {s.completed} | {s.refused} | {s.achieved:.1f} "
            f"| {1000 * ctl / n:.2f} ({1000 * net / n:.2f}) | {100 * ctl / s.window:.0f} % "
            f"| {1000 * s.cpu['redis'] / n:.2f} | {1000 * s.cpu['generator'] / n:.2f} "
            f"| {_ms(s.admit_ms, 0.5)} / {_ms(s.admit_ms, 0.99)} "
            f"| {_ms(s.offer_ms, 0.5)} / {_ms(s.offer_ms, 0.99)} |"
        )
    return "\n".join(rows)


def kept_up(step: Step) -> bool:
    """Every call of the step ended, and the router's offers came within `OFFER_P99_MS`."""
    return (
        bool(step.completed)
        and step.completed >= step.started
        and (quantile(step.offer_ms, 0.99) <= OFFER_P99_MS)
    )


def limit(steps: list[Step], idle: dict[str, float]) -> tuple[float, float, float]:
    """(the busiest rate the router kept up with, the controller's net ms per call there,
    the calls/s one core of it carries at that cost); NaNs when it kept up with none."""
    kept = [s for s in steps if kept_up(s)]
    if not kept:
        return float("nan"), float("nan"), float("nan")
    top = max(kept, key=lambda s: s.rate)
    ms = 1000 * (top.cpu["controller"] - idle["controller"] * top.window) / top.completed
    return top.rate, ms, 1000 / ms


@contextlib.contextmanager
def _files(args: argparse.Namespace) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="line311-rload-") as tmp:
        files = Path(tmp)
        (files / "queues.yaml").write_text(QUEUES.format(wrapup=args.wrapup))
        (files / "agents.yaml").write_text(
            "agents:\n" + "".join(ROSTER_AGENT.format(n=n) for n in range(1, args.agents + 1))
        )
        yield files


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench router_load")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES), help="calls/s")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="length of each step")
    parser.add_argument("--agents", type=int, default=AGENTS, help="CCRs in the roster")
    parser.add_argument("--talk", type=float, default=TALK_S, help="seconds on the call")
    parser.add_argument("--wrapup", type=float, default=WRAPUP_S, help="wrap-up seconds")
    parser.add_argument("--idle", type=float, default=IDLE_S, help="idle window, seconds")
    parser.add_argument(
        "--profile", type=float, default=None, help="py-spy the controller at this rate"
    )
    args = parser.parse_args(argv)
    args.rate_list = [float(r) for r in args.rates.split(",") if r.strip()]
    busiest = max(args.rate_list) * (args.talk + args.wrapup + 0.05)
    if not args.rate_list or busiest > args.agents:
        parser.error(f"the highest rate keeps {busiest:.0f} CCRs busy: more than --agents")
    return args


def run(argv: list[str] | None = None) -> str:
    argv = argv or []
    args = _parse(argv)
    before = loadavg()
    with _files(args) as files:
        env = {
            "LINE311_LIVE_STATE": "redis",
            "LINE311_IVR_WORKERS": "1",
            "LINE311_QUEUE_LEGS": "workers",
            "LINE311_QUEUE_PHONE_STATE": "false",  # the generator's CCRs have no phones
            "LINE311_QUEUES_FILE": str(files / "queues.yaml"),
            "LINE311_AGENTS_FILE": str(files / "agents.yaml"),
            "LINE311_QUEUE_ANNOUNCE_FIRST": "600",
            "LINE311_QUEUE_PERIODIC_INTERVAL": "0",
        }
        with bench_stack(env) as lab:
            desk = Desk(lab)  # the queue_cost bench's desk API client
            for n in range(1, args.agents + 1):
                desk.login(f"agent{n}")
            steps, idle = asyncio.run(_drive(lab, args))
    after = loadavg()
    rate, ms, calls = limit(steps, idle)
    most = max(steps, key=lambda s: s.achieved)
    command = shlex.join(["python", "-m", "bench", "router_load", *argv])
    return (
        "## Router load: the controller's one router process at rising rates (issue 13, goal 4)\n\n"
        f"The controller as `line311 serve` runs it with `queue_legs = workers` (Redis live "
        f"state, 1 IVR worker, idle), {args.agents} CCRs logged in at the desk API, one "
        f"`general` queue with a {args.wrapup:g}-s wrap-up, fed over the desk link by a load "
        "generator that speaks it as an IVR worker does: per call the `enqueue`, the "
        "`AcceptOffer` at once on the router's offer, the `CallAnswered` fact, then after "
        f"{args.talk:g} s the `CallCompleted` fact, the `ReleaseAgent` and the `end` (6 "
        "messages in, 3 out; a real leg adds the screen pop's `ivr` and a position question "
        f"now and then). Steps of {args.seconds:g} s, then up to {DRAIN_S:g} s for the last "
        "calls to end. CPU = utime + stime from `/proc/<pid>/stat`; net = less the "
        f"controller's idle CPU per second ({1000 * idle['controller']:.1f} ms/s over "
        f"{args.idle:g} s). The reaction times are the generator's: through Redis both ways.\n\n"
        + _table(steps, idle)
        + "\n\n"
        f"**The router kept up with up to {rate:g} queued calls/s** (every call ended, "
        f"enqueue → offer p99 ≤ {OFFER_P99_MS:g} ms; kept up with: "
        + ", ".join(f"{s.rate:g}" for s in steps if kept_up(s))
        + f" calls/s), at {ms:.2f} ms of the controller's CPU per call (net): one core of it "
        f"decides about {calls:.0f} queued calls/s. The most it completed was "
        f"{most.achieved:.0f} calls/s (offered {most.rate:g}), its core "
        f"{100 * most.cpu['controller'] / most.window:.0f} % busy, the offers then "
        f"{_ms(most.offer_ms, 0.5)} ms late at the median.\n\n"
        + "".join(
            f"### Controller profile at {r:g} calls/s (py-spy)\n\n{text}\n\n"
            for r, text in PROFILES.items()
        )
        + f"_Load average (1, 5, 15 min) before: {' '.join(map(str, before))}; after: "
        f"{' '.join(map(str, after))}._\n\n"
        f"Command: `{command}`"
    )
