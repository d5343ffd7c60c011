"""A regression guard on line311's cost per call that is a ratio, not a time (issue 13).

SIPp calls go to the product (``311``) on a real Asterisk at 5 calls/s, in rounds of 25
after 10 warm-up calls. After each round the test process runs a fixed piece of Python work
of the controller's kind (`calibration_cpu`: ARI events in and out of JSON, dicts copied)
and times its CPU. A round's ratio, per line311 process, is the CPU seconds
(``/proc/<pid>/stat``) it spent per call over the calibration's CPU seconds: both are
Python on the same interpreter, the same machine and the same moment, so the ratio holds on
a slower or busier box, while a process twice as slow doubles it. The median over the
rounds ignores one round that a burst of other work lands on.

Why not Asterisk's CPU as the yardstick: measured side by side, Asterisk's CPU per call of
the same dialplan varies up to 1.7x between two Asterisk processes on the same box (7 to
13 ms per twin call), while the controller's stays within 10 %. That ratio (goal 3 of the
issue) is reported in the failure message and by ``python -m bench capacity``; this guard
asserts the stable one.

A round ends on a condition, not on a sleep: SIPp has finished and every call's record is
in the database, so no round's work is counted in the next.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AsteriskInstance
from tests.e2e.capacity import PRODUCT_NUMBER, StepResult, run_step
from tests.e2e.conftest import running_stack
from tests.e2e.stack import Stack
from tests.fixtures.polling import wait_until

pytestmark = pytest.mark.asterisk

RATE, HOLD_MS = 5.0, 6_000
WARMUP_CALLS, ROUND_CALLS, ROUNDS = 10, 25, 4
# Each process's CPU per call over `calibration_cpu`: medians of the rounds of this very test
# on the reference machine (2 cores), 3 runs, 2 of them beside another pytest (load 0.6-2.2):
# controller 0.243, 0.251, 0.234; CRM bridge 0.058, 0.066, 0.058 (docs/benchmarks.md).
MEASURED = {"controller": 0.25, "crm-bridge": 0.065}
K = 1.5  # noise up to 1.5x passes; a process twice as slow (2x) fails

CALIBRATION_EVENT = {
    "type": "StasisStart",
    "timestamp": "2026-12-05T08:30:00.000+0000",
    "args": [],
    "channel": {
        "id": "line311-main-1764923400.1234",
        "name": "PJSIP/carrier-00000042",
        "state": "Ring",
        "protocol_id": "3848276298220188511@127.0.0.1",
        "caller": {"name": "", "number": "2125550123"},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": "from-carrier",
            "exten": "311",
            "priority": 3,
            "app_name": "Stasis",
            "app_data": "line311",
        },
        "creationtime": "2026-12-05T08:30:00.000+0000",
        "language": "en",
        "channelvars": {},
    },
    "asterisk_id": "52:54:00:12:34:56",
    "application": "line311",
}


def calibration_cpu() -> float:
    """CPU seconds this process spends on a fixed piece of Python work of the controller's
    kind (about 25 ms on the reference machine)."""
    start = time.process_time()
    for n in range(2_000):
        event = json.loads(json.dumps(CALIBRATION_EVENT))
        channel = dict(event["channel"])
        channel["id"] = f"{channel['id']}.{n}"
        json.dumps({"call": channel["id"], "state": channel["state"], "keys": sorted(channel)})
    return time.process_time() - start


@pytest.fixture
def stack(asterisk_instance: AsteriskInstance, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(asterisk_instance, tmp_path, {"LINE311_LOG_LEVEL": "WARNING"}) as s:
        yield s


def _records(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as db:
        return int(db.execute("SELECT count(*) FROM calls").fetchone()[0])


def test_given_rounds_of_product_calls_then_each_line311_process_cpu_per_call_stays_within_k_times_its_ratio_to_a_python_calibration(
    stack: Stack, asterisk_instance: AsteriskInstance, tmp_path: Path
) -> None:
    asterisk = asterisk_instance.manager.read_pid()
    controller, crm = stack.controller.proc, stack.crm.proc
    assert asterisk is not None
    assert controller is not None
    assert crm is not None
    processes = {"asterisk": asterisk, "controller": controller.pid, "crm-bridge": crm.pid}
    database = tmp_path / "line311.db"
    stored = 0

    def calls(count: int, tag: str) -> StepResult:
        nonlocal stored
        stored += count
        expected = stored
        result = run_step(
            tmp_path / tag,
            target="product",
            number=PRODUCT_NUMBER,
            sip_port=asterisk_instance.sip_port,
            rate=RATE,
            seconds=count / RATE,
            hold_ms=HOLD_MS,
            processes=processes,
            settle=0.2,  # the bridge's reply to the last batch
            until=lambda: wait_until(
                lambda: _records(database) >= expected, 60, f"{expected} records", step=0.1
            ),
        )
        assert (result.ok, result.failed) == (count, 0), f"{tag}: {result}"
        return result

    calls(WARMUP_CALLS, "warmup")
    ratios: dict[str, list[float]] = {name: [] for name in MEASURED}
    line311_ms, asterisk_ms = [], []
    for n in range(ROUNDS):
        step = calls(ROUND_CALLS, f"round{n}")
        calibration_ms = 1000 * calibration_cpu()
        for name in MEASURED:
            ratios[name].append(step.cpu_per_call_ms(name) / calibration_ms)
        line311_ms.append(sum(step.cpu_per_call_ms(name) for name in MEASURED))
        asterisk_ms.append(step.cpu_per_call_ms("asterisk"))

    rounds = {name: [round(r, 3) for r in values] for name, values in ratios.items()}
    for name, values in ratios.items():
        median = statistics.median(values)
        assert median <= K * MEASURED[name], (
            f"{name} spends {median:.3f}x the calibration's CPU per call (rounds: {rounds}; "
            f"{MEASURED[name]} on the reference machine, allowed {K * MEASURED[name]:.3f}); "
            f"for information, line311 spent {statistics.median(line311_ms):.1f} ms per call "
            f"and Asterisk {statistics.median(asterisk_ms):.1f} ms"
        )
