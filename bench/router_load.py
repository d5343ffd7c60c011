"""Router load: how many calls per second the controller's one process keeps up with.

With ``queue_legs = workers`` the IVR workers run every caller's IVR and every queued caller's
leg (music, ringing the CCR, the bridge); the controller only decides and counts: it reads the
legs' messages on the desk link (Redis streams), runs the router, relays the workers' IVR
facts to the wallboard and keeps the figures (queue_log, the SL accumulator, the wallboard's
stream, the queue events table). That process is the one part of line311 a second box does
not multiply (docs/scaling.md); the dashboard process, fed from it, is another. On this 2-core
box Asterisk, SIPp and the workers use up the cores long before the controller is busy
(``python -m bench queue_cost`` measures it at up to 10 calls/s), so this bench drives the
controller alone, at rates real legs could not reach here:

- a real stack (`bench._stack`: Asterisk, CRM bridge, Redis, the controller with
  ``ivr_workers = 1`` and ``queue_legs = workers``, the dashboard as its own process, as
  ``line311 run`` ships it), ``--agents`` CCRs in the roster (NYC runs 400+), logged in at
  the desk API, one ``general`` queue with a ``--wrapup`` wrap-up;
- a load generator in this process speaking as an IVR worker does. Every call enters and
  leaves the IVR (the two facts a worker publishes, `line311.live.ivr_activity`, written in
  one pipeline per 20-ms tick); a share (``--ivr-shares``) ends there, resolved, and the
  others queue over the desk link (`line311.live.desk.DeskLink`, app ``line311-w9``): the
  ``enqueue``; on the router's ``AgentOffered`` the leg's ``AcceptOffer`` (the CCR answered
  at once); on ``OfferAccepted`` the ``CallAnswered`` fact; ``--talk`` seconds later the
  ``CallCompleted`` fact, the ``ReleaseAgent`` and the ``end``. Six messages in, three out,
  per queued call (a real leg sends seven to eight: the screen pop's ``ivr`` and a position
  question now and then);
- rates (all calls, both kinds) rising step by step, each for ``--seconds``, one ramp per
  share on the same stack.

Per step: calls started / completed / refused, the rate achieved, the controller's CPU
(utime + stime, net of its idle CPU per second) per call and as a share of one core, the
dashboard's, Redis's and the generator's CPU, the router's reaction as the generator sees it
(enqueue → ``admitted`` and enqueue → ``AgentOffered``, through Redis twice, p50 / p99), and
the IVR facts the controller had not read when the step's calls had ended. A step is kept up
with when every queued call ended, the offers came within `OFFER_P99_MS` at p99 and no fact
was left unread.

    python -m bench router_load                        # shares 0, 1, 0.5; 50 .. 1,600 calls/s
    python -m bench router_load --ivr-shares 0 --rates 50,100 --seconds 10 --no-doc
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import shlex
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench._profile import Profiler, summarise
from bench._stack import BenchStack, bench_stack
from bench.queue_cost import QUEUES, ROSTER_AGENT, Desk  # one queue, N English CCRs
from line311.call.commands import AcceptOffer, Command, EmitQueueEvent, ReleaseAgent
from line311.call.events import AgentOffered, OfferAccepted
from line311.live.desk import DeskLink, DeskMessage, decode_event, encode_command
from line311.live.ivr_activity import GROUP, MAX_LEN, IvrActivityFeed, IvrFact, fact_fields
from line311.live.journal import LiveJournal
from line311.queue.events import CallAnswered, CallCompleted
from tests.e2e.capacity import cpu_seconds, loadavg, quantile

RATES = (50.0, 100.0, 200.0, 400.0, 600.0, 800.0, 1000.0, 1200.0, 1600.0)
IVR_SHARES = (0.0, 1.0, 0.5)
"""Shares of the calls resolved in the IVR: every call queued, none, half (NYC: over half)."""
U = 0.7
"""The core's busy share the scaling model plans for: the step whose cost it takes."""
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
MIN_ENTRIES = 1_000
"""A stream's bytes per entry are taken to its cap from this many entries on."""
RECORD_DAY = 276_827
"""NYC 311's record day, in calls: what the journal's day facts hold for it."""
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
    ivr_share: float = 0.0
    started: int = 0
    """Queued calls started."""
    completed: int = 0
    """Queued calls ended."""
    resolved: int = 0
    """Calls resolved in the IVR (their two facts written)."""
    refused: int = 0
    behind: int = 0
    """IVR facts the controller had not read once the step's calls had ended."""
    admit_ms: list[float] = field(default_factory=list)
    offer_ms: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    """Process -> CPU seconds over the step (generator: this process)."""
    window: float = 0.0

    @property
    def calls(self) -> int:
        """Calls done: queued calls ended and calls resolved in the IVR."""
        return self.completed + self.resolved

    @property
    def achieved(self) -> float:
        return self.calls / self.window if self.window else 0.0

    @property
    def busy(self) -> float:
        """The share of one core the controller was busy over the step."""
        return self.cpu["controller"] / self.window if self.window else 0.0


