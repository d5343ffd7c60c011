"""Metrics on an injected registry, parsed back with prometheus_client's parser (the Grafana
dashboard and the docs' table against every process's metrics: test_metric_catalogue.py)."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from line311.dashboard.live import LiveHub
from line311.dashboard.metrics import DashboardMetrics
from line311.dashboard.state import CallEnteredIvr, CallLeftIvr, LiveState
from line311.queue.events import (
    AgentActivity,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCompleted,
    CallEnqueued,
    CallTimedOut,
)

T0 = 1_700_000_100.0


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def make(backlog=None) -> tuple[LiveHub, DashboardMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    hub = LiveHub(LiveState(), clock=lambda: T0 + 100)
    return hub, DashboardMetrics(registry, hub, outbox_backlog=backlog), registry


def test_given_no_calls_then_metrics_parse_and_per_queue_series_are_absent() -> None:
    _, _, registry = make()
    samples = scrape(registry)
    assert samples[("line311_ivr_calls", ())] == 0
    assert samples[("line311_ccr_agents", (("state", "available"),))] == 0
    assert not any(name == "line311_queue_calls_waiting" for name, _ in samples)
    assert not any(name == "line311_crm_outbox_backlog" for name, _ in samples)


async def test_given_calls_then_gauges_counters_and_histograms_follow_them() -> None:
    hub, metrics, registry = make(backlog=lambda: 3)
    await metrics.read_backlog()
    for fact in (
        CallEnteredIvr("i1", T0),
        CallEnteredIvr("i2", T0),
        CallLeftIvr("i2", T0 + 20, resolved=True),
        AgentStateChanged("a1", AgentActivity.ON_CALL, T0),
        CallEnqueued("c1", "housing", T0),
        CallAnswered("c1", "housing", T0 + 12, agent_id="a1"),
        CallCompleted("c1", "housing", T0 + 90, talk_seconds=60, wrapup_seconds=15),
        CallEnqueued("c2", "housing", T0 + 1),
        CallAbandoned("c2", "housing", T0 + 41),
        CallEnqueued("c3", "housing", T0 + 2),
        CallTimedOut("c3", "housing", T0 + 62),
        CallEnqueued("c4", "housing", T0 + 3),
        CallEnqueued("c5", "housing", T0 + 4),
        CallAbandoned("c5", "housing", T0 + 9, media_server_lost=True),
    ):
        hub.publish(fact)
    metrics.observe_ari_reaction("answer", 0.002)
    s = scrape(registry)
    q = (("queue", "housing"),)
    assert s[("line311_ivr_calls", ())] == 1
    assert s[("line311_ivr_resolved_ratio", ())] == 1.0
    assert s[("line311_queue_calls_waiting", q)] == 1
    assert s[("line311_queue_longest_wait_seconds", q)] == 97.0
    assert s[("line311_queue_service_level_goal_ratio", q)] == 0.8
    today = ("line311_queue_service_level_ratio", (("queue", "housing"), ("window", "today")))
    assert s[today] == pytest.approx(1 / 3, abs=1e-4)
    assert s[("line311_queue_calls_offered_total", q)] == 5
    ended = "line311_queue_calls_ended_total"
    for outcome in ("answered", "abandoned", "timed_out", "media_server_lost"):
        assert s[(ended, (("outcome", outcome), ("queue", "housing")))] == 1
    assert (
        s[("line311_queue_wait_seconds_sum", (("outcome", "abandoned"), ("queue", "housing")))]
        == 40
    )
    assert s[("line311_queue_handle_seconds_count", q)] == 1
    assert s[("line311_ccr_agents", (("state", "on_call"),))] == 1
    assert s[("line311_crm_outbox_backlog", ())] == 3
    assert s[("line311_ari_reaction_seconds_count", (("operation", "answer"),))] == 1


async def test_given_a_failing_backlog_read_then_the_scrape_still_works_without_it() -> None:
    down = [False]

    def backlog() -> int:
        if down[0]:
            raise OSError("database down")
        return 2

    _, metrics, registry = make(backlog=backlog)
    await metrics.read_backlog()
    assert scrape(registry)[("line311_crm_outbox_backlog", ())] == 2
    down[0] = True
    await metrics.read_backlog()  # a stale figure would hide the outage: none is shown
    samples = scrape(registry)
    assert ("line311_ivr_calls", ()) in samples
    assert not any(name == "line311_crm_outbox_backlog" for name, _ in samples)


def test_projected_sl_threshold_and_callers_past_it_are_gauges() -> None:
    from line311.queue.service_level import SlPolicies, SlPolicy

    registry = CollectorRegistry()
    policies = SlPolicies.build(SlPolicy(), {"housing": (20.0, 0.9)})
    hub = LiveHub(LiveState(policies), clock=lambda: T0 + 100)
    DashboardMetrics(registry, hub, outbox_backlog=None)
    hub.state.apply(CallEnqueued("ok", "housing", T0))
    hub.state.apply(CallAnswered("ok", "housing", T0 + 10, agent_id="a1"))
    hub.state.apply(CallEnqueued("w", "housing", T0 + 50))  # 50 s at T0 + 100: past 20 s
    samples = scrape(registry)
    housing = (("queue", "housing"),)
    assert samples[("line311_queue_service_level_threshold_seconds", housing)] == 20
    assert samples[("line311_queue_calls_waiting_past_threshold", housing)] == 1
    window = (("queue", "housing"), ("window", "interval"))
    assert samples[("line311_queue_service_level_ratio", window)] == 1.0
    assert samples[("line311_queue_service_level_projected_ratio", window)] == 0.5


async def test_given_a_scrape_in_the_event_loop_then_the_outbox_backlog_is_never_read_on_its_thread() -> (
    None
):
    # the backlog is a database count: on the loop, every scrape would hold up every call
    # (up to SQLite's 30-s busy timeout, or a PostgreSQL that does not answer)
    loop_thread = threading.get_ident()
    readers: list[int] = []

    def backlog() -> int:
        readers.append(threading.get_ident())
        return 4

    _, metrics, registry = make(backlog=backlog)
    scrape(registry)
    assert loop_thread not in readers
    await metrics.read_backlog()  # what the controller runs every few seconds, in a thread
    assert scrape(registry)[("line311_crm_outbox_backlog", ())] == 4
    assert readers
    assert loop_thread not in readers
