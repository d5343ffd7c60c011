"""A regression guard on the controller's cost per call that is a ratio, not a time (issue 13).

100 SIPp calls at 5 calls/s through the dialplan twin of the opening (``3119``, Asterisk
alone), then 100 through the product (``311``), on the same Asterisk in one run. The CPU
seconds (``/proc/<pid>/stat``) all line311 processes spend per product call must stay within
`K` times what Asterisk spends per twin call: both move together with the machine's speed and
load, so the ratio holds on any box while a 2x slowdown of the controller breaks it.
`K` is 1.75 times the ratio measured on the reference machine (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AsteriskInstance
from tests.e2e.capacity import PRODUCT_NUMBER, TWIN_NUMBER, run_step
from tests.e2e.conftest import running_stack
from tests.e2e.stack import Stack

pytestmark = pytest.mark.asterisk

RATE, CALLS, HOLD_MS = 5.0, 100, 6_000
# line311 per product call / Asterisk per twin call on the reference machine, with REST over
# websockets and uvloop (issue 13): 0.59 and 0.75 in two runs of `python -m bench capacity
# --rates 5 --seconds 20 --hold-ms 6000` (these very steps); 1.14 before, over HTTP + asyncio.
MEASURED = 0.67
K = 1.2  # ~1.75x the measurement: run-to-run noise passes, a 2x slower line311 (1.34) fails


@pytest.fixture
def stack(asterisk_instance: AsteriskInstance, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(asterisk_instance, tmp_path, {"LINE311_LOG_LEVEL": "WARNING"}) as s:
        yield s


def test_given_100_calls_each_when_the_product_and_its_dialplan_twin_take_them_then_line311_cpu_per_call_stays_within_k_times_asterisks(
    stack: Stack, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    asterisk = asterisk_instance.manager.read_pid()
    controller, crm = stack.controller.proc, stack.crm.proc
    assert asterisk is not None
    assert controller is not None
    assert crm is not None
    processes = {"asterisk": asterisk, "controller": controller.pid, "crm-bridge": crm.pid}
    steps = {
        target: run_step(
            tmp_path / target,
            target=target,
            number=number,
            sip_port=asterisk_instance.sip_port,
            rate=RATE,
            seconds=CALLS / RATE,
            hold_ms=HOLD_MS,
            processes=processes,
        )
        for target, number in (("twin", TWIN_NUMBER), ("product", PRODUCT_NUMBER))
    }

    for step in steps.values():
        assert (step.ok, step.failed) == (CALLS, 0), f"{step.target}: {step}"
    product, twin = steps["product"], steps["twin"]
    line311 = product.cpu_per_call_ms("controller") + product.cpu_per_call_ms("crm-bridge")
    reference = twin.cpu_per_call_ms("asterisk")
    assert reference > 0, "Asterisk's CPU was measured"
    assert line311 <= K * reference, (
        f"line311 spends {line311:.1f} ms CPU per call, {line311 / reference:.2f}x Asterisk's "
        f"{reference:.1f} ms per twin call (allowed {K:.2f}x); product {product.cpu}, "
        f"twin {twin.cpu}"
    )
