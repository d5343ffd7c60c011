"""The pure parts of ``python -m bench router_load``: the generator's side of the desk link
(what a leg says at each of the router's words), the limit read off the steps, the report."""

from __future__ import annotations

import asyncio
import math

import pytest

from bench.router_load import (
    Generator,
    KeyMemory,
    Step,
    _table,
    kept_up,
    limit,
    memory_report,
    mix,
    nearest,
    parse,
    planned,
    stream_cap,
    summary,
)
from line311.call.commands import AcceptOffer, EmitQueueEvent, ReleaseAgent
from line311.call.events import AgentOffered, OfferAccepted, PositionTold
from line311.live.desk import DeskMessage, decode_command, encode_event
from line311.live.ivr_activity import IvrFact
from line311.queue.events import CallAnswered, CallCompleted


class Link:
    def __init__(self) -> None:
        self.sent: list[tuple[str, DeskMessage]] = []

    def send(self, to: str, message: DeskMessage) -> None:
        self.sent.append((to, message))


def said(link: Link) -> list[object]:
    out: list[object] = []
    for to, message in link.sent:
        assert to == "line311"
        if message.kind == "cmd":
            out.append(decode_command(message.body["command"]))  # type: ignore[arg-type]
        else:
            out.append(message.kind)
    return out


def event(call_id: str, what: object) -> DeskMessage:
    return DeskMessage("event", call_id, "line311", {"event": encode_event(what)})  # type: ignore[arg-type]


async def test_a_call_goes_through_the_legs_messages_in_order() -> None:
    link = Link()
    gen = Generator(link, "line311", talk=0.0, wrapup=0.2)  # type: ignore[arg-type]
    gen.step = Step(10, 1)
    gen.start_call()
    assert said(link) == ["enqueue"]
    assert [(f.kind, f.resolved) for f in gen.facts] == [("entered", False), ("left", False)]
    gen.on(DeskMessage("admitted", "bench-1", "line311", {"queue": "general", "requires": []}))
    gen.on(event("bench-1", AgentOffered("agent7", "PJSIP/agent7")))
    gen.on(event("bench-1", OfferAccepted()))
    await asyncio.sleep(0.01)  # the talk time (0 s here)
    kinds = said(link)
    assert kinds[1] == AcceptOffer("agent7")
    assert isinstance(kinds[2], EmitQueueEvent)
    assert isinstance(kinds[2].event, CallAnswered)
    assert kinds[2].event.agent_id == "agent7"
    assert isinstance(kinds[3], EmitQueueEvent)
    assert isinstance(kinds[3].event, CallCompleted)
    assert kinds[3].event.wrapup_seconds == 0.2
    assert kinds[4:] == [ReleaseAgent("agent7"), "end"]
    assert (gen.step.started, gen.step.completed, gen.open_calls()) == (1, 1, 0)
    assert len(gen.step.admit_ms) == len(gen.step.offer_ms) == 1


def test_a_refused_call_is_counted_and_an_unknown_word_is_noted() -> None:
    link = Link()
    gen = Generator(link, "line311", talk=0.3, wrapup=0.0)  # type: ignore[arg-type]
    gen.step = Step(10, 1)
    gen.start_call()
    gen.start_call()
    gen.on(DeskMessage("admitted", "bench-1", "line311", {"error": "queue full"}))
    gen.on(event("bench-2", PositionTold(3)))
    gen.on(event("nobody", OfferAccepted()))  # not one of its calls: ignored
    assert (gen.step.refused, gen.unexpected, gen.open_calls()) == (1, 1, 1)


def _step(rate: float, started: int, completed: int, controller_s: float) -> Step:
    step = Step(rate, 10, started=started, completed=completed, window=10.0)
    step.cpu = {"controller": controller_s, "redis": 0.1, "generator": 0.5}
    step.admit_ms, step.offer_ms = [1.0, 2.0, 9.0], [2.0, 3.0, 12.0]
    return step


def test_the_limit_is_the_busiest_step_kept_up_with_and_its_net_cost() -> None:
    idle = {"controller": 0.01, "redis": 0.0, "generator": 0.0}
    steps = [
        _step(50, 500, 500, 1.1),  # (1.1 - 0.1) s / 500 = 2 ms
        _step(100, 1000, 1000, 2.1),  # 2 ms
        _step(200, 2000, 2000, 4.1),  # 2 ms
        _step(400, 4000, 2500, 10.0),  # fell behind: not counted
        _step(300, 3000, 3000, 5.0),  # every call ended, but the offers came late
    ]
    steps[-1].offer_ms = [5.0, 900.0]
    rate, ms, calls = limit(steps, idle)
    assert [kept_up(s) for s in steps] == [True, True, True, False, False]
    assert rate == 200
    assert ms == pytest.approx(2.0)
    assert calls == pytest.approx(500)
    assert all(math.isnan(v) for v in limit([steps[-1]], idle))
    table = _table(steps, idle)
    assert "| 400 | 2500 | 0 | 0 | 250.0 |" in table
    assert "100 %" in table  # 10 s of CPU in a 10-s window: a full core


def test_rates_that_would_need_more_ccrs_than_the_roster_are_refused() -> None:
    assert parse(["--rates", "100", "--agents", "400"]).rate_list == [100.0]
    with pytest.raises(SystemExit):
        parse(["--rates", "1000", "--agents", "100"])


class Pipeline:
    def __init__(self, written: list[tuple[str, dict[str, str]]]) -> None:
        self.written = written

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def xadd(self, key: str, fields: dict[str, str], **kw: object) -> None:
        self.written.append((key, fields))

    async def execute(self) -> None:
        return None


