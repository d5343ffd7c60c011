"""Metrics on an injected registry, parsed back with prometheus_client's parser (the Grafana
dashboard and the docs' table against every process's metrics: test_metric_catalogue.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from line311.dashboard.live import LiveHub
from line311.dashboard.metrics import DashboardMetrics
from line311.dashboard.state import (
    AlertRaised,
    AlertWithdrawn,
    CallEnteredIvr,
    CallLeftIvr,
    LiveState,
    QueueConfigured,
)
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
from line311.queue.service_level import SlPolicies, SlPolicy
from tests.fixtures.prom import scrape

T0 = 1_700_000_100.0


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


# ------------------------------------------------------------ gauges = the wallboard's figures
def _gauges(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    """Every gauge sample (prometheus_client's ``_created`` gauges left out)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        if family.type == "gauge" and not family.name.endswith("_created")
        for s in family.samples
    }


def _wallboard_as_gauges(snap: dict[str, Any]) -> dict[tuple[str, tuple], float]:
    """What each gauge must read, taken from the wallboard's snapshot of the same state."""
    out: dict[tuple[str, tuple], float] = {
        ("line311_ivr_calls", ()): snap["ivr"]["in_ivr"],
        ("line311_alerts_active", ()): len(snap["alerts"]),
        ("line311_dashboard_clients", ()): 0,
        ("line311_crm_outbox_backlog", ()): 0,
    }
    if snap["ivr"]["resolved_share"] is not None:
        out[("line311_ivr_resolved_ratio", ())] = snap["ivr"]["resolved_share"]
    for state, count in snap["agent_counts"].items():
        out[("line311_ccr_agents", (("state", state),))] = count
    for q in snap["queues"]:
        queue = (("queue", q["name"]),)
        out[("line311_queue_calls_waiting", queue)] = q["waiting"]
        out[("line311_queue_callbacks_pending", queue)] = q["callbacks_pending"]
        out[("line311_queue_longest_wait_seconds", queue)] = q["longest_wait"]
        out[("line311_queue_service_level_goal_ratio", queue)] = q["goal"]
        out[("line311_queue_service_level_threshold_seconds", queue)] = q["threshold"]
        out[("line311_queue_calls_waiting_past_threshold", queue)] = q["waiting_past_threshold"]
        for window in ("interval", "today"):
            labels = (("queue", q["name"]), ("window", window))
            for key, name in (
                ("sl", "line311_queue_service_level_ratio"),
                ("projected_sl", "line311_queue_service_level_projected_ratio"),
                ("asa", "line311_queue_asa_seconds"),
            ):
                if q[window][key] is not None:
                    out[(name, labels)] = q[window][key]
    return out


