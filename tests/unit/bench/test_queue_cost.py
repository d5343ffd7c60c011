"""The pure parts of ``python -m bench queue_cost``: the CCRs a rate keeps busy, the queue
figures of a step, CPU per queued call (gross and net of the fixed cost), the report."""

from __future__ import annotations

import math

import pytest

from bench.queue_cost import (
    QueueFigures,
    Row,
    Step,
    _parse,
    _step_table,
    _summary_table,
    busy_agents,
    headline,
    log_findings,
    median,
    net_per_call_ms,
    per_call_ms,
    queue_figures,
    slope,
)
from line311.queue.queue_log import QueueLogRecord
from tests.e2e.capacity import StepResult


def _log(call_id: str, event: str, *data: str) -> QueueLogRecord:
    return QueueLogRecord(0.0, call_id, "general", "NONE", event, data)


def _step(variant: str, cpu: dict[str, float], entered: int = 10) -> Step:
    result = StepResult(
        target=variant,
        number="311",
        rate=1.0,
        calls=entered,
        ok=entered,
        failed=0,
        invite_ms=[],
        cpu=cpu,
        load=(0.5, 0.5, 0.5),
    )
    figures = QueueFigures(entered, entered, entered, entered, entered, {"handled": 10}, [0.5])
    return Step(variant, result, window_s=10.0, queue=figures, idle={"controller": 10.0})


def test_given_a_rate_when_ccrs_are_counted_then_each_call_holds_one_for_its_whole_cycle():
    assert busy_agents(2.0, answer_ms=200, talk_ms=1500, wrapup_s=1.0, setup_s=0.5) == 6.4


def test_given_more_calls_than_the_ccrs_can_take_when_parsed_then_the_rate_is_refused():
    with pytest.raises(SystemExit):
        _parse(["--rates", "3", "--agents", "8"])

    assert _parse(["--rates", "1", "--agents", "8"]).rate_list == [1.0]


def test_given_a_ccr_hanging_up_during_the_whisper_when_parsed_then_refused():
    with pytest.raises(SystemExit):
        _parse(["--talk-ms", "1500"])  # never bridged: the connection's work left out

    assert _parse(["--talk-ms", "3100", "--rates", "1"]).talk_ms == 3100


def test_given_an_unknown_stack_when_parsed_then_it_is_refused():
    with pytest.raises(SystemExit):
        _parse(["--variants", "w0,w9"])


def test_given_a_steps_log_and_records_when_summarised_then_entered_answered_and_waits_count():
    log = [
        _log("c1", "ENTERQUEUE", "", "", "1"),
        _log("c2", "ENTERQUEUE", "", "", "2"),
        _log("c3", "ENTERQUEUE", "", "", "3"),
        _log("c1", "CONNECT", "0", "x", "0"),
        _log("c2", "CONNECT", "1", "y", "0"),
        _log("c1", "COMPLETEAGENT", "0", "2", "1"),
        _log("c2", "COMPLETECALLER", "1", "2", "2"),
        _log("c3", "ABANDON", "1", "3", "4"),
        _log("NONE", "ADDMEMBER"),
    ]
    rows = [
        Row("c1", "handled", True, True, 0.4),
        Row("c2", "handled", True, True, 1.2),
        Row("c3", "abandoned", True, False, 4.0),
    ]

    q = queue_figures(log, rows)

    assert (q.entered, q.connected, q.ended, q.records, q.answered) == (3, 2, 3, 3, 2)
    assert q.outcomes == {"handled": 2, "abandoned": 1}
    assert q.waits == [0.4, 1.2]  # the abandoned caller's wait is no answer's
    assert q.asa_p50 in (0.4, 1.2)


def test_given_no_answered_call_when_summarised_then_the_asa_is_unknown():
    q = queue_figures([], [])

    assert math.isnan(q.asa_p50)


def test_given_cpu_and_calls_when_divided_then_ms_per_call_and_net_of_the_fixed_part():
    assert per_call_ms(0.5, 100) == 5.0
    assert math.isnan(per_call_ms(0.5, 0))
    # 0.5 s over 100 calls in a 30-s window, 5 ms/s fixed: 0.35 s are the calls'
    assert net_per_call_ms(0.5, 30.0, 5.0, 100) == pytest.approx(3.5)


def test_given_a_step_when_read_per_call_then_the_queued_calls_are_the_denominator():
    step = _step("w2", {"controller": 0.5, "ivr-worker-1": 0.1})

    assert step.ms("controller") == pytest.approx(50.0)
    assert step.net_ms("controller") == pytest.approx(40.0)  # 10 ms/s × 10 s off
    assert step.net_ms("ivr-worker-1") == pytest.approx(10.0)  # no idle figure: none off


def test_given_steps_of_two_stacks_when_reported_then_medians_per_stack_and_process():
    runs = {
        "w0": [_step("w0", {"controller": 0.5}), _step("w0", {"controller": 0.7})],
        "w2": [_step("w2", {"controller": 0.3, "ivr-worker-1": 0.1})],
    }

    head = headline(runs)
    table = _summary_table(runs)
    steps = _step_table([s for v in runs.values() for s in v])

    assert head["controller_w0"] == pytest.approx(50.0)  # median of 40 and 60
    assert head["controller_w2"] == pytest.approx(20.0)
    assert "ivr-worker-1_w0" not in head
    assert "| ivr-worker-1 | – | – | – | – |" in table
    assert "| w2 | 1 | 10 / 0 | 10 | 10 | 10, 10 | 0.50 / 0.50 |" in steps


def test_given_values_with_gaps_when_the_median_is_taken_then_unknowns_are_left_out():
    assert median([1.0, float("nan"), 3.0]) == 2.0
    assert math.isnan(median([]))


def test_given_a_log_when_read_then_warnings_and_errors_are_counted_and_their_messages_kept():
    text = (
        "12:00:01 INFO    line311.ari: connected\n"
        "12:00:02 WARNING line311.queue: offer failed [call_id=c1 agent_id=agent2]\n"
        "12:00:03 WARNING line311.queue: offer failed [call_id=c2 agent_id=agent3]\n"
        "12:00:04 ERROR   line311.ari.workers: move failed\n"
        "Traceback (most recent call last):\n"
    )

    count, sample = log_findings(text)

    assert count == 4
    assert sample == [
        "line311.queue: offer failed",
        "line311.ari.workers: move failed",
        "Traceback (most recent call last):",
    ]


def test_given_steps_at_two_rates_when_fitted_then_the_slope_is_the_cost_of_one_more_call():
    # 10 ms/s fixed over a 10-s window, 5 ms per call: 100 + 5 × calls ms
    steps = [
        _step("w0", {"controller": (100 + 5 * calls) / 1000}, entered=calls)
        for calls in (10, 20, 30)
    ]

    cost = slope(steps, "controller")

    assert cost.per_call == pytest.approx(5.0)
    assert cost.per_second == pytest.approx(10.0)
    assert math.isnan(slope(steps, "ivr-worker-1").per_call)