class Client:
    def __init__(self) -> None:
        self.written: list[tuple[str, dict[str, str]]] = []

    def pipeline(self, transaction: bool) -> Pipeline:
        assert transaction is False
        return Pipeline(self.written)


async def test_a_share_of_the_calls_ends_in_the_ivr_and_every_call_tells_its_two_facts() -> None:
    link = Link()
    gen = Generator(link, "line311", talk=0.0, wrapup=0.0, ivr_share=0.5)  # type: ignore[arg-type]
    gen.step = Step(10, 1, 0.5)
    for _ in range(4):
        gen.start_call()
    assert said(link) == ["enqueue", "enqueue"]  # every other call queued
    assert (gen.step.resolved, gen.step.started, gen.step.calls) == (2, 2, 2)
    assert [f.resolved for f in gen.facts if f.kind == "left"] == [False, True, False, True]
    client = Client()
    await gen.flush_facts(client, "line311:ivr-activity")  # type: ignore[arg-type]
    await gen.flush_facts(client, "line311:ivr-activity")  # type: ignore[arg-type]  # nothing new
    assert len(client.written) == 8
    assert client.written[3] == (
        "line311:ivr-activity",
        {"kind": "left", "call_id": "bench-2", "at": repr(gen_at(client, 3)), "resolved": "1"},
    )
    assert gen.facts == []


def gen_at(client: Client, n: int) -> float:
    return float(client.written[n][1]["at"])


def test_a_step_with_unread_ivr_facts_was_not_kept_up_with() -> None:
    step = Step(100, 10, 1.0, resolved=1000, window=10.0)
    assert kept_up(step)
    step.behind = 3
    assert not kept_up(step)
    assert IvrFact("left", "c", 1.0).resolved is False


def test_the_model_takes_each_ramps_cost_where_its_core_was_nearest_u_and_checks_the_mix() -> None:
    idle = {"controller": 0.0, "dashboard": 0.0, "redis": 0.0, "generator": 0.0}

    def step(share: float, rate: float, calls: int, controller_s: float) -> Step:
        queued = round(calls * (1 - share))
        out = Step(rate, 10, share, queued, queued, calls - queued, window=10.0)
        out.cpu = {"controller": controller_s, "dashboard": 0.5, "redis": 0.1, "generator": 0.1}
        return out

    queued = [step(0, 100, 1000, 3.0), step(0, 200, 2000, 6.5), step(0, 400, 4000, 9.5)]
    queued[-1].behind = 10  # not kept up with: never taken
    ivr_only = [step(1, 100, 1000, 0.4), step(1, 1000, 10000, 2.0), step(1, 2000, 20000, 4.0)]
    mixed = [step(0.5, 200, 2000, 4.0), step(0.5, 400, 4000, 7.2)]
    assert planned(queued) is queued[1]  # 65 % busy: nearest 70 %
    assert planned(ivr_only) is ivr_only[-1]  # never near 70 %: the busiest kept up with
    assert planned([queued[-1]]) is None
    assert nearest(ivr_only, 180) is ivr_only[0]
    m = mix({0.0: queued, 1.0: ivr_only, 0.5: mixed}, idle)
    assert m is not None
    assert (m.rate, m.ivr_ms, m.queued_ms, m.measured_ms) == pytest.approx((400, 0.4, 3.25, 1.8))
    assert m.modelled_ms == pytest.approx(1.825)
    assert m.dashboard_ms == pytest.approx(0.125)
    table = summary({0.0: queued, 1.0: ivr_only, 0.5: mixed}, idle)
    assert "| 0.5 | 400 | 72 % | 1.80 | 0.12 |" in table
    assert "1.82 ms per call against 1.80 measured (0.99×)" in table
    assert mix({0.0: queued, 0.5: mixed}, idle) is None
    assert "| 0 | none kept up with |" in summary({0.0: [queued[-1]]}, idle)


def test_ivr_shares_are_checked() -> None:
    assert parse(["--ivr-shares", "0,0.5", "--rates", "100"]).ivr_share_list == [0.0, 0.5]
    for bad in ("1.5", "x", ""):
        with pytest.raises(SystemExit):
            parse(["--ivr-shares", bad])
    # resolved calls need no CCR: a rate only IVR calls reach is not held to the roster
    assert parse(["--ivr-shares", "1", "--rates", "5000", "--agents", "10"]).rate_list == [5000.0]


def test_redis_memory_is_told_per_key_with_the_streams_at_their_caps_and_the_day_facts_per_call() -> (
    None
):
    assert stream_cap("line311:desk:line311") == 100_000
    assert stream_cap("line311:ivr-activity") == 100_000
    assert stream_cap("line311:wallboard") == 10_000
    assert stream_cap("line311:facts:1765000000") is None
    keys = [
        KeyMemory("line311:desk:line311", "stream", 50_000, 25_000_000),  # 500 B an entry
        KeyMemory("line311:facts:1765000000", "zset", 40_000, 4_000_000),
        KeyMemory("line311:agent:agent1", "hash", 12, 300),  # small: left out
        KeyMemory("line311:desk:line311-w1", "stream", 1, 4_752),  # too few to take to the cap
    ]
    text = memory_report(keys, 64 * 1024 * 1024, calls=10_000)
    assert "| `line311:desk:line311` | stream | 50000 | 23.8 | 500 | 100000 | 47.7 |" in text
    assert "agent1" not in text
    assert "| `line311:desk:line311-w1` | stream | 1 | 0.0 | 4752 | 100000 | - |" in text
    assert "used_memory` at the end: 64 MiB" in text
    assert "hold 48 MiB at their caps" in text
    assert "400 bytes per call" in text  # 4,000,000 B of day facts over 10,000 calls
    assert "**106 MiB for a record day**" in text  # 400 B x 276,827 calls
