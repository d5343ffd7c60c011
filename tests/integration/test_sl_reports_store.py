"""Reports from the stored queue events on SQLite and PostgreSQL (issue 16): the monthly
report by queue and language and the abandoned-calls list, through the CLI and the
dashboard API, equal a brute-force count of known calls; each queue is measured with its own
threshold; the CLI tables print every header at any width, and every time with its zone."""

from __future__ import annotations

import csv
import functools
import io
import json
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from line311.cli import app as cli_app
from line311.dashboard.app import create_app
from line311.dashboard.auth import AccountStore, Authenticator
from line311.dashboard.live import LiveHub
from line311.dashboard.state import LiveState
from line311.db.queue_models import insert_events, load_events
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
)
from line311.queue.service_level import SlPolicies, SlPolicy
from tests.integration.crm import conftest as _crm

pytestmark = pytest.mark.integration

backend = _crm.backend
pg_databases = _crm.pg_databases
new_database_url = _crm.new_database_url
migrated_engine = _crm.migrated_engine
engine = _crm.engine

NY = ZoneInfo("America/New_York")
MONTH_START = datetime(2026, 11, 1, tzinfo=NY).timestamp()  # DST ends this very day
MONTH_END = datetime(2026, 12, 1, tzinfo=NY).timestamp()
THRESHOLD = {"general": 30.0, "housing": 20.0, "noise": 30.0}
GOAL = {"general": 0.8, "housing": 0.9, "noise": 0.8}
QUEUES_YAML = """\
queues:
  general: {requires: "topic:general"}
  housing: {requires: "topic:housing", sl_threshold: 20, sl_goal: 0.9}
  noise: {requires: "topic:noise"}
"""
POLICIES = SlPolicies.build(SlPolicy(), {"housing": (20.0, 0.9)})
OUTCOMES = ("answered", "abandoned", "timed_out", "callback_answered", "callback_failed")
LANGUAGES = ("en", "es", "zh", "ru")


@dataclass(frozen=True)
class Call:
    call_id: str
    queue: str
    language: str
    entered: float
    outcome: str
    wait: float


def known_calls(seed: int = 311) -> list[Call]:
    rng = random.Random(seed)
    calls = []
    for i in range(240):
        # around the month's edges too: calls the day before and the day after
        entered = rng.uniform(MONTH_START - 86_400, MONTH_END + 86_400)
        if i < 6:  # right at the boundaries
            entered = (MONTH_START, MONTH_END, MONTH_START - 1, MONTH_END - 1, MONTH_START + 1)[
                i % 5
            ]
        wait = rng.choice([0, 3, 5, 6, 19, 20, 21, 29, 30, 31, rng.uniform(0, 400)])
        calls.append(
            Call(
                f"c{i}",
                rng.choice(sorted(THRESHOLD)),
                rng.choice(LANGUAGES),
                round(entered, 3),
                rng.choice(OUTCOMES),
                float(wait),
            )
        )
    return calls


def events_of(c: Call) -> list[QueueEvent]:
    end = c.entered + c.wait
    out: list[QueueEvent] = [CallEnqueued(c.call_id, c.queue, c.entered, c.language)]
    if c.outcome.startswith("callback"):
        out.append(CallbackRequested(c.call_id, c.queue, c.entered + min(c.wait, 2)))
    if c.outcome.endswith("answered"):
        out.append(CallAnswered(c.call_id, c.queue, end, "ccr1"))
        out.append(CallCompleted(c.call_id, c.queue, end + 120, 100.0, 0.0, 20.0))
    elif c.outcome in ("abandoned", "callback_failed"):
        out.append(CallAbandoned(c.call_id, c.queue, end))
    else:
        out.append(CallTimedOut(c.call_id, c.queue, end))
    return out


def brute(calls: list[Call], queue: str | None, language: str | None) -> dict[str, object]:
    """The monthly figures of one row, straight from the definitions (formula 5, S = 5 s)."""
    mine = [
        c
        for c in calls
        if MONTH_START <= c.entered < MONTH_END
        and (queue is None or c.queue == queue)
        and (language is None or c.language == language)
    ]
    answered = [c for c in mine if c.outcome.endswith("answered")]
    abandoned = [c for c in mine if c.outcome in ("abandoned", "callback_failed")]
    within = sum(c.wait <= THRESHOLD[c.queue] for c in answered)
    short = sum(c.wait <= 5 for c in abandoned)
    timed_out = sum(c.outcome == "timed_out" for c in mine)
    denominator = len(answered) + len(abandoned) - short + timed_out
    return {
        "offered": len(mine),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "timed_out": timed_out,
        "service_level": within / denominator if denominator else None,
        "asa_seconds": sum(c.wait for c in answered) / len(answered) if answered else None,
    }


