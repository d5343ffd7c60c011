"""The pure parts of ``python -m bench capacity --asterisks 2`` (issue 14): the calls-processed
counter, each Asterisk's CPU per call it handled, and the capacity of N boxes on paper."""

from __future__ import annotations

import math

from bench._stack import calls_processed
from bench.capacity import (
    Cost,
    Costs,
    _paper,
    asterisk_names,
    fit,
    line311_names,
    measured_costs,
    own_call_ms,
    paper_capacity,
    per_box_ms,
    per_box_pooled,
    record_day_boxes,
    split,
)
from tests.e2e.capacity import StepResult


def _step(
    rate: float,
    target: str,
    cpu: dict[str, float],
    served: dict[str, int] | None = None,
    calls: int = 100,
) -> StepResult:
    return StepResult(
        target=target,
        number="311",
        rate=rate,
        calls=calls,
        ok=calls,
        failed=0,
        invite_ms=[4.0],
        cpu=cpu,
        load=(0.5, 0.5, 0.5),
        served=served or {},
    )


FLEET = {
    "asterisk-1": 1.0,
    "asterisk-2": 1.5,
    "kamailio": 0.05,
    "controller": 0.7,
    "crm-bridge": 0.2,
}


def test_given_core_show_channels_output_when_parsed_then_the_processed_counter_is_read():
    out = "0 active channels\n0 active calls\n1234 calls processed\n"

    assert calls_processed(out) == 1234
    assert calls_processed("1 call processed") == 1
    assert calls_processed("No such command") is None


def test_given_a_fleet_step_then_roles_are_told_apart():
    step = _step(10, "product", FLEET, {"asterisk-1": 50, "asterisk-2": 50})

    assert asterisk_names(step) == ["asterisk-1", "asterisk-2"]
    assert line311_names(step) == ["controller", "crm-bridge"]
    assert split(step) == "50 / 50"


def test_given_calls_split_unevenly_when_costed_then_each_asterisk_pays_per_call_it_handled():
    step = _step(10, "product", FLEET, {"asterisk-1": 40, "asterisk-2": 60})

    assert own_call_ms(step, "asterisk-1") == 1000 * 1.0 / 40
    assert own_call_ms(step, "asterisk-2") == 1000 * 1.5 / 60
    assert per_box_ms(step) == 1000 * 2.5 / 100


def test_given_an_asterisk_that_handled_nothing_then_its_cost_per_call_is_unknown():
    step = _step(10, "product", FLEET, {"asterisk-1": 100, "asterisk-2": 0})

    assert math.isnan(own_call_ms(step, "asterisk-2"))


def test_given_one_asterisk_without_counts_then_its_cost_is_per_call_made():
    step = _step(10, "product", {"asterisk": 2.0, "controller": 0.5, "crm-bridge": 0.1})

    assert own_call_ms(step, "asterisk") == 20.0
    assert per_box_ms(step) == 20.0
    assert split(step) == "?"


def test_given_cpu_growing_linearly_with_calls_when_fitted_then_slope_and_fixed_part_come_out():
    points = [(75.0, 100.0 + 18 * 75), (150.0, 100.0 + 18 * 150), (300.0, 100.0 + 18 * 300)]

    cost = fit(points, seconds=20.0)

    assert math.isclose(cost.per_call, 18.0)
    assert math.isclose(cost.per_second, 5.0)


def test_given_one_number_of_calls_when_fitted_then_the_cost_is_the_average_with_nothing_fixed():
    assert fit([(100.0, 2000.0), (100.0, 2200.0)], seconds=20.0) == Cost(21.0, 0.0)


