"""The transactional outbox and its webhook delivery, on SQLite and PostgreSQL.

The fault tests use a real receiving CRM (`receiver.Receiver`, uvicorn on an ephemeral port
behind a TCP proxy): down, then flaky (500s, timeouts, connection resets), then up. Waits are
bounded polls; nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import signal
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from line311.cli import app as cli_app
from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.crm_bridge.outbox import DeliveryPolicy, OutboxWorker, backoff_delay, webhook_body
from line311.db import DbError
from line311.db.calls import Call, CallRepository
from line311.db.engine import make_session_factory
from line311.db.models import CallRow, OutboxRow
from line311.db.outbox import OutboxKind, OutboxStore, enqueue

from .conftest import API_KEY, T0
from .receiver import Proxy, Receiver, free_port, running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SECRET = "whsec-" + secrets.token_urlsafe(16)
FAST = DeliveryPolicy(
    max_attempts=1000, base_delay=0.02, max_delay=0.3, timeout=0.5, batch=8, idle_poll=0.05
)


def _call(i: int) -> Call:
    return Call(
        call_id=f"outbox.{i}",
        dialed_number="311",
        caller_hash=None,
        started_at=T0 + timedelta(seconds=i),
        answered_at=None,
        ended_at=T0 + timedelta(seconds=i + 60),
        outcome="self_served",
        language="en",
        queue=None,
        agent_id=None,
        path=["greeting", f"dtmf:{i % 9}"],
    )


def _fill(engine: Engine, count: int) -> tuple[OutboxStore, set[str]]:
    sessions = make_session_factory(engine)
    calls = CallRepository(sessions, forward=True)
    for i in range(count):
        calls.add_call(_call(i))
    return OutboxStore(sessions), {f"call:outbox.{i}" for i in range(count)}


async def _until(check: Callable[[], bool], what: str, within: float = 90.0) -> None:
    """A bounded poll: return once ``check()`` holds, fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if check():
            return
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


def _assert_exactly_once(receiver: Receiver, keys: set[str], store: OutboxStore) -> None:
    assert set(receiver.stored) == keys
    assert all(n == 1 for n in receiver.effects.values())
    assert receiver.bad_signatures == 0
    for key, document in receiver.stored.items():
        assert document["idempotency_key"] == key
        assert document["type"] == "call.finished"
        assert document["data"]["call_id"] == key.removeprefix("call:")
    figures = store.stats()
    assert (figures.pending, figures.delivered, figures.dead) == (0, len(keys), 0)


# ------------------------------------------------------------------ writing


@pytest.fixture
def forwarding(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path,
        crm_api_key=SecretStr(API_KEY),
        crm_webhook_url="http://127.0.0.1:9/hook",
        crm_webhook_secret=SecretStr(SECRET),
    )


async def test_given_forwarding_on_when_records_are_written_then_each_gets_one_outbox_row(
    engine: Engine, forwarding: Settings, make_record: Callable[..., dict[str, Any]]
) -> None:
    app = create_app(forwarding, engine=engine, deliver_outbox=False)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        assert (await c.post("/v1/calls", json=make_record())).status_code == 201
        assert (await c.post("/v1/calls", json=make_record())).status_code == 200
        conflict = await c.post("/v1/calls", json=make_record(outcome="abandoned"))
        assert conflict.status_code == 409
        sr = {
            "service_code": "noise-residential",
            "address": "1 Main St",
            "attributes": {
                "descriptor": "loud_music_party",
                "location_type": "residential_building",
            },
        }
        filed = await c.post("/v1/sr", json=sr)
        assert filed.status_code == 201, filed.text
        sr_number = filed.json()["sr_number"]
        status = await c.post(f"/v1/sr/{sr_number}/status", json={"status": "closed"})
        assert status.status_code == 200
        pop = {
            "call_id": "1737986400.1",
            "agent_id": "ccr-7",
            "wait_seconds": 12.5,
            "connected_at": T0.isoformat(),
        }
        assert (await c.post("/v1/screen-pops", json=pop)).status_code == 201
        assert (await c.post("/v1/screen-pops", json=pop)).status_code == 200

    items = OutboxStore(make_session_factory(engine)).list()
    assert [i.kind for i in items] == ["call.finished", "sr.filed", "sr.status", "screen_pop"]
    assert items[0].idempotency_key == "call:1737986400.1"
    assert items[1].idempotency_key == f"sr:{sr_number}:filed"
    assert items[2].idempotency_key.startswith(f"sr:{sr_number}:status:")
    assert items[3].idempotency_key == "screen-pop:1737986400.1:ccr-7"
    assert app.state.outbox_backlog() == 4


