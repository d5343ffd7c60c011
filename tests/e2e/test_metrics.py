"""Issue 6, end to end: ``/metrics`` after real calls, parsed with prometheus_client's parser.

Three SIPp residents go through the shipped IVR of a real ``line311 serve`` at once:

    self     1 (English), 1 (parking), listen, hang up          resolved in the IVR
    answered 1, 0 -> queue general, a SIPp CCR answers           talks 10 s, 1 s wrap-up
    gave-up  1, 0 three seconds later; the only CCR is busy      hangs up while waiting

so the scrape must show 3 calls through the IVR (1 resolved), 2 offered to ``general``, 1
answered and 1 abandoned (wait histograms by outcome), 1 handle time, the CCR back to
available, ARI reaction times and the CRM outbox backlog. Counts, not timings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from line311.sim.sipp import ON_CUE, SippCaller, Step, start_agent, start_caller
from tests.conftest import AsteriskInstance
from tests.e2e.conftest import general_queue_env, running_stack
from tests.e2e.stack import Stack, wait_until
from tests.e2e.zones import noon_zone

pytestmark = pytest.mark.asterisk

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def stack(
    asterisk_instance: AsteriskInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("metrics-stack")
    env = {**general_queue_env(workdir), "LINE311_TIMEZONE": noon_zone()}  # "today" stays today
    with running_stack(asterisk_instance, workdir, env) as s:
        yield s


def scrape(stack: Stack) -> tuple[set[str], Samples]:
    """Family names and {(sample name, labels): value} of one /metrics scrape."""
    r = httpx.get(f"http://127.0.0.1:{stack.http_port}/metrics", timeout=5)
    assert r.status_code == 200
    families = list(text_string_to_metric_families(r.text))
    samples: Samples = {}
    for family in families:
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = float(s.value)
    return {f.name for f in families}, samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_given_a_self_served_an_answered_and_an_abandoned_call_when_metrics_are_scraped_then_they_show_those_calls(
    stack: Stack, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    token = stack.supervisor_token()
    desk = f"http://127.0.0.1:{stack.http_port}/api/desk"
    headers = {"Authorization": f"Bearer {token}"}
    password = asterisk_instance.settings.agent_password.get_secret_value()
    phone = start_agent(
        tmp_path / "agent1", asterisk_instance.sip_port, "agent1", password, talk_ms=20_000
    )
    r = httpx.post(f"{desk}/agents/agent1/login", headers=headers, timeout=5)
    assert r.status_code == 200, r.text

    def call(name: str, dtmf: list[Step], hold_ms: int) -> SippCaller:
        return start_caller(
            tmp_path / name, asterisk_instance.sip_port, "311", dtmf=dtmf, hold_ms=hold_ms
        )

    try:
        callers = [
            call("self", [(ON_CUE, "1"), (1_500, "1")], 7_000),
            call("answered", [(ON_CUE, "1"), (1_500, "0")], 40_000),
        ]
        # pacing, not a wait: the second queued caller arrives 3 s after the first (same
        # script), so it queues while the CCR is on the first call, and gives up (6 s) long
        # before the CCR's 20-s talk is over, even when a loaded box sets it up seconds late
        time.sleep(3)
        callers.append(call("gave-up", [(ON_CUE, "1"), (1_500, "0")], 6_000))
        results = [c.wait(timeout=90) for c in callers]
        assert all(res.final_status == 200 for res in results)

        def settled() -> tuple[set[str], Samples] | None:
            names, samples = scrape(stack)
            handled = value(samples, "line311_queue_handle_seconds_count", queue="general")
            available = value(samples, "line311_ccr_agents", state="available")
            in_ivr = value(samples, "line311_ivr_calls")
            return (names, samples) if (handled, available, in_ivr) == (1, 1, 0) else None

        names, samples = wait_until(settled, 30, "the answered call to end and wrap up", 0.5)
    finally:
        phone.stop()
        httpx.post(f"{desk}/agents/agent1/logout", headers=headers, timeout=5)

    for family in (
        "line311_ivr_calls",
        "line311_ivr_resolved_ratio",
        "line311_queue_calls_waiting",
        "line311_queue_longest_wait_seconds",
        "line311_queue_service_level_ratio",
        "line311_queue_service_level_goal_ratio",
        "line311_queue_asa_seconds",
        "line311_queue_wait_seconds",
        "line311_queue_handle_seconds",
        "line311_queue_calls_offered",
        "line311_queue_calls_ended",
        "line311_ccr_agents",
        "line311_ari_reaction_seconds",
        "line311_crm_outbox_backlog",
    ):
        assert family in names, f"{family} missing from /metrics"

    # the IVR: three calls, none left in it, one of three resolved there
    assert value(samples, "line311_ivr_calls") == 0
    assert value(samples, "line311_ivr_resolved_ratio") == pytest.approx(
        1 / 3, abs=1e-3
    )  # rounded in the snapshot
    # the queue: two offered, one answered, one abandoned, nobody waiting now
    q = {"queue": "general"}
    assert value(samples, "line311_queue_calls_offered_total", **q) == 2
    assert value(samples, "line311_queue_calls_ended_total", **q, outcome="answered") == 1
    assert value(samples, "line311_queue_calls_ended_total", **q, outcome="abandoned") == 1
    assert value(samples, "line311_queue_wait_seconds_count", **q, outcome="answered") == 1
    assert value(samples, "line311_queue_wait_seconds_count", **q, outcome="abandoned") == 1
    assert value(samples, "line311_queue_calls_waiting", **q) == 0
    # handle time: talk (20 s from the CCR's answer) + 1 s wrap-up
    assert value(samples, "line311_queue_handle_seconds_count", **q) == 1
    handle = value(samples, "line311_queue_handle_seconds_sum", **q)
    assert handle is not None
    assert 5 < handle < 60
    # SL and ASA of today: one answered call within the threshold
    asa = value(samples, "line311_queue_asa_seconds", **q, window="today")
    assert asa is not None
    assert 0 <= asa < 30
    sl = value(samples, "line311_queue_service_level_ratio", **q, window="today")
    assert sl in (0.5, 1.0)  # 1.0 when the abandon was short (excluded), else 1 of 2
    assert value(samples, "line311_queue_service_level_goal_ratio", **q) == pytest.approx(0.8)
    # CCRs: agent1 is back to available, nobody else is logged in
    assert value(samples, "line311_ccr_agents", state="available") == 1
    assert value(samples, "line311_ccr_agents", state="on_call") == 0
    # the controller timed its reactions to ARI events
    reactions = sum(v for (n, _), v in samples.items() if n == "line311_ari_reaction_seconds_count")
    assert reactions >= 3
    # the CRM outbox backlog is what the outbox itself says is pending
    pending = json.loads(stack.cli("outbox", "stats", "--json").stdout)["pending"]
    assert value(samples, "line311_crm_outbox_backlog") == pending
