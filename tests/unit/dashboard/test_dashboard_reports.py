"""The abandoned-calls report of the dashboard API: without a database (the live state's
memory) it lists the same calls, with the same fields, as from the stored queue events."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from fastapi import Depends, FastAPI

from line311.dashboard.live import LiveHub
from line311.dashboard.reports import create_reports_router
from line311.dashboard.state import LiveState
from line311.queue.events import (
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
    QueueEvent,
)

T0 = 1_700_006_400.0  # 2023-11-15 00:00 UTC
NOW = T0 + 2000


def calls() -> list[QueueEvent]:
    """One call of each kind, as the controller publishes them (in time order)."""
    events: list[QueueEvent] = [
        # answered and completed: not listed
        CallEnqueued("ok", "housing", T0 + 1),
        CallAnswered("ok", "housing", T0 + 5, agent_id="a"),
        CallCompleted("ok", "housing", T0 + 60, talk_seconds=55),
        # hung up while waiting; and a short abandon (still an abandoned call)
        CallEnqueued("gone", "housing", T0 + 10),
        CallAbandoned("gone", "housing", T0 + 40),
        CallEnqueued("short", "noise", T0 + 11),
        CallAbandoned("short", "noise", T0 + 13),
        # the caller's Asterisk died
        CallEnqueued("lost", "noise", T0 + 12),
        CallAbandoned("lost", "noise", T0 + 30, media_server_lost=True),
        # the queue gave up
        CallEnqueued("late", "noise", T0 + 20),
        CallTimedOut("late", "noise", T0 + 620),
        # callbacks: reached, not reached (abandoned, timed out), still pending
        CallEnqueued("cb-ok", "housing", T0 + 30),
        CallbackRequested("cb-ok", "housing", T0 + 50),
        CallAnswered("cb-ok", "housing", T0 + 900, agent_id="b"),
        CallCompleted("cb-ok", "housing", T0 + 1000, talk_seconds=90),
        CallEnqueued("cb-fail", "housing", T0 + 40),
        CallbackRequested("cb-fail", "housing", T0 + 60, at_max_wait=True),
        CallAbandoned("cb-fail", "housing", T0 + 1000),
        CallEnqueued("cb-gave-up", "noise", T0 + 45),
        CallbackRequested("cb-gave-up", "noise", T0 + 65),
        CallTimedOut("cb-gave-up", "noise", T0 + 1500),
        CallEnqueued("cb-wait", "noise", T0 + 50),
        CallbackRequested("cb-wait", "noise", T0 + 70),
        # entered before the range asked for
        CallEnqueued("before", "housing", T0 - 1),
        CallAbandoned("before", "housing", T0 + 3),
    ]
    return sorted(events, key=lambda e: e.at)


def app_for(hub: LiveHub, stored: Sequence[QueueEvent] | None) -> FastAPI:
    """The report routes alone, every reader admitted; ``stored``: the database's events."""

    def load(start: float, end: float) -> list[QueueEvent]:
        assert stored is not None
        return [e for e in stored if start <= e.at < end]

    app = FastAPI()
    router = create_reports_router(
        hub, Depends(lambda: None), lambda: NOW, load if stored is not None else None
    )
    app.include_router(router)
    return app


async def report(app: FastAPI, params: dict[str, str | float]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/api/reports/abandoned", params=params)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_given_the_same_calls_then_memory_and_database_list_the_same_abandoned_calls(
    fmt: str,
) -> None:
    events = calls()
    from_db = LiveHub(LiveState(), clock=lambda: NOW)
    in_memory = LiveHub(LiveState(), clock=lambda: NOW)
    in_memory.state.apply_all(events)
    params = {"from": T0, "to": T0 + 3600, "format": fmt}
    try:
        want = await report(app_for(from_db, events), params)
        got = await report(app_for(in_memory, None), params)
    finally:
        await from_db.stop()
        await in_memory.stop()
    if fmt == "csv":
        assert got.text == want.text
        return
    listed = want.json()["calls"]
    assert [(c["call_id"], c["outcome"]) for c in listed] == [
        ("gone", "abandoned"),
        ("short", "abandoned"),
        ("lost", "media-server-lost"),
        ("late", "timed-out"),
        ("cb-ok", "callback-answered"),
        ("cb-fail", "callback-failed"),
        ("cb-gave-up", "callback-failed"),
        ("cb-wait", "callback-pending"),
    ]
    assert got.json() == want.json()