def test_given_the_outbox_write_fails_when_a_call_is_stored_then_the_call_is_not_stored_either(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    with sessions.begin() as session:  # occupy the idempotency key the call will need
        enqueue(session, OutboxKind.CALL, "call:outbox.1", {}, T0)

    with pytest.raises(DbError):
        CallRepository(sessions, forward=True).add_call(_call(1))

    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(CallRow)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 1


def test_given_forwarding_off_when_a_call_is_stored_then_the_outbox_stays_empty(
    engine: Engine,
) -> None:
    sessions = make_session_factory(engine)
    CallRepository(sessions).add_call(_call(1))
    assert OutboxStore(sessions).backlog() == 0


# ------------------------------------------------------------------ claiming and dead letters


def test_given_due_records_when_two_workers_claim_then_no_record_is_claimed_twice(
    engine: Engine,
) -> None:
    store, _ = _fill(engine, 10)
    first = store.claim(6, timedelta(minutes=1))
    second = store.claim(6, timedelta(minutes=1))
    assert len(first) == 6
    assert len(second) == 4
    assert not {i.id for i in first} & {i.id for i in second}
    assert store.claim(6, timedelta(minutes=1)) == []
    assert all(i.attempts == 1 for i in first + second)


def test_given_an_expired_lease_when_claiming_then_the_record_is_claimed_again(
    engine: Engine,
) -> None:
    store, _ = _fill(engine, 1)
    assert len(store.claim(5, timedelta(seconds=-1))) == 1  # already expired
    again = store.claim(5, timedelta(minutes=1))
    assert [i.attempts for i in again] == [2]


def test_given_a_record_failing_until_max_when_settled_then_dead_and_replay_makes_it_pending(
    engine: Engine,
) -> None:
    store, _ = _fill(engine, 3)
    claimed = store.claim(3, timedelta(minutes=1))
    store.mark_delivered([claimed[0].id])
    store.mark_failed(claimed[1].id, "HTTP 500", None)
    store.mark_failed(claimed[2].id, "HTTP 500", store.now() + timedelta(hours=1))

    figures = store.stats()
    assert (figures.pending, figures.delivered, figures.dead) == (1, 1, 1)
    assert store.backlog() == 1
    assert [i.id for i in store.list(dead=True)] == [claimed[1].id]
    assert store.list(dead=True)[0].last_error == "HTTP 500"
    assert store.claim(5, timedelta(minutes=1)) == []  # the retry is not due yet

    assert store.replay(claimed[1].id)
    assert not store.replay(claimed[0].id)  # delivered, not dead
    again = store.claim(5, timedelta(minutes=1))
    assert [(i.id, i.attempts) for i in again] == [(claimed[1].id, 1)]


def test_given_a_receiver_down_when_claiming_round_after_round_then_no_record_starves(
    engine: Engine,
) -> None:
    """Fair claiming, on a simulated clock: while every delivery fails, each pass takes the
    records that have been due longest, so none is re-leased ahead of an older due one, none
    waits more than one backoff period past its due time, and none falls behind."""
    store, _ = _fill(engine, 60)
    policy = DeliveryPolicy(max_attempts=1000, base_delay=1.0, max_delay=8.0, batch=8)
    rng = random.Random(311)
    now = [max(i.next_attempt_at for i in store.list())]
    store = OutboxStore(make_session_factory(engine), clock=lambda: now[0])
    step = timedelta(seconds=0.25)
    for _ in range(400):  # 100 simulated seconds of a receiver that refuses everything
        due = {i.id: i.next_attempt_at for i in store.list() if i.next_attempt_at <= now[0]}
        claimed = store.claim(policy.batch, policy.lease)
        assert len(claimed) == min(policy.batch, len(due))
        taken = {i.id for i in claimed}
        left = [at for key, at in due.items() if key not in taken]
        if left:  # nothing left behind was due earlier than anything taken
            assert max(due[key] for key in taken) <= min(left)
        for item in claimed:
            late = (now[0] - due[item.id]).total_seconds()
            assert late <= policy.max_delay, f"record {item.id} waited {late} s past due"
            delay = backoff_delay(item.attempts, policy, rng)
            store.mark_failed(item.id, "ConnectError", now[0] + timedelta(seconds=delay))
        now[0] += step
    # every record is retried at least once per (backoff ceiling + the lateness bound)
    assert min(i.attempts for i in store.list()) >= 100 / (2 * policy.max_delay)


# ------------------------------------------------------------------ delivery under faults


async def test_given_a_crm_down_then_flaky_then_up_when_delivering_then_every_record_arrives_once(
    engine: Engine,
) -> None:
    store, keys = _fill(engine, 60)
    receiver = Receiver(SECRET, slow_seconds=FAST.timeout * 3)
    async with running(receiver) as server:
        proxy = Proxy(free_port(), server.bound_port)
        worker = OutboxWorker(store, f"http://127.0.0.1:{proxy.port}/hook", SECRET, FAST)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            # Down: nothing listens; every record is tried and retried.
            await _until(lambda: min(i.attempts for i in store.list()) >= 2, "retries while down")
            assert store.stats().delivered == 0
            # Flaky: 500s, answers after the client gave up, connection resets.
            receiver.flaky = True
            proxy.reset_rate = 0.1
            await proxy.start()
            await _until(
                lambda: (
                    receiver.faults["500"] > 0
                    and receiver.faults["timeout"] > 0
                    and proxy.resets > 0
                ),
                "every kind of fault",
            )
            # Up.
            receiver.flaky = False
            proxy.reset_rate = 0.0
            await _until(lambda: store.backlog() == 0, "the backlog drains")
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await proxy.stop()
    _assert_exactly_once(receiver, keys, store)
    assert sum(receiver.requests.values()) > len(keys)  # at-least-once did repeat some


async def test_given_a_worker_cancelled_mid_delivery_when_another_runs_then_nothing_is_lost(
    engine: Engine,
) -> None:
    store, keys = _fill(engine, 20)
    receiver = Receiver(SECRET)
    receiver.gate = asyncio.Event()
    async with running(receiver) as server:
        url = f"http://127.0.0.1:{server.bound_port}/hook"
        task = asyncio.create_task(OutboxWorker(store, url, SECRET, FAST).run())
        await _until(lambda: receiver.held > 0, "a delivery in flight")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert store.stats().delivered == 0
        receiver.gate.set()
        report = await OutboxWorker(store, url, SECRET, FAST).drain()
        assert report.dead == 0
    _assert_exactly_once(receiver, keys, store)


_WORKER = """
import asyncio, sys
from line311.crm_bridge.outbox import DeliveryPolicy, OutboxWorker
from line311.db.engine import make_engine, make_session_factory
from line311.db.outbox import OutboxStore
db, url, secret = sys.argv[1:4]
policy = DeliveryPolicy(max_attempts=1000, base_delay=0.02, max_delay=0.3, timeout=0.5, batch=8)
store = OutboxStore(make_session_factory(make_engine(db)))
asyncio.run(OutboxWorker(store, url, secret, policy).run())
"""


async def test_given_a_worker_process_killed_mid_delivery_when_another_runs_then_nothing_is_lost(
    engine: Engine,
) -> None:
    store, keys = _fill(engine, 20)
    receiver = Receiver(SECRET)
    receiver.gate = asyncio.Event()
    async with running(receiver) as server:
        url = f"http://127.0.0.1:{server.bound_port}/hook"
        db_url = engine.url.render_as_string(hide_password=False)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WORKER, db_url, url, SECRET
        )
        try:
            await _until(lambda: receiver.held > 0, "a delivery in flight")
        finally:
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 10)
        receiver.gate.set()
        # The dead worker's lease runs out, then this worker sends its records again.
        stop = asyncio.Event()
        task = asyncio.create_task(OutboxWorker(store, url, SECRET, FAST).run(stop))
        try:
            await _until(lambda: store.backlog() == 0, "the backlog drains")
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    _assert_exactly_once(receiver, keys, store)