def test_given_a_fleet_when_costs_are_fitted_then_an_asterisk_gets_its_share_of_the_fixed_part():
    def step(rate: float, calls: int) -> StepResult:
        media = (200.0 + 20 * calls) / 1000  # all Asterisks: 200 ms fixed, 20 ms a call
        return _step(
            rate,
            "product",
            {
                "asterisk-1": media / 2,
                "asterisk-2": media / 2,
                "kamailio": calls / 1000,
                "controller": (100 + 6 * calls) / 1000,
                "crm-bridge": 2 * calls / 1000,
            },
            {"asterisk-1": calls // 2, "asterisk-2": calls - calls // 2},
            calls=calls,
        )

    steps = [step(5, 75), _step(5, "twin", FLEET), step(10, 150), step(20, 300)]

    cost = measured_costs(steps, seconds=10.0)

    assert math.isclose(cost.asterisk.per_call, 20.0)
    assert math.isclose(cost.asterisk.per_second, 10.0)  # 200 ms / 10 s, over 2 boxes
    assert math.isclose(cost.kamailio.per_call, 1.0)
    assert math.isclose(cost.controller.per_call, 6.0)
    assert math.isclose(cost.controller.per_second, 10.0)
    assert math.isclose(cost.crm.per_call, 2.0)


def _costs(asterisk: float, fixed: float = 0.0) -> Costs:
    return Costs(Cost(asterisk, fixed), Cost(0.5), Cost(5.0), Cost(2.0))


def test_given_per_call_costs_when_boxes_are_added_then_the_asterisks_limit_grows_with_them():
    one, two = paper_capacity(1, 2, _costs(20.0), u=0.5), paper_capacity(2, 2, _costs(20.0), u=0.5)

    assert (one.asterisks, one.kamailio, one.controller, one.crm) == (50.0, 2000.0, 100.0, 250.0)
    assert (one.capacity, one.limit) == (50.0, "Asterisks")
    assert (two.capacity, two.limit) == (100.0, "Asterisks")
    assert two.capacity == 2 * one.capacity


def test_given_a_fixed_cost_per_box_then_it_comes_off_each_box_budget_first():
    assert paper_capacity(2, 2, _costs(20.0, fixed=100.0), u=0.5).asterisks == 2 * 900 / 20


def test_given_many_boxes_when_modelled_then_the_single_controller_caps_the_capacity():
    four = paper_capacity(4, 2, _costs(20.0), u=0.5)

    assert (four.asterisks, four.capacity, four.limit) == (200.0, 100.0, "controller")


def test_given_a_role_that_costs_nothing_then_it_sets_no_limit():
    assert Cost(0.0).rate(2, 0.7) == math.inf


def test_given_the_record_peak_when_boxes_are_counted_then_busy_cores_fill_boxes_at_u():
    busy, boxes = record_day_boxes(24.0, 12.0, 8, concurrent=2700, u=0.5)

    assert busy == 2700 * 2.0 / 1000  # 2 ms of CPU per call-second
    assert boxes == math.ceil(5.4 / 4)


def test_given_a_tiny_load_then_one_box_is_enough():
    assert record_day_boxes(1.0, 100.0, 8, concurrent=10)[1] == 1


def test_given_a_run_of_1_and_of_2_asterisks_when_put_on_paper_then_the_ratio_is_shown():
    def one(rate: float, calls: int) -> StepResult:
        cpu = {"asterisk": 0.02 * calls, "controller": 0.007 * calls, "crm-bridge": 0.002 * calls}
        return _step(rate, "product", cpu, {"asterisk": calls}, calls=calls)

    def two(rate: float, calls: int) -> StepResult:
        half = calls // 2
        cpu = FLEET | {"asterisk-1": 0.02 * half, "asterisk-2": 0.02 * half}
        return _step(rate, "product", cpu, {"asterisk-1": half, "asterisk-2": half}, calls=calls)

    text = _paper(
        {("", 1): [one(10, 100), one(20, 200)], ("", 2): [two(10, 100), two(20, 200)]},
        [2, 8],
        12.0,
        29.0,
    )

    assert "| 10 | product | 20.0 | 20.0 / 20.0 | 1.00 | 0.50 | 7.0 / 7.0 |" in text
    assert "| Asterisk (one box) | 20.0 | 0 | 20.00 | 0 | 1.00 |" in text
    assert "20.0 ms per call with 1 Asterisk, 20.0 with 2: **1.00×**" in text
    assert "| 2 | 8 |" in text


def test_given_several_steps_when_pooled_then_cpu_and_calls_are_summed_before_dividing():
    steps = [
        _step(5, "twin", FLEET, {"asterisk-1": 50, "asterisk-2": 50}),
        _step(5, "product", FLEET, {"asterisk-1": 50, "asterisk-2": 50}),
        _step(20, "product", FLEET | {"asterisk-1": 3.5}, {"asterisk-1": 150, "asterisk-2": 150}),
    ]

    assert math.isclose(per_box_pooled(steps), 1000 * (2.5 + 5.0) / 400)
