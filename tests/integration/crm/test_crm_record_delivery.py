"""Call records from the controller to a real bridge (its app, its database), end to end.

The bridge is down for ten minutes of a fake clock while calls keep finishing, once over
HTTP and once in process; then it comes back. Every call is stored exactly once, and (when
forwarding to a CRM) queued in the outbox exactly once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from line311.ari.records import CallRecorder
from line311.call.record import from_timestamp
from line311.config import Settings
from line311.crm_bridge import schemas
from line311.crm_bridge.app import create_app
from line311.crm_bridge.client import CrmClient
from line311.crm_bridge.delivery import (
    HttpTransport,
    InProcessTransport,
    RecordDelivery,
    RecordTransport,
    Refusal,
    RetryPolicy,
)
from line311.crm_bridge.errors import CrmUnavailable
from line311.crm_bridge.spool import RecordSpool
from line311.db.calls import CallRepository
from line311.db.engine import make_session_factory
from line311.db.models import CallRow, OutboxRow
from line311.queue.events import CallAbandoned, CallAnswered, CallCompleted, CallEnqueued
from line311.queue.leg_facts import LegBuilder
from tests.integration.crm.conftest import API_KEY

pytestmark = pytest.mark.integration

T0 = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Outage(httpx.AsyncBaseTransport):
    """The network to the bridge: refuses connections while ``down``."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


class DownInProcess:
    """The in-process bridge's database, unavailable while ``down``."""

    def __init__(self, inner: RecordTransport) -> None:
        self.inner = inner
        self.down = False

    async def deliver_many(self, records: Sequence[Mapping[str, Any]]) -> list[Refusal | None]:
        if self.down:
            raise CrmUnavailable("database unavailable")
        return await self.inner.deliver_many(records)


def ivr_part(call_id: str, at: float, outcome: str) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "dialed_number": "311",
        "caller_hash": "ab" * 16,
        "started_at": from_timestamp(at).isoformat(),
        "answered_at": from_timestamp(at + 0.2).isoformat(),
        "ended_at": from_timestamp(at + 12).isoformat(),
        "outcome": outcome,
        "language": "en",
        "path": {"nodes": [{"node": "main"}]},
    }


async def finish_call(delivery: RecordDelivery, n: int, at: float) -> str:
    """One call ending at ``at``: self-served, answered by a CCR, or abandoned in the queue."""
    call_id = f"1790000000.{n}"
    kind = n % 3
    queued: set[str] = set()
    recorder = CallRecorder(delivery, in_queue=queued.__contains__)
    if kind == 0:
        await recorder.on_ivr_record(ivr_part(call_id, at - 12, "self_served"))
        return call_id
    queued.add(call_id)
    await recorder.on_ivr_record(ivr_part(call_id, at - 40, "queued"))
    leg = LegBuilder(CallEnqueued(call_id, "general", at - 28), skills=["topic:general", "lang:en"])
    if kind == 1:
        leg.offered("agent1", at - 20)
        leg.feed(CallAnswered(call_id, "general", at - 18, "agent1"))
        leg.feed(CallCompleted(call_id, "general", at, 18.0, 0.0, 1.0))
    else:
        leg.feed(CallAbandoned(call_id, "general", at))
    recorder.on_leg(call_id, leg.build())
    return call_id


async def run_outage(
    tmp_path: Path, transport: Any, set_down: Any, clock: Clock
) -> tuple[list[str], RecordDelivery]:
    def delivery_for(seed: int) -> RecordDelivery:
        return RecordDelivery(
            RecordSpool(tmp_path / "spool.sqlite"),
            transport,
            policy=RetryPolicy(base=1.0, cap=30.0),
            clock=clock,
            rng=random.Random(seed),
        )

    delivery = delivery_for(1)
    sent: list[str] = []
    for second in range(0, 15 * 60, 2):
        set_down(120 <= second < 720)  # ten minutes down
        if second == 400:  # the controller restarts meanwhile
            delivery.spool.close()
            delivery = delivery_for(2)
        if second % 6 == 0:
            sent.append(await finish_call(delivery, len(sent), clock.now))
        await delivery.deliver_due()
        clock.now += 2.0
    return sent, delivery


def stored(engine: Engine) -> dict[str, CallRow]:
    with make_session_factory(engine)() as session:
        return {r.call_id: r for r in session.scalars(select(CallRow))}


def outbox_rows(engine: Engine) -> int:
    with make_session_factory(engine)() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


def check(engine: Engine, sent: list[str], delivery: RecordDelivery) -> None:
    rows = stored(engine)
    assert delivery.spool.counts() == {"pending": 0, "dead": 0}
    assert sorted(rows) == sorted(sent)  # every call, once (call_id is the key)
    by_outcome = {r.call_id: r.outcome for r in rows.values()}
    for n, call_id in enumerate(sent):
        assert by_outcome[call_id] == ["self_served", "handled", "abandoned_in_queue"][n % 3]
    answered = next(r for r in rows.values() if r.outcome == "handled")
    assert (answered.queue, answered.agent_id) == ("general", "agent1")
    assert (answered.wait_seconds, answered.talk_seconds) == (10.0, 18.0)
    assert answered.queue_answered_at is not None
    abandoned = next(r for r in rows.values() if r.outcome == "abandoned_in_queue")
    assert abandoned.abandoned_at is not None
    assert abandoned.queue_leg["end"] == "abandoned"