def expected_rows(calls: list[Call]) -> dict[tuple[str, str, str], dict[str, object]]:
    inside = [c for c in calls if MONTH_START <= c.entered < MONTH_END]
    out = {}
    for q in sorted({c.queue for c in inside}):
        for lang in sorted({c.language for c in inside if c.queue == q}):
            out[("queue-language", q, lang)] = brute(calls, q, lang)
        out[("queue", q, "all")] = brute(calls, q, None)
    for lang in sorted({c.language for c in inside}):
        out[("language", "all", lang)] = brute(calls, None, lang)
    out[("total", "all", "all")] = brute(calls, None, None)
    return out


def check_rows(rows: list[dict[str, object]], calls: list[Call]) -> None:
    want = expected_rows(calls)
    got = {(str(r["scope"]), str(r["queue"]), str(r["language"])): r for r in rows}
    assert set(got) == set(want)
    for key, figures in want.items():
        row = got[key]
        for name, value in figures.items():
            if isinstance(value, float):
                assert row[name] == pytest.approx(value), (key, name)
            else:
                assert row[name] == value, (key, name)
        if key[1] != "all":
            assert row["sl_threshold_seconds"] == THRESHOLD[key[1]]
            assert row["sl_goal"] == GOAL[key[1]]


@pytest.fixture
def stored(engine: Engine) -> tuple[Engine, list[Call]]:
    calls = known_calls()
    events = [e for c in calls for e in events_of(c)]
    random.Random(7).shuffle(events)  # written in any order: calls are keyed, not sequenced
    insert_events(engine, events)
    return engine, calls


def cli_env(engine: Engine, tmp_path: Path) -> dict[str, str]:
    queues = tmp_path / "queues.yaml"
    queues.write_text(QUEUES_YAML)
    return {
        "LINE311_STATE_DIR": str(tmp_path),
        "LINE311_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "LINE311_QUEUES_FILE": str(queues),
    }