class Generator:
    """The IVR worker's side of the desk link for synthetic queued calls."""

    def __init__(
        self, link: DeskLink, controller: str, talk: float, wrapup: float, ivr_share: float = 0.0
    ) -> None:
        self.link = link
        self.controller = controller
        self.talk = talk
        self.wrapup = wrapup
        self.ivr_share = ivr_share
        self.calls: dict[str, Call] = {}
        self.facts: list[IvrFact] = []
        """IVR facts not yet written (`flush_facts`)."""
        self.step: Step | None = None
        self.unexpected = 0
        self._n = 0
        self._resolved_due = 0.0

    def begin(self, share: float) -> None:
        """A new ramp: ``share`` of its calls resolved in the IVR, spread evenly from its
        first call."""
        self.ivr_share, self._resolved_due = share, 0.0

    def _send(self, kind: str, call_id: str, body: dict[str, object]) -> None:
        self.link.send(self.controller, DeskMessage(kind, call_id, ME, body))

    def _cmd(self, call_id: str, command: Command) -> None:
        self._send("cmd", call_id, {"command": encode_command(command)})

    def start_call(self) -> None:
        """A call through the IVR: resolved there (`ivr_share` of them, spread evenly), or
        queued: it leaves the IVR unresolved and is enqueued, as a worker's leg is."""
        assert self.step is not None
        self._n += 1
        call_id = f"bench-{self._n}"
        now = time.time()
        self._resolved_due += self.ivr_share
        resolved = self._resolved_due >= 1.0 - 1e-9
        if resolved:
            self._resolved_due -= 1.0
        self.facts.append(IvrFact("entered", call_id, now))
        self.facts.append(IvrFact("left", call_id, now, resolved=resolved))
        if resolved:
            self.step.resolved += 1
            return
        self.calls[call_id] = Call(time.monotonic())
        self.step.started += 1
        body = {"topic": "general", "language": "en", "priority": 0, "entered_at": now}
        self._send("enqueue", call_id, body)

    async def flush_facts(self, client: aioredis.Redis, key: str) -> None:
        """Write the IVR facts gathered, in one pipeline (a worker writes each alone: its
        cost, not the controller's, which reads them in batches either way)."""
        facts, self.facts = self.facts, []
        if not facts:
            return
        async with client.pipeline(transaction=False) as pipe:
            for fact in facts:
                pipe.xadd(key, fact_fields(fact), maxlen=MAX_LEN, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()

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


async def _behind(client: aioredis.Redis, key: str) -> int:
    """IVR facts the controller's group has not read, or read and not acknowledged."""
    for group in await client.xinfo_groups(key):
        if group["name"] == GROUP:
            return int(group.get("lag") or 0) + int(group["pending"])
    return 0


async def _ramp(
    gen: Generator,
    client: aioredis.Redis,
    key: str,
    processes: dict[str, int],
    share: float,
    args: argparse.Namespace,
    workdir: Path,
) -> list[Step]:
    gen.begin(share)
    steps: list[Step] = []
    for rate in args.rate_list:
        step = gen.step = Step(rate, args.seconds, share)
        spy = None
        if rate == args.profile and share == args.ivr_share_list[0]:
            out = workdir / f"profile-{rate:g}.txt"
            spy = Profiler(processes["controller"], args.seconds, out)
        before, t0 = _cpu(processes), time.monotonic()
        tick, sent = 0.02, 0
        while (elapsed := time.monotonic() - t0) < args.seconds:
            due = int(rate * elapsed) - sent
            for _ in range(due):
                gen.start_call()
            sent += max(due, 0)
            await gen.flush_facts(client, key)
            await asyncio.sleep(tick)
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            step.behind = await _behind(client, key)
            if not gen.open_calls() and not step.behind:
                break
            await asyncio.sleep(0.05)
        after, t1 = _cpu(processes), time.monotonic()
        step.window = t1 - t0
        if spy is not None:
            PROFILES[rate] = summarise(await asyncio.to_thread(spy.wait))
        step.cpu = {k: after[k] - before[k] for k in after}
        steps.append(step)
        gen.calls = {k: c for k, c in gen.calls.items() if not c.done}
        if gen.open_calls() > step.started // 2 or step.behind > 2 * step.resolved + step.started:
            break  # far past the limit: the next steps would only pile up
    clear_by = time.monotonic() + 6 * DRAIN_S  # the next ramp starts clear (or late)
    while time.monotonic() < clear_by and (gen.open_calls() or await _behind(client, key)):  # noqa: ASYNC110 - bounded
        await asyncio.sleep(0.2)
    gen.calls.clear()
    await asyncio.sleep(args.idle)  # and its wrap-ups and figures are done with
    return steps


async def _drive(
    lab: BenchStack, args: argparse.Namespace
) -> tuple[dict[float, list[Step]], dict[str, float], tuple[list[KeyMemory], int]]:
    """Each ramp's steps, each process's idle CPU per second, and Redis's memory at the end
    (`redis_memory`)."""
    redis = lab.redis
    assert redis is not None
    env = lab.stack.env
    client = aioredis.Redis(
        host="127.0.0.1", port=redis.port, password=env["LINE311_REDIS_PASSWORD"],
        decode_responses=True, socket_timeout=5.0,
    )  # fmt: skip
    link = DeskLink(client, me=ME, block_ms=200)
    gen = Generator(link, env.get("LINE311_ARI_APP", "line311"), args.talk, args.wrapup)
    key = IvrActivityFeed(client).key
    watched = ("controller", "dashboard", "redis")
    processes = {k: v for k, v in lab.processes().items() if k in watched}
    ramps: dict[float, list[Step]] = {}
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
        for share in args.ivr_share_list:
            ramps[share] = await _ramp(gen, client, key, processes, share, args, lab.workdir)
        writer.cancel()
        reader.cancel()
    memory = await redis_memory(client)
    await client.aclose()
    return ramps, idle, memory


def _default(cls: type, name: str) -> int:
    return int(inspect.signature(cls).parameters[name].default)


def stream_cap(key: str) -> int | None:
    """The entries line311 trims the stream ``key`` to (None: not a capped stream of its)."""
    if ":desk:" in key:
        return _default(DeskLink, "max_len")
    if key.endswith(":ivr-activity"):
        return MAX_LEN
    if key.endswith(":wallboard"):
        return _default(LiveJournal, "stream_max")
    return None


@dataclass(frozen=True)
class KeyMemory:
    key: str
    kind: str
    entries: int
    bytes: int

    @property
    def per_entry(self) -> float:
        return self.bytes / self.entries if self.entries else 0.0


async def redis_memory(client: aioredis.Redis) -> tuple[list[KeyMemory], int]:
    """Every key's type, entries and ``MEMORY USAGE`` (every element counted), and Redis's
    ``used_memory``."""
    out: list[KeyMemory] = []
    redis: Any = client
    length = {"stream": "XLEN", "zset": "ZCARD", "hash": "HLEN", "set": "SCARD", "list": "LLEN"}
    async for key in client.scan_iter(count=1000):
        kind = str(await client.type(key))
        command = length.get(kind)
        entries = int(await redis.execute_command(command, key)) if command else 1
        used = await redis.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0")
        out.append(KeyMemory(str(key), kind, entries, int(used or 0)))
    info = await client.info("memory")
    return sorted(out, key=lambda k: -k.bytes), int(info["used_memory"])


def memory_report(keys: list[KeyMemory], used: int, calls: int) -> str:
    """The streams at their caps, and what grows with the calls (the journal's day facts)
    per call and for a record day."""
    mib = 1024 * 1024
    rows = [
        "| key | type | entries | MiB now | bytes per entry | cap (entries) | MiB at the cap |",
        "|---|---|---|---|---|---|---|",
    ]
    at_caps = 0.0
    for k in keys:
        cap = stream_cap(k.key) if k.kind == "stream" else None
        full = "-"
        if cap is not None and k.entries >= MIN_ENTRIES:  # (a stream's fixed cost aside)
            size = k.per_entry * cap
            at_caps += size
            full = f"{size / mib:.1f}"
        if k.bytes < 64 * 1024 and cap is None:
            continue  # the small keys: a CCR's hash, a counter
        rows.append(
            f"| `{k.key}` | {k.kind} | {k.entries} | {k.bytes / mib:.1f} | {k.per_entry:.0f} "
            f"| {cap if cap is not None else '-'} | {full} |"
        )
    growing = sum(k.bytes for k in keys if ":facts:" in k.key)
    per_call = growing / calls if calls else 0.0
    return (
        "\n".join(rows) + "\n\n"
        f"Redis `used_memory` at the end: {used / mib:.0f} MiB. **The capped streams would hold "
        f"{at_caps / mib:.0f} MiB at their caps** (each one's measured bytes per entry × its "
        f"cap, for the streams with {MIN_ENTRIES:,} entries or more; entries written under "
        "load hold several messages each, so they are bigger than at a few calls/s, and "
        "fewer). **What grows with the calls**, the journal's day facts "
        f"(`*:facts:<day>`, kept 3 days): {per_call:.0f} bytes per call over the run's "
        f"{calls} calls, **{per_call * RECORD_DAY / mib:.0f} MiB for a record day** "
        f"({RECORD_DAY:,} calls), three days of it at most."
    )


def _ms(values: list[float], q: float) -> str:
    return f"{quantile(values, q):.1f}" if values else "-"


def net_ms(step: Step, idle: dict[str, float], process: str) -> float:
    """``process``'s CPU ms per call of ``step``, net of its idle CPU."""
    used = step.cpu.get(process, 0.0) - idle.get(process, 0.0) * step.window
    return 1000 * used / max(step.calls, 1)


def _table(steps: list[Step], idle: dict[str, float]) -> str:
    rows = [
        "| offered calls/s | queued ended | resolved in IVR | refused | achieved calls/s "
        "| controller ms/call (net) | controller core | dashboard ms/call (net) "
        "| redis ms/call | generator ms/call | enqueue→admitted p50 / p99 ms "
        "| enqueue→offer p50 / p99 ms | IVR facts unread |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in steps:
        n = max(s.calls, 1)
        ctl = s.cpu["controller"]
        dash = f"{net_ms(s, idle, 'dashboard'):.2f}" if "dashboard" in s.cpu else "-"
        rows.append(
            f"| {s.rate:g} | {s.completed} | {s.resolved} | {s.refused} | {s.achieved:.1f} "
            f"| {1000 * ctl / n:.2f} ({net_ms(s, idle, 'controller'):.2f}) "
            f"| {100 * s.busy:.0f} % | {dash} "
            f"| {1000 * s.cpu['redis'] / n:.2f} | {1000 * s.cpu['generator'] / n:.2f} "
            f"| {_ms(s.admit_ms, 0.5)} / {_ms(s.admit_ms, 0.99)} "
            f"| {_ms(s.offer_ms, 0.5)} / {_ms(s.offer_ms, 0.99)} | {s.behind} |"
        )
    return "\n".join(rows)


def kept_up(step: Step) -> bool:
    """Every queued call of the step ended, the router's offers came within
    `OFFER_P99_MS` (at p99), and the controller had read every IVR fact."""
    queued_ok = step.completed >= step.started and (
        not step.offer_ms or quantile(step.offer_ms, 0.99) <= OFFER_P99_MS
    )
    return bool(step.calls) and queued_ok and not step.behind


def limit(steps: list[Step], idle: dict[str, float]) -> tuple[float, float, float]:
    """(the busiest rate the controller kept up with, its net ms per call there, the calls/s
    one core of it carries at that cost); NaNs when it kept up with none."""
    kept = [s for s in steps if kept_up(s)]
    if not kept:
        return float("nan"), float("nan"), float("nan")
    top = max(kept, key=lambda s: s.rate)
    ms = net_ms(top, idle, "controller")
    return top.rate, ms, 1000 / ms


def planned(steps: list[Step], u: float = U) -> Step | None:
    """The step the scaling model takes its cost from: of those kept up with, the one whose
    controller core was busy nearest ``u`` (the cost per call falls as the load grows, so
    the model takes it where it plans to run), or the busiest if none came up to ``u``;
    None when none was kept up with."""
    kept = [s for s in steps if kept_up(s) and s.window]
    if not kept:
        return None
    if all(s.busy < u for s in kept):
        return max(kept, key=lambda s: s.rate)
    return min(kept, key=lambda s: abs(s.busy - u))


def nearest(steps: list[Step], rate: float) -> Step | None:
    """The step kept up with whose rate is nearest ``rate`` (None: none kept up with)."""
    kept = [s for s in steps if kept_up(s)]
    return min(kept, key=lambda s: abs(s.rate - rate)) if kept else None


@dataclass(frozen=True)
class Mix:
    """A mixed ramp's planned step against the pure ramps at the same per-kind rates."""

    share: float
    rate: float
    ivr_ms: float
    """The controller's net ms per call resolved in the IVR, at ``rate × share`` of them."""
    queued_ms: float
    """... per queued call (its IVR facts included), at ``rate × (1 − share)``."""
    measured_ms: float
    dashboard_ms: float

    @property
    def modelled_ms(self) -> float:
        return self.share * self.ivr_ms + (1 - self.share) * self.queued_ms


def mix(ramps: dict[float, list[Step]], idle: dict[str, float]) -> Mix | None:
    """The first mixed ramp's `planned` step, and the pure ramps' costs at its per-kind
    rates; None without a mixed and both pure ramps, or with a step kept up with missing."""
    share = next((x for x in ramps if 0 < x < 1), None)
    if share is None or 0.0 not in ramps or 1.0 not in ramps:
        return None
    step = planned(ramps[share])
    if step is None:
        return None
    ivr = nearest(ramps[1.0], step.rate * share)
    queued = nearest(ramps[0.0], step.rate * (1 - share))
    if ivr is None or queued is None:
        return None
    return Mix(
        share,
        step.rate,
        net_ms(ivr, idle, "controller"),
        net_ms(queued, idle, "controller"),
        net_ms(step, idle, "controller"),
        net_ms(step, idle, "dashboard"),
    )


@contextlib.contextmanager
def _files(args: argparse.Namespace) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="line311-rload-") as tmp:
        files = Path(tmp)
        (files / "queues.yaml").write_text(QUEUES.format(wrapup=args.wrapup))
        (files / "agents.yaml").write_text(
            "agents:\n" + "".join(ROSTER_AGENT.format(n=n) for n in range(1, args.agents + 1))
        )
        yield files


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line's options (``python -m bench router_load --help``)."""
    parser = argparse.ArgumentParser(prog="python -m bench router_load")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES), help="calls/s")
    parser.add_argument(
        "--ivr-shares",
        default=",".join(f"{r:g}" for r in IVR_SHARES),
        help="shares of the calls resolved in the IVR, one ramp each (0: every call queued)",
    )
    parser.add_argument("--seconds", type=float, default=SECONDS, help="length of each step")
    parser.add_argument("--agents", type=int, default=AGENTS, help="CCRs in the roster")
    parser.add_argument("--talk", type=float, default=TALK_S, help="seconds on the call")
    parser.add_argument("--wrapup", type=float, default=WRAPUP_S, help="wrap-up seconds")
    parser.add_argument("--idle", type=float, default=IDLE_S, help="idle window, seconds")
    parser.add_argument(
        "--profile", type=float, default=None, help="py-spy the controller at this rate"
    )
    args = parser.parse_args(argv)
    try:
        args.rate_list = [float(r) for r in args.rates.split(",") if r.strip()]
        args.ivr_share_list = [float(r) for r in args.ivr_shares.split(",") if r.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    if not args.ivr_share_list or not all(0 <= x <= 1 for x in args.ivr_share_list):
        parser.error("--ivr-shares: each share between 0 and 1")
    queued = 1 - min(args.ivr_share_list)
    busiest = max(args.rate_list or [0]) * queued * (args.talk + args.wrapup + 0.05)
    if not args.rate_list or busiest > args.agents:
        parser.error(f"the highest rate keeps {busiest:.0f} CCRs busy: more than --agents")
    return args


def _share(share: float) -> str:
    if share == 0:
        return "every call queued"
    if share == 1:
        return "every call resolved in the IVR"
    return f"{100 * share:g} % resolved in the IVR, the rest queued"


def _ramp_report(share: float, steps: list[Step], idle: dict[str, float]) -> str:
    rate, ms, calls = limit(steps, idle)
    if not steps:
        return ""
    most = max(steps, key=lambda s: s.achieved)
    kept = ", ".join(f"{s.rate:g}" for s in steps if kept_up(s)) or "none"
    return (
        f"### {_share(share)[:1].upper()}{_share(share)[1:]}\n\n" + _table(steps, idle) + "\n\n"
        f"Kept up with up to **{rate:g} calls/s** (kept up with: {kept}), at {ms:.2f} ms of "
        f"the controller's CPU per call (net): one core of it carries about {calls:.0f} such "
        f"calls/s. The most it completed was {most.achieved:.0f} calls/s (offered "
        f"{most.rate:g}), its core {100 * most.busy:.0f} % busy.\n\n"
    )


def summary(ramps: dict[float, list[Step]], idle: dict[str, float]) -> str:
    """Each ramp's `planned` step, and how a mixed ramp compares with the pure ones."""
    rows = [
        "| IVR-resolved share | step taken (calls/s) | controller core | controller ms/call "
        "| dashboard ms/call |",
        "|---|---|---|---|---|",
    ]
    for share, steps in ramps.items():
        step = planned(steps)
        if step is None:
            rows.append(f"| {share:g} | none kept up with | | | |")
            continue
        rows.append(
            f"| {share:g} | {step.rate:g} | {100 * step.busy:.0f} % "
            f"| {net_ms(step, idle, 'controller'):.2f} | {net_ms(step, idle, 'dashboard'):.2f} |"
        )
    text = "\n".join(rows)
    m = mix(ramps, idle)
    if m is not None:
        text += (
            f"\n\nAt the mixed ramp's step ({m.rate:g} calls/s, {100 * m.share:g} % resolved in "
            f"the IVR) the pure ramps at the same rates of each kind give r = {m.ivr_ms:.2f} ms "
            f"per call resolved in the IVR (at {m.rate * m.share:g}/s) and {m.queued_ms:.2f} "
            f"ms per queued call, its IVR facts included (at {m.rate * (1 - m.share):g}/s): "
            f"mixed, {m.modelled_ms:.2f} ms per call against {m.measured_ms:.2f} measured "
            f"({m.measured_ms / m.modelled_ms:.2f}×). The dashboard process spent "
            f"{m.dashboard_ms:.2f} ms per call there."
        )
    return text


def measure(
    args: argparse.Namespace,
) -> tuple[dict[float, list[Step]], dict[str, float], tuple[list[KeyMemory], int]]:
    """Start the stack, log the CCRs in, drive the ramps (`_drive`'s results); the stack is
    gone when it returns. ``tests/e2e/test_router_cpu_ratio.py`` runs it too."""
    with _files(args) as files:
        env = {
            "LINE311_LIVE_STATE": "redis",
            "LINE311_IVR_WORKERS": "1",
            "LINE311_QUEUE_LEGS": "workers",
            "LINE311_DASHBOARD_PROCESS": "true",  # as `line311 run` ships it
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
            return asyncio.run(_drive(lab, args))


def run(argv: list[str] | None = None) -> str:
    argv = argv or []
    args = parse(argv)
    before = loadavg()
    ramps, idle, (keys, used) = measure(args)
    after = loadavg()
    table = summary(ramps, idle)
    command = shlex.join(["python", "-m", "bench", "router_load", *argv])
    return (
        "## Router load: the controller's one process at rising rates (issue 13, goal 4)\n\n"
        f"The controller as `line311 serve` runs it with `queue_legs = workers` (Redis live "
        f"state, 1 IVR worker, idle; the dashboard its own process, as `line311 run` ships "
        f"it), {args.agents} CCRs logged in at the desk API, one `general` queue with a "
        f"{args.wrapup:g}-s wrap-up, fed by a load generator that speaks as an IVR worker "
        "does. Every call enters and leaves the IVR (the worker's two facts on the IVR "
        "activity stream, which the controller relays to the wallboard); a queued call then "
        "goes over the desk link: the `enqueue`, the `AcceptOffer` at once on the router's "
        f"offer, the `CallAnswered` fact, then after {args.talk:g} s the `CallCompleted` fact, "
        "the `ReleaseAgent` and the `end` (6 messages in, 3 out; a real leg adds the screen "
        "pop's `ivr` and a position question now and then). Rates are all calls, both kinds. "
        f"Steps of {args.seconds:g} s, then up to {DRAIN_S:g} s for the last calls to end and "
        "the last facts to be read. CPU = utime + stime from `/proc/<pid>/stat`; net = less "
        f"each process's idle CPU per second (controller {1000 * idle['controller']:.1f} "
        f"ms/s, dashboard {1000 * idle.get('dashboard', 0.0):.1f} ms/s, over {args.idle:g} "
        "s). The reaction times are the generator's: through Redis both ways. A step is kept "
        f"up with when every queued call ended, enqueue → offer p99 ≤ {OFFER_P99_MS:g} ms and "
        "no IVR fact was left unread.\n\n"
        "**What the scaling model takes** (`python -m bench scaling`): each ramp's cost at "
        f"the step kept up with whose controller core was nearest {100 * U:g} % busy (the "
        "model's u):\n\n"
        + table
        + "\n\n"
        + "".join(_ramp_report(share, steps, idle) for share, steps in ramps.items())
        + "### Redis memory at the end of the run\n\n"
        + memory_report(keys, used, sum(s.calls for st in ramps.values() for s in st))
        + "\n\n"
        + "".join(
            f"### Controller profile at {r:g} calls/s (py-spy)\n\n{text}\n\n"
            for r, text in PROFILES.items()
        )
        + f"_Load average (1, 5, 15 min) before: {' '.join(map(str, before))}; after: "
        f"{' '.join(map(str, after))}._\n\n"
        f"Command: `{command}`"
    )