async def test_given_a_remote_bridge_down_for_ten_minutes_when_it_returns_then_every_call_is_stored_once(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    app = create_app(settings, engine=engine, check_schema=False)
    network = Outage(httpx.ASGITransport(app=app))
    clock = Clock()

    def set_down(down: bool) -> None:
        network.down = down

    async with CrmClient("http://bridge.test", API_KEY, attempts=1, transport=network) as client:
        sent, delivery = await run_outage(tmp_path, HttpTransport(client), set_down, clock)
    check(engine, sent, delivery)


async def test_given_the_in_process_bridge_unavailable_for_ten_minutes_then_every_call_is_stored_and_forwarded_once(
    engine: Engine, tmp_path: Path
) -> None:
    repo = CallRepository(make_session_factory(engine), forward=True)
    transport = DownInProcess(InProcessTransport(repo))
    clock = Clock()

    def set_down(down: bool) -> None:
        transport.down = down

    sent, delivery = await run_outage(tmp_path, transport, set_down, clock)
    check(engine, sent, delivery)
    assert outbox_rows(engine) == len(sent)  # the same transaction: one outbox row per call
    # a repeat changes nothing
    delivery.submit({**stored_record(engine, sent[1])})
    assert await delivery.deliver_due() == 1  # answered as a duplicate: stored already
    assert delivery.spool.counts() == {"pending": 0, "dead": 0}
    assert outbox_rows(engine) == len(sent)


def stored_record(engine: Engine, call_id: str) -> dict[str, Any]:
    row = stored(engine)[call_id]
    return {
        "call_id": row.call_id,
        "dialed_number": row.dialed_number,
        "caller_hash": row.caller_hash,
        "started_at": row.started_at.isoformat(),
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        "ended_at": row.ended_at.isoformat(),
        "outcome": row.outcome,
        "language": row.language,
        "queue": row.queue,
        "agent_id": row.agent_id,
        "path": row.path,
        "queue_leg": row.queue_leg,
    }


async def test_given_a_record_with_a_bad_queue_leg_then_the_bridge_refuses_it_naming_the_field(
    api: httpx.AsyncClient, make_record: Any
) -> None:
    leg = LegBuilder(CallEnqueued("c9", "general", T0)).build(T0 + 5)
    body = make_record(outcome="failed", queue_leg=leg.to_dict() | {"end": "sideways"})
    response = await api.post("/v1/calls", json=body)
    assert response.status_code == 422
    assert "queue_leg.end" in response.text
    body = make_record(outcome="failed", queue="housing", queue_leg=leg.to_dict())
    response = await api.post("/v1/calls", json=body)
    assert response.status_code == 422
    assert "queue differs" in response.text


@pytest.mark.parametrize("remote", [True, False], ids=["http", "in-process"])
async def test_given_a_batch_with_an_invalid_and_a_conflicting_record_then_the_others_are_stored_and_those_two_kept_dead(
    engine: Engine, settings: Settings, tmp_path: Path, remote: bool
) -> None:
    first = ivr_part("batch-1", T0, "self_served")
    changed = {**ivr_part("batch-1", T0, "self_served"), "language": "es"}  # same id, new content
    invalid = {**ivr_part("batch-bad", T0, "self_served"), "started_at": "yesterday-ish"}
    later = [ivr_part(f"batch-{n}", T0, "self_served") for n in (2, 3)]

    async def run(transport: RecordTransport) -> RecordDelivery:
        delivery = RecordDelivery(RecordSpool(tmp_path / "spool.sqlite"), transport, clock=Clock())
        delivery.submit(first)
        assert await delivery.deliver_due() == 1
        for record in (later[0], changed, invalid, later[1]):  # one batch of four
            delivery.submit(record)
        assert await delivery.deliver_due() == 2
        return delivery

    delivery = await _over(remote, settings, engine, run)
    assert sorted(stored(engine)) == ["batch-1", "batch-2", "batch-3"]
    assert stored(engine)["batch-1"].language == "en"
    assert delivery.spool.counts() == {"pending": 0, "dead": 2}
    assert "different content" in (delivery.spool.last_error("batch-1") or "")
    # the remote bridge names the status (its body says which field), in-process the field
    assert ("422" if remote else "started_at") in (delivery.spool.last_error("batch-bad") or "")


async def _over(
    remote: bool,
    settings: Settings,
    engine: Engine,
    run: Callable[[RecordTransport], Awaitable[RecordDelivery]],
) -> RecordDelivery:
    """``run`` over HTTP to a bridge app (``remote``) or straight into the database."""
    if remote:
        app = create_app(settings, engine=engine, check_schema=False)
        network = httpx.ASGITransport(app=app)
        async with CrmClient("http://bridge.test", API_KEY, attempts=1, transport=network) as c:
            return await run(HttpTransport(c))
    return await run(InProcessTransport(CallRepository(make_session_factory(engine))))


@pytest.mark.parametrize("remote", [True, False], ids=["http", "in-process"])
async def test_given_a_batch_with_a_record_the_database_refuses_then_the_others_are_stored_and_it_is_kept_dead_not_retried(
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    remote: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the schema lets a year-1 time through, so it reaches the database, which refuses it
    monkeypatch.setattr(schemas, "check_instant", lambda when, _name: when)
    good = [ivr_part(f"refused-batch-{n}", T0, "self_served") for n in range(3)]
    bad = {**ivr_part("refused-bad", T0, "self_served"), "started_at": "0001-01-01T00:00:00+14:00"}

    async def run(transport: RecordTransport) -> RecordDelivery:
        delivery = RecordDelivery(RecordSpool(tmp_path / "spool.sqlite"), transport, clock=Clock())
        for record in (*good, bad):  # one batch of four
            delivery.submit(record)
        assert await delivery.deliver_due() == 3
        return delivery

    delivery = await _over(remote, settings, engine, run)
    assert sorted(stored(engine)) == [f"refused-batch-{n}" for n in range(3)]
    assert delivery.spool.counts() == {"pending": 0, "dead": 1}
    assert "422" in (delivery.spool.last_error("refused-bad") or "")