def test_the_monthly_report_equals_a_brute_force_count_by_queue_and_language(
    stored: tuple[Engine, list[Call]], tmp_path: Path
) -> None:
    engine, calls = stored
    env = cli_env(engine, tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["report", "monthly", "--month", "2026-11", "--format", "json"], env=env
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["from"] == "2026-11-01T00:00:00-04:00"
    assert doc["to"] == "2026-12-01T00:00:00-05:00"
    check_rows(doc["rows"], calls)
    result = runner.invoke(
        cli_app, ["report", "monthly", "--month", "2026-11", "--format", "csv"], env=env
    )
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    by_key = {(r["scope"], r["queue"], r["language"]): r for r in table}
    assert set(by_key) == set(expected_rows(calls))
    total = by_key[("total", "all", "all")]
    assert int(total["offered"]) == brute(calls, None, None)["offered"]


@pytest.mark.parametrize("columns", ["60", "200"])
def test_cli_tables_print_every_header_and_zone_at_any_width(
    stored: tuple[Engine, list[Call]], tmp_path: Path, columns: str
) -> None:
    engine, _ = stored
    env = {**cli_env(engine, tmp_path), "COLUMNS": columns}
    runner = CliRunner()
    cases = {
        ("monthly", "--month", "2026-11"): [
            "queue", "language", "offered", "answered", "abandoned", "SL", "T s", "goal", "ASA s",
        ],
        ("sl", "--from", "2026-11-02", "--interval", "60"): [
            "queue", "from (America/New_York)", "offered", "answered", "≤T", "T s", "abandoned",
            "short", "SL", "goal", "ASA s", "AHT s", "longest s",
        ],
        ("abandoned", "--from", "2026-11-02", "--to", "2026-11-09"): [
            "entered (America/New_York)", "queue", "call", "waited s", "outcome", "ended",
            "callback asked", "agent",
        ],
    }  # fmt: skip
    for args, headers in cases.items():
        result = runner.invoke(cli_app, ["report", *args], env=env)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= int(columns), args
        for header in headers:
            assert header in result.stdout, (args, header)
        assert "…" not in result.stdout
        # every time printed carries its offset (November: -05:00 after the DST change)
        if args[0] != "monthly":
            assert "-05:00" in result.stdout
        else:
            assert "2026-11-01 00:00-04:00" in result.stdout


def test_the_abandoned_list_of_any_range_comes_from_the_database(
    stored: tuple[Engine, list[Call]], tmp_path: Path
) -> None:
    engine, calls = stored
    env = cli_env(engine, tmp_path)
    lo = datetime(2026, 11, 2, tzinfo=NY).timestamp()
    hi = datetime(2026, 11, 16, tzinfo=NY).timestamp()
    want = {c.call_id: c for c in calls if lo <= c.entered < hi}  # every call ends a way we list
    outcome = {
        "abandoned": "abandoned",
        "timed_out": "timed-out",
        "callback_answered": "callback-answered",
        "callback_failed": "callback-failed",
    }
    want = {k: c for k, c in want.items() if c.outcome in outcome}
    runner = CliRunner()
    args = ["report", "abandoned", "--from", "2026-11-02", "--to", "2026-11-15"]
    result = runner.invoke(cli_app, [*args, "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    listed = {c["call_id"]: c for c in json.loads(result.stdout)["calls"]}
    assert set(listed) == set(want)
    for call_id, c in want.items():
        assert listed[call_id]["outcome"] == outcome[c.outcome]
        assert listed[call_id]["wait_seconds"] == pytest.approx(c.wait, abs=1e-3)
        assert listed[call_id]["enqueued_at"] == datetime.fromtimestamp(c.entered, NY).isoformat()
    result = runner.invoke(cli_app, [*args, "--format", "csv"], env=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["call_id"] for r in rows} == set(want)
    assert all(r["enqueued_at"].endswith("-05:00") for r in rows)


class _Clock:
    def __call__(self) -> float:
        return MONTH_END + 3 * 86_400


async def test_the_dashboard_api_gives_the_same_reports_from_the_database(
    stored: tuple[Engine, list[Call]],
) -> None:
    engine, calls = stored
    clock = _Clock()
    store = AccountStore(engine, clock=clock)
    store.create("olga", "correct horse battery", "operations")
    hub = LiveHub(LiveState(POLICIES, tz=NY), clock=clock)
    app = create_app(
        lambda: {"ok": True},
        hub=hub,
        auth=Authenticator(store, "test-secret-0123456789abcdef", clock=clock),
        events=functools.partial(load_events, engine),
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            login = {"username": "olga", "password": "correct horse battery"}
            assert (await client.post("/login", data=login)).status_code == 303
            monthly = await client.get("/api/reports/monthly", params={"month": "2026-11"})
            assert monthly.status_code == 200, monthly.text
            check_rows(monthly.json()["rows"], calls)
            text = (
                await client.get(
                    "/api/reports/monthly", params={"month": "2026-11", "format": "csv"}
                )
            ).text
            assert text.splitlines()[0].startswith("month,scope,queue,language,offered")
            lo = datetime(2026, 11, 2, tzinfo=NY).timestamp()
            hi = datetime(2026, 11, 16, tzinfo=NY).timestamp()
            want = {c.call_id for c in calls if lo <= c.entered < hi and c.outcome != "answered"}
            # POSIX seconds (as before) and ISO dates give the same list
            for params in ({"from": lo, "to": hi}, {"from": "2026-11-02", "to": "2026-11-16"}):
                got = (await client.get("/api/reports/abandoned", params=params)).json()
                assert {c["call_id"] for c in got["calls"]} == want
            bad = await client.get("/api/reports/abandoned", params={"from": "yesterday"})
            assert bad.status_code == 400
            assert bad.json()["error_id"] == "bad-request"
            sl = await client.get(
                "/api/reports/sl", params={"from": MONTH_START, "to": MONTH_END, "interval": 0}
            )
            assert sl.status_code == 200, sl.text
            totals = {r["queue"]: r for r in sl.json()["rows"] if r["scope"] == "total"}
            for q in THRESHOLD:
                assert totals[q]["offered"] == brute(calls, q, None)["offered"]
                assert totals[q]["service_level"] == pytest.approx(
                    brute(calls, q, None)["service_level"]
                )
                assert totals[q]["sl_threshold_seconds"] == THRESHOLD[q]
    finally:
        await hub.stop()


async def test_without_a_database_the_abandoned_list_is_the_same_as_from_the_database(
    stored: tuple[Engine, list[Call]],
) -> None:
    engine, calls = stored
    clock = _Clock()
    store = AccountStore(engine, clock=clock)
    store.create("olga", "correct horse battery", "operations")
    auth = Authenticator(store, "test-secret-0123456789abcdef", clock=clock)
    from_db = LiveHub(LiveState(POLICIES, tz=NY), clock=clock)
    in_memory = LiveHub(LiveState(POLICIES, tz=NY), clock=clock)
    # the live state gets the same calls as the controller publishes them: in time order
    for event in sorted((e for c in calls for e in events_of(c)), key=lambda e: e.at):
        in_memory.publish(event)
    apps = {
        "db": create_app(
            lambda: {"ok": True},
            hub=from_db,
            auth=auth,
            events=functools.partial(load_events, engine),
        ),
        "memory": create_app(lambda: {"ok": True}, hub=in_memory, auth=auth),
    }
    got: dict[str, dict[str, str]] = {}
    try:
        for name, app in apps.items():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                login = {"username": "olga", "password": "correct horse battery"}
                assert (await client.post("/login", data=login)).status_code == 303
                params = {"from": "2026-11-02", "to": "2026-11-16"}
                got[name] = {
                    fmt: (
                        await client.get("/api/reports/abandoned", params={**params, "format": fmt})
                    ).text
                    for fmt in ("json", "csv")
                }
    finally:
        await from_db.stop()
        await in_memory.stop()
    assert got["memory"] == got["db"]
    outcomes = {c["outcome"] for c in json.loads(got["db"]["json"])["calls"]}
    assert outcomes == {"abandoned", "timed-out", "callback-answered", "callback-failed"}
