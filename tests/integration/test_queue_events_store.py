"""The queue_events table on SQLite and PostgreSQL: events round-trip exactly, and the SL
figures folded from storage equal the live accumulator's."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from line311.db.queue_models import insert_events, load_events, stored_stats
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)
from line311.queue.intervals import IntervalAccumulator
from line311.queue.report import abandoned_calls
from line311.queue.service_level import AgentTimeStats
from tests.integration.crm import conftest as _crm

pytestmark = pytest.mark.integration

# the CRM tests' database fixtures: one migrated database per backend, emptied per test
backend = _crm.backend
pg_databases = _crm.pg_databases
new_database_url = _crm.new_database_url
migrated_engine = _crm.migrated_engine
engine = _crm.engine

T0 = 1_737_986_400.0  # 2025-01-27 14:00 UTC, on a 15-minute boundary

EVENTS = [
    AgentStateChanged("agent1", AgentActivity.AVAILABLE, T0, ""),
    CallEnqueued("c1", "general", T0 + 1.25, "es", "general", 0),
    CallAnswered("c1", "general", T0 + 20.5, "agent1"),
    CallEnqueued("c2", "general", T0 + 2.0, "en", "general", 1),
    CallAbandoned("c2", "general", T0 + 47.125),
    CallEnqueued("c3", "general", T0 + 3.0),
    CallbackRequested("c3", "general", T0 + 9.0),
    CallEnqueued("c4", "housing", T0 + 4.0),
    CallTimedOut("c4", "housing", T0 + 600.0, "max-wait"),
    CallEnqueued("c5", "housing", T0 + 5.0),
    CallAbandoned("c5", "housing", T0 + 65.0, media_server_lost=True),
    CallCompleted("c1", "general", T0 + 200.0, 179.5, 0.0, 30.0, "agent"),
    AgentStateChanged("agent1", AgentActivity.PAUSED, T0 + 230.0, "lunch"),
]


def test_given_stored_queue_events_when_read_back_then_they_are_the_same_events(
    engine: Engine,
) -> None:
    assert insert_events(engine, EVENTS) == len(EVENTS)
    assert load_events(engine, T0, T0 + 3600) == EVENTS
    assert load_events(engine, T0 + 100, T0 + 300) == EVENTS[-2:]


def test_given_stored_queue_events_when_sl_is_computed_then_it_equals_the_live_accumulator(
    engine: Engine,
) -> None:
    insert_events(engine, EVENTS)
    live = IntervalAccumulator()
    live.feed_all(EVENTS)

    stats, agent_time = stored_stats(engine, T0, T0 + 900)

    assert stats == live.intervals()
    general = stats[("general", int(T0))]
    assert (general.offered, general.answered, general.abandoned) == (3, 1, 1)
    assert general.answered_within == 1
    assert agent_time == live.agent_time(now=T0 + 900)  # the pause counts to the range's end


def test_given_an_agent_in_a_state_since_before_the_range_then_agent_time_counts_it_from_its_start(
    engine: Engine,
) -> None:
    """09:00-10:00: available since 08:00, on a call 09:10-09:40, available again; logged out
    at 17:00. Busy 20 of the first half hour, 10 of the second, half of the hour."""
    available, on_call = AgentActivity.AVAILABLE, AgentActivity.ON_CALL
    insert_events(
        engine,
        [
            AgentStateChanged("agent2", AgentActivity.PAUSED, T0 - 7200, "break"),
            AgentStateChanged("agent2", available, T0 - 3600),
            AgentStateChanged("agent1", available, T0 - 86_400 - 60),  # too old to be read
            AgentStateChanged("agent2", on_call, T0 + 600),
            AgentStateChanged("agent2", available, T0 + 2400),
            AgentStateChanged("agent2", AgentActivity.LOGGED_OUT, T0 + 28_800),
        ],
    )
    before = load_events(engine, T0, T0 + 3600, agent_states=True)
    assert before[0] == AgentStateChanged("agent2", available, T0 - 3600)
    assert [e.agent_id for e in before] == ["agent2"] * 3

    _, agent_time = stored_stats(engine, T0, T0 + 3600)

    halves = [
        sum((agent_time[int(T0) + q * 900] for q in (h, h + 1)), AgentTimeStats()) for h in (0, 2)
    ]
    assert [h.occupancy for h in halves] == pytest.approx([2 / 3, 1 / 3])
    assert sum(agent_time.values(), AgentTimeStats()).occupancy == pytest.approx(0.5)
    _, so_far = stored_stats(engine, T0, T0 + 3600, now=T0 + 1200)  # the range runs on: to now
    assert sum(so_far.values(), AgentTimeStats()).available == 600


def test_the_abandoned_list_shows_abandons_timeouts_and_callbacks(engine: Engine) -> None:
    insert_events(engine, EVENTS)
    calls = abandoned_calls(load_events(engine, T0, T0 + 86_400), T0, T0 + 900, now=T0 + 60)
    assert [(c.call_id, c.outcome) for c in calls] == [
        ("c2", "abandoned"),
        ("c3", "callback-pending"),
        ("c4", "timed-out"),
        ("c5", "media-server-lost"),
    ]
    assert calls[0].waited == 45.125