async def test_given_a_scripted_day_when_scraped_at_each_step_then_every_gauge_reads_as_the_wallboard() -> (
    None
):
    policies = SlPolicies.build(SlPolicy(), {"housing": (20.0, 0.9)})
    now = [T0]
    registry = CollectorRegistry()
    # min_interval 0: every scrape recomputes (the fake clock moves without a fact)
    hub = LiveHub(LiveState(policies), clock=lambda: now[0], min_interval=0.0)
    metrics = DashboardMetrics(registry, hub, outbox_backlog=lambda: 0)
    await metrics.read_backlog()
    board = LiveState(policies)  # the wallboard's figures, from the same facts on their own

    def step(at: float, *facts: Any) -> tuple[dict[tuple[str, tuple], float], dict[str, Any]]:
        now[0] = at
        for fact in facts:
            hub.publish(fact)
            board.apply(fact)
        snap = board.snapshot(at)
        assert _gauges(registry) == _wallboard_as_gauges(snap)
        return _gauges(registry), snap

    a = AgentActivity
    g, _ = step(
        T0 + 10,
        QueueConfigured("general", 0.8),
        QueueConfigured("housing", 0.9),
        AgentStateChanged("a1", a.AVAILABLE, T0),
        AgentStateChanged("a2", a.AVAILABLE, T0),
        AgentStateChanged("a3", a.PAUSED, T0, reason="lunch"),
        CallEnteredIvr("i1", T0 + 1),
        CallEnteredIvr("i2", T0 + 2),
        AlertRaised("snow", T0 + 3, "Schools closed"),
    )
    assert g[("line311_ccr_agents", (("state", "available"),))] == 2
    assert g[("line311_ccr_agents", (("state", "paused"),))] == 1
    assert g[("line311_ivr_calls", ())] == 2
    general, housing = (("queue", "general"),), (("queue", "housing"),)
    assert g[("line311_queue_calls_waiting", general)] == 0
    assert not any(k[0] == "line311_queue_service_level_ratio" for k in g)  # no call yet

    g, _ = step(
        T0 + 200,
        CallLeftIvr("i1", T0 + 30, resolved=True),
        CallLeftIvr("i2", T0 + 31, resolved=False),
        CallEnqueued("c1", "general", T0 + 31),
        CallAnswered("c1", "general", T0 + 41, agent_id="a1"),  # 10 s: within 30
        AgentStateChanged("a1", a.ON_CALL, T0 + 41),
        CallEnqueued("c2", "general", T0 + 40),
        CallAbandoned("c2", "general", T0 + 43),  # 3 s: a short abandon, left out of SL
        CallEnqueued("c3", "general", T0 + 45),
        CallAbandoned("c3", "general", T0 + 105),  # after 60 s: a miss
        CallEnqueued("c4", "general", T0 + 100),  # still waiting: 100 s at T0 + 200
        CallEnqueued("h1", "housing", T0 + 50),
        CallAnswered("h1", "housing", T0 + 80, agent_id="a2"),  # 30 s against T = 20: a miss
        AgentStateChanged("a2", a.ON_CALL, T0 + 80),
        CallEnqueued("h2", "housing", T0 + 60),
        CallbackRequested("h2", "housing", T0 + 70),
    )
    assert g[("line311_ivr_resolved_ratio", ())] == 0.5
    assert g[("line311_queue_calls_waiting", general)] == 1
    assert g[("line311_queue_longest_wait_seconds", general)] == 100
    assert g[("line311_queue_calls_waiting_past_threshold", general)] == 1
    interval = (("queue", "general"), ("window", "interval"))
    assert g[("line311_queue_service_level_ratio", interval)] == 0.5  # 1 of (1 + 1 long abandon)
    assert g[("line311_queue_service_level_projected_ratio", interval)] == pytest.approx(
        1 / 3, abs=1e-4
    )
    assert g[("line311_queue_asa_seconds", interval)] == 10
    assert g[("line311_queue_callbacks_pending", housing)] == 1
    assert g[("line311_queue_service_level_threshold_seconds", housing)] == 20
    assert (
        g[("line311_queue_service_level_ratio", (("queue", "housing"), ("window", "today")))] == 0
    )
    assert g[("line311_ccr_agents", (("state", "on_call"),))] == 2

    # the next interval, with no fact: its SL is absent, today's stays, the waits go on
    g, _ = step(T0 + 900 + 10)
    assert not any(k == ("line311_queue_service_level_ratio", interval) for k in g)
    assert (
        g[("line311_queue_service_level_ratio", (("queue", "general"), ("window", "today")))] == 0.5
    )
    assert g[("line311_queue_longest_wait_seconds", general)] == 810

    # the caller is answered, a CCR goes to wrap-up, the alert is withdrawn
    g, _ = step(
        T0 + 930,
        CallCompleted("c1", "general", T0 + 920, talk_seconds=870),
        AgentStateChanged("a1", a.WRAP_UP, T0 + 920),
        CallAnswered("c4", "general", T0 + 925, agent_id="a3"),
        AgentStateChanged("a3", a.ON_CALL, T0 + 925),
        AlertWithdrawn("snow", T0 + 926),
    )
    assert g[("line311_queue_calls_waiting", general)] == 0
    assert g[("line311_queue_longest_wait_seconds", general)] == 0
    assert g[("line311_queue_calls_waiting_past_threshold", general)] == 0
    assert g[("line311_ccr_agents", (("state", "wrap_up"),))] == 1
    assert g[("line311_alerts_active", ())] == 0


def test_given_every_outcome_then_the_help_of_each_metric_by_outcome_names_them_all() -> None:
    hub, _, registry = make()
    for fact in (
        CallEnqueued("c1", "q", T0),
        CallAnswered("c1", "q", T0 + 1, agent_id="a1"),
        CallEnqueued("c2", "q", T0),
        CallAbandoned("c2", "q", T0 + 9),
        CallEnqueued("c3", "q", T0),
        CallTimedOut("c3", "q", T0 + 60),
        CallEnqueued("c4", "q", T0),
        CallAbandoned("c4", "q", T0 + 9, media_server_lost=True),
    ):
        hub.publish(fact)
    by_outcome = {
        family.name: (family.documentation, {s.labels["outcome"] for s in family.samples})
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        if any("outcome" in s.labels for s in family.samples)
        and not family.name.endswith("_created")
    }
    assert set(by_outcome) == {"line311_queue_wait_seconds", "line311_queue_calls_ended"}
    for name, (help_text, outcomes) in by_outcome.items():
        assert outcomes == {"answered", "abandoned", "timed_out", "media_server_lost"}
        assert [o for o in sorted(outcomes) if o not in help_text] == [], name


def test_given_a_storm_when_callers_wait_half_an_hour_and_more_then_the_wait_buckets_tell_them_apart() -> (
    None
):
    # on a storm day (NYC's record: 276,827 calls) waits run past 20 minutes; in the +Inf
    # bucket histogram_quantile() would read every one of them as the last finite bound
    hub, _, registry = make()
    for n, wait in enumerate((25 * 60, 50 * 60)):
        hub.publish(CallEnqueued(f"c{n}", "q", T0))
        hub.publish(CallAnswered(f"c{n}", "q", T0 + wait, agent_id="a1"))
    answered = (("outcome", "answered"), ("queue", "q"))
    buckets = {
        float(dict(labels)["le"]): count
        for (name, labels), count in scrape(registry).items()
        if name == "line311_queue_wait_seconds_bucket"
        and tuple(x for x in labels if x[0] != "le") == answered
    }
    finite = {le: count for le, count in buckets.items() if le != float("inf")}
    assert 1 in finite.values(), "no finite bucket holds the 25-min wait without the 50-min one"
    assert 2 in finite.values(), "no finite bucket holds the 50-min wait"