async def test_given_a_receiver_refusing_with_4xx_then_dead_at_once_and_replay_delivers_later(
    engine: Engine,
) -> None:
    store, keys = _fill(engine, 3)
    receiver = Receiver(SECRET)
    async with running(receiver) as server:
        url = f"http://127.0.0.1:{server.bound_port}/hook"
        wrong = await OutboxWorker(store, url, "not-the-secret", FAST).drain()
        assert (wrong.claimed, wrong.dead) == (3, 3)
        assert store.stats().dead == 3
        assert receiver.bad_signatures == 3
        receiver.bad_signatures = 0
        assert store.replay_all_dead() == 3
        right = await OutboxWorker(store, url, SECRET, FAST).drain()
        assert right.delivered == 3
    _assert_exactly_once(receiver, keys, store)


async def test_given_the_bridge_app_with_a_webhook_when_running_then_its_worker_delivers(
    engine: Engine, tmp_path: Path, make_record: Callable[..., dict[str, Any]]
) -> None:
    receiver = Receiver(SECRET)
    async with running(receiver) as server:
        settings = Settings(
            state_dir=tmp_path,
            crm_api_key=SecretStr(API_KEY),
            crm_webhook_url=f"http://127.0.0.1:{server.bound_port}/hook",
            crm_webhook_secret=SecretStr(SECRET),
        )
        app = create_app(settings, engine=engine, delivery_policy=FAST)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", headers=headers
            ) as client:
                assert (await client.post("/v1/calls", json=make_record())).status_code == 201
            await _until(lambda: "call:1737986400.1" in receiver.stored, "delivery")
    assert receiver.stored["call:1737986400.1"]["data"]["outcome"] == "self_served"


def test_given_an_item_then_its_webhook_body_is_the_same_bytes_on_every_attempt(
    engine: Engine,
) -> None:
    store, _ = _fill(engine, 1)
    first = store.claim(1, timedelta(seconds=-1))[0]
    second = store.claim(1, timedelta(seconds=-1))[0]
    assert second.attempts == first.attempts + 1
    assert webhook_body(first) == webhook_body(second)


# ------------------------------------------------------------------ the CLI


def test_given_dead_records_when_using_the_outbox_cli_then_list_stats_and_replay_work(
    engine: Engine, tmp_path: Path
) -> None:
    store, _ = _fill(engine, 2)
    for item in store.claim(2, timedelta(minutes=1)):
        store.mark_failed(item.id, "HTTP 400", None)
    env = {
        "LINE311_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "LINE311_STATE_DIR": str(tmp_path),
    }
    runner = CliRunner()

    listed = runner.invoke(cli_app, ["outbox", "list", "--dead", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    dead = json.loads(listed.output)
    assert [d["last_error"] for d in dead] == ["HTTP 400", "HTTP 400"]

    stats = runner.invoke(cli_app, ["outbox", "stats", "--json"], env=env)
    assert json.loads(stats.output)["dead"] == 2

    one = runner.invoke(cli_app, ["outbox", "replay", str(dead[0]["id"])], env=env)
    assert one.exit_code == 0, one.output
    again = runner.invoke(cli_app, ["outbox", "replay", str(dead[0]["id"])], env=env)
    assert again.exit_code == 1
    rest = runner.invoke(cli_app, ["outbox", "replay", "--all-dead"], env=env)
    assert "1 dead records queued again" in rest.output
    assert store.stats().pending == 2
